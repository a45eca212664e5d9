"""Hypothesis properties of wecal.recurrence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from itertools import chain, islice
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import example, given
from hypothesis import strategies as st

import wecal
from wecal.providers.wecom._repeat import recurrence_from_wecom, recurrence_to_wecom, wecom_timezone
from wecal.recurrence import expand, normalize_rrule, parse_rrule

from .strategies import OFFSETS, ZONES

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _rfc_instances(rule: str, dtstart: datetime, *, same_day: bool = False) -> Iterator[datetime]:
    """
    RFC 5545's recurrence set by dateutil: DTSTART is the first instance and
    counts toward COUNT even when the rule does not match it (dateutil alone
    leaves such a start out).
    """
    series = rrulestr("RRULE:" + rule, dtstart=dtstart)
    first = next(iter(series), None)
    if first is not None and (first.date() == dtstart.date() if same_day else first == dtstart):
        return iter(series)
    parts = dict(part.split("=") for part in rule.split(";"))
    if "COUNT" in parts:
        parts["COUNT"] = str(int(parts["COUNT"]) - 1)
        if parts["COUNT"] == "0":
            return iter([dtstart])
    rest = rrulestr("RRULE:" + ";".join(f"{k}={v}" for k, v in parts.items()), dtstart=dtstart)
    return chain([dtstart], rest)


def _tz(name: str) -> tzinfo:
    if name[0] in "+-":
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    return ZoneInfo(name)


# --------------------------------------------------------------------------
# (1) WeCom reminders -> Recurrence -> WeCom
# --------------------------------------------------------------------------


@st.composite
def wecom_cases(draw: st.DrawFn) -> tuple[dict[str, Any], datetime | date, tzinfo]:
    """A repeat block in the canonical form WeCom (and recurrence_to_wecom) uses."""
    repeat_type = draw(st.sampled_from((0, 1, 2, 5, 7)))
    custom = draw(st.sampled_from((0, 1)))
    week: list[int] = []
    month: list[int] = []
    if custom and repeat_type == 1:
        # Exactly Monday–Friday comes back as repeat_type 7 (the same schedule;
        # tested by hand in test_recurrence.py), so it is left out here.
        week = draw(
            st.lists(st.integers(1, 7), unique=True)
            .map(sorted)
            .filter(lambda days: days != [1, 2, 3, 4, 5])
        )
    if custom and repeat_type == 2:
        month = sorted(draw(st.lists(st.integers(1, 31), unique=True, max_size=6)))
    hours = draw(st.integers(-12, 12))
    tz = timezone(timedelta(hours=hours))
    whole_day = draw(st.booleans())
    start_ts = draw(st.integers(946_684_800, 2_000_000_000))
    start: datetime | date
    if whole_day:
        start = datetime.fromtimestamp(start_ts, tz).date()
        until_day = start + timedelta(days=draw(st.integers(0, 3000)))
        until = int(datetime.combine(until_day, time(), tzinfo=tz).timestamp())
    else:
        start = datetime.fromtimestamp(start_ts, tz)
        until = start_ts + draw(st.integers(0, 10**8))
    block = {
        "is_repeat": 1,
        "repeat_type": repeat_type,
        "is_custom_repeat": custom,
        "repeat_interval": draw(st.integers(1, 30)) if custom else 1,
        "repeat_day_of_week": week,
        "repeat_day_of_month": month,
        "repeat_until": draw(st.sampled_from((0, until))),
    }
    return block, start, tz


@given(wecom_cases())
def test_wecom_round_trip(case: tuple[dict[str, Any], datetime | date, tzinfo]) -> None:
    block, start, tz = case
    hours = int(tz.utcoffset(None).total_seconds() // 3600)  # type: ignore[union-attr]
    reminders = {**block, "timezone": hours, "is_remind": 1, "remind_time_diffs": [-300]}
    assert wecom_timezone(reminders) == tz
    recurrence = recurrence_from_wecom(reminders, start=start)
    assert recurrence is not None
    assert recurrence_to_wecom(recurrence, start=start, tz=tz) == block


# --------------------------------------------------------------------------
# (2) expand() equals dateutil's own iteration
# --------------------------------------------------------------------------


@st.composite
def rules(draw: st.DrawFn, *, all_day: bool) -> str:
    freq = draw(st.sampled_from(("DAILY", "WEEKLY", "MONTHLY", "YEARLY")))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    if draw(st.booleans()):
        parts.append(
            "BYDAY="
            + ",".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)))
        )
    if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        days = draw(
            st.lists(
                st.sampled_from((1, 2, 10, 15, 28, 29, 30, 31, -1)),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if freq == "YEARLY" and draw(st.booleans()):
        months = draw(st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if not all_day and freq == "DAILY" and draw(st.booleans()):
        # Hour 2 is left out: it is inside the DST gap of some zones, where
        # wecal moves the time forward (RFC 5545 §3.3.5) and dateutil does not.
        hours = draw(
            st.lists(st.sampled_from((0, 8, 9, 13, 23)), min_size=1, max_size=3, unique=True)
        )
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    end = draw(st.sampled_from(("none", "count", "until")))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 60))}")
    elif end == "until":
        moment = draw(st.datetimes(datetime(2000, 1, 1), datetime(2032, 12, 31)))
        parts.append(f"UNTIL={moment:%Y%m%d}" if all_day else f"UNTIL={moment:%Y%m%dT%H%M%S}Z")
    return ";".join(parts)


zone_names = st.sampled_from(ZONES + OFFSETS)
naive_starts = st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).filter(
    lambda d: d.hour != 2
)


@given(
    rule=rules(all_day=False),
    zone_name=zone_names,
    naive=naive_starts,
    duration=st.timedeltas(timedelta(0), timedelta(hours=5)),
    offset=st.integers(-60, 1500),
    length=st.integers(0, 500),
)
def test_expand_equals_dateutil_for_timed_events(
    rule: str, zone_name: str, naive: datetime, duration: timedelta, offset: int, length: int
) -> None:
    tz = _tz(zone_name)
    dtstart = naive.replace(microsecond=0, tzinfo=tz)
    event = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="p",
        start=dtstart,
        end=dtstart + duration,
        timezone=zone_name,
        recurrence=wecal.Recurrence(rrule=rule),
    )
    w0 = dtstart.astimezone(UTC) + timedelta(days=offset)
    w1 = w0 + timedelta(days=length, hours=7)
    got = list(expand(event, w0, w1))

    expected = []
    for d in _rfc_instances(rule, dtstart):
        if d >= w1:
            break
        end = d + duration
        if (end > w0 and d < w1) if end != d else (w0 <= d < w1):
            expected.append(d)
    assert [o.start for o in got] == expected
    starts = [o.start for o in got if isinstance(o.start, datetime)]
    assert [s.utcoffset() for s in starts] == [d.utcoffset() for d in expected]
    assert [o.id for o in got] == [f"p_{d.astimezone(UTC):%Y%m%dT%H%M%SZ}" for d in expected]


@given(
    rule=rules(all_day=True),
    zone_name=zone_names,
    first=st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    days=st.integers(1, 4),
    offset=st.integers(-60, 1500),
    length=st.integers(0, 500),
)
def test_expand_equals_dateutil_for_all_day_events(
    rule: str, zone_name: str, first: date, days: int, offset: int, length: int
) -> None:
    tz = _tz(zone_name)
    event = wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="p",
        start=first,
        end=first + timedelta(days=days),
        timezone=zone_name,
        recurrence=wecal.Recurrence(rrule=rule),
    )
    w0 = datetime.combine(first, time(13), tzinfo=UTC) + timedelta(days=offset)
    w1 = w0 + timedelta(days=length, hours=5)
    got = list(expand(event, w0, w1))

    expected = []
    for d in _rfc_instances(rule, datetime.combine(first, time()), same_day=True):
        day_start = datetime.combine(d.date(), time(), tzinfo=tz)
        if day_start >= w1:
            break
        if datetime.combine(d.date() + timedelta(days=days), time(), tzinfo=tz) > w0:
            expected.append(d.date())
    assert [o.start for o in got] == expected
    assert [o.end for o in got] == [d + timedelta(days=days) for d in expected]
    assert [o.id for o in got] == [f"p_{d:%Y%m%d}" for d in expected]


# --------------------------------------------------------------------------
# (3) occurrences lie in the window, sorted, without duplicates
# --------------------------------------------------------------------------


@st.composite
def any_rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(("HOURLY", "MINUTELY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")))
    low = 7 if freq == "MINUTELY" else 1
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(low, low + 20))}"]
    if draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, draw(st.sets(st.integers(0, 23), min_size=1)))))
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 500))}")
    return ";".join(parts)


@given(
    rule=any_rules(),
    zone_name=zone_names,
    naive=st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)),
    all_day=st.booleans(),
    duration=st.timedeltas(timedelta(0), timedelta(days=2)),
    exdate_steps=st.sets(st.integers(0, 50), max_size=5),
    offset=st.timedeltas(timedelta(days=-3), timedelta(days=40)),
    length=st.timedeltas(timedelta(0), timedelta(days=400)),
)
def test_occurrences_are_in_the_window_sorted_and_unique(
    rule: str,
    zone_name: str,
    naive: datetime,
    all_day: bool,
    duration: timedelta,
    exdate_steps: set[int],
    offset: timedelta,
    length: timedelta,
) -> None:
    tz = _tz(zone_name)
    start: datetime | date
    end: datetime | date
    exdates: tuple[datetime | date, ...]
    if all_day:
        start = naive.date()
        end = start + timedelta(days=duration.days + 1)
        exdates = tuple(start + timedelta(days=k) for k in exdate_steps)
    else:
        start = naive.replace(tzinfo=tz)
        end = start + duration
        exdates = tuple(start + timedelta(hours=k) for k in exdate_steps)
    event = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="q",
        start=start,
        end=end,
        timezone=zone_name,
        recurrence=wecal.Recurrence(rrule=rule, exdates=exdates),
    )
    w0 = naive.replace(tzinfo=UTC) + offset
    w1 = w0 + length
    got = list(islice(expand(event, w0, w1), 300))

    def bounds(o: wecal.Event) -> tuple[datetime, datetime]:
        if isinstance(o.start, datetime) and isinstance(o.end, datetime):
            return o.start, o.end
        return (
            datetime(o.start.year, o.start.month, o.start.day, tzinfo=tz),
            datetime(o.end.year, o.end.month, o.end.day, tzinfo=tz),
        )

    instants = []
    for o in got:
        b0, b1 = bounds(o)
        assert b0 < w1
        assert b1 > w0 or (b1 == b0 and b0 >= w0)
        assert o.series_id == "q"
        assert o.recurrence is None
        assert o.recurrence_id == o.start
        assert o.start not in exdates
        instants.append(b0.astimezone(UTC))
    assert instants == sorted(instants)
    assert len(set(instants)) == len(instants)
    assert len({o.id for o in got}) == len(got)


# --------------------------------------------------------------------------
# Fuzz: nothing but a WecalError ever escapes
# --------------------------------------------------------------------------

rule_texts = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            (
                "FREQ=",
                "DAILY",
                "RRULE:",
                "EXDATE",
                "RDATE",
                ";",
                ",",
                "=",
                ":",
                "BYDAY",
                "MO",
                "1",
                "-",
            )
        ),
        max_size=12,
    ).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | rule_texts,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.one_of(rule_texts, st.lists(rule_texts, max_size=4), json_values))
def test_parse_rrule_raises_only_response_format_error(value: Any) -> None:
    try:
        recurrence = parse_rrule(value)
    except wecal.ResponseFormatError:
        return
    assert isinstance(recurrence, wecal.Recurrence)
    assert normalize_rrule(recurrence.rrule) == recurrence.rrule  # canonical is a fixed point


wecom_keys = st.sampled_from(
    (
        "is_repeat",
        "repeat_type",
        "is_custom_repeat",
        "repeat_interval",
        "repeat_day_of_week",
        "repeat_day_of_month",
        "repeat_until",
        "timezone",
        "exclude_time_list",
    )
)


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@given(
    st.dictionaries(wecom_keys, json_values, max_size=9).map(lambda d: {"is_repeat": 1, **d}),
    st.booleans(),
)
def test_recurrence_from_wecom_raises_only_response_format_error(
    block: dict[str, Any], whole_day: bool
) -> None:
    start: datetime | date = date(2024, 1, 1) if whole_day else datetime(2024, 1, 1, tzinfo=UTC)
    try:
        recurrence = recurrence_from_wecom(block, start=start)
    except wecal.ResponseFormatError:
        return
    assert recurrence is None or isinstance(recurrence, wecal.Recurrence)


# Values that compare equal as dict keys but read differently (True and 1.0 are
# not the integer 1; "1" is) — a cache keyed on values must keep them apart.
lookalikes = st.sampled_from((0, 1, 2, 7, True, False, 1.0, "1", "01", " 1", None, 1606976813))
wecom_repeat_values = st.one_of(
    lookalikes,
    st.lists(lookalikes, max_size=3),
    st.lists(st.fixed_dictionaries({"start_time": lookalikes}), max_size=2),
)


def _outcome(block: Any, start: datetime | date, path: str) -> Any:
    try:
        return recurrence_from_wecom(block, start=start, path=path)
    except wecal.ResponseFormatError as exc:
        return (type(exc), exc.path, exc.message)


@given(
    st.lists(
        st.dictionaries(wecom_keys, wecom_repeat_values, max_size=9).map(
            lambda d: {"is_repeat": 1, **d}
        ),
        min_size=2,
        max_size=4,
    ),
    st.booleans(),
)
@example(
    [
        {"is_repeat": 1, "repeat_type": 1},
        {"is_repeat": 1, "repeat_type": True},
        {"is_repeat": 1, "is_custom_repeat": 1, "repeat_interval": 2},
        {"is_repeat": 1, "is_custom_repeat": 1, "repeat_interval": 2.0},
        {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 1, "repeat_day_of_week": [1]},
        {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 1, "repeat_day_of_week": [True]},
    ],
    False,
)
def test_recurrence_from_wecom_cache_reads_as_the_full_reading(
    blocks: list[dict[str, Any]], whole_day: bool
) -> None:
    """A plain dict may be answered from the cache; any other Mapping never is."""
    start: datetime | date = (
        date(2024, 1, 1) if whole_day else datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    )
    for i, block in enumerate(blocks * 2):  # the second time round, hits
        path = f"$.schedule_list[{i}].reminders"
        assert _outcome(block, start, path) == _outcome(MappingProxyType(block), start, path)
