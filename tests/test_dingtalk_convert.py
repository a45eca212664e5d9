"""
DingTalk v1.0 JSON ↔ Event (``wecal.providers.dingtalk._convert``): golden tests
from the reference's examples (``tests/data/dingtalk/``), quirks included, the
write side, and malformed input → ResponseFormatError with a JSON path.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from tests.test_clients_fuzz import mutated
from wecal.providers.dingtalk._convert import (
    BusySlot,
    busy_from_response,
    event_from_dingtalk,
    event_to_dingtalk,
    page_from_response,
    wire_time,
)

DATA = Path(__file__).parent / "data" / "dingtalk"
SH = ZoneInfo("Asia/Shanghai")
R = wecal.ResponseStatus


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------
# Golden: every example of reference §2
# --------------------------------------------------------------------------


def test_event_get_every_field() -> None:
    raw = load("event_get.json")
    event = event_from_dingtalk(raw)
    assert event == wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="bU1nZW50SWQ5ODc2",
        calendar_id="primary",
        summary="周会 weekly sync",
        description="议程见文档",
        location="杭州-EFC-3F 会议室",
        start=datetime(2020, 1, 1, 10, 15, 30, tzinfo=SH),
        end=datetime(2020, 1, 1, 11, 15, 30, tzinfo=SH),
        timezone="Asia/Shanghai",
        # endDate 2021-12-31T10:15:30+08:00 is 02:15:30 UTC
        recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;BYDAY=WE,FR;UNTIL=20211231T021530Z"),
        status=wecal.EventStatus.CONFIRMED,
        organizer=wecal.Person(id="unionid_zhangsan", display_name="张三"),
        attendees=(
            wecal.Attendee(id="unionid_zhangsan", display_name="张三", response=R.ACCEPTED),
            wecal.Attendee(
                id="unionid_lisi", display_name="李四", response=R.NEEDS_ACTION, optional=True
            ),
            wecal.Attendee(id="unionid_wangwu", display_name="王五", response=R.TENTATIVE),
            wecal.Attendee(id="unionid_zhaoliu", display_name="赵六", response=R.DECLINED),
        ),
        reminders=(timedelta(minutes=-15), timedelta(days=-1)),
        meeting_url="dingtalk://dingtalkclient/page/videoConfFromCalendar?confId=5d0f8b7c",
        created=datetime(2019, 12, 30, 8, tzinfo=UTC),
        updated=datetime(2019, 12, 31, 9, 30, 0, 123000, tzinfo=UTC),
    )
    assert event.raw == raw
    assert event.start.tzinfo is SH  # shown in the event's zone


def test_create_request_example_with_date_and_datetime_together() -> None:
    """The official example sets both: isAllDay=false makes it timed."""
    raw = {"id": "x", **load("create_request.json")}
    event = event_from_dingtalk(raw)
    assert not event.all_day
    assert event.start == datetime(2020, 1, 1, 10, 15, 30, tzinfo=SH)
    assert event.end == datetime(2020, 1, 1, 11, 15, 30, tzinfo=SH)
    # range.type decides, whatever else the range carries
    assert event.recurrence == wecal.Recurrence(rrule="FREQ=DAILY")
    assert event.reminders == (timedelta(minutes=-15),)  # an int on requests
    assert event.attendees == (wecal.Attendee(id="unionid_lisi"),)
    assert event.location == "会议室A"
    assert event.meeting_url is None  # asked for, not yet made


def test_create_request_example_without_is_all_day_is_timed() -> None:
    raw = {"id": "x", **load("create_request.json")}
    del raw["isAllDay"]
    assert not event_from_dingtalk(raw).all_day


def test_all_day_event_is_utc_with_exclusive_end() -> None:
    event = event_from_dingtalk(load("all_day.json"))
    assert (event.start, event.end, event.all_day) == (date(2024, 6, 1), date(2024, 6, 2), True)
    assert event.timezone == "UTC"
    assert event.reminders == ()  # [] means none
    assert event.organizer == wecal.Person(id="unionid_zhangsan", display_name="张三")


def test_eventsview_page_instances() -> None:
    items, token = page_from_response(load("eventsview_page.json"))
    assert token == "bmV4dFRva2VuXzE"
    timed, all_day, single = (
        event_from_dingtalk(item, path=f"$.events[{i}]") for i, item in enumerate(items)
    )
    # originStart 2023-01-01T00:00:00Z is 08:00 in Shanghai
    assert timed.series_id == "bWFzdGVyMTIz"
    assert timed.recurrence_id == datetime(2023, 1, 1, tzinfo=UTC)
    assert timed.id == "bWFzdGVyMTIz_20230101T000000Z"
    assert timed.raw["id"] == "aW5zdGFuY2UxMjM"
    assert timed.recurrence is None
    assert timed.reminders == (timedelta(minutes=-5),)
    assert all_day.recurrence_id == date(2023, 1, 2)
    assert all_day.id == "bWFzdGVyNDU2_20230102"
    assert (all_day.start, all_day.end) == (date(2023, 1, 2), date(2023, 1, 3))
    assert single.id == "c2luZ2xlNzg5"
    assert single.series_id is None
    assert single.status is wecal.EventStatus.CANCELLED


def test_occurrence_id_matches_wecal_expand() -> None:
    """An instance read from eventsview and the same one from wecal.expand share an id."""
    master = event_from_dingtalk(load("event_get.json"))
    first = next(
        wecal.expand(master, datetime(2020, 1, 3, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC))
    )
    instance = {
        **load("event_get.json"),
        "id": "opaque-instance-id",
        "seriesMasterId": master.id,
        "originStart": {"dateTime": "2020-01-03T02:15:30Z"},
        "start": {"dateTime": "2020-01-03T10:15:30+08:00", "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": "2020-01-03T11:15:30+08:00", "timeZone": "Asia/Shanghai"},
    }
    read = event_from_dingtalk(instance)
    assert read.id == first.id
    assert read.recurrence_id == first.recurrence_id
    assert read.start == first.start


def test_calendars_example_parses_as_json_with_open_enum() -> None:
    calendars = load("calendars.json")["response"]["calendars"]
    assert [c["privilege"] for c in calendars] == ["owner", "VIEW_DETAIL"]


def test_query_schedule_example() -> None:
    busy, errors = busy_from_response(load("query_schedule.json"))
    assert errors == {"unionid_lisi": "用户不存在"}
    assert busy == {
        "unionid_zhangsan": [
            BusySlot(
                start=datetime(2020, 1, 1, 2, 15, 30, tzinfo=UTC),
                end=datetime(2020, 1, 1, 3, 15, 30, tzinfo=UTC),
            ),
            BusySlot(
                start=datetime(2020, 1, 2, tzinfo=UTC),
                end=datetime(2020, 1, 3, tzinfo=UTC),
                tentative=True,
            ),
        ]
    }
    slot = busy["unionid_zhangsan"][0]
    assert slot.covers(datetime(2020, 1, 1, 11, tzinfo=SH))
    assert not slot.covers(datetime(2020, 1, 1, 11, 15, 30, tzinfo=SH))


def test_403_example_through_the_dialect() -> None:
    from wecal.providers.dingtalk._errors import DINGTALK_V1

    failure = DINGTALK_V1.classify(403, load("error_403_scope.json"))
    assert failure is not None
    assert failure.rule.error is wecal.PermissionDeniedError
    assert not failure.rule.token_invalid
    assert not failure.rule.retry
    assert "Contact.User.Read" in failure.message
    assert failure.request_id == "0F3C2D1E-AAAA-BBBB-CCCC-1234567890AB"


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _event(**changes: Any) -> wecal.Event:
    base = wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="",
        start=datetime(2024, 6, 3, 10, tzinfo=SH),
        end=datetime(2024, 6, 3, 11, tzinfo=SH),
        summary="评审",
    )
    return attrs.evolve(base, **changes)


def test_event_to_dingtalk_timed() -> None:
    body = event_to_dingtalk(
        _event(
            description="d",
            location="3F",
            attendees=(wecal.Attendee(id="u1"), wecal.Attendee(id="u2", optional=True)),
            reminders=(timedelta(minutes=-15), timedelta(hours=-1)),
            recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4"),
        )
    )
    assert body == {
        "summary": "评审",
        "start": {"dateTime": "2024-06-03T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": "2024-06-03T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
        "isAllDay": False,
        "description": "d",
        "location": {"displayName": "3F"},
        "recurrence": {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": "monday",
                "firstDayOfWeek": "monday",
            },
            "range": {"type": "numbered", "numberOfOccurrences": 4},
        },
        "attendees": [{"id": "u1", "isOptional": False}, {"id": "u2", "isOptional": True}],
        "reminders": [
            {"method": "dingtalk", "minutes": 15},
            {"method": "dingtalk", "minutes": 60},
        ],
    }


def test_event_to_dingtalk_all_day_has_no_zone_and_an_exclusive_end() -> None:
    body = event_to_dingtalk(_event(start=date(2024, 6, 1), end=date(2024, 6, 2), all_day=True))
    assert body["start"] == {"date": "2024-06-01"}
    assert body["end"] == {"date": "2024-06-02"}
    assert body["isAllDay"] is True


def test_fixed_offset_becomes_an_etc_zone() -> None:
    plus8 = timezone(timedelta(hours=8))
    body = event_to_dingtalk(
        _event(
            start=datetime(2024, 6, 3, 10, tzinfo=plus8), end=datetime(2024, 6, 3, 11, tzinfo=plus8)
        )
    )
    assert body["start"] == {"dateTime": "2024-06-03T10:00:00+08:00", "timeZone": "Etc/GMT-8"}


@pytest.mark.parametrize(
    ("changes", "error", "needle"),
    [
        ({"summary": "x" * 2049}, wecal.ValidationError, "2048"),
        ({"description": "x" * 5001}, wecal.ValidationError, "5000"),
        (
            {"attendees": tuple(wecal.Attendee(id=f"u{i}") for i in range(501))},
            wecal.ValidationError,
            "500",
        ),
        (
            {"recurrence": wecal.Recurrence(rrule="FREQ=DAILY;COUNT=100")},
            wecal.ValidationError,
            "COUNT=100",
        ),
        (
            {"recurrence": wecal.Recurrence(rrule="FREQ=HOURLY")},
            wecal.UnsupportedError,
            "FREQ=HOURLY",
        ),
        (
            {
                "recurrence": wecal.Recurrence(
                    rrule="FREQ=DAILY", exdates=(datetime(2024, 6, 4, 10, tzinfo=SH),)
                )
            },
            wecal.UnsupportedError,
            "EXDATE",
        ),
        ({"reminders": (timedelta(minutes=5),)}, wecal.UnsupportedError, "reminders"),
        ({"reminders": (timedelta(seconds=-30),)}, wecal.UnsupportedError, "reminders"),
    ],
)
def test_write_limits_before_sending(
    changes: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        event_to_dingtalk(_event(**changes))


zones = st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Europe/Berlin"])


@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    minutes=st.integers(0, 3000),
    zone=zones,
    summary=st.text(max_size=30),
    reminders=st.lists(st.integers(0, 10_000), max_size=3),
    all_day=st.booleans(),
)
def test_write_then_read_round_trips(
    start: datetime, minutes: int, zone: str, summary: str, reminders: list[int], all_day: bool
) -> None:
    tz = ZoneInfo(zone)
    first: datetime | date
    last: datetime | date
    if all_day:
        first = start.date()
        last = first + timedelta(days=1 + minutes // 1440)
    else:
        # Through UTC: a wall time inside a DST gap names no instant of its own.
        first = start.replace(tzinfo=tz, microsecond=0).astimezone(UTC).astimezone(tz)
        last = first + timedelta(minutes=minutes)
    event = _event(
        start=first,
        end=last,
        all_day=all_day,
        timezone="UTC" if all_day else zone,
        summary=summary,
        reminders=tuple(timedelta(minutes=-m) for m in reminders),
    )
    wire = json.loads(json.dumps({"id": "e1", **event_to_dingtalk(event)}))
    for reminder in wire["reminders"]:
        reminder["minutes"] = str(reminder["minutes"])  # answers carry strings
    back = event_from_dingtalk(wire)
    assert back == attrs.evolve(event, id="e1", calendar_id="primary", location="")


# --------------------------------------------------------------------------
# Malformed input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("id"), "$.id"),
        (lambda d: d.update(start="tomorrow"), "$.start"),
        (lambda d: d["start"].update(dateTime="soon"), "$.start.dateTime"),
        (lambda d: d["end"].pop("dateTime"), "$.end.dateTime"),
        (lambda d: d.update(isAllDay="yes"), "$.isAllDay"),
        (lambda d: d.update(isAllDay=""), "$.isAllDay"),
        (lambda d: d.update(isAllDay=0), "$.isAllDay"),
        (lambda d: d["start"].update(timeZone=8), "$.start.timeZone"),
        (lambda d: d["end"].update(dateTime=20200101), "$.end.dateTime"),
        (lambda d: d["start"].update(dateTime="2020-01-01T10:15:30+25:00"), "$.start.dateTime"),
        (lambda d: d.update(status="maybe"), "$.status"),
        (
            lambda d: d["attendees"][1].update(responseStatus="perhaps"),
            "$.attendees[1].responseStatus",
        ),
        (lambda d: d["attendees"][0].update(isOptional="no"), "$.attendees[0].isOptional"),
        (lambda d: d.update(attendees={}), "$.attendees"),
        (lambda d: d["reminders"][1].update(minutes="soon"), "$.reminders[1].minutes"),
        (lambda d: d["reminders"][0].update(minutes=-5), "$.reminders[0].minutes"),
        (lambda d: d["reminders"][0].update(minutes=2**70), "$.reminders[0].minutes"),
        (lambda d: d["reminders"][0].update(minutes="9" * 30), "$.reminders[0].minutes"),
        (lambda d: d["reminders"][0].update(minutes="١٥"), "$.reminders[0].minutes"),
        (lambda d: d.update(location=5), "$.location"),
        (lambda d: d.update(onlineMeetingInfo="x"), "$.onlineMeetingInfo"),
        (lambda d: d.update(createTime="yesterday"), "$.createTime"),
        (lambda d: d["recurrence"]["pattern"].update(type="hourly"), "$.recurrence.pattern.type"),
        (lambda d: d.update(seriesMasterId=7), "$.seriesMasterId"),
        (
            lambda d: d.update(
                seriesMasterId="m", originStart={"dateTime": "0001-01-01T00:00:00+08:00"}
            ),
            "$",
        ),
        (
            lambda d: d.update(seriesMasterId="m", originStart={"dateTime": "x"}),
            "$.originStart.dateTime",
        ),
        (
            lambda d: d.update(
                end={"dateTime": "2019-01-01T00:00:00+08:00", "timeZone": "Asia/Shanghai"}
            ),
            "$.end.dateTime",
        ),
    ],
)
def test_malformed_events_name_the_path(mutate: Any, path: str) -> None:
    raw = load("event_get.json")
    mutate(raw)
    with pytest.raises(wecal.ResponseFormatError) as info:
        event_from_dingtalk(raw)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "$"),
        ({"events": {}}, "$.events"),
        ({"events": [1]}, "$.events[0]"),
        ({"events": [], "nextToken": 5}, "$.nextToken"),
    ],
)
def test_malformed_pages(body: Any, path: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        page_from_response(body)
    assert info.value.path == path


def test_malformed_schedule() -> None:
    body = load("query_schedule.json")
    body["scheduleInformation"][0]["scheduleItems"][1]["status"] = "AWAY"
    with pytest.raises(wecal.ResponseFormatError) as info:
        busy_from_response(body)
    assert info.value.path == "$.scheduleInformation[0].scheduleItems[1].status"


def test_wire_time_is_utc_with_milliseconds() -> None:
    assert wire_time(datetime(2024, 6, 1, 8, tzinfo=SH)) == "2024-06-01T00:00:00.000Z"


# --------------------------------------------------------------------------
# Fuzz: mutated examples → an Event or a ResponseFormatError, nothing else
# --------------------------------------------------------------------------


def _error_path(read: Any, *args: Any, **kw: Any) -> str | None:
    """None when ``read`` succeeds, the error's path when it raises ResponseFormatError."""
    try:
        read(*args, **kw)
    except wecal.ResponseFormatError as exc:
        return exc.path or ""
    return None


@given(st.data())
def test_mutated_examples_raise_only_response_format_errors(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["event_get.json", "all_day.json", "create_request.json"]))
    raw = data.draw(mutated({"id": "x", **load(name)}))
    path = _error_path(event_from_dingtalk, raw)
    assert path is None or path.startswith("$")


@given(st.data())
def test_mutated_pages_and_schedules_raise_only_response_format_errors(
    data: st.DataObject,
) -> None:
    page = data.draw(mutated(load("eventsview_page.json")))
    path = _error_path(page_from_response, page)
    assert path is None or path.startswith("$")
    items = page_from_response(page)[0] if path is None else []
    for i, item in enumerate(items):
        item_path = _error_path(event_from_dingtalk, item, path=f"$.events[{i}]")
        assert item_path is None or item_path.startswith(f"$.events[{i}]")
    schedule = data.draw(mutated(load("query_schedule.json")))
    path = _error_path(busy_from_response, schedule)
    assert path is None or path.startswith("$")


# People values that compare equal as cache keys but read differently: True is
# not "true", 1 is not True, "" is no answer.
person_values = {
    "id": st.sampled_from(["u1", "u2", "", None, 1, True]),
    "displayName": st.sampled_from(["张三", "Ann 🙂", "", None, 0, False]),
    "responseStatus": st.sampled_from(
        ["accepted", "declined", "needsAction", "", None, "perhaps", 1, True]
    ),
    "isOptional": st.sampled_from([True, False, "true", "false", None, 1, 0, "no"]),
}
_ANSWERS = {
    "accepted": R.ACCEPTED, "declined": R.DECLINED, "needsAction": R.NEEDS_ACTION,
    "": R.NEEDS_ACTION, None: R.NEEDS_ACTION,
}  # fmt: skip
_OPTIONAL = {True: True, "true": True, False: False, "false": False, None: False}


def _expected_person(item: dict[str, Any]) -> tuple[str | None, wecal.Attendee | None]:
    """(the first bad field, or None; the attendee it reads as)."""
    person_id, name = item.get("id"), item.get("displayName")
    answer, optional = item.get("responseStatus"), item.get("isOptional")
    if person_id is not None and type(person_id) is not str:
        return "id", None
    if answer not in _ANSWERS or type(answer) is bool:
        return "responseStatus", None
    if optional not in _OPTIONAL or type(optional) is int:
        return "isOptional", None
    if name is not None and type(name) is not str:
        return "displayName", None
    return None, wecal.Attendee(
        id=person_id or "",
        display_name=name or "",
        response=_ANSWERS[answer],
        optional=_OPTIONAL[optional],
    )


@given(
    st.lists(st.fixed_dictionaries({}, optional=person_values), min_size=1, max_size=4),
    st.integers(0, 3),
)
def test_people_read_the_same_every_time(people: list[dict[str, Any]], organizer: int) -> None:
    """Attendees and the organizer come from a cache after the first page; same answer."""
    organizer_item = people[organizer % len(people)]
    raw = {
        "id": "e1",
        "start": {"date": "2024-06-03"},
        "organizer": organizer_item,
        "attendees": people,
    }
    bad_org, _ = _expected_person(organizer_item)
    expected_path = f"$.organizer.{bad_org}" if bad_org else None
    attendees = []
    for i, item in enumerate(people):
        bad, attendee = _expected_person(item)
        if bad and expected_path is None:
            expected_path = f"$.attendees[{i}].{bad}"
        attendees.append(attendee)
    for _ in range(2):  # the second time round, from the cache
        if expected_path is not None:
            with pytest.raises(wecal.ResponseFormatError) as info:
                event_from_dingtalk(raw)
            assert info.value.path == expected_path
            continue
        event = event_from_dingtalk(raw)
        assert list(event.attendees) == attendees
        assert event.organizer == wecal.Person(
            id=organizer_item.get("id") or "", display_name=organizer_item.get("displayName") or ""
        )


@pytest.mark.parametrize(
    ("rule", "off"),
    [
        ("FREQ=WEEKLY;BYDAY=TU", True),  # the start (below) is a Monday
        ("FREQ=MONTHLY;BYMONTHDAY=15", True),
        ("FREQ=WEEKLY;BYDAY=MO,FR", False),
        ("FREQ=DAILY;INTERVAL=2", False),
    ],
)
def test_a_start_off_its_own_pattern_is_written_with_a_warning(
    caplog: pytest.LogCaptureFixture, rule: str, off: bool
) -> None:
    monday = datetime(2024, 6, 3, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    event = _event(start=monday, end=monday + timedelta(hours=1),
                   recurrence=wecal.Recurrence(rrule=rule))  # fmt: skip
    with caplog.at_level("WARNING", logger="wecal"):
        body = event_to_dingtalk(event)
    assert "recurrence" in body
    warnings = [r for r in caplog.records if r.name == "wecal" and r.levelname == "WARNING"]
    if off:
        assert len(warnings) == 1
        assert "is not an occurrence of its own rule" in warnings[0].getMessage()
        assert rule in warnings[0].getMessage()
    else:
        assert warnings == []
