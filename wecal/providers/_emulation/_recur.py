"""
The emulators' one recurrence engine: the occurrences of a series in a
window, from the :mod:`dateutil.rrule` rule set each emulator reads from its
own wire form (its folder's ``_emulator*`` modules: repeat fields, RRULE
lines, a pattern and a range).

It is the sandbox's own, deliberately independent of ``wecal.recurrence``:
the emulator is a ground truth for the SDK, so it must not share its engine.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from datetime import datetime, time, timedelta, tzinfo

from dateutil import rrule

__all__ = ["occurrences"]


def occurrences(
    rules: rrule.rrulebase,
    *,
    duration: timedelta,
    lo: datetime | None,
    hi: datetime | None,
    limit: int,
    whole_days: tzinfo | None = None,
    touching: bool = False,
    skip_to: datetime | None = None,
    left_out: Container[datetime] = (),
) -> Iterator[tuple[datetime, datetime]]:
    """
    (start, end) of each occurrence of ``rules`` that overlaps ``[lo, hi)``, in order.

    Timed series: ``rules`` give aware starts, each ends ``duration`` later.
    Whole-day series (``whole_days``: the zone their dates are in): ``rules``
    give naive local dates; an occurrence runs from that date's midnight to
    the midnight ``duration.days`` days on, in that zone (so a DST change
    moves no day's bounds). An occurrence overlaps when it starts before
    ``hi`` and ends after ``lo`` (``touching``: at or after ``lo``); None
    leaves that side open. Starts in ``left_out`` (instants) are skipped.

    At most ``limit`` rule dates are read, counted from ``skip_to`` (in the
    rules' own time: the first date at or after it) or else from the start,
    so an unbounded series without a window cannot run away.
    """
    dates: Iterator[datetime] = iter(rules) if skip_to is None else rules.xafter(skip_to, inc=True)
    for n, occ in enumerate(dates):
        if n >= limit:
            return
        if whole_days is None:
            start, end = occ, occ + duration
        else:
            start = occ.replace(tzinfo=whole_days)
            last = (occ + timedelta(days=duration.days)).date()
            end = datetime.combine(last, time(0), whole_days)
        if hi is not None and start >= hi:
            return
        if start in left_out:
            continue
        if lo is None or end > lo or (touching and end == lo):
            yield start, end
