"""
WeCom converters: golden tests from the seed documents, the write rules, a
round trip, and malformed-payload fuzzing.

Fixtures in ``tests/data/wecom/``: ``schedule_get.json``,
``schedule_get_by_calendar.json`` and ``calendar_get_2022.json`` are the seed
documents' response examples verbatim; ``calendar_get_2023.json`` and
``calendar_update_fail_result.json`` are built by hand from the field tables
of ``reference/wecom.md`` §1.2 (the current model, with the official example's
``adminis`` typo). Expected values are typed in by hand.
"""

from __future__ import annotations

import calendar
import copy
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from dateutil.rrule import rrulestr
from hypothesis import example, given
from hypothesis import strategies as st

import wecal
from wecal.providers.wecom._convert import (
    WECOM_RESPONSE_STATUS,
    calendar_from_wecom,
    calendar_to_wecom,
    event_to_schedule,
    schedule_to_event,
    share_failures,
    wecom_schedule_page,
)
from wecal.providers.wecom._repeat import UINT32_MAX, recurrence_from_wecom, recurrence_to_wecom

from .strategies import ids, text

DATA = Path(__file__).parent / "data" / "wecom"
CN = timezone(timedelta(hours=8))
SH = ZoneInfo("Asia/Shanghai")


def load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return result


def _event(**kw: Any) -> wecal.Event:
    base: dict[str, Any] = {
        "provider": wecal.Provider.WECOM,
        "id": "s1",
        "start": datetime(2024, 6, 3, 10, tzinfo=SH),
        "end": datetime(2024, 6, 3, 11, tzinfo=SH),
    }
    base.update(kw)
    return wecal.Event(**base)


# -- golden: schedule/get ------------------------------------------------------------


def rule_parts(rule: str) -> dict[str, str]:
    """An RRULE as a dict (INTERVAL=1 spelled out), so spelling order does not matter."""
    parts = dict(part.split("=", 1) for part in rule.split(";"))
    parts.setdefault("INTERVAL", "1")
    return parts


def test_hand_computed_timestamps() -> None:
    """The hand-typed instants used below agree with the calendar module."""
    assert calendar.timegm((2019, 10, 17, 1, 10, 0)) == 1571274600  # 09:10 +08:00
    assert calendar.timegm((2019, 10, 20, 13, 50, 10)) == 1571579410  # 21:50:10 +08:00
    assert calendar.timegm((2019, 10, 18, 1, 10, 0)) == 1571361000
    assert calendar.timegm((2020, 12, 3, 6, 26, 53)) == 1606976813


def test_schedule_get_golden() -> None:
    """Every field of the schedule/get example, one by one."""
    body = load("schedule_get.json")
    (item,) = wecom_schedule_page(body)
    ev = schedule_to_event(item, path="$.schedule_list[0]")
    assert ev.provider is wecal.Provider.WECOM
    assert ev.id == "17c7d2bd9f20d652840f72f59e796AAA"
    assert ev.calendar_id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA"
    assert ev.summary == "test_summary"
    assert ev.description == "test_content"
    assert ev.location == "test_place"
    # is_whole_day=1: 1571274600 is 2019-10-17 09:10 +08:00 → the 17th; the end
    # 1571579410 is 2019-10-20 21:50:10 (not midnight) → last day the 20th,
    # exclusive end the 21st.
    assert ev.all_day is True
    assert ev.start == date(2019, 10, 17)
    assert type(ev.start) is date
    assert ev.end == date(2019, 10, 21)
    assert ev.timezone == "+08:00"
    assert ev.status is wecal.EventStatus.CANCELLED  # status 1
    assert ev.attendees == (wecal.Attendee(id="userid2", response=wecal.ResponseStatus.TENTATIVE),)
    assert ev.organizer is None
    # remind_time_diffs [-3600] wins over remind_before_event_secs 3600.
    assert ev.reminders == (timedelta(hours=-1),)
    assert ev.recurrence is not None
    assert ev.series_id is None
    assert ev.recurrence_id is None
    assert ev.meeting_url is None
    assert ev.created is None
    assert ev.updated is None
    assert ev.raw is item
    assert ev.raw["admins"] == ["admin1", "admin2"]


def test_schedule_get_golden_recurrence() -> None:
    """
    The example's repeat fields: repeat_type 7 (workdays), repeat_until
    1606976813 (2020-12-03 14:26:53 +08:00, a whole-day schedule: the date),
    exclude_time_list 1571361000 (2019-10-18 09:10 +08:00: the 18th).
    """
    ev = schedule_to_event(load("schedule_get.json")["schedule_list"][0])
    assert ev.recurrence is not None
    assert rule_parts(ev.recurrence.rrule) == {
        "FREQ": "WEEKLY",
        "INTERVAL": "1",
        "BYDAY": "MO,TU,WE,TH,FR",
        "UNTIL": "20201203",
    }
    assert ev.recurrence.exdates == (date(2019, 10, 18),)
    assert ev.recurrence.rdates == ()
    # Independently, with dateutil: Monday–Friday from Thu 2019-10-17 to
    # Thu 2020-12-03 inclusive, minus the excluded Friday.
    rule = rrulestr(ev.recurrence.rrule, dtstart=datetime(2019, 10, 17))
    days = [d.date() for d in rule if d.date() not in ev.recurrence.exdates]
    assert days[0] == date(2019, 10, 17)
    assert days[1] == date(2019, 10, 21)  # the 18th is excluded, then a weekend
    assert days[-1] == date(2020, 12, 3)


def test_schedule_get_by_calendar_golden() -> None:
    """The get_by_calendar example (older shape: organizer, sequence, zero values)."""
    (item,) = wecom_schedule_page(load("schedule_get_by_calendar.json"))
    ev = schedule_to_event(item)
    assert ev.id == "string"
    assert ev.calendar_id == "string"
    assert ev.summary == ev.description == ev.location == "string"
    assert ev.organizer == wecal.Person(id="string")
    assert ev.attendees == (
        wecal.Attendee(id="string", response=wecal.ResponseStatus.NEEDS_ACTION),
    )
    assert ev.all_day is False
    assert ev.start == datetime(1970, 1, 1, tzinfo=UTC)
    assert ev.end == datetime(1970, 1, 1, tzinfo=UTC)
    # "timezone": 0 is read literally (UTC); only an absent one means +8.
    assert ev.timezone == "+00:00"
    assert ev.status is wecal.EventStatus.CONFIRMED
    assert ev.reminders == ()  # is_remind 0
    assert ev.recurrence is None  # is_repeat 0
    assert ev.raw["sequence"] == 0


def test_response_status_table() -> None:
    """DESIGN.md's table: 0..4, with 3 (仅接受一次) as ACCEPTED."""
    R = wecal.ResponseStatus
    assert dict(WECOM_RESPONSE_STATUS) == {
        0: R.NEEDS_ACTION,
        1: R.TENTATIVE,
        2: R.ACCEPTED,
        3: R.ACCEPTED,
        4: R.DECLINED,
    }


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, wecal.ResponseStatus.NEEDS_ACTION),
        (1, wecal.ResponseStatus.TENTATIVE),
        (2, wecal.ResponseStatus.ACCEPTED),
        (3, wecal.ResponseStatus.ACCEPTED),
        (4, wecal.ResponseStatus.DECLINED),
    ],
)
def test_attendee_codes(code: int, expected: wecal.ResponseStatus) -> None:
    item = {
        "schedule_id": "s",
        "start_time": 0,
        "end_time": 0,
        "attendees": [{"userid": "u", "response_status": code}],
    }
    assert schedule_to_event(item).attendees[0].response is expected


# -- reading rules -------------------------------------------------------------------


def _item(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"schedule_id": "s1", "start_time": 1717380000, "end_time": 1717383600}
    base.update(kw)
    return base


def test_timed_times_in_reminders_timezone() -> None:
    """start/end are shown in the fixed offset of reminders.timezone."""
    ev = schedule_to_event(_item(reminders={"timezone": -5}))
    assert ev.start == datetime(2024, 6, 2, 21, tzinfo=timezone(timedelta(hours=-5)))
    assert ev.start.utcoffset() == timedelta(hours=-5)
    assert ev.timezone == "-05:00"
    assert ev.end - ev.start == timedelta(hours=1)


def test_default_timezone_is_plus_8() -> None:
    ev = schedule_to_event(_item())
    assert ev.start.utcoffset() == timedelta(hours=8)
    assert ev.timezone == "+08:00"
    assert ev.start == datetime(2024, 6, 3, 10, tzinfo=CN)


@pytest.mark.parametrize(
    ("end_local", "expected_end"),
    [
        # next 00:00 is already the exclusive end
        (datetime(2024, 6, 4, 0, 0, tzinfo=CN), date(2024, 6, 4)),
        # 23:59:59 names the last day
        (datetime(2024, 6, 3, 23, 59, 59, tzinfo=CN), date(2024, 6, 4)),
        # a three-day event, both conventions
        (datetime(2024, 6, 6, 0, 0, tzinfo=CN), date(2024, 6, 6)),
        (datetime(2024, 6, 5, 23, 59, 59, tzinfo=CN), date(2024, 6, 6)),
        # zero-length whole-day: still one day
        (datetime(2024, 6, 3, 0, 0, tzinfo=CN), date(2024, 6, 4)),
    ],
)
def test_whole_day_end_conventions(end_local: datetime, expected_end: date) -> None:
    """Both whole-day end conventions (next 00:00 and 23:59:59) read alike."""
    start = calendar.timegm((2024, 6, 2, 16, 0, 0))  # 2024-06-03 00:00 +08:00
    item = _item(start_time=start, end_time=int(end_local.timestamp()), is_whole_day=1)
    ev = schedule_to_event(item)
    assert ev.start == date(2024, 6, 3)
    assert ev.end == expected_end


def test_reminder_fallback_to_remind_before_event_secs() -> None:
    """Without remind_time_diffs, 900 s before the start is a -15 min trigger."""
    reminders = {"is_remind": 1, "remind_before_event_secs": 900}
    assert schedule_to_event(_item(reminders=reminders)).reminders == (timedelta(minutes=-15),)
    reminders["remind_time_diffs"] = []
    assert schedule_to_event(_item(reminders=reminders)).reminders == (timedelta(minutes=-15),)
    reminders["remind_time_diffs"] = [-300, 0]
    assert schedule_to_event(_item(reminders=reminders)).reminders == (
        timedelta(minutes=-5),
        timedelta(0),
    )
    reminders["remind_time_diffs"] = [-300, "-900", 120]  # offered, as text, not offered
    assert schedule_to_event(_item(reminders=reminders)).reminders == (
        timedelta(minutes=-5),
        timedelta(minutes=-15),
        timedelta(minutes=2),
    )
    reminders["is_remind"] = 0
    assert schedule_to_event(_item(reminders=reminders)).reminders == ()


def test_whole_day_nine_oclock_reminder() -> None:
    """The positive 32400 of a client-made whole-day schedule: 09:00 that day."""
    item = _item(
        start_time=calendar.timegm((2024, 6, 2, 16, 0, 0)),
        end_time=calendar.timegm((2024, 6, 3, 16, 0, 0)),
        is_whole_day=1,
        reminders={"is_remind": 1, "remind_time_diffs": [32400]},
    )
    assert schedule_to_event(item).reminders == (timedelta(hours=9),)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"start_time": 0, "end_time": 0}, "$.schedule_list[3].schedule_id"),
        (_item(start_time="soon"), "$.schedule_list[3].start_time"),
        (_item(start_time=True), "$.schedule_list[3].start_time"),
        (_item(end_time=None), "$.schedule_list[3].end_time"),
        (_item(end_time=10**30), "$.schedule_list[3].end_time"),
        (_item(end_time=1), "$.schedule_list[3].end_time"),  # before start
        (_item(status=7), "$.schedule_list[3].status"),
        (_item(is_whole_day=2), "$.schedule_list[3].is_whole_day"),
        (_item(attendees=[{"userid": "u", "response_status": 9}]), "attendees[0].response_status"),
        (_item(attendees=[{"response_status": 1}]), "$.schedule_list[3].attendees[0].userid"),
        (_item(attendees="u1"), "$.schedule_list[3].attendees"),
        (_item(attendees=["u1"]), "$.schedule_list[3].attendees[0]"),
        (_item(summary=5), "$.schedule_list[3].summary"),
        (_item(organizer=["x"]), "$.schedule_list[3].organizer"),
        (_item(reminders=[]), "$.schedule_list[3].reminders"),
        (
            _item(reminders={"is_remind": 1, "remind_time_diffs": [-300, "x"]}),
            "$.schedule_list[3].reminders.remind_time_diffs[1]",
        ),
        # False and 0.0 equal the offered offset 0 as keys, but are no integers.
        (
            _item(reminders={"is_remind": 1, "remind_time_diffs": [-300, False]}),
            "$.schedule_list[3].reminders.remind_time_diffs[1]",
        ),
        (
            _item(reminders={"is_remind": 1, "remind_time_diffs": [0.0]}),
            "$.schedule_list[3].reminders.remind_time_diffs[0]",
        ),
    ],
)
def test_bad_fields_name_their_path(item: dict[str, Any], where: str) -> None:
    """Missing, mistyped and unknown values → ResponseFormatError with the JSON path."""
    with pytest.raises(wecal.ResponseFormatError) as info:
        schedule_to_event(item, path="$.schedule_list[3]")
    assert info.value.path is not None
    assert where in info.value.path
    assert where in str(info.value)


def test_schedule_page_shapes() -> None:
    assert wecom_schedule_page({"errcode": 0, "errmsg": "ok", "schedule_list": []}) == []
    assert wecom_schedule_page({"errcode": 0}) == []  # the end of get_by_calendar paging
    with pytest.raises(wecal.ResponseFormatError, match=r"\$\.schedule_list"):
        wecom_schedule_page({"schedule_list": {"a": 1}})
    with pytest.raises(wecal.ResponseFormatError, match=r"\$\.schedule_list\[1\]"):
        wecom_schedule_page({"schedule_list": [{}, 3]})
    with pytest.raises(wecal.ResponseFormatError, match=r"^\$: expected an object"):
        wecom_schedule_page([])  # type: ignore[arg-type]


# -- calendars -----------------------------------------------------------------------


def test_calendar_get_2022_golden() -> None:
    """The seed's pre-2023 calendar: organizer → admins, readonly kept."""
    (item,) = load("calendar_get_2022.json")["calendar_list"]
    cal = calendar_from_wecom(item, path="$.calendar_list[0]")
    assert cal.provider is wecal.Provider.WECOM
    assert cal.id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA"
    assert cal.admins == ("userid1",)
    assert cal.readonly is True
    assert cal.summary == "test_summary"
    assert cal.color == "#FF3030"
    assert cal.description == "test_describe_1"
    assert cal.shares == (
        wecal.CalendarShare(user_id="userid2", permission=wecal.SharePermission.VIEW),
        wecal.CalendarShare(user_id="userid1", permission=wecal.SharePermission.VIEW),
    )
    assert cal.is_public is False
    assert cal.is_corp_calendar is False
    assert cal.public_user_ids == ()
    assert cal.public_department_ids == ()
    assert cal.timezone is None
    assert cal.raw is item


def test_calendar_get_2023_golden() -> None:
    """The current model, read through the doc's ``adminis`` typo."""
    (item,) = load("calendar_get_2023.json")["calendar_list"]
    cal = calendar_from_wecom(item)
    assert cal.id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzBBB"
    assert cal.admins == ("admin1", "admin2")
    assert cal.summary == "全员周会"
    assert cal.color == "#0000FF"
    assert cal.description == "每周一例会"
    assert cal.shares == (
        wecal.CalendarShare(user_id="admin1", permission=wecal.SharePermission.VIEW),
        wecal.CalendarShare(user_id="admin2", permission=wecal.SharePermission.VIEW),
        wecal.CalendarShare(user_id="userid3", permission=wecal.SharePermission.FREE_BUSY),
    )
    assert cal.is_public is True
    assert cal.public_user_ids == ("userid4", "userid5")
    assert cal.public_department_ids == (2, 3)
    assert cal.is_corp_calendar is False
    assert cal.readonly is False


def test_calendar_admins_spelled_right_win() -> None:
    cal = calendar_from_wecom({"cal_id": "c", "admins": ["a"], "adminis": ["b"]})
    assert cal.admins == ("a",)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({}, "$.calendar_list[0].cal_id"),
        ({"cal_id": "c", "shares": [{"userid": "u", "permission": 2}]}, "shares[0].permission"),
        ({"cal_id": "c", "adminis": "a"}, "$.calendar_list[0].adminis"),
        ({"cal_id": "c", "public_range": {"partyids": ["two"]}}, "public_range.partyids[0]"),
        ({"cal_id": "c", "is_public": "yes"}, "$.calendar_list[0].is_public"),
    ],
)
def test_calendar_bad_fields(item: dict[str, Any], where: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        calendar_from_wecom(item, path="$.calendar_list[0]")
    assert info.value.path is not None
    assert where in info.value.path


def test_share_failures_surface_partial_failure() -> None:
    """fail_result.shares beside errcode 0 is listed, not swallowed."""
    body = load("calendar_update_fail_result.json")
    assert share_failures(body) == [
        ("userid9", 60111, "userid not found"),
        ("userid8", 60011, "no privilege to access/modify contact/party/agent"),
    ]
    assert share_failures({"errcode": 0, "errmsg": "ok"}) == []
    with pytest.raises(wecal.ResponseFormatError, match=r"fail_result\.shares\[0\]\.errcode"):
        share_failures({"fail_result": {"shares": [{"userid": "u", "errcode": "x"}]}})


def _calendar(**kw: Any) -> wecal.Calendar:
    base: dict[str, Any] = {
        "provider": wecal.Provider.WECOM,
        "id": "",
        "summary": "周会",
        "color": "#FF3030",
        "admins": ("a1",),
        "shares": (
            wecal.CalendarShare(user_id="a1"),
            wecal.CalendarShare(user_id="u2", permission=wecal.SharePermission.FREE_BUSY),
        ),
    }
    base.update(kw)
    return wecal.Calendar(**base)


def test_calendar_to_wecom_add_and_update() -> None:
    """Create sends the create-only flags; update sends cal_id and leaves them out."""
    body = calendar_to_wecom(_calendar(is_public=True, public_department_ids=(7,)))
    assert body == {
        "summary": "周会",
        "color": "#FF3030",
        "description": "",
        "admins": ["a1"],
        "shares": [{"userid": "a1", "permission": 1}, {"userid": "u2", "permission": 3}],
        "public_range": {"userids": [], "partyids": [7]},
        "is_public": 1,
        "is_corp_calendar": 0,
    }
    update = calendar_to_wecom(_calendar(id="wc1"), for_update=True)
    assert update["cal_id"] == "wc1"
    assert "is_public" not in update
    assert "is_corp_calendar" not in update
    assert "set_as_default" not in update
    with pytest.raises(wecal.ValidationError):
        calendar_to_wecom(_calendar(id=""), for_update=True)


def test_calendar_round_trip_through_reader() -> None:
    cal = _calendar(id="wc1", description="d", is_public=True, public_user_ids=("u2",))
    body = calendar_to_wecom(cal)
    body["cal_id"] = "wc1"
    assert calendar_from_wecom(body) == cal


@pytest.mark.parametrize(
    ("changes", "feature"),
    [
        ({"summary": ""}, "summary"),
        ({"summary": "x" * 129}, "summary"),
        ({"description": "x" * 513}, "description"),
        ({"color": "red"}, "color"),
        ({"color": None}, "color"),
        ({"admins": ("a1", "a2", "a3", "a4")}, "admins"),
        ({"admins": ("stranger",)}, "admins"),
        ({"public_department_ids": tuple(range(101))}, "public_range"),
    ],
)
def test_calendar_to_wecom_limits(changes: dict[str, Any], feature: str) -> None:
    with pytest.raises(wecal.UnsupportedError) as info:
        calendar_to_wecom(_calendar(**changes))
    assert info.value.feature == feature


def test_corp_calendar_needs_no_color() -> None:
    body = calendar_to_wecom(_calendar(color=None, is_corp_calendar=True))
    assert "color" not in body
    assert body["is_corp_calendar"] == 1


# -- writing schedules ---------------------------------------------------------------


def test_event_to_schedule_timed() -> None:
    """A timed event in Asia/Shanghai: Unix seconds, timezone 8, reminders, attendees."""
    ev = _event(
        calendar_id="wc1",
        summary="周会",
        description="d",
        location="3F",
        attendees=(wecal.Attendee(id="u1"), wecal.Attendee(id="u2"), wecal.Attendee(id="u1")),
        reminders=(timedelta(minutes=-15), timedelta(0)),
    )
    body = event_to_schedule(ev)
    assert body["schedule_id"] == "s1"
    assert body["cal_id"] == "wc1"
    assert body["start_time"] == calendar.timegm((2024, 6, 3, 2, 0, 0)) == 1717380000
    assert body["end_time"] == 1717383600
    assert body["is_whole_day"] == 0
    assert body["summary"] == "周会"
    assert body["description"] == "d"
    assert body["location"] == "3F"
    assert body["attendees"] == [{"userid": "u1"}, {"userid": "u2"}]
    assert body["reminders"]["is_remind"] == 1
    assert body["reminders"]["remind_time_diffs"] == [-900, 0]
    assert body["reminders"]["timezone"] == 8
    assert body["reminders"].get("is_repeat", 0) == 0
    assert "admins" not in body


def test_event_to_schedule_whole_day() -> None:
    """Whole-day: local midnights of the first day and of the exclusive end day."""
    ev = _event(start=date(2024, 6, 3), end=date(2024, 6, 5), reminders=(timedelta(hours=9),))
    body = event_to_schedule(ev)
    assert body["is_whole_day"] == 1
    assert body["start_time"] == calendar.timegm((2024, 6, 2, 16, 0, 0))
    assert body["end_time"] == calendar.timegm((2024, 6, 4, 16, 0, 0))
    assert body["reminders"]["timezone"] == 8
    assert body["reminders"]["remind_time_diffs"] == [32400]


def test_event_to_schedule_without_id_or_reminders() -> None:
    body = event_to_schedule(_event(id=""), calendar_id="wc9")
    assert "schedule_id" not in body
    assert body["cal_id"] == "wc9"
    assert body["reminders"]["is_remind"] == 0
    assert body["reminders"]["remind_time_diffs"] == []


@pytest.mark.parametrize(
    ("zone", "start", "hours"),
    [
        ("Europe/Berlin", datetime(2024, 7, 1, 9), 2),  # CEST
        ("Europe/Berlin", datetime(2024, 1, 8, 9), 1),  # CET
        ("America/New_York", datetime(2024, 1, 8, 9), -5),
        ("UTC", datetime(2024, 1, 8, 9), 0),
        ("-03:00", datetime(2024, 1, 8, 9), -3),
    ],
)
def test_timezone_written_as_offset_at_start(zone: str, start: datetime, hours: int) -> None:
    """An IANA zone is written as its offset at the event start (WeCom has no DST)."""
    tz = ZoneInfo(zone) if zone[0] not in "+-" else timezone(timedelta(hours=int(zone[:3])))
    aware = start.replace(tzinfo=tz)
    ev = _event(start=aware, end=aware + timedelta(hours=1), timezone=zone)
    body = event_to_schedule(ev)
    assert body["reminders"]["timezone"] == hours
    assert body["start_time"] == calendar.timegm(start.timetuple()) - hours * 3600


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "+05:45", "Pacific/Kiritimati", "-13:00"])
def test_unrepresentable_timezone(zone: str) -> None:
    tz = (
        ZoneInfo(zone)
        if zone[0] not in "+-"
        else timezone(timedelta(hours=int(zone[:3]), minutes=int(zone[0] + zone[4:])))
    )
    start = datetime(2024, 6, 3, 10, tzinfo=tz)
    ev = _event(start=start, end=start + timedelta(hours=1), timezone=zone)
    with pytest.raises(wecal.UnsupportedError) as info:
        event_to_schedule(ev)
    assert info.value.feature == "timezone"


def test_timezone_from_start_offset_when_none() -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=timezone(timedelta(hours=9)))
    body = event_to_schedule(_event(start=start, end=start, timezone=None))
    assert body["reminders"]["timezone"] == 9


@pytest.mark.parametrize(
    ("changes", "feature"),
    [
        ({"reminders": (timedelta(minutes=-10),)}, "reminders"),
        ({"reminders": (timedelta(hours=9),)}, "reminders"),  # 32400 is whole-day only
        ({"reminders": (timedelta(seconds=-300.5),)}, "reminders"),
        ({"summary": "会" * 129}, "summary"),
        ({"description": "x" * 1001}, "description"),
        ({"location": "x" * 129}, "location"),
        ({"attendees": (wecal.Attendee(id="u", optional=True),)}, "attendees"),
        ({"attendees": (wecal.Attendee(id=""),)}, "attendees"),
        ({"attendees": (wecal.Attendee(id="x" * 65),)}, "attendees"),
        ({"attendees": tuple(wecal.Attendee(id=f"u{i}") for i in range(1001))}, "attendees"),
        ({"status": wecal.EventStatus.TENTATIVE}, "status"),
        ({"status": wecal.EventStatus.CANCELLED}, "status"),
        ({"meeting_url": "https://meeting.example/j/1"}, "meeting_url"),
        (
            {
                "start": datetime(1969, 12, 31, tzinfo=UTC),
                "end": datetime(1970, 1, 1, 1, tzinfo=UTC),
                "timezone": None,
            },
            "start_time",
        ),
    ],
)
def test_what_wecom_cannot_store(changes: dict[str, Any], feature: str) -> None:
    """UnsupportedError naming the feature, before any request is built."""
    with pytest.raises(wecal.UnsupportedError) as info:
        event_to_schedule(_event(**changes))
    assert info.value.feature == feature


def test_whole_day_only_reminders_allowed_on_whole_day() -> None:
    ev = _event(
        start=date(2024, 6, 3),
        end=date(2024, 6, 4),
        reminders=(timedelta(days=-2), timedelta(days=-7), timedelta(hours=9)),
    )
    assert event_to_schedule(ev)["reminders"]["remind_time_diffs"] == [-172800, -604800, 32400]


def test_summary_at_limit_is_fine() -> None:
    assert event_to_schedule(_event(summary="会" * 128))["summary"] == "会" * 128


def test_sub_second_precision_is_truncated() -> None:
    start = datetime(2024, 6, 3, 10, 0, 0, 999_999, tzinfo=SH)
    body = event_to_schedule(_event(start=start, end=start))
    assert body["start_time"] == 1717380000


def test_admins_kept_from_raw_of_a_wecom_event() -> None:
    """Updates overwrite: admins read from WeCom are sent back."""
    item = _item(admins=["admin1"], reminders={"timezone": 8})
    body = event_to_schedule(schedule_to_event(item))
    assert body["admins"] == ["admin1"]
    other = _event(provider=wecal.Provider.DINGTALK, raw={"admins": ["x"]})
    assert "admins" not in event_to_schedule(other)


def test_occurrence_writes_against_its_series() -> None:
    ev = _event(
        id="s1_20240603T020000Z",
        series_id="s1",
        recurrence_id=datetime(2024, 6, 3, 10, tzinfo=SH),
    )
    assert event_to_schedule(ev)["schedule_id"] == "s1"


# -- round trip ----------------------------------------------------------------------

WHOLE_HOURS = st.integers(-12, 12).map(lambda h: f"{'-' if h < 0 else '+'}{abs(h):02d}:00")


def _offset(name: str) -> timezone:
    return timezone(timedelta(hours=int(name[:3])))


@st.composite
def representable_events(draw: st.DrawFn) -> wecal.Event:
    """Events WeCom can store: whole seconds, whole-hour offsets, WeCom's reminders."""
    tz_name = draw(WHOLE_HOURS)
    all_day = draw(st.booleans())
    start: datetime | date
    end: datetime | date
    if all_day:
        start = draw(st.dates(date(1971, 1, 1), date(2100, 12, 31)))
        end = start + timedelta(days=draw(st.integers(1, 30)))
        allowed = [0, -300, -900, -3600, -86400, 32400, -172800, -604800]
    else:
        start = datetime.fromtimestamp(draw(st.integers(86400, 2**32 - 86400 * 40)), UTC)
        start = start.astimezone(_offset(tz_name))
        end = start + timedelta(seconds=draw(st.integers(0, 86400 * 3)))
        allowed = [0, -300, -900, -3600, -86400]
    rule = draw(
        st.none()
        | st.sampled_from(
            [
                "FREQ=DAILY",
                "FREQ=WEEKLY",
                "FREQ=MONTHLY",
                "FREQ=YEARLY",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
                "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10,21",
            ]
        )
    )
    if rule is not None and draw(st.booleans()):
        # UNTIL a few weeks on: a UTC instant for timed events, a date for whole-day.
        until = start + timedelta(days=draw(st.integers(0, 60)))
        if isinstance(until, datetime):
            # WeCom's repeat_until is uint32 seconds: later is not representable.
            until = min(until, datetime.fromtimestamp(UINT32_MAX, UTC))
            rule += f";UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        else:
            rule += f";UNTIL={until:%Y%m%d}"
    reminders = draw(st.lists(st.sampled_from(allowed), unique=True, max_size=4))
    attendee_ids = draw(st.lists(ids, unique=True, max_size=5))
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id=draw(ids),
        calendar_id=draw(st.none() | ids),
        summary=draw(text),
        description=draw(text),
        location=draw(text),
        start=start,
        end=end,
        timezone=tz_name,
        recurrence=None if rule is None else wecal.Recurrence(rrule=rule),
        attendees=tuple(wecal.Attendee(id=i) for i in attendee_ids),
        reminders=tuple(timedelta(seconds=r) for r in reminders),
    )


def _occurrences(rule: str, start: datetime | date, n: int = 8) -> list[datetime]:
    dtstart = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
    out: list[datetime] = []
    for when in rrulestr(rule, dtstart=dtstart):
        out.append(when)
        if len(out) == n:
            break
    return out


@given(representable_events())
def test_round_trip(event: wecal.Event) -> None:
    """event → event_to_schedule → JSON → schedule_to_event gives the same event."""
    body = json.loads(json.dumps(event_to_schedule(event)))
    back = schedule_to_event(body)
    assert back.id == event.id
    assert back.calendar_id == event.calendar_id
    assert back.summary == event.summary
    assert back.description == event.description
    assert back.location == event.location
    assert back.start == event.start
    assert back.end == event.end
    assert back.all_day == event.all_day
    assert back.timezone == event.timezone
    assert back.attendees == event.attendees
    assert back.reminders == event.reminders
    assert back.status is wecal.EventStatus.CONFIRMED
    if event.recurrence is None:
        assert back.recurrence is None
    else:
        # The rule may come back spelled differently; it must mean the same.
        assert back.recurrence is not None
        assert _occurrences(back.recurrence.rrule, back.start) == _occurrences(
            event.recurrence.rrule, event.start
        )
    assert back == attrs.evolve(event, recurrence=back.recurrence)


@example(until=datetime(2106, 2, 7, 6, 28, 17, tzinfo=UTC))  # 2**32 + 1: found by test_round_trip
@example(until=datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC))  # 2**32 - 1: the last representable
@example(until=datetime(2106, 2, 7, 6, 28, 16, tzinfo=UTC))  # 2**32
@given(until=st.datetimes(datetime(1970, 1, 2), datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_repeat_until_range_is_the_same_on_read_and_write(until: datetime) -> None:
    """What wecal writes as repeat_until it reads back; what it cannot read it refuses."""
    until = until.replace(microsecond=0)
    start = datetime(1970, 1, 1, 12, tzinfo=UTC)
    recurrence = wecal.Recurrence(rrule=f"FREQ=DAILY;UNTIL={until:%Y%m%dT%H%M%SZ}")
    seconds = int(until.timestamp())
    if seconds > 2**32 - 1:
        with pytest.raises(wecal.UnsupportedError):
            recurrence_to_wecom(recurrence, start=start)
        with pytest.raises(wecal.ResponseFormatError):
            recurrence_from_wecom({"is_repeat": 1, "repeat_until": seconds}, start=start)
        return
    block = recurrence_to_wecom(recurrence, start=start)
    assert block["repeat_until"] == seconds
    back = recurrence_from_wecom(block, start=start)
    assert back is not None
    assert back.rrule.endswith(f"UNTIL={until:%Y%m%dT%H%M%SZ}")


# -- malformed payloads ----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=10)
    # Values that get past the type checks and into the parsers.
    | st.sampled_from(
        [
            "2019-03-01T23:08:53+0800",
            "2018-08-08",
            "Asia/Shanghai",
            "a" * 300,
            "FREQ=DAILY",
            "YEARLY;BYHOUR=8",
            "1609466400000",
            "needsAction",
            "cancelled",
            2**32,
            1571274600,
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, Mapping):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _paths(sub, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return doc


GOLDEN_SCHEDULES = [
    load("schedule_get.json")["schedule_list"][0],
    load("schedule_get_by_calendar.json")["schedule_list"][0],
]
GOLDEN_CALENDARS = [
    load("calendar_get_2022.json")["calendar_list"][0],
    load("calendar_get_2023.json")["calendar_list"][0],
]


@st.composite
def mutated(draw: st.DrawFn, docs: list[Any]) -> Any:
    doc = draw(st.sampled_from(docs))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        delete = bool(path) and draw(st.booleans())
        doc = _mutate(doc, path, draw(json_values), delete)
    return doc


def outcome(fn: Any, *args: Any, **kw: Any) -> Any:
    """The result of ``fn``, or the WecalError it raised; anything else propagates."""
    try:
        return fn(*args, **kw)
    except wecal.WecalError as exc:
        return exc


@given(mutated(GOLDEN_SCHEDULES) | json_values)
def test_malformed_schedules_raise_only_wecal_errors(doc: Any) -> None:
    """Mutated fixtures and random JSON: an Event or a ResponseFormatError, nothing else."""
    result = outcome(schedule_to_event, doc, path="$.schedule_list[0]")
    if isinstance(result, wecal.WecalError):
        assert isinstance(result, wecal.ResponseFormatError)
        assert result.path is not None
        assert result.path.startswith("$.schedule_list[0]")
    else:
        assert isinstance(result, wecal.Event)
        assert result.raw is doc


@given(mutated(GOLDEN_CALENDARS) | json_values)
def test_malformed_calendars_raise_only_wecal_errors(doc: Any) -> None:
    result = outcome(calendar_from_wecom, doc, path="$.calendar_list[0]")
    if isinstance(result, wecal.WecalError):
        assert isinstance(result, wecal.ResponseFormatError)
        assert result.path is not None
        assert result.path.startswith("$.calendar_list[0]")
    else:
        assert isinstance(result, wecal.Calendar)


@given(json_values)
def test_malformed_pages_raise_only_wecal_errors(doc: Any) -> None:
    for fn in (wecom_schedule_page, share_failures):
        result = outcome(fn, doc)
        assert isinstance(result, list | wecal.ResponseFormatError)


@pytest.mark.parametrize("doc", [b'{"schedule_id": "x"}', "not json", None, 12, ["a"]])
def test_non_objects(doc: Any) -> None:
    with pytest.raises(wecal.ResponseFormatError, match=r"^\$: expected an object"):
        schedule_to_event(doc)
