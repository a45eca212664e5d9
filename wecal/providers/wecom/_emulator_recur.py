"""
The WeCom emulator's reading of a schedule's repeat fields as a
:mod:`dateutil.rrule` rule, expanded by the emulators' one engine
(:mod:`wecal.providers._emulation._recur`) — the sandbox's own, independent
of ``wecal.recurrence`` (see there why).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from dateutil import rrule

from .._emulation._recur import occurrences

__all__ = [
    "wecom_is_occurrence",
    "wecom_occurrences",
    "wecom_previous_occurrence",
    "wecom_rule",
    "wecom_tz",
]

_WECOM_FREQ: dict[int, Literal[0, 1, 2, 3, 4, 5, 6]] = {
    0: rrule.DAILY,
    1: rrule.WEEKLY,
    2: rrule.MONTHLY,
    5: rrule.YEARLY,
    7: rrule.WEEKLY,
}
_WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)


def wecom_tz(schedule: Mapping[str, Any]) -> timezone:
    """The fixed UTC offset of a WeCom schedule (``reminders.timezone`` hours, default +8)."""
    hours = schedule.get("reminders", {}).get("timezone", 8)
    return timezone(timedelta(hours=int(hours)))


def wecom_rule(schedule: Mapping[str, Any]) -> rrule.rrule | None:
    """
    The dateutil rule of a stored WeCom schedule, or None when it does not repeat.

    Repeat codes as DESIGN.md maps them: 0 DAILY, 1 WEEKLY, 2 MONTHLY, 5 YEARLY,
    7 WEEKLY on MO–FR; ``is_custom_repeat`` adds the interval, weekdays (weekly
    only) and month days (monthly only); ``repeat_until`` is an inclusive UNTIL.
    Exclusions are not part of the rule (see :func:`wecom_occurrences`).
    """
    rem = schedule.get("reminders", {})
    if not rem.get("is_repeat"):
        return None
    tz = wecom_tz(schedule)
    repeat_type = int(rem.get("repeat_type", 0))
    kwargs: dict[str, Any] = {"dtstart": datetime.fromtimestamp(schedule["start_time"], tz)}
    if repeat_type == 7:
        kwargs["byweekday"] = _WEEKDAYS[:5]
    if rem.get("is_custom_repeat"):
        kwargs["interval"] = max(1, int(rem.get("repeat_interval") or 1))
        days = rem.get("repeat_day_of_week") or []
        if repeat_type == 1 and days:
            kwargs["byweekday"] = tuple(_WEEKDAYS[int(d) - 1] for d in days)
        month_days = rem.get("repeat_day_of_month") or []
        if repeat_type == 2 and month_days:
            kwargs["bymonthday"] = tuple(int(d) for d in month_days)
    until = int(rem.get("repeat_until") or 0)
    if until:
        kwargs["until"] = datetime.fromtimestamp(until, tz)
    return rrule.rrule(_WECOM_FREQ[repeat_type], **kwargs)


def _excluded(schedule: Mapping[str, Any]) -> set[int]:
    rem = schedule.get("reminders", {})
    return {int(x["start_time"]) for x in rem.get("exclude_time_list") or []}


def wecom_occurrences(schedule: Mapping[str, Any], *, limit: int = 10_000) -> Iterator[int]:
    """Occurrence starts (Unix seconds) of a schedule, exclusions removed, at most ``limit``."""
    rule = wecom_rule(schedule)
    if rule is None:
        yield int(schedule["start_time"])
        return
    excluded = {datetime.fromtimestamp(ts, UTC) for ts in _excluded(schedule)}
    for start, _end in occurrences(
        rule, duration=timedelta(0), lo=None, hi=None, limit=limit, left_out=excluded
    ):
        yield int(start.timestamp())


def wecom_is_occurrence(schedule: Mapping[str, Any], ts: int) -> bool:
    """Whether ``ts`` is the start of a (not excluded) occurrence of a recurring schedule."""
    rule = wecom_rule(schedule)
    if rule is None or ts in _excluded(schedule):
        return False
    if ts == int(schedule["start_time"]):
        return True
    when = datetime.fromtimestamp(ts, wecom_tz(schedule))
    return rule.before(when, inc=True) == when


def wecom_previous_occurrence(schedule: Mapping[str, Any], ts: int) -> int | None:
    """The start of the last occurrence strictly before ``ts`` (exclusions ignored)."""
    rule = wecom_rule(schedule)
    if rule is None:
        return None
    prev = rule.before(datetime.fromtimestamp(ts, wecom_tz(schedule)))
    return None if prev is None else int(prev.timestamp())
