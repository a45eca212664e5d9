"""
DingTalk v1.0 event JSON ↔ :class:`~wecal.Event`: pure functions, no I/O.

Reading (``reference/dingtalk.md`` §2.4), with the rule chosen for each quirk:

- ``start`` / ``end`` are ``{dateTime, timeZone}`` (timed) or ``{date}``
  (all-day, end exclusive). The official create example sends ``date`` and
  ``dateTime`` together: ``isAllDay`` decides when given, else a ``dateTime``
  on both bounds makes the event timed. An all-day end on or before its start
  means one day.
- All-day events are in UTC ("全天日程时区固定为UTC"): ``Event.timezone`` is
  ``"UTC"``; timed ones take ``start.timeZone`` (a ``dateTime`` without an
  offset is read in it; times are shown in it).
- An instance (``seriesMasterId`` set) is an occurrence: ``series_id`` is the
  master's id, ``recurrence_id`` its ``originStart.dateTime`` (UTC; a date for
  all-day events; the start when DingTalk leaves ``originStart`` out), and its
  ``id`` follows DESIGN.md (``f"{series_id}_{recurrence_id:%Y%m%dT%H%M%SZ}"``),
  so ``expand=True`` and :func:`wecal.expand` name an occurrence alike.
  DingTalk's own id of the instance stays in ``raw["id"]``.
- ``recurrence`` (Graph ``pattern``/``range``) becomes an RRULE
  (:mod:`._pattern`); on an instance it stays in ``raw``.
- ``reminders[].minutes`` is a string in answers (``"15"``), an int in
  requests; a reminder N minutes before is ``timedelta(minutes=-N)``.
- ``location.displayName`` → ``location``; ``onlineMeetingInfo.url`` →
  ``meeting_url``; ``createTime``/``updateTime`` → ``created``/``updated``.

Writing: :func:`event_to_dingtalk` builds a create/patch body and checks
DingTalk's limits first (:class:`~wecal.ValidationError`); what DingTalk cannot
store (EXDATEs, reminders after the start, rules the pattern model cannot say)
raises :class:`~wecal.UnsupportedError`. Nothing is sent by this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from ..._zones import in_zone, zone_for
from ...errors import ResponseFormatError, UnsupportedError, ValidationError, _describe
from ...models import (
    Attendee,
    BusySlot,
    Event,
    EventStatus,
    Person,
    Provider,
    Recurrence,
    ResponseStatus,
    _trusted_attendee,
    _trusted_event,
    _trusted_person,
)
from ...recurrence import occurrence_id, series_start_off_rule
from .._readers import as_int, read_mapping, read_str, read_text
from .._wire import RawJSON
from ._pattern import pattern_to_rrule, rrule_to_pattern
from ._wire import EventPage, EventWire

_log = logging.getLogger("wecal")

__all__ = [
    "MAX_ATTENDEES_PER_CALL",
    "MAX_DESCRIPTION",
    "MAX_SUMMARY",
    "RESPONSE_WIRE",
    "BusySlot",
    "attendees_to_dingtalk",
    "busy_from_response",
    "event_from_dingtalk",
    "event_start",
    "event_to_dingtalk",
    "events_from_wire",
    "page_from_response",
    "wire_time",
]

#: DingTalk's create/patch limits (``0250``).
MAX_SUMMARY = 2048
MAX_DESCRIPTION = 5000
MAX_ATTENDEES_PER_CALL = 500

#: ``responseStatus`` → answer (``0250``, ``0258``, ``0259``).
RESPONSE_STATUS: Mapping[str, ResponseStatus] = MappingProxyType(
    {
        "needsAction": ResponseStatus.NEEDS_ACTION,
        "accepted": ResponseStatus.ACCEPTED,
        "tentative": ResponseStatus.TENTATIVE,
        "declined": ResponseStatus.DECLINED,
    }
)
#: answer → ``responseStatus`` (``respond_event``).
RESPONSE_WIRE: Mapping[ResponseStatus, str] = MappingProxyType(
    {answer: wire for wire, answer in RESPONSE_STATUS.items()}
)
_EVENT_STATUS: Mapping[str, EventStatus] = MappingProxyType(
    {
        "confirmed": EventStatus.CONFIRMED,
        "tentative": EventStatus.TENTATIVE,
        "cancelled": EventStatus.CANCELLED,
        "canceled": EventStatus.CANCELLED,
    }
)
#: The statuses as sent, for a plain dict lookup before :func:`_lookup`'s normalizing.
_EVENT_STATUS_PLAIN: dict[str, EventStatus] = dict(_EVENT_STATUS)
_DAY = timedelta(days=1)
_MAX_REMINDER_MINUTES = 366 * 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wire_time(moment: datetime) -> str:
    """A query-string time: UTC with milliseconds (``2024-06-01T00:00:00.000Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _enum(
    data: Mapping[str, Any], key: str, table: Mapping[str, Any], default: Any, path: str
) -> Any:
    """An optional enum field: ``default`` when absent or empty."""
    value = _present(data, key)
    return default if value is None else _lookup(table, value, f"{path}.{key}")


def _bool(data: Mapping[str, Any], key: str, path: str) -> bool | None:
    """An optional JSON boolean; ``"true"``/``"false"`` too (DingTalk sends both)."""
    value = data.get(key)
    if value is None or type(value) is bool:
        return value
    if type(value) is str and value.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[value.strip().lower()]
    raise ResponseFormatError(
        f"expected true or false, got {_describe(value)}", path=f"{path}.{key}"
    )


_BOOL_TEXT = {"true": True, "false": False}


def _lookup(table: Mapping[str, Any], value: Any, path: str) -> Any:
    text = read_str(value, path)
    found = table.get(text)
    if found is None:
        found = {k.lower(): v for k, v in table.items()}.get(text.replace("_", "").lower())
    if found is None:
        raise ResponseFormatError(f"unknown value {text!r} (known: {', '.join(table)})", path=path)
    return found


def _parse_datetime(value: Any, zone: tzinfo | None, path: str) -> datetime:
    text = read_str(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseFormatError(
            f"expected an ISO 8601 time, got {_describe(text)}", path=path
        ) from None
    if moment.utcoffset() is None:
        if zone is None:
            raise ResponseFormatError(f"{text!r} has no UTC offset and no timeZone", path=path)
        return moment.replace(tzinfo=zone)
    return in_zone(moment, zone)


def _parse_date(value: Any, path: str) -> date:
    text = read_str(value, path)
    try:
        return date.fromisoformat(text[:10] if len(text) > 10 and text[10] == "T" else text)
    except ValueError:
        raise ResponseFormatError(
            f"expected 'yyyy-MM-dd', got {_describe(text)}", path=path
        ) from None


def _present(bound: Mapping[str, Any], key: str) -> Any:
    value = bound.get(key)
    return None if value == "" else value


def _zone_name(bound: Mapping[str, Any], path: str) -> str | None:
    name = _present(bound, "timeZone")
    return None if name is None else read_str(name, f"{path}.timeZone")


def _stamp(value: Any, path: str) -> datetime | None:
    """``createTime`` / ``updateTime``: ISO 8601 text (epoch milliseconds tolerated)."""
    if value is None or value == "":
        return None
    millis = as_int(value)  # a number, or digits in a string
    if millis is not None:
        try:
            return _EPOCH + timedelta(milliseconds=millis)
        except OverflowError:
            raise ResponseFormatError(f"{value} is out of range", path=path) from None
    return _parse_datetime(value, UTC, path)


def _reminders(value: Any, path: str) -> tuple[timedelta, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ResponseFormatError(f"expected an array, got {_describe(value)}", path=path)
    out = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        minutes = read_mapping(item, item_path).get("minutes")
        number = as_int(minutes)  # responses write it as a string: "15"
        # A reminder is at most days ahead; a year of minutes is generous.
        if number is None or not 0 <= number <= _MAX_REMINDER_MINUTES:
            raise ResponseFormatError(
                f"expected minutes before the start, got {_describe(minutes)}",
                path=f"{item_path}.minutes",
            )
        out.append(timedelta(minutes=-number))
    return tuple(out)


def _person(data: Any, path: str) -> tuple[str, str, ResponseStatus, bool]:
    """``(id, displayName, response, isOptional)`` of an attendee or organizer."""
    data = read_mapping(data, path)
    person_id = read_text(data, "id", path)
    answer = _enum(data, "responseStatus", RESPONSE_STATUS, ResponseStatus.NEEDS_ACTION, path)
    optional = bool(_bool(data, "isOptional", path))
    return person_id, read_text(data, "displayName", path), answer, optional


# A tenant's people come back on every page, and frozen models can be shared:
# one Attendee / Person per (id, displayName, responseStatus, isOptional) as
# sent, bounded. ``typed``: the values' types are part of the key (True is not
# 1); each miss runs the full reading on the same values, and a bad value
# raises, which is never cached.
@lru_cache(maxsize=8192, typed=True)
def _cached_attendee(person_id: Any, name: Any, answer: Any, optional: Any) -> Attendee:
    fields = {"id": person_id, "displayName": name}
    fields |= {"responseStatus": answer, "isOptional": optional}
    person_id, name, answer, optional = _person(fields, "$")
    return _trusted_attendee(id=person_id, display_name=name, response=answer, optional=optional)


@lru_cache(maxsize=1024, typed=True)
def _cached_organizer(person_id: Any, name: Any, answer: Any, optional: Any) -> Person:
    fields = {"id": person_id, "displayName": name}
    fields |= {"responseStatus": answer, "isOptional": optional}
    person_id, name, _, _ = _person(fields, "$")
    return _trusted_person(id=person_id, display_name=name)


def _read_attendees(items: list[Any], path: str) -> tuple[Attendee, ...]:
    """``attendees``: one cached call per item; the full reading names what is wrong."""
    try:
        return tuple(
            [
                _cached_attendee(
                    a.get("id"), a.get("displayName"), a.get("responseStatus"), a.get("isOptional")
                )
                for a in items
            ]
        )
    except (AttributeError, TypeError, ResponseFormatError):
        pass  # not an object, an unhashable value, or a bad one: find it and name its path
    out = []
    for i, item in enumerate(items):
        person_id, name, answer, optional = _person(item, f"{path}.attendees[{i}]")
        out.append(
            _trusted_attendee(id=person_id, display_name=name, response=answer, optional=optional)
        )
    return tuple(out)


def _read_organizer(item: Any, path: str) -> Person:
    try:
        return _cached_organizer(
            item.get("id"), item.get("displayName"), item.get("responseStatus"),
            item.get("isOptional"),
        )  # fmt: skip
    except (AttributeError, TypeError, ResponseFormatError):
        pass
    person_id, name, _, _ = _person(item, path)
    return _trusted_person(id=person_id, display_name=name)


def _bounds(
    data: Mapping[str, Any], path: str
) -> tuple[datetime | date, datetime | date, str | None]:
    """``(start, end, timezone)``; see the module docstring for the rules."""
    start_bound, end_bound = data.get("start"), data.get("end")
    all_day_value = data.get("isAllDay")
    if (
        type(start_bound) is dict
        and type(end_bound) is dict
        and (all_day_value is None or all_day_value is False)
    ):
        # The usual timed shape (non-empty dateTime and timeZone on both
        # bounds, isAllDay absent or false): what the full reading below
        # does for it, without its per-field readers.
        start_dt, end_dt = start_bound.get("dateTime"), end_bound.get("dateTime")
        start_zone, end_zone = start_bound.get("timeZone"), end_bound.get("timeZone")
        if (
            type(start_dt) is str and type(end_dt) is str and start_dt and end_dt
            and type(start_zone) is str and type(end_zone) is str and start_zone and end_zone
        ):  # fmt: skip
            zone = zone_for(start_zone)
            start = _parse_datetime(start_dt, zone, f"{path}.start.dateTime")
            end = _parse_datetime(end_dt, zone_for(end_zone) or zone, f"{path}.end.dateTime")
            if end >= start:
                return start, end, start_zone if zone is not None else None
    start_bound = read_mapping(data.get("start"), f"{path}.start")
    end_value = data.get("end")
    end_bound = start_bound if end_value is None else read_mapping(end_value, f"{path}.end")
    all_day_flag = _bool(data, "isAllDay", path)
    start_dt, end_dt = _present(start_bound, "dateTime"), _present(end_bound, "dateTime")
    start_day, end_day = _present(start_bound, "date"), _present(end_bound, "date")
    if all_day_flag is True or (start_dt is None and end_dt is None):
        # All-day: the dates (or, failing them, the dates of the dateTimes).
        first = _parse_date(start_day if start_day is not None else start_dt, f"{path}.start")
        last = _parse_date(end_day if end_day is not None else end_dt, f"{path}.end")
        if start_day is None and start_dt is None:
            raise ResponseFormatError("neither date nor dateTime given", path=f"{path}.start")
        if end_value is None or last <= first:
            # No end, or an inclusive / zero-length one: one day.
            try:
                last = first + _DAY
            except OverflowError:
                raise ResponseFormatError("date out of range", path=f"{path}.end") from None
        return first, last, "UTC"
    if start_dt is None or end_dt is None:
        which = "start" if start_dt is None else "end"
        raise ResponseFormatError(
            "a timed event needs dateTime on both start and end", path=f"{path}.{which}.dateTime"
        )
    start_zone = _zone_name(start_bound, f"{path}.start")
    end_zone = _zone_name(end_bound, f"{path}.end") or start_zone
    zone = zone_for(start_zone) if start_zone else None
    end_tz = zone_for(end_zone) if end_zone else None
    start = _parse_datetime(start_dt, zone, f"{path}.start.dateTime")
    end = _parse_datetime(end_dt, end_tz or zone, f"{path}.end.dateTime")
    if end < start:
        raise ResponseFormatError(
            f"end {end.isoformat()} is before start {start.isoformat()}",
            path=f"{path}.end.dateTime",
        )
    return start, end, start_zone if zone is not None else None


def event_start(data: Mapping[str, Any], *, path: str = "$") -> datetime:
    """
    The instant a raw event starts (an all-day one at its day's UTC midnight),
    without reading the rest of it.

    Raises:
        ResponseFormatError: ``start`` (or ``end``) missing or unreadable.
    """
    start, _, _ = _bounds(read_mapping(data, path), path)
    if isinstance(start, datetime):
        return start
    return datetime.combine(start, time(), UTC)


def event_from_dingtalk(
    data: Mapping[str, Any], *, path: str = "$", calendar_id: str | None = "primary"
) -> Event:
    """
    One DingTalk v1.0 event (a ``GET …/events/{id}`` answer, or an item of
    ``events`` in a list or eventsview answer) → :class:`~wecal.Event`.

    >>> ev = event_from_dingtalk({"id": "e1", "summary": "周会",
    ...     "start": {"dateTime": "2024-06-03T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
    ...     "end": {"dateTime": "2024-06-03T11:00:00+08:00", "timeZone": "Asia/Shanghai"}})
    >>> ev.start.isoformat(), ev.timezone
    ('2024-06-03T10:00:00+08:00', 'Asia/Shanghai')

    Raises:
        ResponseFormatError: ``id``, ``start`` or ``end`` missing or mistyped,
            an unreadable time, status or pattern; ``.path`` names it.
    """
    try:
        return _event(data, path, calendar_id)
    except OverflowError:
        # A time at the edge of datetime's range (year 1 or 9999 with an offset).
        raise ResponseFormatError("a time is out of range", path=path) from None


def _event(data: Mapping[str, Any], path: str, calendar_id: str | None) -> Event:
    data = read_mapping(data, path)
    provider_id = read_str(data.get("id"), f"{path}.id")
    start, end, zone_name = _bounds(data, path)
    all_day = not isinstance(start, datetime)
    zone = zone_for(zone_name) if zone_name else None

    organizer = None
    raw_organizer = data.get("organizer")
    if raw_organizer is not None:
        organizer = _read_organizer(raw_organizer, f"{path}.organizer")

    attendees: tuple[Attendee, ...] = ()
    raw_attendees = data.get("attendees")
    if raw_attendees is not None:
        if not isinstance(raw_attendees, list):
            raise ResponseFormatError(
                f"expected an array, got {_describe(raw_attendees)}", path=f"{path}.attendees"
            )
        attendees = _read_attendees(raw_attendees, path)

    status = _enum(data, "status", _EVENT_STATUS, EventStatus.CONFIRMED, path)

    location = data.get("location")
    if isinstance(location, Mapping):
        location_text = read_text(location, "displayName", f"{path}.location")
    elif location is None or isinstance(location, str):
        location_text = location or ""
    else:
        raise ResponseFormatError(
            f"expected an object, got {_describe(location)}", path=f"{path}.location"
        )

    meeting_url = None
    meeting = data.get("onlineMeetingInfo")
    if meeting is not None:
        meeting_path = f"{path}.onlineMeetingInfo"
        meeting_url = read_text(read_mapping(meeting, meeting_path), "url", meeting_path) or None

    event_id = provider_id
    series_id: str | None = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    master = _present(data, "seriesMasterId")
    if master is not None:
        series_id = read_str(master, f"{path}.seriesMasterId")
        origin = data.get("originStart")
        origin_value = (
            _present(read_mapping(origin, f"{path}.originStart"), "dateTime")
            if origin is not None
            else None
        )
        if origin_value is None:
            recurrence_id = start  # an unmoved occurrence starts where it was planned
        elif all_day:
            recurrence_id = (
                _parse_datetime(origin_value, UTC, f"{path}.originStart.dateTime")
                .astimezone(UTC)
                .date()
            )
        else:
            recurrence_id = _parse_datetime(
                origin_value, zone or UTC, f"{path}.originStart.dateTime"
            )
        event_id = occurrence_id(series_id, recurrence_id)
    elif data.get("recurrence") is not None:
        rule = pattern_to_rrule(
            data["recurrence"], start=start, zone=zone, path=f"{path}.recurrence"
        )
        recurrence = Recurrence(rrule=rule)

    try:
        # Every field was checked above: build without re-validation (issue 11;
        # tests/test_models_trusted.py holds converter output to the validators).
        return _trusted_event(
            provider=Provider.DINGTALK,
            id=event_id,
            calendar_id=calendar_id,
            summary=read_text(data, "summary", path),
            description=read_text(data, "description", path),
            location=location_text,
            start=start,
            end=end,
            all_day=all_day,
            timezone=zone_name,
            recurrence=recurrence,
            series_id=series_id,
            recurrence_id=recurrence_id,
            status=status,
            organizer=organizer,
            attendees=attendees,
            reminders=_reminders(data.get("reminders"), f"{path}.reminders"),
            meeting_url=meeting_url,
            created=_stamp(data.get("createTime"), f"{path}.createTime"),
            updated=_stamp(data.get("updateTime"), f"{path}.updateTime"),
            raw=data,
        )
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path=path) from exc


class _NotFast(Exception):
    """An event the typed path does not take (the dict readers read it)."""


def events_from_wire(page: EventPage, *, calendar_id: str | None = "primary") -> list[Event]:
    """
    The events of a page :func:`~wecal.providers.dingtalk._wire.decode_event_page`
    read: the same events :func:`event_from_dingtalk` makes of the page's JSON,
    each ``raw`` a :class:`~wecal.providers._wire.RawJSON` of its bytes.

    An event whose values the typed path does not take (an unusual shape of
    its times, an unknown code, a value out of range) is read on its own by
    :func:`event_from_dingtalk`, which raises the ResponseFormatError with its
    JSON path (``$.events[3].status``); events are read in order, so the
    error is the one the dict readers give for the page.
    """
    out = []
    for i, (item, raw) in enumerate(page):
        try:
            event = _event_from_wire(item, raw, calendar_id)
        except (_NotFast, ResponseFormatError, ValidationError, OverflowError, ValueError,
                RecursionError):  # fmt: skip
            event = event_from_dingtalk(_loads(raw), path=f"$.events[{i}]", calendar_id=calendar_id)
        out.append(event)
    return out


def _loads(raw: Any) -> Any:
    try:
        return json.loads(bytes(raw))
    except (ValueError, RecursionError):  # what msgspec skipped and json.loads refuses
        raise ResponseFormatError(
            "body is not JSON the standard reader takes (an integer of more than "
            "4300 digits, or nesting too deep)",
            path="$",
        ) from None


def _wire_stamp(value: str | int | None) -> datetime | None:
    """
    :func:`_stamp`, with ISO 8601 text (the usual form) read inline: one
    ``fromisoformat`` and one conversion to UTC, no ``as_int`` first.
    """
    if type(value) is str and len(value) > 10 and value[4] == "-":
        try:
            moment = _fromisoformat(value)
        except ValueError:
            raise _NotFast from None  # the dict readers name it
        # fromisoformat gives no tzinfo or a fixed offset: tzinfo says it.
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return in_zone(moment, UTC)
    return _stamp(value, "$")


def _wire_time(text: str, zone: tzinfo | None) -> datetime:
    """:func:`_parse_datetime` of a non-empty ``dateTime`` read in a known ``zone``."""
    if zone is None:
        return _parse_datetime(text, zone, "$")
    moment = _fromisoformat(text)  # ValueError: the dict readers name it
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return moment


_fromisoformat = datetime.fromisoformat


#: ``reminders[].minutes`` as sent ("15", 30) → the offset; a handful of values
#: recur, so each is read once. A bad value raises, and is never cached.
@lru_cache(maxsize=256, typed=True)
def _wire_reminder(minutes: int | str | None) -> timedelta:
    number = as_int(minutes)
    if number is None or not 0 <= number <= _MAX_REMINDER_MINUTES:
        raise _NotFast
    return timedelta(minutes=-number)


# What of the start a pattern's RRULE depends on, by the pattern's type
# (``_pattern.pattern_to_rrule``): the weekday of a weekly pattern (used when
# it names no days), the day of an absoluteMonthly one (when no
# ``dayOfMonth``), the month and day of the yearly ones. The kind of start
# (date or datetime) and the zone (which a naive or date-only
# ``range.endDate`` is read in) are part of every key.
def _start_facts(kind: Any, day: date) -> tuple[int, ...] | None:
    """What of the start a pattern of type ``kind`` reads; None for an unknown type."""
    if kind == "daily" or kind == "relativeMonthly":
        return ()
    if kind == "weekly":
        return (day.weekday(),)
    if kind == "absoluteMonthly":
        return (day.day,)
    if kind == "absoluteYearly" or kind == "relativeYearly":
        return (day.month, day.day)
    return None


@lru_cache(maxsize=1024)
def _pattern_type(block: bytes) -> Any:
    """A ``recurrence`` block's ``pattern.type`` (None when it has no such string)."""
    value = json.loads(block)
    pattern = value.get("pattern") if type(value) is dict else None
    kind = pattern.get("type") if type(pattern) is dict else None
    return kind if type(kind) is str else None


#: One Recurrence per (pattern bytes, what of the start the rule reads):
#: calendars repeat a few patterns. Only successes are stored.
_RECURRENCES: dict[Any, Recurrence] = {}
_MAX_RECURRENCES = 4096


#: A pattern block longer than this (a real one is 100–200 bytes) is converted
#: but never kept: the caches hold their keys' bytes.
_MAX_CACHED_BLOCK = 1024


def _wire_recurrence(block: bytes, start: datetime | date, zone: tzinfo | None) -> Recurrence:
    """``Recurrence(rrule=pattern_to_rrule(...))`` of a block, cached by what it depends on."""
    if isinstance(start, datetime):
        day, local = start.date(), zone if zone is not None else start.tzinfo
    else:
        day, local = start, zone
    facts = _start_facts(_pattern_type(block), day) if len(block) <= _MAX_CACHED_BLOCK else None
    if facts is None:  # an unknown type (pattern_to_rrule names it), or a block too long to keep
        return Recurrence(rrule=pattern_to_rrule(json.loads(block), start=start, zone=zone))
    key = (block, type(start), local, facts)
    found = _RECURRENCES.get(key)
    if found is None:
        found = Recurrence(
            rrule=pattern_to_rrule(json.loads(block), start=start, zone=zone, path="$")
        )
        if len(_RECURRENCES) >= _MAX_RECURRENCES:
            _RECURRENCES.clear()
        _RECURRENCES[key] = found
    return found


def _wire_bounds(w: EventWire) -> tuple[datetime | date, datetime | date, str | None]:
    """:func:`_bounds` for the usual timed and all-day shapes; others raise _NotFast."""
    s, e = w.start, w.end
    flag = w.isAllDay
    if e is None or not (flag is None or type(flag) is bool):
        raise _NotFast
    start_dt, end_dt = s.dateTime or None, e.dateTime or None
    if flag is True or (start_dt is None and end_dt is None):
        start_day, end_day = s.date or None, e.date or None
        first_text = start_day if start_day is not None else start_dt
        last_text = end_day if end_day is not None else end_dt
        if first_text is None or last_text is None:
            raise _NotFast
        first = _parse_date(first_text, "$")
        last = _parse_date(last_text, "$")
        if last <= first:
            last = first + _DAY
        return first, last, "UTC"
    start_zone, end_zone = s.timeZone, e.timeZone
    if start_dt is None or end_dt is None or not start_zone or not end_zone:
        raise _NotFast
    zone = zone_for(start_zone)
    start = _wire_time(start_dt, zone)
    end = _wire_time(end_dt, zone_for(end_zone) or zone)
    if end < start:
        raise _NotFast
    return start, end, start_zone if zone is not None else None


def _event_from_wire(w: EventWire, raw: Any, calendar_id: str | None) -> Event:
    """One :class:`EventWire` → Event, as :func:`event_from_dingtalk` reads its JSON."""
    start, end, zone_name = _wire_bounds(w)
    all_day = not isinstance(start, datetime)
    zone = zone_for(zone_name) if zone_name else None

    o = w.organizer
    organizer = (
        None
        if o is None
        else _cached_organizer(o.id, o.displayName, o.responseStatus, o.isOptional)
    )
    attendees: tuple[Attendee, ...] = ()
    if w.attendees is not None:
        attendees = tuple(
            [
                _cached_attendee(a.id, a.displayName, a.responseStatus, a.isOptional)
                for a in w.attendees
            ]
        )
    status = (
        EventStatus.CONFIRMED
        if not w.status
        else _EVENT_STATUS_PLAIN.get(w.status) or _lookup(_EVENT_STATUS, w.status, "$")
    )

    location = w.location
    if location is None or type(location) is str:
        location_text = location or ""
    else:
        location_text = location.displayName or ""  # type: ignore[union-attr]
    meeting_url = None if w.onlineMeetingInfo is None else (w.onlineMeetingInfo.url or None)

    event_id = w.id
    series_id: str | None = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    if w.seriesMasterId:
        series_id = w.seriesMasterId
        origin = w.originStart
        origin_value = None if origin is None else (origin.dateTime or None)
        if origin_value is None:
            recurrence_id = start
        elif all_day:
            recurrence_id = _parse_datetime(origin_value, UTC, "$").astimezone(UTC).date()
        else:
            recurrence_id = _parse_datetime(origin_value, zone or UTC, "$")
        event_id = occurrence_id(series_id, recurrence_id)
    else:
        pattern = bytes(w.recurrence)
        if pattern != b"null":
            recurrence = _wire_recurrence(pattern, start, zone)

    reminders: tuple[timedelta, ...] = ()
    if w.reminders is not None:
        reminders = tuple([_wire_reminder(r.minutes) for r in w.reminders])

    created = _wire_stamp(w.createTime)
    # An event never edited has updateTime == createTime: read once.
    updated = created if w.updateTime == w.createTime else _wire_stamp(w.updateTime)

    return _trusted_event(
        provider=Provider.DINGTALK,
        id=event_id,
        calendar_id=calendar_id,
        summary=w.summary or "",
        description=w.description or "",
        location=location_text,
        start=start,
        end=end,
        all_day=all_day,
        timezone=zone_name,
        recurrence=recurrence,
        series_id=series_id,
        recurrence_id=recurrence_id,
        status=status,
        organizer=organizer,
        attendees=attendees,
        reminders=reminders,
        meeting_url=meeting_url,
        created=created,
        updated=updated,
        raw=RawJSON(raw),
    )


def page_from_response(
    body: Mapping[str, Any], *, path: str = "$"
) -> tuple[list[Mapping[str, Any]], str | None]:
    """
    ``(events, nextToken)`` of a ``/events`` or ``/eventsview`` answer.

    A missing, null or empty ``nextToken`` is None (the last page); a missing
    or null ``events`` is an empty page.

    >>> page_from_response({"events": [], "nextToken": ""})
    ([], None)
    """
    body = read_mapping(body, path)
    items = body.get("events")
    if items is None:
        items = []
    elif not isinstance(items, list):
        raise ResponseFormatError(
            f"expected an array, got {_describe(items)}", path=f"{path}.events"
        )
    for i, item in enumerate(items):
        read_mapping(item, f"{path}.events[{i}]")
    token = body.get("nextToken")
    if token is not None:
        read_str(token, f"{path}.nextToken")
    return list(items), token or None


# --------------------------------------------------------------------------
# Free/busy
# --------------------------------------------------------------------------


def _slot_time(value: Any, path: str) -> datetime:
    if isinstance(value, str):
        return _parse_datetime(value, UTC, path)
    bound = read_mapping(value, path)
    moment = _present(bound, "dateTime")
    if moment is None:
        return datetime.combine(_parse_date(bound.get("date"), f"{path}.date"), time(), UTC)
    zone_name = _zone_name(bound, path)
    return _parse_datetime(moment, zone_for(zone_name) if zone_name else UTC, f"{path}.dateTime")


def busy_from_response(
    body: Mapping[str, Any], *, path: str = "$"
) -> tuple[dict[str, list[BusySlot]], dict[str, str]]:
    """
    ``({unionId: busy slots}, {unionId: error})`` of a ``querySchedule`` answer.

    Raises:
        ResponseFormatError: a missing or mistyped field; ``.path`` names it.
    """
    body = read_mapping(body, path)
    info_path = f"{path}.scheduleInformation"
    info = body.get("scheduleInformation")
    if info is None:
        info = []
    if not isinstance(info, list):
        raise ResponseFormatError(f"expected an array, got {_describe(info)}", path=info_path)
    busy: dict[str, list[BusySlot]] = {}
    errors: dict[str, str] = {}
    for i, entry in enumerate(info):
        entry_path = f"{info_path}[{i}]"
        entry = read_mapping(entry, entry_path)
        user = read_str(entry.get("userId"), f"{entry_path}.userId")
        error = read_text(entry, "error", entry_path)
        if error:
            errors[user] = error
            continue
        items = entry.get("scheduleItems") or []
        if not isinstance(items, list):
            raise ResponseFormatError(
                f"expected an array, got {_describe(items)}", path=f"{entry_path}.scheduleItems"
            )
        slots = busy.setdefault(user, [])
        for k, item in enumerate(items):
            item_path = f"{entry_path}.scheduleItems[{k}]"
            item = read_mapping(item, item_path)
            status = read_text(item, "status", item_path).upper() or "BUSY"
            if status not in ("BUSY", "TENTATIVE"):
                raise ResponseFormatError(
                    f"unknown value {status!r} (known: BUSY, TENTATIVE)", path=f"{item_path}.status"
                )
            slots.append(
                BusySlot(
                    start=_slot_time(item.get("start"), f"{item_path}.start"),
                    end=_slot_time(item.get("end"), f"{item_path}.end"),
                    tentative=status == "TENTATIVE",
                )
            )
    return busy, errors


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _write_zone(event: Event) -> tuple[tzinfo, str]:
    """The zone a timed event is written in: an IANA name DingTalk accepts."""
    if event.timezone and not event.timezone.startswith(("+", "-")):
        return ZoneInfo(event.timezone), event.timezone
    assert isinstance(event.start, datetime)
    tz = event.start.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz, tz.key
    offset = event.start.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    if minutes % 60 == 0 and -12 * 60 <= minutes <= 14 * 60:
        # POSIX-style Etc zones have the sign reversed: Etc/GMT-8 is +08:00.
        name = "UTC" if minutes == 0 else f"Etc/GMT{-minutes // 60:+d}"
        return ZoneInfo(name), name
    if event.recurrence is not None:
        raise UnsupportedError(
            f"DingTalk needs an IANA time zone; {event.start.isoformat()} has a fixed offset "
            "that no IANA zone matches, and a series needs its wall clock",
            feature="timezone",
        )
    return UTC, "UTC"


def _check_length(name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise ValidationError(
            f"Event.{name}: {len(text)} characters, over DingTalk's limit of {limit}"
        )


def attendees_to_dingtalk(attendees: Sequence[Attendee]) -> list[dict[str, Any]]:
    """``[{id, isOptional}]``, checked against DingTalk's 500 per call."""
    if len(attendees) > MAX_ATTENDEES_PER_CALL:
        raise ValidationError(
            f"Event.attendees: {len(attendees)} attendees, over DingTalk's limit of "
            f"{MAX_ATTENDEES_PER_CALL} per call (add the rest with add_attendees)"
        )
    return [{"id": a.id, "isOptional": a.optional} for a in attendees]


def event_to_dingtalk(event: Event) -> dict[str, Any]:
    """
    A create or patch body for ``event`` (a patch adds the event's ``id``).

    Raises:
        ValidationError: over a DingTalk limit (summary 2048, description 5000
            characters, 500 attendees a call, interval 365, 99 occurrences).
        UnsupportedError: EXDATE/RDATE, a reminder at or after the start or not
            in whole minutes, a rule the pattern model cannot say.
    """
    if not isinstance(event, Event):
        raise ValidationError(f"expected a wecal.Event, got {_describe(event)}")
    _check_length("summary", event.summary, MAX_SUMMARY)
    _check_length("description", event.description, MAX_DESCRIPTION)
    body: dict[str, Any] = {"summary": event.summary}
    if event.all_day:
        assert isinstance(event.start, date)
        assert isinstance(event.end, date)
        body["start"] = {"date": event.start.isoformat()}
        body["end"] = {"date": max(event.end, event.start + _DAY).isoformat()}
        body["isAllDay"] = True
        zone: tzinfo = UTC
    else:
        assert isinstance(event.start, datetime)
        assert isinstance(event.end, datetime)
        zone, name = _write_zone(event)
        body["start"] = {
            "dateTime": event.start.astimezone(zone).isoformat(timespec="seconds"),
            "timeZone": name,
        }
        body["end"] = {
            "dateTime": event.end.astimezone(zone).isoformat(timespec="seconds"),
            "timeZone": name,
        }
        body["isAllDay"] = False
    body["description"] = event.description
    body["location"] = {"displayName": event.location}
    if event.recurrence is not None:
        if event.recurrence.exdates or event.recurrence.rdates:
            part = "EXDATE" if event.recurrence.exdates else "RDATE"
            raise UnsupportedError(
                f"DingTalk cannot create a series with {part}s: its recurrence is a pattern "
                "and a range (delete the occurrences after creating it)",
                feature=part,
            )
        body["recurrence"] = rrule_to_pattern(event.recurrence.rrule, start=event.start, zone=zone)
        if series_start_off_rule(event):
            # DingTalk's pattern model (Graph's) says occurrences always follow
            # the pattern; wecal.expand, as RFC 5545, keeps such a start as the
            # first occurrence. Which one DingTalk shows is its business: say so.
            _log.warning(
                "DingTalk event %r: its start %s is not an occurrence of its own rule %s; "
                "wecal.expand keeps it as the first occurrence (RFC 5545) but DingTalk "
                "may not: start the series on a day its rule names",
                event.id,
                event.start.isoformat(),
                event.recurrence.rrule,
            )
    body["attendees"] = attendees_to_dingtalk(event.attendees)
    reminders = []
    for i, reminder in enumerate(event.reminders):
        seconds = -reminder.total_seconds()
        if seconds < 0 or seconds % 60:
            raise UnsupportedError(
                f"Event.reminders[{i}]: DingTalk reminds whole minutes before the start, "
                f"not {reminder}",
                feature="reminders",
            )
        reminders.append({"method": "dingtalk", "minutes": int(seconds // 60)})
    body["reminders"] = reminders
    return body
