"""
DingTalk v1.0 pages read through the wire Structs (``providers/dingtalk/_wire.py``)
give what the dict readers give: the same events (and ``raw``), or the same
ResponseFormatError with the same path.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.providers._wire import RawJSON
from wecal.providers.dingtalk import _convert
from wecal.providers.dingtalk._convert import (
    event_from_dingtalk,
    events_from_wire,
    page_from_response,
)
from wecal.providers.dingtalk._pattern import pattern_to_rrule
from wecal.providers.dingtalk._wire import decode_event_page

DATA = Path(__file__).parent / "data"


def by_dicts(content: bytes) -> Any:
    try:
        items, _ = page_from_response(json.loads(content))
        return [
            event_from_dingtalk(x, path=f"$.events[{i}]", calendar_id="c")
            for i, x in enumerate(items)
        ]
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def by_wire(content: bytes) -> Any:
    page = decode_event_page(content)
    if page is None:
        return None
    try:
        return events_from_wire(page, calendar_id="c")
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def assert_same(content: bytes) -> bool:
    expected, got = by_dicts(content), by_wire(content)
    if got is None:
        return False
    assert got == expected
    if isinstance(expected, list):
        for event, item in zip(got, json.loads(content)["events"], strict=True):
            assert event.raw == item
    return True


bound = st.fixed_dictionaries(
    {},
    optional={
        "dateTime": st.sampled_from(
            ["2026-01-04T08:00:00+08:00", "2026-01-04T09:00:00+08:00", "2026-01-04T07:00:00",
             "2026-01-03T08:00:00Z", "", "soon"]
        ),
        "date": st.sampled_from(["2026-01-04", "2026-01-05", "", "2026-01-03T00:00:00Z"]),
        "timeZone": st.sampled_from(["Asia/Shanghai", "America/New_York", "Mars/Base", ""]),
    },
)  # fmt: skip
person = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["p1", "", None]),
        "displayName": st.sampled_from(["张伟", None]),
        "responseStatus": st.sampled_from(["accepted", "needsAction", "tentative", "", "maybe"]),
        "isOptional": st.sampled_from([True, False, "true", "no", None]),
    },
)
event = st.fixed_dictionaries(
    {"id": st.sampled_from(["e1", "e2"]), "start": bound},
    optional={
        "end": bound,
        "isAllDay": st.sampled_from([True, False, None, "true", 1]),
        "summary": st.one_of(st.text(max_size=4), st.none()),
        "location": st.sampled_from([None, "", "会议室", {"displayName": "A"}, {}, 3]),
        "onlineMeetingInfo": st.sampled_from([None, {"url": "https://m/1"}, {"url": ""}, "x"]),
        "status": st.sampled_from(["confirmed", "cancelled", "tentative", "", "gone"]),
        "organizer": st.one_of(st.none(), person),
        "attendees": st.one_of(st.none(), st.lists(person, max_size=3), st.just("x")),
        "seriesMasterId": st.sampled_from(["m1", "", None]),
        "originStart": st.one_of(st.none(), bound),
        "recurrence": st.sampled_from(
            [None, {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}},
             {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday"},
              "range": {"type": "endDate", "endDate": "2026-12-31T00:00:00+08:00"}},
             {"pattern": {"type": "yearly"}}, "x"]
        ),
        "reminders": st.sampled_from([None, [], [{"method": "dingtalk", "minutes": "15"}],
                                      [{"minutes": 30}], [{"minutes": -1}], "x"]),
        "createTime": st.sampled_from([None, "", "2025-12-24T03:46:00Z", "1703390000000", 5, "x"]),
        "updateTime": st.sampled_from([None, "2025-12-24T03:46:00.123Z"]),
        "extra": st.just({"a": [1, None]}),
    },
)  # fmt: skip


@given(st.lists(event, min_size=1, max_size=3), st.sampled_from([None, "", "tok"]))
def test_wire_path_agrees_with_the_dict_readers(items: list[dict[str, Any]], token: Any) -> None:
    body = {"events": items, "nextToken": token}
    assert_same(json.dumps(body, ensure_ascii=False).encode())


valid_event = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["e1", "e2"]),
        "start": st.sampled_from([
            {"dateTime": "2026-01-04T08:00:00+08:00", "timeZone": "Asia/Shanghai"},
            {"date": "2026-01-04"},
        ]),
    },
    optional={
        "summary": st.text(max_size=4),
        "location": st.sampled_from(["", "会议室", {"displayName": "A"}]),
        "onlineMeetingInfo": st.sampled_from([{"url": "https://m/1"}, {"url": ""}]),
        "status": st.sampled_from(["confirmed", "cancelled", "tentative", ""]),
        "organizer": st.fixed_dictionaries({"id": st.just("p1"), "displayName": st.just("张伟")}),
        "attendees": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["p1", "p2"])},
                optional={
                    "displayName": st.sampled_from(["张伟", "李四"]),
                    "responseStatus": st.sampled_from(["accepted", "declined", "needsAction"]),
                    "isOptional": st.booleans(),
                },
            ),
            max_size=3,
        ),
        "seriesMasterId": st.sampled_from(["m1", ""]),
        "recurrence": st.sampled_from(
            [None, {"pattern": {"type": "daily", "interval": 2}, "range": {"type": "noEnd"}}]
        ),
        "reminders": st.sampled_from([[], [{"method": "dingtalk", "minutes": "15"}]]),
        "createTime": st.sampled_from(["2025-12-24T03:46:00Z", "1703390000000"]),
    },
).map(lambda x: {**x, "end": _end_for(x["start"])})  # fmt: skip


def _end_for(start: dict[str, str]) -> dict[str, str]:
    if "date" in start:
        return {"date": "2026-01-05"}
    return {**start, "dateTime": start["dateTime"].replace("T08", "T09")}


@given(st.lists(valid_event, min_size=1, max_size=3))
def test_valid_pages_are_read_by_the_wire_path(items: list[dict[str, Any]]) -> None:
    content = json.dumps({"events": items}, ensure_ascii=False).encode()
    page = decode_event_page(content)
    assert page is not None
    events = [_convert._event_from_wire(w, raw, "c") for w, raw in page]  # no fallback
    assert all(isinstance(e.raw, RawJSON) for e in events)
    assert assert_same(content)


def test_the_golden_and_real_pages() -> None:
    for path in (
        DATA / "real" / "dingtalk_v1_events_list_0254.json",
        DATA / "real" / "dingtalk_v1_events_list_practitioner.json",
        DATA / "real" / "dingtalk_v1_eventsview_0255.json",
        DATA / "dingtalk" / "eventsview_page.json",
        DATA / "sandbox_dingtalk_v1" / "list_events_response.json",
    ):
        assert assert_same(path.read_bytes()), path


def test_error_answers_take_the_dict_readers() -> None:
    for content in (
        b'{"code": "Forbidden", "message": "x", "punish": "deny"}',
        b'{"events": "x"}',
        b'{"events": [{"id": 1}]}',
        b"",
    ):
        assert decode_event_page(content) is None


def test_all_day_written_as_text_or_by_dates() -> None:
    timed = {"dateTime": "2026-01-04T08:00:00+08:00", "timeZone": "Asia/Shanghai"}
    for start, end, flag in (
        (timed, {**timed, "dateTime": "2026-01-05T08:00:00+08:00"}, "true"),
        (timed, {**timed, "dateTime": "2026-01-05T08:00:00+08:00"}, True),
        ({"date": "2026-01-04"}, {"date": "2026-01-04"}, None),
        ({"date": "2026-01-04"}, {"date": "2026-01-06"}, False),
    ):
        item = {"id": "e", "start": start, "end": end, "isAllDay": flag}
        content = json.dumps({"events": [item]}).encode()
        assert assert_same(content)
        (event,) = by_wire(content)
        assert event.all_day


# One Recurrence per (pattern bytes, what of the start its rule reads): the
# cache must give, for every start, what pattern_to_rrule gives for it.
_PATTERNS = [
    {"type": "daily", "interval": 2},
    {"type": "weekly", "interval": 1},
    {"type": "weekly", "interval": 2, "daysOfWeek": "monday,friday", "firstDayOfWeek": "monday"},
    {"type": "absoluteMonthly", "interval": 1},
    {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 17},
    {"type": "relativeMonthly", "interval": 1, "index": "last", "daysOfWeek": "friday"},
    {"type": "absoluteYearly", "interval": 1},
    {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 9},
    {"type": "relativeYearly", "interval": 1, "index": "first", "daysOfWeek": "monday"},
]
_RANGES = [
    {"type": "noEnd"},
    {"type": "numbered", "numberOfOccurrences": 5},
    {"type": "endDate", "endDate": "2027-06-30T15:59:59Z"},
    {"type": "endDate", "endDate": "2027-06-30"},
    {"type": "endDate", "endDate": "2027-06-30T08:00:00"},
]
_ZONES = [None, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]


@st.composite
def _start(draw: st.DrawFn) -> tuple[datetime | date, Any]:
    day = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)))
    if draw(st.booleans()):
        return day, None
    zone = draw(st.sampled_from(_ZONES))
    offset = draw(st.sampled_from([timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]))
    return datetime.combine(day, time(9, 30), offset).astimezone(zone or offset), zone


@given(
    st.sampled_from(_PATTERNS), st.sampled_from(_RANGES), st.lists(_start(), min_size=2, max_size=6)
)
def test_recurrence_cache_agrees_with_the_conversion(
    pattern: dict[str, Any], range_: dict[str, Any], starts: list[tuple[Any, Any]]
) -> None:
    block = json.dumps({"pattern": pattern, "range": range_}).encode()
    for start, zone in starts:
        expected = pattern_to_rrule(json.loads(block), start=start, zone=zone)
        assert _convert._wire_recurrence(block, start, zone).rrule == expected


def test_a_long_pattern_block_is_converted_but_not_kept() -> None:
    # Hostile pages must not pin their bytes in the caches: a real block is
    # 100-200 bytes, this one is over 1024.
    pattern = {"type": "daily", "interval": 1, "note": "x" * 2000}
    block = json.dumps({"pattern": pattern, "range": {"type": "noEnd"}}).encode()
    start = datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    before = len(_convert._RECURRENCES), _convert._pattern_type.cache_info().currsize
    rule = _convert._wire_recurrence(block, start, ZoneInfo("Asia/Shanghai")).rrule
    assert rule == "FREQ=DAILY"
    assert (len(_convert._RECURRENCES), _convert._pattern_type.cache_info().currsize) == before
