"""
DingTalk v1.0 ``pattern``/``range`` ↔ RRULE (``wecal.providers.dingtalk._pattern``).

Two properties over two years of occurrences:

1. pattern → RRULE: dateutil's expansion of the RRULE equals the days an
   independent, deliberately naive expander of the Graph pattern (written
   below from the pattern's definition, day by day) picks.
2. RRULE → pattern → RRULE: for every convertible rule, ``wecal.expand`` of
   the original and of the round-tripped rule give the same instants.

Plus: what the model cannot say raises UnsupportedError naming the part, and
DingTalk's limits raise ValidationError.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import example, given
from hypothesis import strategies as st

import wecal
from wecal.providers.dingtalk._pattern import pattern_to_rrule, rrule_to_pattern

NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
INDEXES = ("first", "second", "third", "fourth", "last")
HORIZON = timedelta(days=730)
ZONES = ("UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin")


# --------------------------------------------------------------------------
# An independent expander of the Graph pattern model (day by day)
# --------------------------------------------------------------------------


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _nth_weekday(year: int, month: int, weekdays: set[int], index: str) -> date | None:
    """The index-th day of the month whose weekday is in ``weekdays``."""
    _, last = calendar.monthrange(year, month)
    matching = [date(year, month, d) for d in range(1, last + 1)]
    matching = [d for d in matching if d.weekday() in weekdays]
    position = -1 if index == "last" else INDEXES.index(index)
    if position >= len(matching):
        return None
    return matching[position]


def pattern_days(recurrence: dict[str, Any], start: date) -> list[date]:
    """The days a Graph ``{pattern, range}`` series starting on ``start`` falls on."""
    pattern, range_ = recurrence["pattern"], recurrence["range"]
    kind, interval = pattern["type"], pattern.get("interval", 1)
    weekdays = {NAMES.index(n) for n in pattern.get("daysOfWeek", "").split(",") if n}
    first_day = NAMES.index(pattern.get("firstDayOfWeek", "sunday"))

    def week_start(d: date) -> date:
        return d - timedelta(days=(d.weekday() - first_day) % 7)

    out: list[date] = []
    day = start
    while day < start + HORIZON:
        if kind == "daily":
            hit = (day - start).days % interval == 0
        elif kind == "weekly":
            weeks = (week_start(day) - week_start(start)).days // 7
            hit = day.weekday() in weekdays and weeks % interval == 0
        elif kind == "absoluteMonthly":
            hit = day.day == pattern["dayOfMonth"] and _months_between(start, day) % interval == 0
        elif kind == "relativeMonthly":
            hit = _months_between(start, day) % interval == 0 and day == _nth_weekday(
                day.year, day.month, weekdays, pattern["index"]
            )
        else:  # absoluteYearly: the start's month and day
            hit = (day.month, day.day) == (start.month, start.day) and (
                day.year - start.year
            ) % interval == 0
        if hit:
            if range_["type"] == "endDate" and day > date.fromisoformat(range_["endDate"][:10]):
                break
            out.append(day)
            if range_["type"] == "numbered" and len(out) == range_["numberOfOccurrences"]:
                break
        day += timedelta(days=1)
    return out


def rrule_days(rule: str, start: date) -> list[date]:
    """dateutil's occurrences of ``rule`` from ``start`` over the horizon (end excluded)."""
    dtstart = datetime.combine(start, time())
    parsed = rrulestr("RRULE:" + rule, dtstart=dtstart)
    occurrences = takewhile(lambda d: d < dtstart + HORIZON, parsed.xafter(dtstart, inc=True))
    return [d.date() for d in occurrences]


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
day_sets = st.lists(st.sampled_from(NAMES), min_size=1, max_size=7, unique=True)


@st.composite
def graph_recurrences(draw: st.DrawFn, start: date) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly"])
    )
    pattern: dict[str, Any] = {"type": kind, "interval": draw(st.integers(1, 5))}
    if kind == "weekly":
        pattern["daysOfWeek"] = ",".join(draw(day_sets))
        if draw(st.booleans()):  # DingTalk's default is Sunday
            pattern["firstDayOfWeek"] = draw(st.sampled_from(NAMES))
    elif kind == "absoluteMonthly":
        pattern["dayOfMonth"] = draw(st.integers(1, 31))
    elif kind == "relativeMonthly":
        pattern["daysOfWeek"] = ",".join(draw(day_sets))
        pattern["index"] = draw(st.sampled_from(INDEXES))
    range_kind = draw(st.sampled_from(["noEnd", "numbered", "endDate"]))
    range_: dict[str, Any] = {"type": range_kind}
    if range_kind == "numbered":
        range_["numberOfOccurrences"] = draw(st.integers(1, 99))
    elif range_kind == "endDate":
        last = start + timedelta(days=draw(st.integers(0, 800)))
        range_["endDate"] = last.isoformat()
    return {"pattern": pattern, "range": range_}


@given(data=st.data(), start=starts)
@example(
    data=None,
    start=date(2024, 1, 31),
).via("dayOfMonth 31 skips short months")
def test_pattern_to_rrule_expands_like_the_pattern(data: Any, start: date) -> None:
    if data is None:
        recurrence: dict[str, Any] = {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "range": {"type": "noEnd"},
        }
    else:
        recurrence = data.draw(graph_recurrences(start))
    rule = pattern_to_rrule(recurrence, start=start)
    assert rrule_days(rule, start) == pattern_days(recurrence, start)


# --------------------------------------------------------------------------
# RRULE → pattern → RRULE
# --------------------------------------------------------------------------


@st.composite
def convertible_rules(draw: st.DrawFn, start: date, all_day: bool) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY-DAY", "MONTHLY-REL", "YEARLY"]))
    parts: list[str] = []
    interval = draw(st.integers(1, 4))
    if freq == "DAILY":
        parts.append("FREQ=DAILY")
        if interval == 1 and draw(st.booleans()):
            parts.append(
                "BYDAY=" + ",".join(draw(st.lists(st.sampled_from(CODES), min_size=1, unique=True)))
            )
    elif freq == "WEEKLY":
        parts.append("FREQ=WEEKLY")
        if draw(st.booleans()):
            parts.append(
                "BYDAY=" + ",".join(draw(st.lists(st.sampled_from(CODES), min_size=1, unique=True)))
            )
        if draw(st.booleans()):
            parts.append("WKST=" + draw(st.sampled_from(CODES)))
    elif freq == "MONTHLY-DAY":
        parts.append("FREQ=MONTHLY")
        if draw(st.booleans()):
            parts.append(f"BYMONTHDAY={draw(st.integers(1, 31))}")
    elif freq == "MONTHLY-REL":
        parts.append("FREQ=MONTHLY")
        ordinal = draw(st.sampled_from([1, 2, 3, 4, -1]))
        days = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True))
        if len(days) == 1 and draw(st.booleans()):
            parts.append(f"BYDAY={ordinal:+d}{days[0]}")
        else:
            parts.append("BYDAY=" + ",".join(days))
            parts.append(f"BYSETPOS={ordinal}")
    else:
        parts.append("FREQ=YEARLY")
        if draw(st.booleans()):
            parts.append(f"BYMONTH={start.month};BYMONTHDAY={start.day}")
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    end = draw(st.sampled_from(["none", "count", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 99))}")
    elif end == "until":
        last = start + timedelta(days=draw(st.integers(0, 800)))
        if all_day or draw(st.booleans()):
            parts.append(f"UNTIL={last:%Y%m%d}")
        else:
            stamp = datetime.combine(last, time(draw(st.integers(0, 23))), tzinfo=UTC)
            parts.append(f"UNTIL={stamp:%Y%m%dT%H%M%SZ}")
    return ";".join(parts)


def _instants(event: wecal.Event) -> list[datetime | date]:
    first = event.start.date() if isinstance(event.start, datetime) else event.start
    lo = datetime.combine(first, time(), tzinfo=UTC) - timedelta(days=1)
    return [occ.start for occ in wecal.expand(event, lo, lo + HORIZON)]


def _series(start: datetime | date, rule: str, zone: str | None) -> wecal.Event:
    end = start + (timedelta(days=1) if not isinstance(start, datetime) else timedelta(hours=1))
    return wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="s",
        start=start,
        end=end,
        timezone=zone,
        recurrence=wecal.Recurrence(rrule=rule),
    )


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@given(
    data=st.data(),
    day=starts,
    all_day=st.booleans(),
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
)
@example(data=None, day=date(2024, 3, 9), all_day=False, zone="America/New_York", hour=2)
def test_rrule_round_trip_keeps_the_instants(
    data: Any, day: date, all_day: bool, zone: str, hour: int
) -> None:
    if data is None:
        rule = "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;UNTIL=20240601"
    else:
        rule = data.draw(convertible_rules(day, all_day))
    start: datetime | date = (
        day if all_day else datetime.combine(day, time(hour, 30), tzinfo=ZoneInfo(zone))
    )
    tz = UTC if all_day else ZoneInfo(zone)
    converted = rrule_to_pattern(rule, start=start, zone=tz)
    back = pattern_to_rrule(converted, start=start, zone=tz)
    event_zone = "UTC" if all_day else zone
    assert _instants(_series(start, back, event_zone)) == _instants(
        _series(start, rule, event_zone)
    )


# --------------------------------------------------------------------------
# Exact conversions, unsupported parts, limits
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "start", "expected"),
    [
        (
            "FREQ=DAILY;INTERVAL=3;COUNT=5",
            date(2024, 6, 3),
            {
                "pattern": {"type": "daily", "interval": 3},
                "range": {"type": "numbered", "numberOfOccurrences": 5},
            },
        ),
        (
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
            date(2024, 6, 3),
            {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": "monday,tuesday,wednesday,thursday,friday",
                    "firstDayOfWeek": "monday",
                },
                "range": {"type": "noEnd"},
            },
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU;UNTIL=20201203T063653Z",
            datetime(2020, 1, 6, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
            {
                "pattern": {
                    "type": "weekly",
                    "interval": 2,
                    "daysOfWeek": "monday,wednesday",
                    "firstDayOfWeek": "sunday",
                },
                "range": {"type": "endDate", "endDate": "2020-12-03T06:36:53Z"},
            },
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20241231",
            datetime(2024, 6, 15, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
            {
                "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
                # the whole last day in Shanghai: 23:59:59+08:00
                "range": {"type": "endDate", "endDate": "2024-12-31T15:59:59Z"},
            },
        ),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2",
            date(2024, 6, 3),
            {
                "pattern": {
                    "type": "relativeMonthly",
                    "interval": 1,
                    "daysOfWeek": "monday,tuesday",
                    "index": "second",
                },
                "range": {"type": "noEnd"},
            },
        ),
        (
            "FREQ=YEARLY;INTERVAL=2;UNTIL=20300101",
            date(2024, 6, 3),
            {
                "pattern": {"type": "absoluteYearly", "interval": 2},
                "range": {"type": "endDate", "endDate": "2030-01-01T23:59:59Z"},
            },
        ),
    ],
)
def test_rrule_to_pattern_examples(rule: str, start: datetime | date, expected: Any) -> None:
    assert rrule_to_pattern(rule, start=start) == expected


@pytest.mark.parametrize(
    ("rule", "feature"),
    [
        ("FREQ=MINUTELY;INTERVAL=15", "FREQ=MINUTELY"),
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR"),
        ("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "BYDAY with BYMONTHDAY"),
        ("FREQ=YEARLY;BYMONTH=1,7", "BYMONTH=1,7"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "BYMONTHDAY=1,15"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "BYMONTHDAY=-1"),
        ("FREQ=MONTHLY;BYDAY=5FR", "BYDAY=5FR"),
        ("FREQ=MONTHLY;BYDAY=MO", "BYDAY=MO"),
        ("FREQ=MONTHLY;BYDAY=MO,FR;BYSETPOS=1,-1", "BYSETPOS=1,-1"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO"),
        ("FREQ=WEEKLY;BYSETPOS=1;BYDAY=MO,TU", "BYSETPOS=1"),
        ("FREQ=YEARLY;BYDAY=1MO;BYMONTH=6", "BYDAY"),
        ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25", "BYMONTH=12;BYMONTHDAY=25"),
        ("FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY"),
        ("FREQ=WEEKLY;BYWEEKNO=20;BYDAY=MO", "BYWEEKNO"),
        ("FREQ=MONTHLY;BYMONTH=6", "BYMONTH"),
        ("FREQ=DAILY;INTERVAL=2;BYDAY=MO", "BYDAY=MO"),
    ],
)
def test_unsupported_parts_are_named(rule: str, feature: str) -> None:
    with pytest.raises(wecal.UnsupportedError) as info:
        rrule_to_pattern(rule, start=date(2024, 6, 3))
    assert info.value.feature == feature
    assert feature in str(info.value)


@pytest.mark.parametrize(
    ("rule", "name"),
    [
        ("FREQ=DAILY;COUNT=100", "COUNT=100"),
        ("FREQ=WEEKLY;INTERVAL=366", "INTERVAL=366"),
        ("not a rule", "'not a rule'"),
    ],
)
def test_limits_are_validation_errors(rule: str, name: str) -> None:
    with pytest.raises(wecal.ValidationError, match=name):
        rrule_to_pattern(rule, start=date(2024, 6, 3))


def test_limits_at_the_edge_pass() -> None:
    got = rrule_to_pattern("FREQ=DAILY;INTERVAL=365;COUNT=99", start=date(2024, 6, 3))
    assert got["pattern"]["interval"] == 365
    assert got["range"]["numberOfOccurrences"] == 99


# --------------------------------------------------------------------------
# Reading: shapes DingTalk (and Graph) send
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recurrence", "start", "expected"),
    [
        # Graph sends daysOfWeek as a list, DingTalk as a comma string.
        (
            {"pattern": {"type": "weekly", "daysOfWeek": ["Friday", "monday"]}},
            date(2024, 6, 3),
            "FREQ=WEEKLY;BYDAY=MO,FR",
        ),
        # The reference's example: endDate a full datetime with an offset.
        (
            {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "endDate", "endDate": "2021-12-31T10:15:30+08:00"},
            },
            datetime(2021, 12, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
            "FREQ=DAILY;UNTIL=20211231T021530Z",
        ),
        # All-day series: the endDate's own date.
        (
            {
                "pattern": {"type": "daily"},
                "range": {"type": "endDate", "endDate": "2021-12-31T10:15:30+08:00"},
            },
            date(2021, 12, 1),
            "FREQ=DAILY;UNTIL=20211231",
        ),
        # A bare date on a timed series: the whole day in its zone.
        (
            {"pattern": {"type": "daily"}, "range": {"type": "endDate", "endDate": "2021-12-31"}},
            datetime(2021, 12, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
            "FREQ=DAILY;UNTIL=20211231T155959Z",
        ),
        # Integers as strings, an empty index on a type that ignores it.
        (
            {
                "pattern": {
                    "type": "absoluteMonthly",
                    "dayOfMonth": "15",
                    "interval": "2",
                    "index": "",
                },
                "range": {"type": "numbered", "numberOfOccurrences": "3"},
            },
            date(2024, 6, 15),
            "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=15;COUNT=3",
        ),
        (
            {"pattern": {"type": "relativeMonthly", "daysOfWeek": "friday", "index": "last"}},
            date(2024, 6, 28),
            "FREQ=MONTHLY;BYDAY=-1FR",
        ),
        (
            {
                "pattern": {
                    "type": "relativeYearly",
                    "daysOfWeek": "thursday",
                    "index": "fourth",
                    "month": 11,
                }
            },
            date(2024, 11, 28),
            "FREQ=YEARLY;BYMONTH=11;BYDAY=+4TH",
        ),
        # No range: no end.
        ({"pattern": {"type": "absoluteYearly", "interval": 1}}, date(2024, 2, 29), "FREQ=YEARLY"),
    ],
)
def test_pattern_to_rrule_examples(
    recurrence: dict[str, Any], start: datetime | date, expected: str
) -> None:
    assert pattern_to_rrule(recurrence, start=start) == expected


@pytest.mark.parametrize(
    ("recurrence", "path"),
    [
        ("weekly", "$.recurrence"),
        ({"pattern": None}, "$.recurrence.pattern"),
        ({"pattern": {"type": "hourly"}}, "$.recurrence.pattern.type"),
        (
            {"pattern": {"type": "weekly", "daysOfWeek": "funday"}},
            "$.recurrence.pattern.daysOfWeek",
        ),
        ({"pattern": {"type": "daily", "interval": 0}}, "$.recurrence.pattern.interval"),
        ({"pattern": {"type": "daily", "interval": True}}, "$.recurrence.pattern.interval"),
        (
            {"pattern": {"type": "relativeMonthly", "daysOfWeek": "monday", "index": "fifth"}},
            "$.recurrence.pattern.index",
        ),
        (
            {"pattern": {"type": "absoluteMonthly", "dayOfMonth": 32}},
            "$.recurrence.pattern.dayOfMonth",
        ),
        ({"pattern": {"type": "daily"}, "range": []}, "$.recurrence.range"),
        ({"pattern": {"type": "daily"}, "range": {"type": "forever"}}, "$.recurrence.range.type"),
        (
            {"pattern": {"type": "daily"}, "range": {"type": "numbered"}},
            "$.recurrence.range.numberOfOccurrences",
        ),
        (
            {"pattern": {"type": "daily"}, "range": {"type": "endDate", "endDate": "soon"}},
            "$.recurrence.range.endDate",
        ),
    ],
)
def test_malformed_patterns_name_the_path(recurrence: Any, path: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        pattern_to_rrule(recurrence, start=date(2024, 6, 3))
    assert info.value.path == path
