"""
WeCom (企业微信) schedules and calendars ↔ wecal models: pure functions, no I/O.

Reading is tolerant of both API generations (the 2022 ``organizer`` /
``readonly`` fields and the 2023 ``admins`` / ``permission`` model, and the
doc's ``adminis`` typo) and strict about types: a missing or mistyped required
field, or a code this module does not know, raises
:class:`~wecal.ResponseFormatError` naming the JSON path
(``$.schedule_list[3].start_time``). Writing raises
:class:`~wecal.UnsupportedError` for anything WeCom cannot store, before any
request is built.

Decisions (WeCom leaves these open; see ``reference/wecom.md`` §5):

- Times: ``start_time`` / ``end_time`` are Unix seconds, shown in the fixed
  offset of ``reminders.timezone`` (hours, default +8), which also becomes
  ``Event.timezone`` (``"+08:00"``).
- Whole-day schedules (``is_whole_day=1``): the start is the local date of
  ``start_time``. The end is read both ways WeCom clients write it: an
  ``end_time`` at local 00:00 after the start day is already the exclusive
  end (that day); any other time of day (``23:59:59``) names the last day,
  so the exclusive end is the day after. Writing sends local midnights: the
  start day's and the exclusive end day's.
- Writing a timezone: a fixed offset is used as is; an IANA zone is converted
  to its offset at the event start (WeCom has no DST, so a repeating event
  keeps that offset all year); with no timezone a timed event uses its start's
  offset and a whole-day one WeCom's default +8. Offsets that are not whole
  hours in -12…+12 raise ``UnsupportedError(feature="timezone")``.
- Writing drops what is server state rather than intent: attendee responses
  and display names, the organizer (the calling app is always the creator),
  ``created`` / ``updated``. It raises for what would change the meeting if
  dropped: optional attendees, a TENTATIVE or CANCELLED status (cancel with
  ``delete_event``), a ``meeting_url``, reminders outside WeCom's fixed set,
  text longer than WeCom's limits, and repeat rules WeCom cannot say.
- Sub-second precision is truncated: WeCom stores whole seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ...errors import ResponseFormatError, UnsupportedError, ValidationError, _describe
from ...models import (
    Attendee,
    Calendar,
    CalendarShare,
    Event,
    EventStatus,
    Person,
    Provider,
    Recurrence,
    ResponseStatus,
    SharePermission,
    _trusted_attendee,
    _trusted_event,
    _trusted_person,
)
from .._readers import (
    as_int,
    read_code,
    read_flag,
    read_int,
    read_list,
    read_mapping,
    read_str,
    read_str_list,
    read_text,
)
from .._wire import RawJSON
from ._repeat import UINT32_MAX, recurrence_from_wecom, recurrence_to_wecom, wecom_timezone
from ._wire import SchedulePage, ScheduleWire

__all__ = [
    "WECOM_EVENT_STATUS",
    "WECOM_RESPONSE_STATUS",
    "WECOM_SHARE_PERMISSION",
    "calendar_from_wecom",
    "calendar_to_wecom",
    "event_to_schedule",
    "schedule_to_event",
    "schedules_from_wire",
    "share_failures",
    "wecom_schedule_page",
    "with_callers_zone",
]

#: ``attendees[].response_status`` → answer (DESIGN.md). 3 is 仅接受一次
#: (accepted this occurrence only): ACCEPTED, the detail stays in ``raw``.
WECOM_RESPONSE_STATUS: Mapping[int, ResponseStatus] = MappingProxyType(
    {
        0: ResponseStatus.NEEDS_ACTION,
        1: ResponseStatus.TENTATIVE,
        2: ResponseStatus.ACCEPTED,
        3: ResponseStatus.ACCEPTED,
        4: ResponseStatus.DECLINED,
    }
)
#: Schedule ``status``: 0 正常, 1 已取消.
WECOM_EVENT_STATUS: Mapping[int, EventStatus] = MappingProxyType(
    {0: EventStatus.CONFIRMED, 1: EventStatus.CANCELLED}
)
#: Calendar ``shares[].permission``: 1 可查看, 3 仅查看闲忙.
WECOM_SHARE_PERMISSION: Mapping[int, SharePermission] = MappingProxyType(
    {1: SharePermission.VIEW, 3: SharePermission.FREE_BUSY}
)
_PERMISSION_CODE = {v: k for k, v in WECOM_SHARE_PERMISSION.items()}
_NEEDS_ACTION = ResponseStatus.NEEDS_ACTION

# Reminder offsets WeCom accepts (``remind_time_diffs``, seconds from start).
_REMINDERS = frozenset({0, -300, -900, -3600, -86400})
_WHOLE_DAY_REMINDERS = _REMINDERS | {32400, -172800, -604800}
_OFFSETS = {seconds: timedelta(seconds=seconds) for seconds in _WHOLE_DAY_REMINDERS}

# Text limits in characters (schedule: doc 93703; calendar: doc 96823).
_SCHEDULE_LIMITS = (("summary", 128), ("description", 1000), ("location", 128))
_CALENDAR_LIMITS = (("description", 512),)
_MAX_ATTENDEES = 1000
_MAX_ID_BYTES = 64
_MAX_ADMINS = 3
_MAX_SHARES = 2000
_MAX_PUBLIC_USERS = 1000
_MAX_PUBLIC_PARTIES = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_MIDNIGHT = time()
_CN = timezone(timedelta(hours=8))


def _moment(seconds: Any, tz: tzinfo, path: str, key: str) -> datetime:
    try:
        return datetime.fromtimestamp(read_int(seconds, path, key), tz)
    except (OverflowError, OSError, ValueError):
        raise ResponseFormatError(
            f"timestamp {seconds!r} is out of range", path=path + key
        ) from None


@lru_cache(maxsize=64)
def _offset_name(tz: tzinfo) -> str:
    """``+08:00`` for a fixed-offset zone (cached: a page shares one or two zones)."""
    offset = tz.utcoffset(None) or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# -- schedules -----------------------------------------------------------------------


def wecom_schedule_page(body: Mapping[str, Any], *, path: str = "$") -> list[Mapping[str, Any]]:
    """
    The ``schedule_list`` of a ``schedule/get`` or ``schedule/get_by_calendar``
    response body (errcode already checked by the HTTP core).

    A missing or null list reads as empty (the end of ``get_by_calendar``
    paging); anything but an array of objects raises ResponseFormatError.

    >>> wecom_schedule_page({"errcode": 0, "schedule_list": []})
    []
    """
    items = read_list(read_mapping(body, path), "schedule_list", path)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ResponseFormatError(
                f"expected an object, got {_describe(item)}", path=f"{path}.schedule_list[{i}]"
            )
    return list(items)


def schedule_to_event(data: Mapping[str, Any], *, path: str = "$") -> Event:
    """
    One element of WeCom's ``schedule_list`` → :class:`~wecal.Event`.

    Reads both ``schedule/get`` and ``schedule/get_by_calendar`` shapes (the
    older ``organizer`` field becomes ``Event.organizer``; ``admins``,
    ``sequence`` and response code 3's "this occurrence only" stay in ``raw``).

    >>> ev = schedule_to_event({"schedule_id": "s1", "start_time": 1571274600,
    ...                         "end_time": 1571278200})
    >>> ev.start.isoformat(), ev.timezone
    ('2019-10-17T09:10:00+08:00', '+08:00')

    Raises:
        ResponseFormatError: a required field (``schedule_id``, ``start_time``,
            ``end_time``) is missing or mistyped, a value is out of range, or a
            code is unknown; ``.path`` names it (``$.schedule_list[3].start_time``).
    """
    data = read_mapping(data, path)
    schedule_id = read_str(data.get("schedule_id"), path, ".schedule_id")
    raw_reminders = data.get("reminders")
    reminders_path = f"{path}.reminders"
    reminders = None if raw_reminders is None else read_mapping(raw_reminders, reminders_path)
    tz = wecom_timezone(reminders, path=reminders_path)
    start_dt = _moment(data.get("start_time"), tz, path, ".start_time")
    end_dt = _moment(data.get("end_time"), tz, path, ".end_time")
    if end_dt < start_dt:
        raise ResponseFormatError(
            f"end_time {end_dt.isoformat()} is before start_time {start_dt.isoformat()}",
            path=f"{path}.end_time",
        )
    all_day = read_flag(data, "is_whole_day", path)
    start: datetime | date = start_dt
    end: datetime | date = end_dt
    if all_day:
        start = start_dt.date()
        last = end_dt.date()
        # 00:00 after the first day is already the exclusive end; 23:59:59 (or
        # any other time) names the last day itself. See the module docstring.
        try:
            end = last if end_dt.time() == _MIDNIGHT and last > start else last + _DAY
        except OverflowError:
            raise ResponseFormatError("end_time is out of range", path=f"{path}.end_time") from None

    status_code = data.get("status")
    status = (
        EventStatus.CONFIRMED
        if status_code is None
        else read_code(WECOM_EVENT_STATUS, status_code, path, ".status")
    )

    attendees = _read_attendees(read_list(data, "attendees", path), path)

    organizer_id = data.get("organizer")
    organizer = (
        None
        if organizer_id is None or organizer_id == ""
        else _person(read_str(organizer_id, path, ".organizer"))
    )
    calendar_id = data.get("cal_id")
    if calendar_id is not None:
        read_str(calendar_id, path, ".cal_id")

    try:
        # Every field was checked above: build without re-validation.
        return _trusted_event(
            provider=Provider.WECOM,
            id=schedule_id,
            calendar_id=calendar_id or None,
            summary=read_text(data, "summary", path),
            description=read_text(data, "description", path),
            location=read_text(data, "location", path),
            start=start,
            end=end,
            all_day=all_day,
            timezone=_offset_name(tz),
            recurrence=recurrence_from_wecom(reminders, start=start, path=reminders_path),
            status=status,
            organizer=organizer,
            attendees=attendees,
            reminders=_read_reminders(reminders, reminders_path),
            raw=data,
        )
    except ValidationError as exc:
        # The readers above check every field (the repeat rule builds its own,
        # validated Recurrence); a last line of defence so a model rule never
        # escapes as a bare ValidationError from a page.
        raise ResponseFormatError(exc.message, path=path) from exc


class _NotFast(Exception):
    """An attendee or schedule the fast path does not take (the slow path says why)."""


def schedules_from_wire(page: SchedulePage) -> list[Event]:
    """
    The events of a page :func:`~wecal.providers.wecom._wire.decode_schedule_page`
    read: the same events :func:`schedule_to_event` makes of the page's JSON,
    each ``raw`` a :class:`~wecal.providers._wire.RawJSON` of its bytes.

    The Structs have checked every type; what they cannot say (a code WeCom
    does not define, a time out of range, a digit string that is not a
    number) sends the whole page to the dict readers, which raise the
    ResponseFormatError with its JSON path (``$.schedule_list[3].status``) —
    the same error, path and order as for a page read without the Structs.
    """
    try:
        return [_schedule_from_wire(item, raw) for item, raw in page]
    except (
        _NotFast, ResponseFormatError, ValidationError, OverflowError, OSError, ValueError,
        RecursionError,
    ):  # fmt: skip
        pass
    try:
        body = json.loads(page.content)
    except (ValueError, RecursionError):  # what msgspec skipped and json.loads refuses
        raise ResponseFormatError(
            "body is not JSON the standard reader takes (an integer of more than "
            "4300 digits, or nesting too deep)",
            path="$",
        ) from None
    items = wecom_schedule_page(body)
    return [schedule_to_event(item, path=f"$.schedule_list[{i}]") for i, item in enumerate(items)]


def _digits(value: int | str) -> int:
    number = value if type(value) is int else as_int(value)
    if number is None:
        raise _NotFast
    return number


def _code(table: Mapping[int, Any], value: int | str) -> Any:
    found = table.get(_digits(value))
    if found is None:
        raise _NotFast
    return found


#: Blocks and ids longer than these are read but never cached, so a hostile
#: page cannot pin its bytes in the caches below (a real ``reminders`` block is
#: a few hundred bytes; a userid is at most 64).
_MAX_CACHED_BLOCK = 1024
_MAX_CACHED_ID = 64


def _reminders_of(block: bytes, all_day: bool) -> tuple[tzinfo, str, Recurrence | None, Any]:
    if len(block) > _MAX_CACHED_BLOCK:
        return _reminders_block.__wrapped__(block, all_day)
    return _reminders_block(block, all_day)


@lru_cache(maxsize=4096)
def _reminders_block(block: bytes, all_day: bool) -> tuple[tzinfo, str, Recurrence | None, Any]:
    """
    What a ``reminders`` block says — offset, repeat rule, reminder offsets —
    read once per distinct block (its bytes) and kind of start: the repeat
    reading uses the start's kind only (``_repeat.py``), never its value.
    Bad input is never cached (it raises; the page then takes the dict readers).
    """
    reminders = json.loads(block)
    if reminders is not None and type(reminders) is not dict:
        raise _NotFast
    tz = wecom_timezone(reminders)
    # Any start of the right kind and offset: the rule does not depend on its value.
    start = _EPOCH.date() if all_day else _EPOCH.astimezone(tz)
    recurrence = recurrence_from_wecom(reminders, start=start)
    return tz, _offset_name(tz), recurrence, _read_reminders(reminders, "$")


_STATUS_BY_CODE = dict(WECOM_EVENT_STATUS)


def _schedule_from_wire(s: ScheduleWire, raw: Any) -> Event:
    """One :class:`ScheduleWire` → Event, as :func:`schedule_to_event` reads its JSON."""
    flag = s.is_whole_day
    if flag is None or flag == 0:
        all_day = False
    elif flag == 1:
        all_day = True
    else:
        number = _digits(flag)
        if number != 0 and number != 1:
            raise _NotFast
        all_day = number == 1
    tz, tz_name, recurrence, reminders = _reminders_of(bytes(s.reminders), all_day)
    start_s, end_s = s.start_time, s.end_time
    start_dt = datetime.fromtimestamp(start_s if type(start_s) is int else _digits(start_s), tz)
    end_dt = datetime.fromtimestamp(end_s if type(end_s) is int else _digits(end_s), tz)
    if end_dt < start_dt:
        raise _NotFast
    start: datetime | date = start_dt
    end: datetime | date = end_dt
    if all_day:
        start = start_dt.date()
        last = end_dt.date()
        end = last if end_dt.time() == _MIDNIGHT and last > start else last + _DAY
    code = s.status
    if code is None:
        status = EventStatus.CONFIRMED
    else:
        status = (_STATUS_BY_CODE.get(code) if type(code) is int else None) or _code(
            WECOM_EVENT_STATUS, code
        )
    attendees: tuple[Attendee, ...] = ()
    if s.attendees:
        attendees = tuple(
            [
                (_attendee if len(a.userid) <= _MAX_CACHED_ID else _attendee.__wrapped__)(
                    a.userid, a.response_status
                )
                for a in s.attendees
            ]
        )
    organizer = _person(s.organizer) if s.organizer else None
    return _trusted_event(
        provider=Provider.WECOM,
        id=s.schedule_id,
        calendar_id=s.cal_id or None,
        summary=s.summary or "",
        description=s.description or "",
        location=s.location or "",
        start=start,
        end=end,
        all_day=all_day,
        timezone=tz_name,
        recurrence=recurrence,
        status=status,
        organizer=organizer,
        attendees=attendees,
        reminders=reminders,
        raw=RawJSON(raw),
    )


# A corp's people come back on every page, and a frozen Attendee can be
# shared: one per (userid, code), bounded. ``typed``: True is not the code 1.
@lru_cache(maxsize=8192, typed=True)
def _attendee(userid: Any, code: Any) -> Attendee:
    if code is None:
        code = 0  # null: 未处理, NEEDS_ACTION
    response = WECOM_RESPONSE_STATUS.get(code) if type(code) is int else None
    if response is None or type(userid) is not str:
        raise _NotFast
    return _trusted_attendee(id=userid, response=response)


def _read_attendees(items: Sequence[Any], path: str) -> tuple[Attendee, ...]:
    """``attendees``: the hot loop (up to 1000 a schedule), one cached call per item."""
    try:
        return tuple(
            [
                (_attendee if len(a["userid"]) <= _MAX_CACHED_ID else _attendee.__wrapped__)(
                    a["userid"], a.get("response_status")
                )
                for a in items
            ]
        )
    except (LookupError, TypeError, AttributeError, _NotFast):
        pass  # something is off: find it and name its path
    out = []
    for i, item in enumerate(items):
        item_path = f"{path}.attendees[{i}]"
        item = read_mapping(item, item_path)
        userid = read_str(item.get("userid"), item_path, ".userid")
        code = item.get("response_status")
        response = (
            _NEEDS_ACTION
            if code is None
            else read_code(WECOM_RESPONSE_STATUS, code, item_path, ".response_status")
        )
        out.append(_trusted_attendee(id=userid, response=response))
    return tuple(out)


def _person(userid: str) -> Person:
    return (_cached_person if len(userid) <= _MAX_CACHED_ID else _trusted_person)(id=userid)


@lru_cache(maxsize=1024)
def _cached_person(id: str) -> Person:
    return _trusted_person(id=id)


def _read_reminders(reminders: Mapping[str, Any] | None, path: str) -> tuple[timedelta, ...]:
    """``is_remind`` + ``remind_time_diffs`` (preferred) or ``remind_before_event_secs``."""
    if reminders is None or not read_flag(reminders, "is_remind", path):
        return ()
    diffs = read_list(reminders, "remind_time_diffs", path)
    if diffs:
        # The offsets WeCom offers, made once (an int only: False would find 0).
        found = [_OFFSETS.get(v) if type(v) is int else None for v in diffs]
        if None not in found:
            return tuple(found)  # type: ignore[arg-type]  # no None in it
    try:
        if diffs:
            return tuple(
                timedelta(
                    seconds=v if type(v) is int else read_int(v, f"{path}.remind_time_diffs[{i}]")
                )
                for i, v in enumerate(diffs)
            )
        before = reminders.get("remind_before_event_secs")
        if before is None:
            return ()
        # "seconds before the start" → an RFC 5545 trigger, negative before the start.
        return (timedelta(seconds=-read_int(before, f"{path}.remind_before_event_secs")),)
    except OverflowError:
        raise ResponseFormatError("reminder offset is out of range", path=path) from None


def with_callers_zone(stored: Event, sent: Event) -> Event:
    """
    ``stored`` (as WeCom answers a write: times in a fixed offset) in the
    caller's IANA zone when that zone says the same offset, so an event
    created with ``timezone="Asia/Shanghai"`` comes back with it, not ``+08:00``.

    The caller's zone is ``sent.timezone``, else the ``ZoneInfo`` of its
    start. It is kept only when its offset equals the stored one at the start
    and at the end, and, for a recurring event, half a year later too (WeCom
    repeats in the fixed offset; a zone with daylight saving time would say
    other times for part of the year). Otherwise ``stored`` is returned as is.
    Same instants either way; a later ``get_event`` reads the fixed offset.
    """
    name = sent.timezone
    if (
        name is None
        and isinstance(sent.start, datetime)
        and isinstance(sent.start.tzinfo, ZoneInfo)
    ):
        name = sent.start.tzinfo.key
    if name is None or name[0] in "+-" or stored.timezone is None or stored.timezone[0] not in "+-":
        return stored
    try:
        zone = ZoneInfo(name)
    except (ValueError, OSError):
        return stored
    fixed = _fixed_offset(stored.timezone)
    start, end = stored.start_datetime, stored.end_datetime
    moments = [start, end] + ([start + timedelta(days=182)] if stored.recurrence else [])
    if any(m.astimezone(zone).utcoffset() != fixed for m in moments):
        return stored

    def moved(moment: datetime | date) -> datetime | date:
        return moment.astimezone(zone) if isinstance(moment, datetime) else moment

    recurrence = stored.recurrence
    if recurrence is not None:
        recurrence = attrs.evolve(
            recurrence,
            exdates=[moved(m) for m in recurrence.exdates],
            rdates=[moved(m) for m in recurrence.rdates],
        )
    return attrs.evolve(
        stored,
        timezone=name,
        start=moved(stored.start),
        end=moved(stored.end),
        recurrence=recurrence,
        recurrence_id=None if stored.recurrence_id is None else moved(stored.recurrence_id),
    )


def _fixed_offset(name: str) -> timedelta:
    """``+08:00`` → 8 hours."""
    sign = -1 if name[0] == "-" else 1
    return sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6]))


def _zone_for_write(event: Event) -> timezone:
    """The fixed offset WeCom will store for ``event`` (see the module docstring)."""
    name = event.timezone
    offset: timedelta | None
    if name is None:
        offset = event.start.utcoffset() if isinstance(event.start, datetime) else None
        if offset is None:
            return _CN
    elif name[0] in "+-":
        sign = -1 if name[0] == "-" else 1
        offset = sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6]))
    else:
        zone = ZoneInfo(name)  # validated by Event already; ZoneInfo caches instances
        if isinstance(event.start, datetime):
            offset = event.start.astimezone(zone).utcoffset()
        else:
            offset = datetime.combine(event.start, _MIDNIGHT, zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has an offset
    if offset % timedelta(hours=1) or abs(offset) > timedelta(hours=12):
        raise UnsupportedError(
            f"WeCom stores whole-hour UTC offsets from -12 to +12; the event's timezone "
            f"{name or 'offset'} is {_offset_name(timezone(offset))} at its start",
            feature="timezone",
        )
    return timezone(offset)


def _seconds(moment: datetime, field: str) -> int:
    # Exact integer floor (no float rounding); WeCom stores whole seconds.
    value = (moment - _EPOCH) // _SECOND
    if not 0 <= value <= UINT32_MAX:
        raise UnsupportedError(
            f"WeCom stores {field} as unsigned 32-bit Unix seconds (1970 to 2106); "
            f"got {moment.isoformat()}",
            feature=field,
        )
    return value


def _check_text(event_or_calendar: Any, limits: tuple[tuple[str, int], ...]) -> None:
    for field, limit in limits:
        value = getattr(event_or_calendar, field)
        if len(value) > limit:
            raise UnsupportedError(
                f"WeCom stores at most {limit} characters in {field}; got {len(value)}",
                feature=field,
            )


def _check_user_id(user_id: str, feature: str) -> None:
    if not user_id or len(user_id.encode()) > _MAX_ID_BYTES:
        raise UnsupportedError(
            f"WeCom userids are 1 to {_MAX_ID_BYTES} bytes; got {_describe(user_id)} in {feature}",
            feature=feature,
        )


def event_to_schedule(event: Event, *, calendar_id: str | None = None) -> dict[str, Any]:
    """
    The ``schedule`` object of ``schedule/add`` and ``schedule/update`` for ``event``.

    It is a full body (WeCom updates overwrite): times, ``is_whole_day``, text,
    attendees (userids only), ``reminders`` with ``timezone`` and the repeat
    fields, ``cal_id`` (``calendar_id`` or ``event.calendar_id``),
    ``schedule_id`` when the event has an id, and ``admins`` when the event was
    read from WeCom (kept from ``raw``, so an update does not clear them).

    For one occurrence of a series (``event.series_id`` set) ``schedule_id`` is
    the series id: the client sends it with ``op_mode=1`` and
    ``op_start_time`` = ``recurrence_id``.

    >>> event_to_schedule(event)["start_time"]
    1717380000

    Raises:
        UnsupportedError: WeCom cannot store part of the event (``.feature``
            names it): see the module docstring for the list.
    """
    if event.status is not EventStatus.CONFIRMED:
        raise UnsupportedError(
            f"WeCom schedules cannot be written with status {event.status.value}; "
            "cancel a schedule with delete_event",
            feature="status",
        )
    if event.meeting_url is not None:
        raise UnsupportedError(
            "WeCom schedules have no meeting link field; put the link in the "
            "description or location",
            feature="meeting_url",
        )
    _check_text(event, _SCHEDULE_LIMITS)
    tz = _zone_for_write(event)
    if isinstance(event.start, datetime):
        assert isinstance(event.end, datetime)  # Event guarantees matching kinds
        start_time = _seconds(event.start, "start_time")
        end_time = _seconds(event.end, "end_time")
        local_start: datetime | date = event.start.astimezone(tz)
        allowed = _REMINDERS
    else:
        assert not isinstance(event.end, datetime)
        start_time = _seconds(datetime.combine(event.start, _MIDNIGHT, tz), "start_time")
        end_time = _seconds(datetime.combine(event.end, _MIDNIGHT, tz), "end_time")
        local_start = event.start
        allowed = _WHOLE_DAY_REMINDERS

    diffs: list[int] = []
    for reminder in event.reminders:
        seconds = reminder.total_seconds()
        if seconds not in allowed or reminder % _SECOND:
            raise UnsupportedError(
                f"WeCom reminders must be one of {sorted(allowed)} seconds from the start"
                f"{' (whole-day schedule)' if event.all_day else ''}; got {seconds:g}",
                feature="reminders",
            )
        if int(seconds) not in diffs:
            diffs.append(int(seconds))

    attendees: list[dict[str, str]] = []
    seen: set[str] = set()
    for attendee in event.attendees:
        if attendee.optional:
            raise UnsupportedError(
                f"WeCom has no optional attendees; {attendee.id!r} is optional",
                feature="attendees",
            )
        _check_user_id(attendee.id, "attendees")
        if attendee.id not in seen:
            seen.add(attendee.id)
            attendees.append({"userid": attendee.id})
    if len(attendees) > _MAX_ATTENDEES:
        raise UnsupportedError(
            f"WeCom schedules have at most {_MAX_ATTENDEES} attendees; got {len(attendees)}",
            feature="attendees",
        )

    reminders: dict[str, Any] = {
        "is_remind": 1 if diffs else 0,
        "remind_time_diffs": diffs,
        "timezone": (tz.utcoffset(None) or timedelta(0)) // timedelta(hours=1),
    }
    reminders.update(recurrence_to_wecom(event.recurrence, start=local_start, tz=tz))

    schedule: dict[str, Any] = {
        "start_time": start_time,
        "end_time": end_time,
        "is_whole_day": 1 if event.all_day else 0,
        "summary": event.summary,
        "description": event.description,
        "location": event.location,
        "attendees": attendees,
        "reminders": reminders,
    }
    schedule_id = event.series_id if event.series_id is not None else event.id
    if schedule_id:
        schedule["schedule_id"] = schedule_id
    cal_id = calendar_id if calendar_id is not None else event.calendar_id
    if cal_id:
        schedule["cal_id"] = cal_id
    admins = event.raw.get("admins") if event.provider is Provider.WECOM else None
    if isinstance(admins, list) and all(isinstance(a, str) for a in admins):
        schedule["admins"] = list(admins)
    return schedule


# -- calendars -----------------------------------------------------------------------


def calendar_from_wecom(data: Mapping[str, Any], *, path: str = "$") -> Calendar:
    """
    One element of ``calendar/get``'s ``calendar_list`` → :class:`~wecal.Calendar`.

    Reads the current model (``admins`` — or the doc example's typo
    ``adminis`` —, ``shares[].permission``, ``is_public``, ``public_range``,
    ``is_corp_calendar``) and the pre-2023 one (``organizer`` → ``admins``,
    ``readonly``, ``shares[].readonly``, which is about editing and so reads as
    the full-view permission).

    Raises:
        ResponseFormatError: ``cal_id`` missing, a field mistyped, or an unknown
            ``permission`` code; ``.path`` names it.
    """
    data = read_mapping(data, path)
    cal_id = read_str(data.get("cal_id"), path, ".cal_id")
    admins_key = "admins" if "admins" in data or "adminis" not in data else "adminis"
    admins = read_str_list(data, admins_key, path)
    organizer = data.get("organizer")
    if organizer is not None and organizer != "":
        organizer = read_str(organizer, path, ".organizer")
        if organizer not in admins:
            admins = (organizer, *admins)

    shares: list[CalendarShare] = []
    for i, item in enumerate(read_list(data, "shares", path)):
        item_path = f"{path}.shares[{i}]"
        item = read_mapping(item, item_path)
        code = item.get("permission")
        shares.append(
            CalendarShare(
                user_id=read_str(item.get("userid"), f"{item_path}.userid"),
                permission=SharePermission.VIEW
                if code is None
                else read_code(WECOM_SHARE_PERMISSION, code, f"{item_path}.permission"),
            )
        )

    public_range = data.get("public_range")
    users: tuple[str, ...] = ()
    parties: tuple[int, ...] = ()
    if public_range is not None:
        range_path = f"{path}.public_range"
        public_range = read_mapping(public_range, range_path)
        users = read_str_list(public_range, "userids", range_path)
        parties = tuple(
            read_int(p, f"{range_path}.partyids[{i}]")
            for i, p in enumerate(read_list(public_range, "partyids", range_path))
        )
    color = data.get("color")
    try:
        return Calendar(
            provider=Provider.WECOM,
            id=cal_id,
            summary=read_text(data, "summary", path),
            description=read_text(data, "description", path),
            color=None if color is None or color == "" else read_str(color, path, ".color"),
            admins=admins,
            shares=tuple(shares),
            is_public=read_flag(data, "is_public", path),
            public_user_ids=users,
            public_department_ids=parties,
            is_corp_calendar=read_flag(data, "is_corp_calendar", path),
            readonly=read_flag(data, "readonly", path),
            raw=data,
        )
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path=path) from exc


def _check_color(color: str) -> None:
    ok = len(color) == 7 and color[0] == "#"
    if ok:
        try:
            int(color[1:], 16)
        except ValueError:
            ok = False
    if not ok:
        raise UnsupportedError(
            f"WeCom calendar colors are '#RRGGBB'; got {_describe(color)}", feature="color"
        )


def calendar_to_wecom(calendar: Calendar, *, for_update: bool = False) -> dict[str, Any]:
    """
    The ``calendar`` object of ``calendar/add`` (or ``calendar/update`` with
    ``for_update=True``) in the current model.

    Updates overwrite, so the body is complete; it carries ``cal_id`` and leaves
    out what WeCom does not let an update change (``is_public``,
    ``is_corp_calendar``, ``set_as_default``). ``readonly`` (the pre-2023 model)
    and ``timezone`` have no field in the current API and are not sent.

    >>> calendar_to_wecom(Calendar(provider="wecom", id="", summary="周会", color="#FF3030"))
    {'summary': '周会', 'color': '#FF3030', 'description': '', 'admins': [], 'shares': [], ...}

    Raises:
        UnsupportedError: the summary is empty or over 128 characters, the
            description over 512, more than 3 admins or (when adding) an
            admin who is not a share member, over 2000 shares, an invalid color, or a public
            range over 1000 users / 100 departments.
        ValidationError: ``for_update`` without ``calendar.id``.
    """
    if not 1 <= len(calendar.summary) <= 128:
        raise UnsupportedError(
            f"WeCom calendar summaries are 1 to 128 characters; got {len(calendar.summary)}",
            feature="summary",
        )
    _check_text(calendar, _CALENDAR_LIMITS)
    if len(calendar.admins) > _MAX_ADMINS:
        raise UnsupportedError(
            f"WeCom calendars have at most {_MAX_ADMINS} admins; got {len(calendar.admins)}",
            feature="admins",
        )
    share_ids = {share.user_id for share in calendar.shares}
    for admin in calendar.admins:
        _check_user_id(admin, "admins")
        # A rule of calendar/add only: update takes a calendar as get returns it.
        if not for_update and admin not in share_ids:
            raise UnsupportedError(
                f"WeCom calendar admins must also be share members; {admin!r} is not",
                feature="admins",
            )
    if len(calendar.shares) > _MAX_SHARES:
        raise UnsupportedError(
            f"WeCom calendars are shared with at most {_MAX_SHARES} members; "
            f"got {len(calendar.shares)}",
            feature="shares",
        )
    for share in calendar.shares:
        _check_user_id(share.user_id, "shares")
    if len(calendar.public_user_ids) > _MAX_PUBLIC_USERS:
        raise UnsupportedError(
            f"a WeCom public range holds at most {_MAX_PUBLIC_USERS} users", feature="public_range"
        )
    if len(calendar.public_department_ids) > _MAX_PUBLIC_PARTIES:
        raise UnsupportedError(
            f"a WeCom public range holds at most {_MAX_PUBLIC_PARTIES} departments",
            feature="public_range",
        )

    body: dict[str, Any] = {"summary": calendar.summary}
    if calendar.color is not None:
        _check_color(calendar.color)
        body["color"] = calendar.color
    elif not calendar.is_corp_calendar:
        # Required by WeCom except on corp calendars, which cannot set one.
        raise UnsupportedError("WeCom calendars need a color ('#RRGGBB')", feature="color")
    body["description"] = calendar.description
    body["admins"] = list(calendar.admins)
    body["shares"] = [
        {"userid": s.user_id, "permission": _PERMISSION_CODE[s.permission]} for s in calendar.shares
    ]
    if calendar.is_public or calendar.public_user_ids or calendar.public_department_ids:
        body["public_range"] = {
            "userids": list(calendar.public_user_ids),
            "partyids": list(calendar.public_department_ids),
        }
    if for_update:
        if not calendar.id:
            raise ValidationError("Calendar.id: an update needs the calendar's id (cal_id)")
        body["cal_id"] = calendar.id
    else:
        body["is_public"] = 1 if calendar.is_public else 0
        body["is_corp_calendar"] = 1 if calendar.is_corp_calendar else 0
        if calendar.set_as_default:
            body["set_as_default"] = 1
    return body


def share_failures(body: Mapping[str, Any], *, path: str = "$") -> list[tuple[str, int, str]]:
    """
    The members a ``calendar/add`` or ``calendar/update`` could not share with.

    WeCom reports them in ``fail_result.shares`` beside ``errcode`` 0, so a
    partly failed share looks like success unless someone reads this.

    >>> share_failures({"errcode": 0, "fail_result": {"shares": [
    ...     {"userid": "u9", "errcode": 60111, "errmsg": "userid not found"}]}})
    [('u9', 60111, 'userid not found')]
    """
    body = read_mapping(body, path)
    fail = body.get("fail_result")
    if fail is None:
        return []
    fail_path = f"{path}.fail_result"
    fail = read_mapping(fail, fail_path)
    out: list[tuple[str, int, str]] = []
    for i, item in enumerate(read_list(fail, "shares", fail_path)):
        item_path = f"{fail_path}.shares[{i}]"
        item = read_mapping(item, item_path)
        out.append(
            (
                read_str(item.get("userid"), f"{item_path}.userid"),
                read_int(item.get("errcode"), f"{item_path}.errcode"),
                read_text(item, "errmsg", item_path),
            )
        )
    return out
