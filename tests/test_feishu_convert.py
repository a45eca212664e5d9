"""
Feishu / Lark calendar v4 JSON ↔ Event (``wecal.providers.feishu._convert``):
golden tests replaying every JSON example of the reference (``tests/data/feishu/``),
the quirks one by one, the write side, round trips, and malformed input →
ResponseFormatError with a JSON path.

Expected values are worked out by hand from the payloads: 1602504000 is
2020-10-12 12:00:00 UTC (18547.5 days after the epoch), 20:00 in Shanghai.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from tests.test_clients_fuzz import mutated
from wecal.providers.feishu._convert import (
    attendees_from_feishu,
    attendees_to_feishu,
    calendar_from_feishu,
    event_from_feishu,
    event_to_feishu,
    list_page,
    split_event_id,
)
from wecal.providers.feishu._wire import CallbackV2, TokenAnswer, decode

DATA = Path(__file__).parent / "data" / "feishu"
SH = ZoneInfo("Asia/Shanghai")
R = wecal.ResponseStatus
CAL = "feishu.cn_xxxxxxxxxx@group.calendar.feishu.cn"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------
# Golden: every JSON example of reference §9
# --------------------------------------------------------------------------


def test_list_events_page_example() -> None:
    """§9 (a): date and timestamp together (timestamp wins), a filler series id on a master."""
    body = load("list_events_page.json")
    assert body["code"] == 0
    items, has_more, page_token, sync_token = list_page(body["data"])
    assert (has_more, page_token, sync_token) == (
        False,
        "ListCalendarsPageToken_1632452910_1632539310",
        "ListCalendarsSyncToken_1632452910",
    )
    assert len(items) == 1
    event = event_from_feishu(items[0], path="$.data.items[0]")
    noon = datetime(2020, 10, 12, 20, tzinfo=SH)
    assert event == wecal.Event(
        provider=wecal.Provider.FEISHU,
        id="00592a0e-7edf-4678-bc9d-1b77383ef08e_0",
        calendar_id=CAL,  # organizer_calendar_id, as no calendar was named
        summary="日程标题",
        description="日程描述",
        location="地点名称",
        start=noon,
        end=noon,
        timezone="Asia/Shanghai",
        recurrence=wecal.Recurrence(rrule="FREQ=DAILY;INTERVAL=1"),
        status=wecal.EventStatus.CONFIRMED,
        organizer=wecal.Person(id="ou_xxxxxx", display_name="孙二二"),
        reminders=(timedelta(minutes=-5),),
        meeting_url="https://example.com",
        created=datetime(2020, 10, 12, 12, tzinfo=UTC),
    )
    assert event.series_id is None  # recurring_event_id on a master is doc filler
    assert event.raw == items[0]
    assert event.start.tzinfo is SH
    # The calendar listed wins over organizer_calendar_id.
    assert event_from_feishu(items[0], calendar_id="primary").calendar_id == "primary"


def test_instances_page_example() -> None:
    """§9 (b): an instance is an occurrence named as DESIGN.md says, Feishu's id in raw."""
    body = load("instances_page.json")
    items, has_more, page_token, sync_token = list_page(body["data"])
    assert has_more is True
    assert page_token == "eVQrYzJBNDNONlk4VFZBZVlSdzlKdFJ4bVVHVExENDNKVHoxaVdiVnViQT0="
    assert sync_token is None
    event = event_from_feishu(items[0])
    series = "75d28f9b-e35c-4230-8a83-4a661497db54_0"
    assert event == wecal.Event(
        provider=wecal.Provider.FEISHU,
        id=f"{series}_20201012T120000Z",
        summary="日程主题",
        description="desc",
        location="上海",
        start=datetime(2020, 10, 12, 20, tzinfo=SH),
        end=datetime(2020, 10, 12, 20, 6, 40, tzinfo=SH),  # 400 s later
        timezone="Asia/Shanghai",
        series_id=series,
        recurrence_id=datetime(2020, 10, 12, 12, tzinfo=UTC),
        status=wecal.EventStatus.CONFIRMED,
    )
    assert event.raw["event_id"] == "75d28f9b-e35c-4230-8a83-4a661497db54_1602504000"
    assert event.is_occurrence
    assert not event.is_recurring


def _http_example(name: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """An ``HTTP/1.1 …`` example: status, headers (the page's ``//`` notes cut), JSON body."""
    text = (DATA / name).read_text(encoding="utf-8")
    head, _, body = text.partition("\n{")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.split("//")[0].strip()
    return status, headers, json.loads("{" + body)


def test_rate_limit_example() -> None:
    """§9 (c): 429 + 99991400 is a rate limit, retried after x-ogw-ratelimit-reset."""
    from wecal.providers.feishu._errors import classify, retry_after

    status, headers, body = _http_example("rate_limit_429.http")
    assert (status, headers["x-ogw-ratelimit-reset"]) == (429, "52")
    failure = classify(status, body, headers)
    assert failure is not None
    assert failure.rule.error is wecal.RateLimitError
    assert failure.rule.retry
    assert (failure.code, failure.message) == (99991400, "request trigger frequency limit")
    assert retry_after(headers) == 52.0


def test_event_changed_callback_example() -> None:
    """§9 (d): the v2 callback's header and gray-release fields."""
    callback = decode(load("event_changed_callback.json"), CallbackV2)
    assert callback.header.event_id == "5e3702a84e847582be8db7fb73283c02"
    assert callback.header.event_type == "calendar.calendar.event.changed_v4"
    assert callback.header.create_time == "1608725989000"  # milliseconds, as a string
    assert callback.event is not None
    assert callback.event.calendar_id == CAL
    assert callback.event.calendar_event_id == "efa67a98-06a8-4df5-8559-746c8f4477ef_0"
    assert callback.event.change_type == "create"
    assert callback.event.rsvp_infos is not None
    assert callback.event.rsvp_infos[0].rsvp_status == "accept"
    assert callback.event.user_id_list is not None
    assert callback.event.user_id_list[0].open_id == "ou_xxxxxx"


def test_tenant_token_example() -> None:
    """§9 (e): the token answer is flat; expire is the remaining lifetime."""
    answer = decode(load("tenant_token.json"), TokenAnswer)
    assert answer.code == 0
    assert answer.tenant_access_token == "t-caecc734c2e3328a62489fe0648c4b98779515d3"
    assert answer.expire == 7200


# --------------------------------------------------------------------------
# Reading: the rules one by one
# --------------------------------------------------------------------------


def timed(event_id: str = "u1_0", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "start_time": {"timestamp": "1717380000", "timezone": "Asia/Shanghai"},
        "end_time": {"timestamp": "1717383600", "timezone": "Asia/Shanghai"},
    }
    body.update(fields)
    return body


def test_all_day_is_utc_and_end_exclusive() -> None:
    raw = {
        "event_id": "d1_0",
        "start_time": {"date": "2024-06-01"},
        "end_time": {"date": "2024-06-03"},
    }
    event = event_from_feishu(raw)
    assert (event.start, event.end, event.all_day, event.timezone) == (
        date(2024, 6, 1),
        date(2024, 6, 3),
        True,
        "UTC",
    )
    # Read as the last day instead: one more day.
    assert event_from_feishu(raw, all_day_end="inclusive").end == date(2024, 6, 4)


def test_all_day_end_on_start_is_one_day() -> None:
    raw = {
        "event_id": "d1_0",
        "start_time": {"date": "2024-06-01"},
        "end_time": {"date": "2024-06-01"},
    }
    assert event_from_feishu(raw).end == date(2024, 6, 2)


@pytest.mark.parametrize("example", ["list_events_page.json", "instances_page.json"])
def test_all_day_rule_on_the_references_own_examples(example: str) -> None:
    """
    §9 (a) and (b) give ``date: "2018-09-01"`` on both start and end (beside a
    timestamp, which wins). As an all-day answer (the timestamps taken away)
    that is the one-day event of 2018-09-01: an end on the start is the last
    day, the only reading that is not zero days long.
    """
    item = dict(load(example)["data"]["items"][0])
    assert item["start_time"]["date"] == item["end_time"]["date"] == "2018-09-01"
    with_stamp = event_from_feishu(item)
    assert not with_stamp.all_day  # the timestamp wins
    for side in ("start_time", "end_time"):
        item[side] = {"date": item[side]["date"], "timezone": "UTC"}
    for convention in ("exclusive", "inclusive"):
        event = event_from_feishu(item, all_day_end=convention)  # type: ignore[arg-type]
        assert (event.start, event.end, event.all_day, event.timezone) == (
            date(2018, 9, 1),
            date(2018, 9, 2),
            True,
            "UTC",
        )


def test_all_day_end_before_start_is_refused_not_guessed() -> None:
    raw = {
        "event_id": "d1_0",
        "start_time": {"date": "2024-06-03"},
        "end_time": {"date": "2024-06-02"},
    }
    for convention in ("exclusive", "inclusive"):
        with pytest.raises(wecal.ResponseFormatError) as info:
            event_from_feishu(raw, all_day_end=convention)  # type: ignore[arg-type]
        assert info.value.path == "$.end_time.date"


def test_all_day_write_then_read_keeps_the_days() -> None:
    """Written as the last day (the CLI's write), read back as Feishu answers (exclusive)."""
    for days in (1, 2, 7):
        event = wecal.Event(
            provider=wecal.Provider.FEISHU,
            id="d_0",
            start=date(2024, 6, 1),
            end=date(2024, 6, 1) + timedelta(days=days),
            all_day=True,
        )
        body = event_to_feishu(event)
        last = date(2024, 6, 1) + timedelta(days=days - 1)
        assert (body["start_time"], body["end_time"]) == (
            {"date": "2024-06-01"},
            {"date": last.isoformat()},
        )
        # A one-day event is D..D on the wire, and D..D reads back as one day.
        if days == 1:
            assert event_from_feishu({"event_id": "d_0", **body}).end == event.end


def test_missing_timezone_is_feishus_default() -> None:
    raw = timed(start_time={"timestamp": "1717380000"}, end_time={"timestamp": 1717383600})
    event = event_from_feishu(raw)
    assert event.timezone == "Asia/Shanghai"
    assert event.start == datetime(2024, 6, 3, 10, tzinfo=SH)
    assert event.end == datetime(2024, 6, 3, 11, tzinfo=SH)


def test_exception_and_cancelled_exception_are_occurrences() -> None:
    moved = timed(
        "abc_1717380000",
        is_exception=True,
        recurring_event_id="abc_0",
        start_time={"timestamp": "1717387200", "timezone": "Europe/Berlin"},
        end_time={"timestamp": "1717390800", "timezone": "Europe/Berlin"},
    )
    event = event_from_feishu(moved)
    assert event.series_id == "abc_0"
    assert event.recurrence_id == datetime(2024, 6, 3, 2, tzinfo=UTC)
    assert event.id == "abc_0_20240603T020000Z"
    assert event.start == datetime(2024, 6, 3, 4, tzinfo=UTC)  # moved two hours later
    assert event.timezone == "Europe/Berlin"
    gone = event_from_feishu({**moved, "status": "cancelled"})
    assert gone.status is wecal.EventStatus.CANCELLED
    assert gone.id == event.id


def test_all_day_occurrence_recurrence_id_is_a_date() -> None:
    raw = {
        "event_id": "day_1717372800",  # 2024-06-03 00:00 UTC
        "start_time": {"date": "2024-06-03"},
        "end_time": {"date": "2024-06-04"},
    }
    event = event_from_feishu(raw)
    assert event.recurrence_id == date(2024, 6, 3)
    assert event.id == "day_0_20240603"


def test_attendees_rsvp_and_ids_by_type() -> None:
    raw = timed(
        attendees=[
            {"type": "user", "user_id": "ou_1", "display_name": "张三", "rsvp_status": "accept"},
            {"type": "user", "user_id": "ou_2", "rsvp_status": "decline", "is_optional": True},
            {"type": "chat", "chat_id": "oc_9", "rsvp_status": "tentative"},
            {"type": "resource", "room_id": "omm_3", "rsvp_status": "needs_action"},
            {"type": "third_party", "third_party_email": "a@example.com"},
            {"type": "user", "user_id": "ou_4", "rsvp_status": "removed"},
        ]
    )
    assert event_from_feishu(raw).attendees == (
        wecal.Attendee(id="ou_1", display_name="张三", response=R.ACCEPTED),
        wecal.Attendee(id="ou_2", response=R.DECLINED, optional=True),
        wecal.Attendee(id="oc_9", response=R.TENTATIVE),
        wecal.Attendee(id="omm_3", response=R.NEEDS_ACTION),
        wecal.Attendee(id="a@example.com", response=R.NEEDS_ACTION),
        wecal.Attendee(id="ou_4", response=R.DECLINED),
    )


def test_meeting_url_without_scheme_and_reminders_after_start() -> None:
    raw = timed(
        vchat={"vc_type": "vc", "meeting_url": "vc.feishu.cn/j/152568231"},
        reminders=[{"minutes": 15}, {"minutes": "-10"}, {"minutes": 0}],
    )
    event = event_from_feishu(raw)
    assert event.meeting_url == "https://vc.feishu.cn/j/152568231"
    assert event.reminders == (timedelta(minutes=-15), timedelta(minutes=10), timedelta(0))


def test_split_event_id() -> None:
    assert split_event_id("a_b_1700000000") == ("a_b", 1700000000)
    assert split_event_id("a_0") == ("a", 0)
    assert split_event_id("plain") == ("plain", 0)
    assert split_event_id("a_-5") == ("a_-5", 0)
    assert split_event_id("a_²") == ("a_²", 0)


def test_calendar() -> None:
    raw = {
        "calendar_id": CAL,
        "summary": "团队日历",
        "description": "d",
        "permissions": "public",
        "color": -14505985,  # 0xFF22A7FF as a signed int32
        "type": "shared",
        "role": "reader",
    }
    assert calendar_from_feishu(raw) == wecal.Calendar(
        provider=wecal.Provider.FEISHU,
        id=CAL,
        summary="团队日历",
        description="d",
        color="#22A7FF",
        is_public=True,
        readonly=True,
    )
    assert not calendar_from_feishu({**raw, "role": "owner", "color": -1}).readonly
    # A third-party calendar (Google, Exchange) is shown by Feishu, never written.
    assert calendar_from_feishu({**raw, "role": "owner", "is_third_party": True}).readonly


# --------------------------------------------------------------------------
# Malformed input: ResponseFormatError with a path, never a foreign exception
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"start_time": {"timestamp": "1"}, "end_time": {"timestamp": "2"}}, "$.event_id"),
        (timed(start_time={"timestamp": "soon"}), "$.start_time.timestamp"),
        (timed(start_time={"timestamp": 1.5}), "$.start_time.timestamp"),
        (timed(end_time={"timestamp": "99999999999999"}), "$.end_time.timestamp"),
        (timed(end_time={"date": "2024-06-03"}), "$.end_time.timestamp"),
        (
            timed(start_time={"timestamp": "1717380000", "timezone": "Mars/Base"}),
            "$.start_time.timezone",
        ),
        (timed(end_time={"timestamp": "1717300000"}), "$.end_time.timestamp"),
        (timed(start_time={}), "$.start_time"),
        (timed(status="gone"), "$.status"),
        (timed(reminders=[{"minutes": 99999}]), "$.reminders[0].minutes"),
        (timed(attendees=[{"type": "user"}]), "$.attendees[0]"),
        (timed(attendees=[{"user_id": "x", "rsvp_status": "yes"}]), "$.attendees[0].rsvp_status"),
        (timed(recurrence="FREQ=DAILY;COUNT=2;UNTIL=20240701T000000Z"), "$.recurrence"),
        (timed(recurrence="every day"), "$.recurrence"),
        (timed(summary=["x"]), "$.summary"),
        (
            {"event_id": "a_0", "start_time": {"date": "2024-13-01"}, "end_time": {"date": "x"}},
            "$.start_time.date",
        ),
        ([], "$"),
    ],
)
def test_malformed(raw: Any, path: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        event_from_feishu(raw)
    assert info.value.path == path, info.value


@given(
    mutated(timed(reminders=[{"minutes": 5}], vchat={"meeting_url": "x"}, location={"name": "n"}))
)
def test_mutations_raise_only_response_format_errors(raw: Any) -> None:
    with contextlib.suppress(wecal.ResponseFormatError):
        event_from_feishu(raw)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def test_write_timed_body() -> None:
    event = wecal.Event(
        provider=wecal.Provider.FEISHU,
        id="",
        summary="周会",
        description="议程",
        location="3F",
        start=datetime(2024, 6, 3, 10, 0, 0, 900000, tzinfo=SH),
        end=datetime(2024, 6, 3, 11, tzinfo=SH),
        recurrence=wecal.Recurrence(rrule="RRULE:freq=weekly;byday=mo;count=4"),
        reminders=(timedelta(minutes=-15), timedelta(minutes=5)),
        meeting_url="https://meet.example.com/x",
    )
    assert event_to_feishu(event) == {
        "summary": "周会",
        "description": "议程",
        "start_time": {"timestamp": "1717380000", "timezone": "Asia/Shanghai"},  # floored
        "end_time": {"timestamp": "1717383600", "timezone": "Asia/Shanghai"},
        "location": {"name": "3F"},
        "reminders": [{"minutes": 15}, {"minutes": -5}],
        "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=4",
        "vchat": {"vc_type": "third_party", "meeting_url": "https://meet.example.com/x"},
    }


def test_write_all_day_inclusive_end_and_fixed_offset_zone() -> None:
    day = wecal.Event(
        provider=wecal.Provider.FEISHU,
        id="",
        start=date(2024, 6, 1),
        end=date(2024, 6, 3),
    )
    body = event_to_feishu(day)
    assert (body["start_time"], body["end_time"]) == (
        {"date": "2024-06-01"},
        {"date": "2024-06-02"},
    )
    assert event_to_feishu(day, all_day_end="exclusive")["end_time"] == {"date": "2024-06-03"}
    fixed = wecal.Event(
        provider=wecal.Provider.FEISHU,
        id="",
        start=datetime(2024, 6, 3, 10, tzinfo=timezone(timedelta(hours=8))),
        end=datetime(2024, 6, 3, 11, tzinfo=timezone(timedelta(hours=8))),
    )
    assert event_to_feishu(fixed)["start_time"]["timezone"] == "Etc/GMT-8"


@pytest.mark.parametrize(
    ("change", "error", "feature"),
    [
        ({"summary": "x" * 1001}, wecal.ValidationError, None),
        ({"description": "x" * 40961}, wecal.ValidationError, None),
        (
            {"recurrence": wecal.Recurrence(rrule="FREQ=DAILY;COUNT=2;UNTIL=20240701T000000Z")},
            wecal.ValidationError,
            None,
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
        ({"reminders": (timedelta(seconds=-30),)}, wecal.UnsupportedError, "reminders"),
        ({"reminders": (timedelta(days=-15),)}, wecal.UnsupportedError, "reminders"),
        (
            {
                "start": datetime(1969, 12, 31, tzinfo=UTC),
                "end": datetime(1970, 1, 1, 1, tzinfo=UTC),
            },
            wecal.UnsupportedError,
            "start",
        ),
    ],
)
def test_write_refusals(
    change: dict[str, Any], error: type[Exception], feature: str | None
) -> None:
    fields: dict[str, Any] = {
        "provider": wecal.Provider.FEISHU,
        "id": "",
        "start": datetime(2024, 6, 3, 10, tzinfo=SH),
        "end": datetime(2024, 6, 3, 11, tzinfo=SH),
    }
    event = wecal.Event(**(fields | change))
    with pytest.raises(error) as info:
        event_to_feishu(event)
    if feature is not None:
        assert isinstance(info.value, wecal.UnsupportedError)
        assert info.value.feature == feature


def test_attendees_to_feishu_by_id_shape() -> None:
    assert attendees_to_feishu(
        [
            wecal.Attendee(id="ou_1"),
            wecal.Attendee(id="oc_2", optional=True),
            wecal.Attendee(id="omm_3"),
            wecal.Attendee(id="x@example.com"),
        ]
    ) == [
        {"type": "user", "user_id": "ou_1"},
        {"type": "chat", "chat_id": "oc_2", "is_optional": True},
        {"type": "resource", "room_id": "omm_3"},
        {"type": "third_party", "third_party_email": "x@example.com"},
    ]


# --------------------------------------------------------------------------
# Round trips (hypothesis): what wecal writes reads back as the same event
# --------------------------------------------------------------------------

_ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC")
_RULES = (
    None,
    "FREQ=DAILY;INTERVAL=1",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
    "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6",
    "FREQ=DAILY;UNTIL=20300531T155959Z",
)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@st.composite
def feishu_events(draw: st.DrawFn) -> wecal.Event:
    """Events Feishu can store: whole seconds, 1970–2500, whole-minute reminders."""
    all_day = draw(st.booleans())
    rule = draw(st.sampled_from(_RULES))
    common: dict[str, Any] = {
        "provider": wecal.Provider.FEISHU,
        "id": "u_0",
        "summary": draw(_text),
        "description": draw(_text),
        "location": draw(_text),
        "recurrence": wecal.Recurrence(rrule=rule) if rule else None,
        "reminders": tuple(
            timedelta(minutes=m) for m in draw(st.lists(st.integers(-20160, 20160), max_size=3))
        ),
        "meeting_url": draw(st.none() | st.just("https://meet.example.com/abc")),
    }
    if all_day:
        first = draw(st.dates(min_value=date(1971, 1, 1), max_value=date(2400, 1, 1)))
        days = draw(st.integers(1, 30))
        return wecal.Event(**common, start=first, end=first + timedelta(days=days), timezone="UTC")
    zone = draw(st.sampled_from(_ZONES))
    seconds = draw(st.integers(86_400, 13_000_000_000))
    length = draw(st.integers(0, 3 * 86_400))
    tz = ZoneInfo(zone)
    return wecal.Event(
        **common,
        start=datetime.fromtimestamp(seconds, tz),
        end=datetime.fromtimestamp(seconds + length, tz),
        timezone=zone,
    )


@given(feishu_events(), st.sampled_from(("exclusive", "inclusive")))
def test_round_trip(event: wecal.Event, convention: Any) -> None:
    body = event_to_feishu(event, all_day_end=convention)
    back = event_from_feishu({"event_id": "u_0", **body}, all_day_end=convention)
    assert back == event
    # The body is plain JSON.
    assert json.loads(json.dumps(body)) == body


@given(feishu_events())
def test_round_trip_through_json_text(event: wecal.Event) -> None:
    """Through the JSON text Feishu would send: strings stay strings."""
    body = json.loads(json.dumps(event_to_feishu(event)))
    assert isinstance(body["start_time"].get("timestamp", ""), str)
    assert event_from_feishu({"event_id": "u_0", **body}, all_day_end="inclusive") == event


def test_page_sizes_and_tokens_unchanged() -> None:
    assert list_page({}) == ([], False, None, None)
    with pytest.raises(wecal.ResponseFormatError) as info:
        list_page({"items": {}}, path="$.data")
    assert info.value.path == "$.data.items"


def test_converter_output_is_what_the_validating_constructor_builds() -> None:
    """The trusted construction path holds Feishu's events to the model's checks."""
    from tests.test_models_trusted import assert_as_validated

    for name in ("list_events_page.json", "instances_page.json"):
        for item in load(name)["data"]["items"]:
            assert_as_validated(event_from_feishu(item))
    assert_as_validated(
        event_from_feishu(
            timed(
                "abc_1717380000",
                attendees=[{"type": "user", "user_id": "ou_1", "rsvp_status": "accept"}],
                reminders=[{"minutes": 5}],
                event_organizer={"user_id": "ou_1", "display_name": "张三"},
            )
        )
    )


def test_attendee_list_items() -> None:
    items = [
        {"type": "user", "attendee_id": "a1", "user_id": "ou_1", "rsvp_status": "accept"},
        {"type": "resource", "room_id": "omm_9", "is_optional": True},
    ]
    assert attendees_from_feishu(items) == (
        wecal.Attendee(id="ou_1", response=R.ACCEPTED),
        wecal.Attendee(id="omm_9", optional=True),
    )
    with pytest.raises(wecal.ResponseFormatError) as info:
        attendees_from_feishu([items[0], {"type": "user"}])
    assert info.value.path == "$.data.items[1]"
    with pytest.raises(wecal.ResponseFormatError) as info:
        attendees_from_feishu([{"type": "user", "user_id": "ou_1", "rsvp_status": "maybe"}])
    assert info.value.path == "$.data.items[0].rsvp_status"
