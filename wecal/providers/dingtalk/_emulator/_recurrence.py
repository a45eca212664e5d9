"""
A stored v1.0 series (the Graph pattern/range model) read as a dateutil rule
set, expanded by the emulators' one engine (:mod:`wecal.providers._emulation._recur`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dateutil import rrule

from ..._emulation._json import json_copy
from ..._emulation._recur import occurrences
from ._common import _INDEX, _WEEKDAYS, MAX_OCCURRENCES, _days, _instant, _ms, _range_end


def _rule_set(event: Mapping[str, Any]) -> tuple[rrule.rruleset, datetime, bool]:
    """
    The dateutil rule set of a stored series and its start. Timed series run
    in the event's zone (wall-clock stable across DST); all-day ones in naive
    dates. Hand-written because no library reads the Graph pattern/range model.
    """
    rec = event["recurrence"]
    pattern, rng = rec["pattern"], rec["range"]
    all_day = "date" in event["start"]
    if all_day:
        dtstart = datetime.combine(date.fromisoformat(event["start"]["date"]), time(0))
    else:
        zone = ZoneInfo(event["start"]["timeZone"])
        dtstart = datetime.fromisoformat(event["start"]["dateTime"]).astimezone(zone)
    kind = pattern["type"]
    kwargs: dict[str, Any] = {
        "dtstart": dtstart,
        "interval": int(pattern.get("interval", 1)),
        "wkst": _WEEKDAYS.index(pattern.get("firstDayOfWeek", "sunday")),
    }
    freq: Literal[0, 1, 2, 3] = rrule.DAILY
    if kind == "weekly":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = _days(pattern["daysOfWeek"], "daysOfWeek")
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = int(pattern["dayOfMonth"])
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = _days(pattern["daysOfWeek"], "daysOfWeek")
        kwargs["bysetpos"] = _INDEX[pattern["index"]]
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = dtstart.month
        kwargs["bymonthday"] = dtstart.day
    count: int | None = None
    if rng["type"] == "numbered":
        count = int(rng["numberOfOccurrences"])
    elif rng["type"] == "endDate":
        end = _range_end(rng["endDate"])
        if all_day:
            end_day = end if not isinstance(end, datetime) else end.date()
            kwargs["until"] = datetime.combine(end_day, time(0))
        elif isinstance(end, datetime):
            kwargs["until"] = end
        else:
            kwargs["until"] = datetime.combine(end, time(23, 59, 59), dtstart.tzinfo)
    base = rrule.rrule(freq, **kwargs)
    # RFC 5545 §3.8.5.3 (DESIGN.md "Occurrences and identity", as wecal.expand):
    # the start is the first occurrence and counts toward the count even when
    # it does not fit the pattern; dateutil would leave such a start out.
    fits = base.after(dtstart, inc=True) == dtstart
    rules = rrule.rruleset()
    if count is None:
        rules.rrule(base)
    elif fits:
        rules.rrule(base.replace(count=count))
    elif count > 1:
        rules.rrule(base.replace(count=count - 1))
    if not fits:
        rules.rdate(dtstart)
    return rules, dtstart, all_day


def expand_occurrences(
    event: Mapping[str, Any],
    exdates: set[datetime] | frozenset[datetime],
    lo: datetime | None,
    hi: datetime | None,
) -> Iterator[tuple[datetime, datetime]]:
    """
    (start, end) instants of a stored series' occurrences, in order, without
    the deleted ones: those that end at or after ``lo`` and start before ``hi``
    (all-day ones at UTC midnights). At most ``MAX_OCCURRENCES``.
    """
    rules, dtstart, all_day = _rule_set(event)
    first, last = _instant(event["start"]), _instant(event["end"])
    duration = last - first
    skip_to: datetime | None = None
    if lo is not None and lo - duration > first:
        # Skip ahead rather than walk from the series start.
        bound = lo - duration
        skip_to = (
            bound.astimezone(UTC).replace(tzinfo=None)
            if all_day
            else bound.astimezone(dtstart.tzinfo)
        )
    # All-day series run in UTC dates (the docs: all-day events are in UTC).
    return occurrences(
        rules,
        duration=duration,
        whole_days=UTC if all_day else None,
        lo=lo,
        hi=hi,
        limit=MAX_OCCURRENCES,
        touching=True,
        skip_to=skip_to,
        left_out=exdates,
    )


def _starts_within(
    event: Mapping[str, Any], exdates: set[datetime], lo: datetime | None, hi: datetime | None
) -> bool:
    """Whether the event (or one occurrence of the series) starts in ``[lo, hi)``."""
    if "recurrence" not in event:
        start = _instant(event["start"])
        return (lo is None or start >= lo) and (hi is None or start < hi)
    for start, _end in expand_occurrences(event, exdates, lo, hi):
        if lo is None or start >= lo:
            return True
    return False


def _is_occurrence(event: Mapping[str, Any], origin: datetime) -> bool:
    for start, _end in expand_occurrences(
        event, frozenset(), origin, origin + timedelta(seconds=1)
    ):
        if start == origin:
            return True
    return False


def _occurrence(event: Mapping[str, Any], start: datetime) -> dict[str, Any]:
    """The ``/eventsview`` item of the occurrence of ``event`` starting at ``start``."""
    occ = json_copy({k: v for k, v in event.items() if k != "recurrence"})
    duration = _instant(event["end"]) - _instant(event["start"])
    origin = start.astimezone(UTC)
    occ["id"] = f"{event['id']}_{_ms(origin)}"
    occ["seriesMasterId"] = event["id"]
    occ["originStart"] = {"dateTime": origin.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if "date" in event["start"]:
        occ["start"] = {"date": origin.date().isoformat()}
        occ["end"] = {"date": (origin + duration).date().isoformat()}
    else:
        zone = ZoneInfo(event["start"]["timeZone"])
        occ["start"] = {"dateTime": start.astimezone(zone).isoformat(), "timeZone": zone.key}
        occ["end"] = {
            "dateTime": (start + duration).astimezone(zone).isoformat(),
            "timeZone": zone.key,
        }
    return occ
