"""
Legacy DingTalk ``dingtalk.oapi.calendar.list`` items → :class:`~wecal.Event`:
pure functions, no I/O.

The seed document's example is sloppy, and real answers may be too; the
rules chosen for each quirk (``reference/dingtalk.md`` §1.1):

- ``start`` / ``end`` carry ``date`` *and* ``date_time`` although the doc says
  they exclude each other: the event is all-day only when neither bound has a
  ``date_time``. A timed start with a date-only end (or the reverse) is a
  ResponseFormatError.
- ``date_time`` uses ``+0800`` offsets (read by ``datetime.fromisoformat``); a
  ``date_time`` without an offset is read in its ``time_zone``. Times are
  shown in ``time_zone`` when it names a zone, which also becomes
  ``Event.timezone``; an unknown zone name is ignored (the offsets still say
  the instant), a mistyped one is an error.
- All-day ``end`` dates are exclusive, as in DingTalk v1.0 and the Google API
  this one copies; an end on or before the start day (the seed has
  start = end = 2018-08-08) means one day.
- ``recurrence`` may be a list of lines, a ``{"string": [...]}`` wrapper, a
  rule without ``FREQ=``, a rule split on its commas, or text pasted after
  the rule: :func:`wecal.recurrence.parse_rrule` copes with all of them.
- ``recurrence_id`` (epoch milliseconds) marks one occurrence of a series
  (it is the occurrence's RECURRENCE-ID): ``series_id`` is the series'
  ``unique_id``, which every occurrence and the master share whatever their
  ``id`` holds (``{master id}_{original start}`` when there is none), and a
  master's ``id`` is that ``unique_id`` too, so ``single_events`` and
  :func:`wecal.expand` of the master agree; ``recurrence_id`` is the
  original start in the event's zone (a date for all-day events), and
  ``id`` follows DESIGN.md
  (``f"{series_id}_{recurrence_id:%Y%m%dT%H%M%SZ}"`` in UTC, ``%Y%m%d`` for
  all-day); DingTalk's own ``id`` stays in ``raw``. An occurrence carries no
  ``recurrence`` (the series' rule, if sent along, stays in ``raw``), so
  ``is_recurring`` and ``is_occurrence`` never both hold.
- ``response_status`` is the answer of the user whose calendar was listed.
  When the caller passes ``user_id`` and that user is not the organizer
  (``organizer.self`` is not true), it becomes that user's
  :class:`~wecal.Attendee`; otherwise it stays in ``raw``.
- ``success: true`` beside a non-zero ``errcode``: the HTTP core trusts
  ``errcode``; these functions only read ``result``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from ..._zones import in_zone, zone_for
from ...errors import ResponseFormatError, ValidationError, _describe
from ...models import (
    Attendee,
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
from ...recurrence import occurrence_id, parse_rrule

# The strict readers are shared with the WeCom converter (same error style).
from .._readers import read_mapping, read_str, read_text
from .._wire import RawJSON
from ._wire import BoundWire, ItemPage, ItemWire

__all__ = [
    "DINGTALK_LEGACY_EVENT_STATUS",
    "DINGTALK_LEGACY_RESPONSE_STATUS",
    "item_to_event",
    "items_from_wire",
    "page_from_response",
]

#: ``response_status`` (lower-cased, ``_`` removed) → answer. ``tentative`` is
#: not in the legacy doc but is DingTalk v1.0's fourth value.
DINGTALK_LEGACY_RESPONSE_STATUS: Mapping[str, ResponseStatus] = MappingProxyType(
    {
        "needsaction": ResponseStatus.NEEDS_ACTION,
        "accepted": ResponseStatus.ACCEPTED,
        "tentative": ResponseStatus.TENTATIVE,
        "declined": ResponseStatus.DECLINED,
    }
)
#: ``status`` (lower-cased) → event status; both spellings of cancelled.
DINGTALK_LEGACY_EVENT_STATUS: Mapping[str, EventStatus] = MappingProxyType(
    {
        "confirmed": EventStatus.CONFIRMED,
        "tentative": EventStatus.TENTATIVE,
        "cancelled": EventStatus.CANCELLED,
        "canceled": EventStatus.CANCELLED,
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_MIDNIGHT = time()
# DingTalk's default zone (its docs: "默认Asia/Shanghai"); used only to place an
# all-day occurrence's epoch-ms recurrence_id on a date when no zone is given.
_SHANGHAI = ZoneInfo("Asia/Shanghai")
# Epoch milliseconds that datetime can hold (years 1..9999, with margin).
_MAX_MS = 253_402_214_400_000


_zone = zone_for


def _lookup(table: Mapping[str, Any], value: Any, path: str, key: str) -> Any:
    found = table.get(value) if type(value) is str else None
    if found is None:
        text = read_str(value, path, key)
        found = table.get(text.replace("_", "").lower())
        if found is None:
            known = ", ".join(table)
            raise ResponseFormatError(f"unknown value {text!r} (known: {known})", path=path + key)
    return found


# Helpers take the item's ``path`` and a constant ``key`` suffix (".start") and
# join them only when raising: most items are fine, and paths cost time.


def _zone_name(bound: Mapping[str, Any], path: str, key: str) -> str | None:
    name = bound.get("time_zone")
    if name is None or name == "":
        return None
    if type(name) is not str:
        read_str(name, f"{path}{key}.time_zone")
    return name


def _parse_datetime(text: Any, zone: tzinfo | None, path: str, key: str = "") -> datetime:
    if type(text) is not str:
        read_str(text, path + key)
    try:
        moment = _fromisoformat(text)
    except ValueError:
        raise ResponseFormatError(
            f"expected 'yyyy-MM-ddTHH:mm:ssZ', got {_describe(text)}", path=path + key
        ) from None
    # fromisoformat gives no tzinfo or a fixed offset: tzinfo says it (cheaper
    # than utcoffset(), which makes a timedelta).
    if moment.tzinfo is None:
        if zone is None:
            raise ResponseFormatError(
                f"{text!r} has no UTC offset and no known time_zone", path=path + key
            )
        return moment.replace(tzinfo=zone)
    return in_zone(moment, zone)


_fromisoformat = datetime.fromisoformat


def _parse_date(text: Any, path: str, key: str = "") -> date:
    text = read_str(text, path, key)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ResponseFormatError(
            f"expected 'yyyy-MM-dd', got {_describe(text)}", path=path + key
        ) from None


def _bound(
    data: Mapping[str, Any], key: str, path: str
) -> tuple[Mapping[str, Any], Any, Any, str | None]:
    """``(bound, date_time, date, time_zone)`` of ``start`` / ``end``."""
    bound = read_mapping(data.get(key), path, "." + key)
    date_time = bound.get("date_time")
    day = bound.get("date")
    zone_name = _zone_name(bound, path, "." + key)
    return bound, (None if date_time == "" else date_time), (None if day == "" else day), zone_name


def _stamp(value: Any, path: str, key: str) -> datetime | None:
    """``created`` / ``updated``: a ``{date_time | date, time_zone}`` object or a string."""
    if value is None or value == "":
        return None
    if type(value) is dict:
        # Fast path, the usual shape: {"date_time": "…+0800", "time_zone": "Asia/Shanghai"}.
        text, zone_name = value.get("date_time"), value.get("time_zone")
        if type(text) is str and text and type(zone_name) is str and zone_name:
            return _parse_datetime(text, _zone(zone_name), path, key + ".date_time")
    if isinstance(value, str):
        return _parse_datetime(value, None, path, key)
    bound = read_mapping(value, path, key)
    zone_name = _zone_name(bound, path, key)
    zone = _zone(zone_name) if zone_name else None
    date_time = bound.get("date_time")
    if date_time is not None and date_time != "":
        return _parse_datetime(date_time, zone, path, key + ".date_time")
    day = bound.get("date")
    if day is None or day == "":
        return None
    return datetime.combine(_parse_date(day, path, key + ".date"), _MIDNIGHT, zone or UTC)


def _series_id(
    data: Mapping[str, Any], provider_id: str, recurrence_id: datetime | date, path: str
) -> str:
    """
    The id of the series a server-expanded occurrence belongs to: the one
    :func:`_master_id` gives its master, so one occurrence has one id and one
    ``series_id`` however it was expanded (``single_events`` or
    :func:`wecal.expand` of the listed master).

    ``unique_id`` is the same for every occurrence of a series and for its
    master (the seed: "周期日程的所有序列的unique_id为同一个"), whatever ``id``
    holds — the seed's own occurrence has ``"id": "1k3io5…"`` beside
    ``"unique_id": "k3io5…"``. Without it, an id of the form
    ``{master id}_{original start}`` (Google's scheme) names the master.
    """
    unique_id = data.get("unique_id")
    if unique_id is not None and unique_id != "":
        return read_str(unique_id, f"{path}.unique_id")
    suffix = occurrence_id("", recurrence_id)  # "_20210101T020000Z" / "_20210101"
    if provider_id.endswith(suffix) and len(provider_id) > len(suffix):
        return provider_id[: -len(suffix)]
    return provider_id


def _master_id(data: Mapping[str, Any], provider_id: str, path: str) -> str:
    """
    A series master's :attr:`~wecal.Event.id`: its ``unique_id`` (which its
    occurrences share, see :func:`_series_id`), else its ``id``. The item's
    own ``id`` stays in ``raw``.
    """
    unique_id = data.get("unique_id")
    if unique_id is None or unique_id == "":
        return provider_id
    return read_str(unique_id, f"{path}.unique_id")


def _recurrence_id(value: Any, zone: tzinfo | None, all_day: bool, path: str) -> datetime | date:
    """Epoch milliseconds (string or number) → the occurrence's original start."""
    if type(value) is int or (isinstance(value, str) and value.isascii() and value.isdigit()):
        ms = int(value)
        if not 0 <= ms <= _MAX_MS:
            raise ResponseFormatError(f"epoch milliseconds {value!r} out of range", path=path)
        moment = (_EPOCH + timedelta(milliseconds=ms)).astimezone(
            zone or (_SHANGHAI if all_day else UTC)
        )
    elif isinstance(value, str):
        # Not the documented epoch-ms form: accept an ISO 8601 instant too.
        moment = _parse_datetime(value, zone or UTC, path)
    else:
        raise ResponseFormatError(f"expected epoch milliseconds, got {_describe(value)}", path=path)
    return moment.date() if all_day else moment


def item_to_event(
    data: Mapping[str, Any],
    *,
    path: str = "$",
    calendar_id: str | None = None,
    user_id: str | None = None,
) -> Event:
    """
    One item of ``result.items`` → :class:`~wecal.Event` (see the module
    docstring for how each quirk is read).

    ``calendar_id`` is the folder queried (``calendar_folder_id``; items do not
    say), ``user_id`` the staff userid whose calendar was listed: pass both.

    >>> ev = item_to_event({"id": "e1", "start": {"date_time": "2019-03-01T10:00:00+0800"},
    ...                     "end": {"date_time": "2019-03-01T11:00:00+0800"}})
    >>> ev.start.isoformat()
    '2019-03-01T10:00:00+08:00'

    Raises:
        ResponseFormatError: ``id``, ``start`` or ``end`` missing or mistyped,
            an unreadable time, rule or code; ``.path`` names it.
    """
    data = read_mapping(data, path)
    provider_id = read_str(data.get("id"), path, ".id")

    _, start_dt, start_day, start_zone = _bound(data, "start", path)
    _, end_dt, end_day, end_zone = _bound(data, "end", path)
    zone_name = start_zone or end_zone
    zone = _zone(zone_name) if zone_name else None
    start: datetime | date
    end: datetime | date
    if start_dt is None and end_dt is None:
        # All-day: neither bound has a date_time (a date_time always wins).
        if start_day is None:
            raise ResponseFormatError("neither date_time nor date given", path=f"{path}.start")
        if end_day is None:
            raise ResponseFormatError("neither date_time nor date given", path=f"{path}.end")
        start = _parse_date(start_day, path, ".start.date")
        end = _parse_date(end_day, path, ".end.date")
        if end <= start:
            # An inclusive or zero-length end (the seed's start = end): one day.
            try:
                end = start + _DAY
            except OverflowError:
                raise ResponseFormatError("date out of range", path=f"{path}.end.date") from None
    elif start_dt is None or end_dt is None:
        which = "start" if start_dt is None else "end"
        raise ResponseFormatError(
            "a timed event needs date_time on both start and end", path=f"{path}.{which}.date_time"
        )
    else:
        start = _parse_datetime(
            start_dt, _zone(start_zone) if start_zone else zone, path, ".start.date_time"
        )
        end = _parse_datetime(end_dt, _zone(end_zone) if end_zone else zone, path, ".end.date_time")
        if end < start:
            raise ResponseFormatError(
                f"end {end.isoformat()} is before start {start.isoformat()}",
                path=f"{path}.end.date_time",
            )
    all_day = not isinstance(start, datetime)

    organizer = None
    is_self = False
    raw_organizer = data.get("organizer")
    if raw_organizer is not None:
        org_path = f"{path}.organizer"
        raw_organizer = read_mapping(raw_organizer, org_path)
        is_self = raw_organizer.get("self") is True
        org_id = read_text(raw_organizer, "userid", org_path)
        organizer = _trusted_person(
            id=org_id or (user_id if is_self and user_id else ""),
            display_name=read_text(raw_organizer, "display_name", org_path),
        )

    attendees: tuple[Attendee, ...] = ()
    response = data.get("response_status")
    if response is not None and response != "":
        answer = _lookup(DINGTALK_LEGACY_RESPONSE_STATUS, response, path, ".response_status")
        if user_id and not is_self:
            attendees = (_trusted_attendee(id=user_id, response=answer),)

    status_value = data.get("status")
    status = (
        EventStatus.CONFIRMED
        if status_value is None or status_value == ""
        else _lookup(DINGTALK_LEGACY_EVENT_STATUS, status_value, path, ".status")
    )

    event_id = provider_id
    series_id = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    raw_recurrence_id = data.get("recurrence_id")
    if raw_recurrence_id is not None and raw_recurrence_id != "":
        recurrence_id = _recurrence_id(raw_recurrence_id, zone, all_day, f"{path}.recurrence_id")
        series_id = _series_id(data, provider_id, recurrence_id, path)
        event_id = occurrence_id(series_id, recurrence_id)
    elif _has_rule(data.get("recurrence")):
        recurrence = _parse_rule(data["recurrence"], f"{path}.recurrence")
        event_id = _master_id(data, provider_id, path)

    try:
        # Every field was checked above: build without re-validation.
        return _trusted_event(
            provider=Provider.DINGTALK,
            id=event_id,
            calendar_id=calendar_id,
            summary=read_text(data, "summary", path),
            description=read_text(data, "description", path),
            location=read_text(data, "location", path),
            start=start,
            end=end,
            all_day=all_day,
            timezone=zone_name if zone is not None else None,
            recurrence=recurrence,
            series_id=series_id,
            recurrence_id=recurrence_id,
            status=status,
            organizer=organizer,
            attendees=attendees,
            created=_stamp(data.get("created"), path, ".created"),
            updated=_stamp(data.get("updated"), path, ".updated"),
            raw=data,
        )
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path=path) from exc


class _NotFast(Exception):
    """An item the typed path does not take (the dict readers say why)."""


def items_from_wire(
    page: ItemPage, *, calendar_id: str | None = None, user_id: str | None = None
) -> list[Event]:
    """
    The events of a page :func:`~wecal.providers.dingtalk_legacy._wire.decode_item_page`
    read: the same events :func:`item_to_event` makes of the page's JSON, each
    ``raw`` a :class:`~wecal.providers._wire.RawJSON` of its bytes.

    What the Structs cannot say (an unknown code, an unreadable time or rule)
    sends the whole page to the dict readers, which raise the
    ResponseFormatError with its JSON path (``$.result.items[3].start.date_time``).
    """
    try:
        return [_item_from_wire(item, raw, calendar_id, user_id) for item, raw in page]
    except (_NotFast, ResponseFormatError, ValidationError, OverflowError, ValueError,
            RecursionError):  # fmt: skip
        pass
    try:
        body = json.loads(page.content)
    except (ValueError, RecursionError):  # what msgspec skipped and json.loads refuses
        raise ResponseFormatError(
            "body is not JSON the standard reader takes (an integer of more than "
            "4300 digits, or nesting too deep)",
            path="$",
        ) from None
    items, _ = page_from_response(body)
    return [
        item_to_event(item, path=f"$.result.items[{i}]", calendar_id=calendar_id, user_id=user_id)
        for i, item in enumerate(items)
    ]


def _wire_stamp(value: str | BoundWire | None) -> datetime | None:
    """``created`` / ``updated`` as :func:`_stamp` reads them."""
    if value is None or value == "":
        return None
    if type(value) is str:
        return _wire_time(value, None)
    assert isinstance(value, BoundWire)
    text, zone_name = value.date_time, value.time_zone
    zone = _zone(zone_name) if zone_name else None
    if text:
        return _wire_time(text, zone)
    if not value.date:
        return None
    return datetime.combine(_parse_date(value.date, "$"), _MIDNIGHT, zone or UTC)


def _wire_time(text: str, zone: tzinfo | None) -> datetime:
    """
    :func:`_parse_datetime` of a ``date_time`` the Structs read as a string,
    inline; what it refuses raises (ValueError, _NotFast) and the page takes
    the dict readers, which name it.
    """
    moment = _fromisoformat(text)
    if moment.tzinfo is None:  # fromisoformat: no tzinfo, or a fixed offset
        if zone is None:
            raise _NotFast
        return moment.replace(tzinfo=zone)
    return in_zone(moment, zone)


# The organizers of a calendar are a handful of people: one frozen Person each.
@lru_cache(maxsize=1024)
def _wire_person(person_id: str, name: str) -> Person:
    return _trusted_person(id=person_id, display_name=name)


#: The longest ``recurrence`` block kept by :func:`_wire_rule`'s cache (it holds the bytes).
_MAX_CACHED_BLOCK = 1024


@lru_cache(maxsize=512)
def _wire_rule(block: bytes) -> Recurrence | None:
    """A ``recurrence`` value's rule, once per distinct bytes (failures not cached)."""
    value = json.loads(block)
    return _parse_rule(value, "$") if _has_rule(value) else None


# The tables as plain dicts: a dict lookup is cheaper than a mappingproxy's.
_RESPONSE_STATUS_PLAIN: dict[str, ResponseStatus] = dict(DINGTALK_LEGACY_RESPONSE_STATUS)
_EVENT_STATUS_PLAIN: dict[str, EventStatus] = dict(DINGTALK_LEGACY_EVENT_STATUS)


def _wire_status(table: Mapping[str, Any], value: str) -> Any:
    found = table.get(value)
    if found is None:
        found = table.get(value.replace("_", "").lower())
        if found is None:
            raise _NotFast
    return found


def _item_from_wire(w: ItemWire, raw: Any, calendar_id: str | None, user_id: str | None) -> Event:
    """One :class:`ItemWire` → Event, as :func:`item_to_event` reads its JSON."""
    s, e = w.start, w.end
    start_dt, end_dt = s.date_time or None, e.date_time or None
    start_zone, end_zone = s.time_zone or None, e.time_zone or None
    zone_name = start_zone or end_zone
    zone = _zone(zone_name) if zone_name else None
    start: datetime | date
    end: datetime | date
    if start_dt is None and end_dt is None:
        if not s.date or not e.date:
            raise _NotFast
        start = _parse_date(s.date, "$")
        end = _parse_date(e.date, "$")
        if end <= start:
            end = start + _DAY
    elif start_dt is None or end_dt is None:
        raise _NotFast
    else:
        start = _wire_time(start_dt, _zone(start_zone) if start_zone else zone)
        end = _wire_time(end_dt, _zone(end_zone) if end_zone else zone)
        if end < start:
            raise _NotFast
    all_day = not isinstance(start, datetime)

    organizer = None
    is_self = False
    o = w.organizer
    if o is not None:
        is_self = o.is_self is True
        organizer = _wire_person(
            o.userid or (user_id if is_self and user_id else ""), o.display_name or ""
        )

    attendees: tuple[Attendee, ...] = ()
    if w.response_status:
        answer = _wire_status(_RESPONSE_STATUS_PLAIN, w.response_status)
        if user_id and not is_self:
            attendees = (_trusted_attendee(id=user_id, response=answer),)
    status = _wire_status(_EVENT_STATUS_PLAIN, w.status) if w.status else EventStatus.CONFIRMED

    event_id = w.id
    series_id = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    if w.recurrence_id is not None and w.recurrence_id != "":
        recurrence_id = _recurrence_id(w.recurrence_id, zone, all_day, "$")
        series_id = _series_id({"unique_id": w.unique_id}, w.id, recurrence_id, "$")
        event_id = occurrence_id(series_id, recurrence_id)
    else:
        block = bytes(w.recurrence)
        # A block longer than a real rule (tens of bytes) is read, never kept.
        recurrence = (
            _wire_rule(block) if len(block) <= _MAX_CACHED_BLOCK else _wire_rule.__wrapped__(block)
        )
        if recurrence is not None and w.unique_id:
            event_id = w.unique_id  # _master_id: the unique_id its occurrences share

    created = _wire_stamp(w.created)
    # An item never edited has updated == created: read once.
    updated = created if w.updated == w.created else _wire_stamp(w.updated)

    return _trusted_event(
        provider=Provider.DINGTALK,
        id=event_id,
        calendar_id=calendar_id,
        summary=w.summary or "",
        description=w.description or "",
        location=w.location or "",
        start=start,
        end=end,
        all_day=all_day,
        timezone=zone_name if zone is not None else None,
        recurrence=recurrence,
        series_id=series_id,
        recurrence_id=recurrence_id,
        status=status,
        organizer=organizer,
        attendees=attendees,
        created=created,
        updated=updated,
        raw=RawJSON(raw),
    )


# Parsed rules by value. A page repeats a handful of rules ("every Monday")
# and parsing validates each with dateutil, the costliest step per item.
# Only successes are cached, so an error always names the item it came from.
_RULES: dict[Any, Recurrence] = {}
_MAX_RULES = 512


def _rule_key(value: Any) -> Any:
    """A hashable key for a rule value, or None when it has an unusual shape."""
    if isinstance(value, Mapping):
        if len(value) != 1 or "string" not in value:
            return None
        value = value["string"]
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(type(line) is str for line in value):
        return tuple(value)
    return None


def _parse_rule(value: Any, path: str) -> Recurrence:
    key = _rule_key(value)
    found = _RULES.get(key) if key is not None else None
    if found is None:
        found = parse_rrule(value, path=path)
        if key is not None:
            if len(_RULES) >= _MAX_RULES:
                _RULES.clear()
            _RULES[key] = found
    return found


def _has_rule(value: Any) -> bool:
    """False for an absent or empty ``recurrence`` (null, "", [], {"string": []})."""
    if value is None or value == "":
        return False
    if isinstance(value, Mapping) and len(value) == 1 and "string" in value:
        value = value["string"]
        if value is None:
            return False
    if isinstance(value, Sequence) and not isinstance(value, str):
        return any(line not in (None, "") for line in value)
    return True


def page_from_response(
    body: Mapping[str, Any], *, path: str = "$"
) -> tuple[list[Mapping[str, Any]], str | None]:
    """
    ``(result.items, result.next_page_token)`` of a ``calendar/list`` body.

    A missing or empty ``next_page_token`` is None (the last page). ``items``
    may be missing or null (no events) or wrapped the TOP way
    (``{"calendar_item": [...]}``). ``errcode`` is the HTTP core's business:
    this reads ``result`` only.

    >>> page_from_response({"result": {"items": [], "next_page_token": ""}})
    ([], None)

    Raises:
        ResponseFormatError: ``result`` missing or not an object, ``items`` not
            an array of objects, a non-string token.
    """
    body = read_mapping(body, path)
    result_path = f"{path}.result"
    result = read_mapping(body.get("result"), result_path)
    items: Any = result.get("items")
    if isinstance(items, Mapping) and len(items) == 1:
        # TOP's XML-to-JSON list wrapper, as around the seed's recurrence.
        (items,) = items.values()
    if items is None:
        items = []
    elif not isinstance(items, list | tuple):
        raise ResponseFormatError(
            f"expected an array, got {_describe(items)}", path=f"{result_path}.items"
        )
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ResponseFormatError(
                f"expected an object, got {_describe(item)}", path=f"{result_path}.items[{i}]"
            )
    token = result.get("next_page_token")
    if token is not None:
        read_str(token, f"{result_path}.next_page_token")
    return list(items), token or None
