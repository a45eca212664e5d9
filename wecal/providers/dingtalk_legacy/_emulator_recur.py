"""
The DingTalk (legacy) emulator's reading of an event's canonical RRULE /
EXDATE lines as a :mod:`dateutil.rrule` rule set, expanded by the emulators'
one engine (:mod:`wecal.providers._emulation._recur`) — the sandbox's own,
independent of ``wecal.recurrence`` (see there why).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from .._emulation._recur import occurrences

__all__ = ["ding_expand", "ding_moment", "ding_rule_set"]

#: The stored shape of a ``date_time`` (the seed writes ``+0800``):
#: ``datetime.fromisoformat`` reads it to the same instant and offset as the
#: ``strptime`` below, at a fiftieth of the cost (a listing reads every item's
#: start and end). Anything else, or a date it refuses, goes to ``strptime``.
_STAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-][0-9]{2}:?[0-9]{2}|Z)"
)


def _date_time(text: str) -> datetime:
    if _STAMP.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # strptime says why
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def ding_moment(obj: Mapping[str, Any]) -> tuple[datetime, bool]:
    """
    ``{date | date_time, time_zone}`` → (aware start instant, is_all_day).

    An all-day ``date`` means local midnight in ``time_zone`` (Asia/Shanghai
    when absent), the convention DESIGN.md uses for window overlap.
    """
    zone = ZoneInfo(obj.get("time_zone") or "Asia/Shanghai")
    if "date_time" in obj:
        return _date_time(obj["date_time"]), False
    day = date.fromisoformat(obj["date"])
    return datetime.combine(day, time(0), zone), True


def ding_rule_set(item: Mapping[str, Any], lines: list[str]) -> rrule.rruleset:
    """The dateutil rule set of a stored DingTalk event's canonical recurrence lines."""
    start, all_day = ding_moment(item["start"])
    if all_day:
        # All-day rules are written with date UNTILs: expand in naive local time.
        dtstart = start.replace(tzinfo=None)
    else:
        dtstart = start.astimezone(ZoneInfo(item["start"].get("time_zone") or "Asia/Shanghai"))
    result = rrule.rrulestr("\n".join(lines), dtstart=dtstart, forceset=True)
    assert isinstance(result, rrule.rruleset)  # forceset=True guarantees it
    return result


def ding_expand(
    item: Mapping[str, Any],
    lines: list[str],
    window_start: datetime | None,
    window_end: datetime | None,
    *,
    limit: int = 5_000,
) -> Iterator[tuple[datetime, datetime]]:
    """
    (start, end) of each occurrence overlapping ``[window_start, window_end)``.

    Times come back aware, in the event's zone. At most ``limit`` occurrences
    are produced, so an unbounded series without a window cannot run away.
    """
    start, all_day = ding_moment(item["start"])
    end, _ = ding_moment(item["end"])
    zone: tzinfo = start.tzinfo or ZoneInfo("Asia/Shanghai")
    # Whole days: the end is the same wall-clock offset in days, not an
    # absolute duration (a DST change would shift it otherwise).
    days = timedelta(days=max(1, (end.date() - start.date()).days))
    return occurrences(
        ding_rule_set(item, lines),
        duration=days if all_day else end - start,
        whole_days=zone if all_day else None,
        lo=window_start,
        hi=window_end,
        limit=limit,
    )
