"""Reading and checking v1.0 request bodies: times, zones, text, people, recurrence, reminders."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._common import (
    _INDEX,
    _PATTERNS,
    _RANGES,
    _WEEKDAYS,
    MAX_ATTENDEES_PER_CALL,
    V1Error,
    _days,
    _invalid,
    _range_end,
    parse_time,
)


class _Validation:
    """The request readers of :class:`DingTalkV1` (no state)."""

    def _zone(self, name: Any, where: str) -> ZoneInfo:
        if not isinstance(name, str) or not name:
            raise _invalid(f"{where}.timeZone is required for an event that is not all-day")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise _invalid(f"{where}.timeZone {name!r} is not a time zone") from None

    def _moment(self, obj: Any, where: str, all_day: bool | None) -> dict[str, Any]:
        """A start/end object → its canonical wire form (``dateTime`` in its zone, or ``date``)."""
        if not isinstance(obj, dict):
            raise _invalid(f"Event {where} time not set.")
        use_date = all_day if all_day is not None else ("dateTime" not in obj and "date" in obj)
        if use_date:
            raw = obj.get("date")
            if not isinstance(raw, str):
                raise _invalid(f"{where}.date is required for an all-day event")
            try:
                return {"date": date.fromisoformat(raw).isoformat()}
            except ValueError:
                raise _invalid(f"{where}.date {raw!r} is not yyyy-MM-dd") from None
        raw = obj.get("dateTime")
        if not isinstance(raw, str):
            raise _invalid(f"{where}.dateTime is required for an event that is not all-day")
        zone = self._zone(obj.get("timeZone"), where)
        when = parse_time(raw, f"{where}.dateTime", naive_zone=zone)
        return {"dateTime": when.astimezone(zone).isoformat(), "timeZone": zone.key}

    def _text(self, body: Mapping[str, Any], key: str, limit: int, *, required: bool) -> None:
        value = body.get(key)
        if value is None:
            if required:
                raise _invalid(f"Event {key} cannot be blank")
            return
        if not isinstance(value, str) or (required and not value.strip()):
            raise _invalid(f"Event {key} cannot be blank")
        if len(value) > limit:
            raise _invalid(f"Event {key} is longer than {limit} characters")

    def _attendee_list(self, value: Any, key: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise _invalid(f"{key} must be an array")
        if len(value) > MAX_ATTENDEES_PER_CALL:
            raise V1Error(
                400,
                "exceedMaxReceiverSize",
                f"日程人数超过上限: at most {MAX_ATTENDEES_PER_CALL} {key} a call",
            )
        out: list[dict[str, Any]] = []
        for n, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise _invalid(f"{key}[{n}].id must be a unionId")
            optional = item.get("isOptional", False)
            if not isinstance(optional, bool):
                raise _invalid(f"{key}[{n}].isOptional must be a boolean")
            out.append({"id": item["id"], "isOptional": optional})
        return out

    def _recurrence(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _invalid("recurrence must be an object")
        pattern, rng = value.get("pattern"), value.get("range")
        if not isinstance(pattern, dict):
            raise _invalid("recurrence.pattern is required")
        kind = pattern.get("type")
        if kind not in _PATTERNS:
            raise _invalid(f"recurrence.pattern.type must be one of {', '.join(_PATTERNS)}")
        interval = pattern.get("interval", 1)
        if isinstance(interval, bool) or not isinstance(interval, int):
            raise _invalid("recurrence.pattern.interval must be an integer")
        if not 1 <= interval <= 365:
            raise _invalid("Recurrence interval must between [1, 365]")
        out_pattern = dict(pattern)
        out_pattern["interval"] = interval
        if kind in ("weekly", "relativeMonthly"):
            _days(pattern.get("daysOfWeek"), "recurrence.pattern.daysOfWeek")
        if kind == "absoluteMonthly":
            dom = pattern.get("dayOfMonth")
            if isinstance(dom, bool) or not isinstance(dom, int) or not 1 <= dom <= 31:
                raise _invalid("recurrence.pattern.dayOfMonth must be within [1, 31]")
        if kind == "relativeMonthly" and pattern.get("index") not in tuple(_INDEX):
            raise _invalid(f"recurrence.pattern.index must be one of {', '.join(_INDEX)}")
        first = pattern.get("firstDayOfWeek", "sunday")
        if first not in _WEEKDAYS:
            raise _invalid("recurrence.pattern.firstDayOfWeek must be a weekday name")
        if rng is None:
            rng = {"type": "noEnd"}
        if not isinstance(rng, dict) or rng.get("type") not in _RANGES:
            raise _invalid(f"recurrence.range.type must be one of {', '.join(_RANGES)}")
        out_range = dict(rng)
        if rng["type"] == "numbered":
            count = rng.get("numberOfOccurrences")
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 99:
                raise _invalid("Recurrence range numberOfOccurrences must between [1, 99]")
        elif rng["type"] == "endDate":
            end = rng.get("endDate")
            if not isinstance(end, str):
                raise _invalid("recurrence.range.endDate is required for type endDate")
            _range_end(end)
        elif "numberOfOccurrences" in rng:
            count = rng["numberOfOccurrences"]
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 99:
                raise _invalid("Recurrence range numberOfOccurrences must between [1, 99]")
        return {"pattern": out_pattern, "range": out_range}

    def _reminders(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise _invalid("reminders must be an array")
        out = []
        for n, item in enumerate(value):
            minutes = item.get("minutes") if isinstance(item, dict) else None
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
                raise _invalid(f"reminders[{n}].minutes must be a non-negative integer")
            # Requests send an int; responses answer a string (reference §2.4).
            out.append({"method": str(item.get("method") or "dingtalk"), "minutes": str(minutes)})
        return out

    def _times(
        self, body: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any], bool]:
        all_day_flag = body.get("isAllDay")
        if all_day_flag is not None and not isinstance(all_day_flag, bool):
            raise _invalid("isAllDay must be a boolean")
        raw_start = body.get("start", old["start"] if old else None)
        raw_end = body.get("end", old["end"] if old else None)
        if raw_start is None:
            raise _invalid("Event start time not set.")
        if raw_end is None:
            raise _invalid("Event end time not set.")
        if all_day_flag is None and old is not None and "start" not in body:
            all_day_flag = bool(old.get("isAllDay"))
        start = self._moment(raw_start, "start", all_day_flag)
        all_day = "date" in start
        end = self._moment(raw_end, "end", all_day)
        if all_day:
            if date.fromisoformat(end["date"]) <= date.fromisoformat(start["date"]):
                raise _invalid(
                    "end.date must be after start.date (an all-day end is exclusive: T+1)"
                )
        else:
            if end["timeZone"] != start["timeZone"]:
                raise _invalid("end.timeZone must equal start.timeZone")
            if datetime.fromisoformat(end["dateTime"]) < datetime.fromisoformat(start["dateTime"]):
                raise _invalid("end.dateTime must not be before start.dateTime")
        return start, end, all_day

    # -------------------------------------------------------------- writes
