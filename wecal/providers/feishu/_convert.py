"""
Feishu / Lark calendar v4 event JSON ↔ :class:`~wecal.Event`: pure functions, no I/O.

Reading (``reference/feishu.md`` §4), with the rule chosen for each quirk:

- ``start_time`` / ``end_time`` are ``{timestamp, timezone}`` (epoch seconds
  as a string; shown in ``timezone``, Feishu's default ``Asia/Shanghai`` when
  absent) or ``{date}`` (all-day, in UTC: ``Event.timezone`` is ``"UTC"``).
  The docs' examples set ``date`` and ``timestamp`` together: the
  ``timestamp`` wins.
- All-day end dates (``reference/feishu.md`` §4 lists conflicting signals and
  no live check): the rule, not a guess per event, is

  ===========================  ==========================================
  answer (start, end date)     read as (``Event.start``, ``Event.end``)
  ===========================  ==========================================
  ``D``, ``D + n`` (n ≥ 1)     ``D``, ``D + n``: exclusive, as the official
                               CLI reads answers (its end − 1 s is the last
                               day)
  ``D``, ``D``                 ``D``, ``D + 1``: one day; the only reading
                               that is not zero days long (the CLI writes a
                               one-day event so, and the docs' examples
                               show it)
  ``D``, ``D − n``             :class:`~wecal.ResponseFormatError`
  ===========================  ==========================================

  ``all_day_end="inclusive"`` reads every end as the last day instead (for a
  tenant found to answer so). Writes send the last day (inclusive), as the
  official CLI writes; see :func:`event_to_feishu`.
- ``event_id`` is ``{uid}_{original start}``: a single event or a series'
  master ends in ``_0``; an instance or an exception ends in its original
  start (epoch seconds). Such an item is an occurrence (DESIGN.md
  "Occurrences and identity"): ``series_id`` is the master's id
  (``recurring_event_id``, else ``{uid}_0``), ``recurrence_id`` the original
  start (a UTC date for all-day events) and ``id`` is
  ``f"{series_id}_{recurrence_id:%Y%m%dT%H%M%SZ}"``, so ``instance_view`` and
  :func:`wecal.expand` name an occurrence alike. Feishu's own id of it stays
  in ``raw["event_id"]``. A ``cancelled`` exception is a deleted occurrence
  (``status`` CANCELLED).
- ``recurrence`` (an RRULE body, no ``RRULE:`` prefix) → ``Recurrence`` on a
  master; the docs' filler ``recurring_event_id`` on a master is ignored.
- ``vchat.meeting_url`` → ``meeting_url`` (``https://`` added when Feishu
  leaves the scheme out: ``vc.feishu.cn/j/152568231``); ``location.name``
  (else ``address``) → ``location``; ``reminders[].minutes`` N (before the
  start) → ``timedelta(minutes=-N)``; ``event_organizer`` → ``organizer``;
  ``attendees[].rsvp_status`` → ``response`` (``removed`` reads as
  DECLINED); ``create_time`` → ``created`` (there is no update time).

Writing: :func:`event_to_feishu` builds a create/patch body; over a Feishu
limit is a :class:`~wecal.ValidationError`, what Feishu cannot store
(EXDATE/RDATE, a reminder over two weeks away, a year outside 1970–2500) an
:class:`~wecal.UnsupportedError`, both before anything is sent. All-day end
dates are written inclusive (the last day), as the official CLI writes them.
Attendees are not part of the body: Feishu adds them through their own
endpoint (:func:`attendees_to_feishu`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from attrs import evolve

from ..._zones import zone_for
from ...errors import ResponseFormatError, UnsupportedError, ValidationError, _describe
from ...models import (
    Attendee,
    Calendar,
    Event,
    EventStatus,
    Provider,
    Recurrence,
    ResponseStatus,
    _trusted_attendee,
    _trusted_event,
    _trusted_person,
)
from ...recurrence import normalize_rrule, occurrence_id
from .._readers import as_int, read_mapping
from .._wire import RawJSON
from ._wire import (
    AttendeeWire,
    CalendarWire,
    EventPage,
    EventWire,
    ListData,
    Location,
    Reminder,
    TimeInfo,
    Vchat,
    decode,
    to_json,
)

__all__ = [
    "MAX_ATTENDEES_PER_CALL",
    "MAX_DESCRIPTION",
    "MAX_SUMMARY",
    "RESPONSE_WIRE",
    "AllDayEnd",
    "attendees_from_feishu",
    "attendees_to_feishu",
    "calendar_from_feishu",
    "event_from_feishu",
    "event_to_feishu",
    "events_from_page",
    "list_page",
    "split_event_id",
    "with_exceptions",
]

#: Create/patch limits (``reference/feishu.md`` §3.3, §3.5, §4).
MAX_SUMMARY = 1000
MAX_DESCRIPTION = 40960
MAX_LOCATION = 512
MAX_RRULE = 2000
MAX_ATTENDEES_PER_CALL = 1000
MAX_REMINDER_MINUTES = 20160
#: ``timestamp`` range the docs give: 1 … 16725225600 (2500-01-01).
MAX_TIMESTAMP = 16725225600

#: How an all-day event's end date is written on the wire.
AllDayEnd = Literal["exclusive", "inclusive"]

#: ``rsvp_status`` → answer. ``removed`` (taken off the event) reads as declined.
RESPONSE_STATUS: Mapping[str, ResponseStatus] = MappingProxyType(
    {
        "needs_action": ResponseStatus.NEEDS_ACTION,
        "accept": ResponseStatus.ACCEPTED,
        "tentative": ResponseStatus.TENTATIVE,
        "decline": ResponseStatus.DECLINED,
        "removed": ResponseStatus.DECLINED,
    }
)
#: answer → ``rsvp_status`` of ``reply``.
RESPONSE_WIRE: Mapping[ResponseStatus, str] = MappingProxyType(
    {
        ResponseStatus.ACCEPTED: "accept",
        ResponseStatus.TENTATIVE: "tentative",
        ResponseStatus.DECLINED: "decline",
    }
)
_EVENT_STATUS: Mapping[str, EventStatus] = MappingProxyType(
    {
        "confirmed": EventStatus.CONFIRMED,
        "tentative": EventStatus.TENTATIVE,
        "cancelled": EventStatus.CANCELLED,
    }
)
_DEFAULT_ZONE = "Asia/Shanghai"
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def split_event_id(event_id: str) -> tuple[str, int]:
    """
    ``(uid, original start in epoch seconds)`` of a Feishu event id; 0 for a
    single event or a master, and for an id without a numeric suffix.

    >>> split_event_id("75d28f9b-e35c-4230-8a83-4a661497db54_1602504000")
    ('75d28f9b-e35c-4230-8a83-4a661497db54', 1602504000)
    """
    uid, sep, suffix = event_id.rpartition("_")
    if not sep or not suffix.isascii() or not suffix.isdigit() or len(suffix) > 20:
        return event_id, 0
    return uid, int(suffix)


def _seconds(value: str | int, path: str) -> int:
    # The usual shape first: a short string of ASCII digits ("1602504000").
    if type(value) is str and 0 < len(value) <= 11 and value.isascii() and value.isdigit():
        number: int | None = int(value)
        if number is not None and number <= MAX_TIMESTAMP:
            return number
    number = as_int(value)
    if number is None or not 0 <= number <= MAX_TIMESTAMP:
        raise ResponseFormatError(
            f"expected epoch seconds (0…{MAX_TIMESTAMP}), got {_describe(value)}", path=path
        )
    return number


def _zone(info: TimeInfo, path: str) -> tuple[tzinfo, str | None]:
    name = info.timezone or _DEFAULT_ZONE
    zone = zone_for(name)
    if zone is None:
        raise ResponseFormatError(f"unknown time zone {name!r}", path=f"{path}.timezone")
    return zone, name


def _day(info: TimeInfo, path: str) -> date | None:
    if not info.date:
        return None
    try:
        return date.fromisoformat(info.date)
    except ValueError:
        raise ResponseFormatError(
            f"expected 'YYYY-MM-DD', got {_describe(info.date)}", path=f"{path}.date"
        ) from None


def _bounds(
    wire: EventWire, path: str, all_day_end: AllDayEnd
) -> tuple[datetime | date, datetime | date, str | None]:
    """``(start, end, timezone)``; see the module docstring for the rules."""
    start_info, end_info = wire.start_time, wire.end_time
    if start_info is None:
        raise ResponseFormatError("missing", path=f"{path}.start_time")
    if end_info is None:
        raise ResponseFormatError("missing", path=f"{path}.end_time")
    if start_info.timestamp not in (None, ""):
        assert start_info.timestamp is not None
        if end_info.timestamp in (None, ""):
            raise ResponseFormatError(
                "a timed event needs a timestamp on both start and end",
                path=f"{path}.end_time.timestamp",
            )
        assert end_info.timestamp is not None
        zone, name = _zone(start_info, f"{path}.start_time")
        start = datetime.fromtimestamp(
            _seconds(start_info.timestamp, f"{path}.start_time.timestamp"), zone
        )
        end_zone, _ = _zone(end_info, f"{path}.end_time") if end_info.timezone else (zone, None)
        end = datetime.fromtimestamp(
            _seconds(end_info.timestamp, f"{path}.end_time.timestamp"), end_zone
        ).astimezone(zone)
        if end < start:
            raise ResponseFormatError(
                f"end {end.isoformat()} is before start {start.isoformat()}",
                path=f"{path}.end_time.timestamp",
            )
        return start, end, name
    first = _day(start_info, f"{path}.start_time")
    if first is None:
        raise ResponseFormatError("neither timestamp nor date given", path=f"{path}.start_time")
    last = _day(end_info, f"{path}.end_time")
    if last is None:
        raise ResponseFormatError(
            "an all-day event needs a date on both start and end", path=f"{path}.end_time.date"
        )
    if last < first:
        # No convention makes this a day: refused, not guessed at.
        raise ResponseFormatError(
            f"end date {last.isoformat()} is before start date {first.isoformat()}",
            path=f"{path}.end_time.date",
        )
    try:
        if all_day_end == "inclusive" or last == first:
            # An end on the start can only be the last day (an exclusive end
            # would make the event zero days long): a one-day event.
            last += _DAY
    except OverflowError:
        raise ResponseFormatError("date out of range", path=f"{path}.end_time.date") from None
    return first, last, "UTC"


def _enum(table: Mapping[str, Any], value: str | None, default: Any, path: str) -> Any:
    if not value:
        return default
    found = table.get(value)
    if found is None:
        raise ResponseFormatError(f"unknown value {value!r} (known: {', '.join(table)})", path=path)
    return found


def _reminders(items: list[Reminder] | None, path: str) -> tuple[timedelta, ...]:
    out = []
    for i, item in enumerate(items or ()):
        minutes = as_int(item.minutes)
        if minutes is None or not -MAX_REMINDER_MINUTES <= minutes <= MAX_REMINDER_MINUTES:
            raise ResponseFormatError(
                f"expected minutes before the start (±{MAX_REMINDER_MINUTES}), "
                f"got {_describe(item.minutes)}",
                path=f"{path}.reminders[{i}].minutes",
            )
        out.append(timedelta(minutes=-minutes))
    return tuple(out)


def attendee_id(wire: AttendeeWire) -> str:
    """The id an attendee is known by: its user, chat, room or e-mail id."""
    by_type = {
        "user": wire.user_id,
        "chat": wire.chat_id,
        "resource": wire.room_id,
        "third_party": wire.third_party_email,
    }.get(wire.type or "")
    return (
        by_type
        or wire.user_id
        or wire.chat_id
        or wire.room_id
        or wire.third_party_email
        or wire.attendee_id
        or ""
    )


def _attendees(
    items: list[AttendeeWire] | None, path: str, field: str = "attendees"
) -> tuple[Attendee, ...]:
    out = []
    for i, item in enumerate(items or ()):
        ident = attendee_id(item)
        if not ident:
            raise ResponseFormatError(
                "an attendee with no id (user_id, chat_id, room_id, third_party_email)",
                path=f"{path}.{field}[{i}]",
            )
        answer = _enum(
            RESPONSE_STATUS,
            item.rsvp_status,
            ResponseStatus.NEEDS_ACTION,
            f"{path}.{field}[{i}].rsvp_status",
        )
        out.append(
            _trusted_attendee(
                id=ident,
                display_name=item.display_name or "",
                response=answer,
                optional=bool(item.is_optional),
            )
        )
    return tuple(out)


def attendees_from_feishu(items: Sequence[Any], *, path: str = "$.data") -> tuple[Attendee, ...]:
    """The attendees of an attendee listing's ``items`` (``GET …/attendees``)."""
    wires = [decode(item, AttendeeWire, path=f"{path}.items[{i}]") for i, item in enumerate(items)]
    return _attendees(wires, path, "items")


def _meeting_url(vchat: Vchat | None) -> str | None:
    url = (vchat.meeting_url or "").strip() if vchat is not None else ""
    if not url:
        return None
    return url if "://" in url else f"https://{url}"


def _created(value: str | int | None, path: str) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    assert value is not None
    return _EPOCH + timedelta(seconds=_seconds(value, f"{path}.create_time"))


def event_from_feishu(
    data: Mapping[str, Any],
    *,
    path: str = "$",
    calendar_id: str | None = None,
    all_day_end: AllDayEnd = "exclusive",
) -> Event:
    """
    One calendar v4 event (a ``get`` answer's ``data.event``, an item of an
    ``events``, ``instances`` or ``instance_view`` listing) →
    :class:`~wecal.Event`. ``calendar_id`` is the calendar it was read from
    (else its ``organizer_calendar_id``).

    >>> ev = event_from_feishu({"event_id": "u1_0", "summary": "周会",
    ...     "start_time": {"timestamp": "1717380000", "timezone": "Asia/Shanghai"},
    ...     "end_time": {"timestamp": "1717383600", "timezone": "Asia/Shanghai"}})
    >>> ev.start.isoformat(), ev.timezone
    ('2024-06-03T10:00:00+08:00', 'Asia/Shanghai')

    Raises:
        ResponseFormatError: ``event_id`` or a time missing or mistyped, an
            unknown status or answer, a rule that is not a rule; ``.path``
            names it.
    """
    wire = decode(data, EventWire, path=path)
    try:
        return _event(wire, data, path, calendar_id, all_day_end)
    except OverflowError:
        raise ResponseFormatError("a time is out of range", path=path) from None


def _event(
    wire: EventWire,
    data: Mapping[str, Any],
    path: str,
    calendar_id: str | None,
    all_day_end: AllDayEnd,
) -> Event:
    if not wire.event_id:
        raise ResponseFormatError("missing", path=f"{path}.event_id")
    start, end, zone_name = _bounds(wire, path, all_day_end)
    all_day = not isinstance(start, datetime)
    uid, original = split_event_id(wire.event_id)

    event_id = wire.event_id
    series_id: str | None = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    if original:
        # An instance or an exception: an occurrence of its series.
        series_id = wire.recurring_event_id or f"{uid}_0"
        moment = _EPOCH + timedelta(seconds=_seconds(original, f"{path}.event_id"))
        if all_day:
            recurrence_id = moment.date()
        else:
            assert isinstance(start, datetime)
            recurrence_id = moment.astimezone(start.tzinfo)
        event_id = occurrence_id(series_id, recurrence_id)
    elif wire.recurrence:
        if len(wire.recurrence) > MAX_RRULE * 2:
            raise ResponseFormatError(
                f"a rule of {len(wire.recurrence)} characters", path=f"{path}.recurrence"
            )
        try:
            rule = normalize_rrule(wire.recurrence)
        except ResponseFormatError as exc:
            raise ResponseFormatError(
                exc.message.removeprefix("$.recurrence: "), path=f"{path}.recurrence"
            ) from None
        recurrence = Recurrence(rrule=rule)

    organizer = None
    if wire.event_organizer is not None and (
        wire.event_organizer.user_id or wire.event_organizer.display_name
    ):
        organizer = _trusted_person(
            id=wire.event_organizer.user_id or "",
            display_name=wire.event_organizer.display_name or "",
        )
    location = wire.location
    try:
        return _trusted_event(
            provider=Provider.FEISHU,
            id=event_id,
            calendar_id=calendar_id or wire.organizer_calendar_id or None,
            summary=wire.summary or "",
            description=wire.description or "",
            location=(location.name or location.address or "") if location else "",
            start=start,
            end=end,
            all_day=all_day,
            timezone=zone_name,
            recurrence=recurrence,
            series_id=series_id,
            recurrence_id=recurrence_id,
            status=_enum(_EVENT_STATUS, wire.status, EventStatus.CONFIRMED, f"{path}.status"),
            organizer=organizer,
            attendees=_attendees(wire.attendees, path),
            reminders=_reminders(wire.reminders, path),
            meeting_url=_meeting_url(wire.vchat),
            created=_created(wire.create_time, path),
            updated=None,
            raw=data,
        )
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path=path) from exc


class _NotFast(Exception):
    """What the fast path does not take (the dict readers then say why, or read it)."""


def events_from_page(
    page: EventPage, *, calendar_id: str | None, path: str = "$.data.items"
) -> list[Event]:
    """
    The events of a listing page :func:`~._wire.decode_event_page` read: the
    same events :func:`event_from_feishu` makes of each item's JSON, each
    ``raw`` a :class:`~wecal.providers._wire.RawJSON` of its bytes (decoded
    only when read).

    Anything out of the ordinary (an unknown status or zone, a time out of
    range, a digit string that is not one) sends the whole page to the dict
    readers, which read it or raise the ResponseFormatError with its JSON
    path — the same events, errors and paths as for a page read without the
    Structs.
    """
    try:
        return [_fast_event(wire, raw, calendar_id) for wire, raw in page]
    except (_NotFast, ResponseFormatError, ValidationError, OverflowError, OSError, ValueError):
        pass
    try:
        body = json.loads(page.content)
    except (ValueError, RecursionError):  # what msgspec skipped and json.loads refuses
        raise ResponseFormatError(
            "body is not JSON the standard reader takes (an integer of more than "
            "4300 digits, or nesting too deep)",
            path="$",
        ) from None
    items, _, _, _ = list_page(read_mapping(body.get("data"), "$.data"), path="$.data")
    return [
        event_from_feishu(item, path=f"{path}[{i}]", calendar_id=calendar_id)
        for i, item in enumerate(items)
    ]


def _fast_seconds(value: str | int | None) -> int:
    if type(value) is str:
        if not (0 < len(value) <= 11 and value.isascii() and value.isdigit()):
            raise _NotFast
        number = int(value)
    elif type(value) is int:
        number = value
    else:
        raise _NotFast
    if not 0 <= number <= MAX_TIMESTAMP:
        raise _NotFast
    return number


@lru_cache(maxsize=256)
def _fast_zone(name: str | None) -> tuple[tzinfo, str]:
    zone = zone_for(name or _DEFAULT_ZONE)
    if zone is None:
        raise _NotFast
    return zone, name or _DEFAULT_ZONE


@lru_cache(maxsize=1024)
def _fast_rule(text: str) -> Recurrence:
    if len(text) > MAX_RRULE * 2:
        raise _NotFast
    return Recurrence(rrule=normalize_rrule(text))


@lru_cache(maxsize=1024)
def _fast_reminders(minutes: tuple[str | int, ...]) -> tuple[timedelta, ...]:
    out = []
    for value in minutes:
        number = as_int(value)
        if number is None or not -MAX_REMINDER_MINUTES <= number <= MAX_REMINDER_MINUTES:
            raise _NotFast
        out.append(timedelta(minutes=-number))
    return tuple(out)


@lru_cache(maxsize=4096)
def _fast_person(user_id: str | None, display_name: str | None) -> Any:
    return _trusted_person(id=user_id or "", display_name=display_name or "")


def _fast_event(wire: EventWire, raw: Any, calendar_id: str | None) -> Event:
    """One :class:`EventWire` → Event, as :func:`event_from_feishu` reads its JSON."""
    event_id = wire.event_id
    start_info, end_info = wire.start_time, wire.end_time
    if not event_id or start_info is None or end_info is None:
        raise _NotFast
    start: datetime | date
    end: datetime | date
    stamp = start_info.timestamp
    if stamp is not None and stamp != "":
        zone, zone_name = _fast_zone(start_info.timezone)
        # Inline, as _fast_seconds: the usual short string of ASCII digits.
        if type(stamp) is str and 0 < len(stamp) <= 11 and stamp.isascii() and stamp.isdigit():
            begin = int(stamp)
        else:
            begin = _fast_seconds(stamp)
        stamp = end_info.timestamp
        if type(stamp) is str and 0 < len(stamp) <= 11 and stamp.isascii() and stamp.isdigit():
            finish = int(stamp)
        else:
            finish = _fast_seconds(stamp)
        if begin > MAX_TIMESTAMP or finish > MAX_TIMESTAMP or finish < begin:
            raise _NotFast
        start = datetime.fromtimestamp(begin, zone)
        end_name = end_info.timezone
        if not end_name or end_name == start_info.timezone:
            end = datetime.fromtimestamp(finish, zone)
        else:
            end = datetime.fromtimestamp(finish, _fast_zone(end_name)[0]).astimezone(zone)
        all_day = False
    else:
        if not start_info.date or not end_info.date:
            raise _NotFast
        start = date.fromisoformat(start_info.date)
        last = date.fromisoformat(end_info.date)
        if last < start:
            raise _NotFast
        end = last if last > start else last + _DAY
        zone_name = "UTC"
        all_day = True
    series_id: str | None = None
    recurrence_id: datetime | date | None = None
    recurrence = None
    if event_id[-2:] != "_0":
        uid, sep, suffix = event_id.rpartition("_")
        if sep and suffix.isascii() and suffix.isdigit() and len(suffix) <= 20 and int(suffix):
            # An instance or an exception: an occurrence of its series.
            series_id = wire.recurring_event_id or f"{uid}_0"
            moment = datetime.fromtimestamp(_fast_seconds(suffix), UTC)
            if all_day:
                recurrence_id = moment.date()
            else:
                assert isinstance(start, datetime)
                recurrence_id = moment.astimezone(start.tzinfo)
            event_id = occurrence_id(series_id, recurrence_id)
    if series_id is None and wire.recurrence:
        recurrence = _fast_rule(wire.recurrence)
    status = EventStatus.CONFIRMED
    if wire.status:
        found = _EVENT_STATUS.get(wire.status)
        if found is None:
            raise _NotFast
        status = found
    organizer = None
    person = wire.event_organizer
    if person is not None and (person.user_id or person.display_name):
        organizer = _fast_person(person.user_id, person.display_name)
    location = wire.location
    created = None
    stamp = wire.create_time
    if stamp and stamp != "0":  # as _created: absent, "", 0 and "0" say nothing
        if type(stamp) is str and 0 < len(stamp) <= 11 and stamp.isascii() and stamp.isdigit():
            seconds = int(stamp)
            if seconds > MAX_TIMESTAMP:
                raise _NotFast
        else:
            seconds = _fast_seconds(stamp)
        created = datetime.fromtimestamp(seconds, UTC)
    reminders = wire.reminders
    vchat = wire.vchat
    return _trusted_event(
        provider=Provider.FEISHU,
        id=event_id,
        calendar_id=calendar_id or wire.organizer_calendar_id or None,
        summary=wire.summary or "",
        description=wire.description or "",
        location=(location.name or location.address or "") if location else "",
        start=start,
        end=end,
        all_day=all_day,
        timezone=zone_name,
        recurrence=recurrence,
        series_id=series_id,
        recurrence_id=recurrence_id,
        status=status,
        organizer=organizer,
        attendees=_attendees(wire.attendees, "$") if wire.attendees else (),
        reminders=_fast_reminders(tuple([r.minutes for r in reminders])) if reminders else (),
        meeting_url=_meeting_url(vchat) if vchat is not None else None,
        created=created,
        updated=None,
        raw=RawJSON(raw),
    )


def with_exceptions(master: Event, originals: Iterable[int]) -> Event:
    """
    ``master`` with the original starts (epoch seconds, as exception ids end)
    of its exceptions as EXDATEs, so that :func:`wecal.expand` of it and its
    exceptions hold each occurrence once, the exception's version (or, for a
    cancelled one, its removal) standing for the original.

    Feishu keeps a series' exceptions as events of their own beside a master
    with no EXDATE. An all-day series' exception starts at 00:00 UTC of its
    day: a date EXDATE; a timed one's is an instant.
    """
    recurrence = master.recurrence
    if recurrence is None:
        return master
    if master.all_day:
        moments: set[datetime | date] = {(_EPOCH + timedelta(seconds=t)).date() for t in originals}
    else:
        moments = {_EPOCH + timedelta(seconds=t) for t in originals}
    moments.difference_update(recurrence.exdates)
    if not moments:
        return master
    exdates = tuple(sorted([*recurrence.exdates, *moments], key=_moment_key))
    return evolve(master, recurrence=evolve(recurrence, exdates=exdates))


def _moment_key(moment: datetime | date) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def list_page(
    body: Mapping[str, Any], *, path: str = "$.data"
) -> tuple[list[Mapping[str, Any]], bool, str | None, str | None]:
    """
    ``(items, has_more, page_token, sync_token)`` of a listing's ``data``.

    Missing or null ``items`` is an empty page; an empty token is None.

    >>> list_page({"items": [], "has_more": False, "sync_token": "s1"})
    ([], False, None, 's1')
    """
    data = decode(body, ListData, path=path)
    return (
        list(data.items or ()),
        bool(data.has_more),
        data.page_token or None,
        data.sync_token or None,
    )


def calendar_from_feishu(data: Mapping[str, Any], *, path: str = "$") -> Calendar:
    """
    One calendar (``calendars`` list, ``get``, ``primary``) → :class:`~wecal.Calendar`.

    ``color`` (ARGB int32) → ``#RRGGBB``; ``readonly`` unless the current
    identity's ``role`` is ``writer`` or ``owner``, and always for a
    third-party calendar (``is_third_party``: Feishu shows it, never writes
    it); ``is_public`` for ``permissions: public``.
    """
    wire = decode(data, CalendarWire, path=path)
    if not wire.calendar_id:
        raise ResponseFormatError("missing", path=f"{path}.calendar_id")
    color = None
    if wire.color is not None and wire.color not in (0, -1):
        color = f"#{wire.color & 0xFFFFFF:06X}"
    try:
        return Calendar(
            provider=Provider.FEISHU,
            id=wire.calendar_id,
            summary=wire.summary or "",
            description=wire.description or "",
            color=color,
            is_public=wire.permissions == "public",
            readonly=bool(wire.is_third_party) or (wire.role or "owner") not in ("writer", "owner"),
            raw=data,
        )
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path=path) from exc


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _check_length(name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise ValidationError(
            f"Event.{name}: {len(text)} characters, over Feishu's limit of {limit}"
        )


def _write_zone(event: Event) -> str:
    """The IANA zone a timed event is written in (Feishu takes no fixed offsets)."""
    if event.timezone and event.timezone[0] not in "+-":
        return event.timezone
    assert isinstance(event.start, datetime)
    tz = event.start.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz.key
    offset = event.start.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    if minutes % 60 == 0 and -12 * 60 <= minutes <= 14 * 60:
        # POSIX-style Etc zones have the sign reversed: Etc/GMT-8 is +08:00.
        return "UTC" if minutes == 0 else f"Etc/GMT{-minutes // 60:+d}"
    if event.recurrence is not None:
        raise UnsupportedError(
            f"Feishu needs an IANA time zone; {event.start.isoformat()} has a fixed offset "
            "that no IANA zone matches, and a series needs its wall clock",
            feature="timezone",
        )
    return "UTC"


def _stamp(moment: datetime, field: str) -> str:
    # Exact floor (no float rounding): Feishu stores whole seconds, as WeCom does.
    seconds = (moment - _EPOCH) // _SECOND
    if not 0 <= seconds <= MAX_TIMESTAMP:
        raise UnsupportedError(
            f"Feishu stores {field} as epoch seconds from 1970 to 2500; got {moment.isoformat()}",
            feature=field,
        )
    return str(seconds)


def _rule(recurrence: Recurrence) -> str:
    if recurrence.exdates or recurrence.rdates:
        part = "EXDATE" if recurrence.exdates else "RDATE"
        raise UnsupportedError(
            f"Feishu cannot create a series with {part}s: its recurrence is one RRULE "
            "(delete the occurrences after creating it)",
            feature=part,
        )
    try:
        rule = normalize_rrule(recurrence.rrule)
    except ResponseFormatError as exc:
        raise ValidationError(f"Event.recurrence.rrule: {exc.message}") from None
    if len(rule) > MAX_RRULE:
        raise ValidationError(
            f"Event.recurrence.rrule: {len(rule)} characters, over Feishu's limit of {MAX_RRULE}"
        )
    return rule


def _reminders_out(reminders: Sequence[timedelta]) -> list[Reminder]:
    out = []
    for i, reminder in enumerate(reminders):
        seconds = -reminder.total_seconds()
        if seconds % 60 or abs(seconds) > MAX_REMINDER_MINUTES * 60:
            raise UnsupportedError(
                f"Event.reminders[{i}]: Feishu reminds whole minutes up to two weeks before "
                f"or after the start, not {reminder}",
                feature="reminders",
            )
        out.append(Reminder(minutes=int(seconds // 60)))
    return out


def event_to_feishu(event: Event, *, all_day_end: AllDayEnd = "inclusive") -> dict[str, Any]:
    """
    A create or patch body for ``event`` (attendees excluded: they have their
    own endpoint). All-day end dates go out as the last day by default.

    Raises:
        ValidationError: over a Feishu limit (summary 1000, description 40960,
            location 512, rule 2000 characters), or a rule that is not one
            (COUNT and UNTIL together).
        UnsupportedError: EXDATE/RDATE, a reminder not in whole minutes or over
            two weeks away, a time outside 1970–2500.
    """
    if not isinstance(event, Event):
        raise ValidationError(f"expected a wecal.Event, got {_describe(event)}")
    _check_length("summary", event.summary, MAX_SUMMARY)
    _check_length("description", event.description, MAX_DESCRIPTION)
    _check_length("location", event.location, MAX_LOCATION)
    if event.all_day:
        assert isinstance(event.start, date)
        assert isinstance(event.end, date)
        end = max(event.end, event.start + _DAY)
        last = end - _DAY if all_day_end == "inclusive" else end
        start_time = TimeInfo(date=event.start.isoformat())
        end_time = TimeInfo(date=last.isoformat())
    else:
        assert isinstance(event.start, datetime)
        assert isinstance(event.end, datetime)
        zone = _write_zone(event)
        start_time = TimeInfo(timestamp=_stamp(event.start, "start"), timezone=zone)
        end_time = TimeInfo(timestamp=_stamp(event.end, "end"), timezone=zone)
    wire = EventWire(
        summary=event.summary,
        description=event.description,
        start_time=start_time,
        end_time=end_time,
        location=Location(name=event.location) if event.location else None,
        reminders=_reminders_out(event.reminders),
        recurrence=_rule(event.recurrence) if event.recurrence is not None else None,
        vchat=(
            Vchat(vc_type="third_party", meeting_url=event.meeting_url)
            if event.meeting_url
            else None
        ),
    )
    return to_json(wire)


def attendees_to_feishu(attendees: Iterable[Attendee]) -> list[dict[str, Any]]:
    """
    ``[{type, <id field>, is_optional}]`` for ``POST …/attendees``.

    The kind of attendee is read from its id the way Feishu shapes them:
    ``oc_…`` a group chat, ``omm_…`` a meeting room, an e-mail address an
    external (third-party) attendee, anything else a user id.
    """
    out: list[dict[str, Any]] = []
    for attendee in attendees:
        ident = attendee.id
        if ident.startswith("oc_"):
            wire = AttendeeWire(type="chat", chat_id=ident)
        elif ident.startswith("omm_"):
            wire = AttendeeWire(type="resource", room_id=ident)
        elif "@" in ident:
            wire = AttendeeWire(type="third_party", third_party_email=ident)
        else:
            wire = AttendeeWire(type="user", user_id=ident)
        if attendee.optional:
            wire.is_optional = True
        out.append(to_json(wire))
    return out
