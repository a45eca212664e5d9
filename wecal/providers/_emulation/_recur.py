"""
Recurrence helpers for the emulator: WeCom repeat fields and DingTalk RRULE
lines expanded with :mod:`dateutil.rrule`.

These are the sandbox's own, deliberately independent of ``wecal.recurrence``:
the emulator is a ground truth for the SDK, so it must not share its engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateutil import rrule

__all__ = [
    "ding_expand",
    "ding_rule_set",
    "wecom_is_occurrence",
    "wecom_occurrences",
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
    excluded = _excluded(schedule)
    for n, dt in enumerate(rule):
        if n >= limit:
            return
        ts = int(dt.timestamp())
        if ts not in excluded:
            yield ts


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


# ---------------------------------------------------------------- DingTalk


def ding_moment(obj: Mapping[str, Any]) -> tuple[datetime, bool]:
    """
    ``{date | date_time, time_zone}`` → (aware start instant, is_all_day).

    An all-day ``date`` means local midnight in ``time_zone`` (Asia/Shanghai
    when absent), the convention DESIGN.md uses for window overlap.
    """
    zone = ZoneInfo(obj.get("time_zone") or "Asia/Shanghai")
    if "date_time" in obj:
        return datetime.strptime(obj["date_time"], "%Y-%m-%dT%H:%M:%S%z"), False
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
    duration = end - start
    days = max(1, (end.date() - start.date()).days)
    zone: tzinfo = start.tzinfo or ZoneInfo("Asia/Shanghai")
    rules = ding_rule_set(item, lines)
    for n, occ in enumerate(rules):
        if n >= limit:
            return
        occ_start = occ.replace(tzinfo=zone) if all_day else occ
        if all_day:
            # Whole days: the end is the same wall-clock offset in days, not
            # an absolute duration (a DST change would shift it otherwise).
            occ_end = datetime.combine((occ + timedelta(days=days)).date(), time(0), zone)
        else:
            occ_end = occ_start + duration
        if window_end is not None and occ_start >= window_end:
            return
        if window_start is None or occ_end > window_start:
            yield occ_start, occ_end
