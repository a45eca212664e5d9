"""
A rule that can never match (or rarely does) costs the window, not a search to
year 9999: ``wecal.expand`` and the .ics writer stay within a CPU budget per
event, and the answer for rules that do match is unchanged.

The budget is a hang guard (a profiling timer that raises), far above what a
bounded search takes and far below the seconds the unbounded one took.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile
from typing import TypeVar
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import wecal
from wecal.export import IcsWriter
from wecal.recurrence import expand

from .test_recurrence_props import _rfc_instances

T = TypeVar("T")
#: CPU seconds one event may take: the unbounded search took ~20 s.
BUDGET = 2.0
SH = ZoneInfo("Asia/Shanghai")


class OverBudget(Exception):
    pass


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise OverBudget when the process spends ``seconds`` of CPU in the block."""

    def over(signum: int, frame: object) -> None:
        raise OverBudget(f"more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, over)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def within_budget(fn: Callable[[], T], seconds: float = BUDGET) -> T:
    with cpu_budget(seconds):
        return fn()


def series(rule: str, start: datetime) -> wecal.Event:
    return wecal.Event(
        provider="wecom",
        id="s",
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Asia/Shanghai",
        recurrence=wecal.Recurrence(rrule=rule),
    )


NEVER = [
    "FREQ=DAILY;BYDAY=MO,TU;BYSETPOS=2",  # one instance a day: no second
    "FREQ=HOURLY;BYDAY=MO;BYSETPOS=-2",
    "FREQ=DAILY;BYHOUR=9,10;BYSETPOS=3",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",  # no month has six Mondays
    "FREQ=YEARLY;BYMONTHDAY=1;BYSETPOS=13",
    "FREQ=DAILY;BYYEARDAY=366;BYMONTH=1",
    "FREQ=YEARLY;BYWEEKNO=1;BYMONTH=6",
    "FREQ=WEEKLY;BYYEARDAY=-1;BYMONTH=6",
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU",  # from a Monday: never a Tuesday
    "FREQ=DAILY;BYDAY=MO,TU;BYSETPOS=2;COUNT=3",
    "FREQ=DAILY;BYDAY=MO,TU;BYSETPOS=2;UNTIL=20990101T000000Z",
]


@pytest.mark.parametrize("rule", NEVER)
def test_a_rule_that_never_matches_costs_the_window(rule: str) -> None:
    event = series(rule, datetime(2024, 1, 1, 9, tzinfo=SH))  # a Monday
    window = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    assert within_budget(lambda: list(expand(event, *window))) == []
    # Over the start: the start alone, as RFC 5545 keeps it.
    first = within_budget(lambda: list(expand(event, event.start, window[1])))
    assert [o.start for o in first] == [event.start]
    # The .ics writer: the start alone, and no rule every reader would read differently.
    text = within_budget(lambda: IcsWriter().encode([event])).decode()
    assert "RRULE" not in text
    assert text.count("BEGIN:VEVENT") == 1


def test_a_sparse_rule_is_still_found() -> None:
    """Feb 29 on a Monday: 2044, 2072, 2112 — decades apart, each still found."""
    rule = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"
    event = series(rule, datetime(2024, 1, 1, 9, tzinfo=SH))
    window = (datetime(2024, 1, 2, tzinfo=UTC), datetime(2113, 1, 1, tzinfo=UTC))
    found = within_budget(lambda: [o.start.date().isoformat() for o in expand(event, *window)])
    assert found == ["2044-02-29", "2072-02-29", "2112-02-29"]


# --- fuzz: any combination, bounded; the same answer where dateutil gives one ----------

FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(FREQS[2:]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 8))}")

    def listing(values: st.SearchStrategy[int]) -> str:
        return ",".join(str(v) for v in draw(st.lists(values, min_size=1, max_size=3, unique=True)))

    if draw(st.booleans()):
        parts.append("BYMONTH=" + listing(st.integers(1, 12)))
    if draw(st.integers(0, 3)) == 0:
        parts.append("BYWEEKNO=" + listing(st.integers(-53, 53).filter(bool)))
    if draw(st.integers(0, 3)) == 0:
        parts.append("BYYEARDAY=" + listing(st.integers(-366, 366).filter(bool)))
    if draw(st.booleans()):
        parts.append("BYMONTHDAY=" + listing(st.integers(-31, 31).filter(bool)))
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        nth = draw(st.sampled_from(("", "", "1", "-1", "2", "5")))
        parts.append("BYDAY=" + ",".join(nth + d for d in days))
    if freq in ("DAILY", "HOURLY") and draw(st.booleans()):
        parts.append("BYHOUR=" + listing(st.integers(0, 23)))
    if freq != "WEEKLY" and draw(st.booleans()):  # WEEKLY BYSETPOS: see test_recurrence_rfc
        parts.append("BYSETPOS=" + listing(st.integers(-4, 4).filter(bool)))
    if draw(st.booleans()):
        parts.append(f"COUNT={draw(st.integers(1, 20))}")
    return ";".join(parts)


def _reference(rule: str, start: datetime, end: datetime) -> list[datetime] | None:
    """RFC 5545's instances in the window by plain dateutil; None when it takes too long."""
    dtstart = datetime(2024, 1, 1, 9)  # naive wall time in the series' zone
    try:
        with cpu_budget(0.1):
            found = [
                d.replace(tzinfo=SH)
                for d in takewhile(
                    lambda d: d.replace(tzinfo=SH) < end, _rfc_instances(rule, dtstart)
                )
            ]
    except OverBudget:
        return None  # dateutil's search to year 9999: nothing to compare with
    except ValueError:
        return None  # dateutil refuses the rule outright
    return [d for d in found if d >= start]


@settings(max_examples=25)  # the reference may wait for dateutil's own search
@given(rule=rules(), days=st.integers(1, 400))
@example(rule="FREQ=DAILY;BYDAY=MO,TU;BYSETPOS=2", days=30)
@example(rule="FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-5", days=400)
def test_expand_is_bounded_and_agrees_with_dateutil(rule: str, days: int) -> None:
    start = datetime(2024, 1, 1, 9, tzinfo=SH)
    try:
        event = series(rule, start)
        wecal.recurrence.normalize_rrule(rule)
    except wecal.ResponseFormatError:
        assume(False)
    window = (start, start + timedelta(days=days))
    ours = within_budget(lambda: [o.start for o in expand(event, *window)])
    within_budget(lambda: IcsWriter().encode([event]))
    expected = _reference(rule, *window)
    if expected is not None:
        assert ours == expected


# --- a series begun long ago: the window's cost, not every interval since ------------

NY = ZoneInfo("America/New_York")
OLD_RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,TH;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=2",
    "FREQ=MONTHLY;INTERVAL=5",
    "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1;INTERVAL=2",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
    "FREQ=YEARLY;INTERVAL=3",
    "FREQ=HOURLY;INTERVAL=7",
    "FREQ=MINUTELY;INTERVAL=13;BYHOUR=9",
    "FREQ=DAILY;UNTIL=20260310T000000Z",
]


@pytest.mark.parametrize("all_day", [False, True], ids=["timed", "all-day"])
@pytest.mark.parametrize("rule", OLD_RULES)
def test_a_late_window_lists_what_the_whole_series_has_there(rule: str, all_day: bool) -> None:
    """Listed from its start or only in a window seven years on: the same occurrences."""
    if all_day:
        event = wecal.Event(
            provider="wecom", id="s", start=date(2019, 1, 31), end=date(2019, 2, 1),
            all_day=True, timezone="America/New_York", recurrence=wecal.Recurrence(rrule=rule),
        )  # fmt: skip
    else:  # 01:30 in New York: near the DST changes of every year since
        start = datetime(2019, 1, 31, 1, 30, tzinfo=NY)
        event = series(rule, start)
        event = attrs.evolve(event, timezone="America/New_York")
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC))
    late = within_budget(lambda: [o.id for o in expand(event, *window)])
    whole = [
        o.id for o in expand(event, event.start_datetime, window[1]) if o.end_datetime > window[0]
    ]
    assert late == whole


def test_a_minutely_series_from_2000_costs_one_day_for_one_day() -> None:
    start = datetime(2000, 1, 1, 9, tzinfo=UTC)
    event = wecal.Event(
        provider="wecom", id="s", start=start, end=start + timedelta(hours=1),
        recurrence=wecal.Recurrence(rrule="FREQ=MINUTELY"),
    )  # fmt: skip
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    found = within_budget(lambda: [o.start for o in expand(event, *window)])
    # By hand: hour-long occurrences every minute overlap the day when they
    # start after 23:00 the day before and before midnight: 59 + 1440.
    assert len(found) == 59 + 1440
    assert found[0] == datetime(2026, 2, 28, 23, 1, tzinfo=UTC)
    assert found[-1] == datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
