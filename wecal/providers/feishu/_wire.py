"""
Feishu / Lark calendar v4 wire schema: msgspec Structs of the JSON we read and send.

The Structs say which fields wecal uses and their JSON types, and nothing
more: unknown fields are ignored (Feishu adds fields often), optional ones
default to None. :func:`decode` turns a decoded JSON value into a Struct and
a type mismatch into :class:`~wecal.ResponseFormatError` with the JSON path
of the offending value (``$.data.items[3].start_time.timestamp``).

Two leniencies, because the answers need them (``reference/feishu.md`` §4, §9):
numbers Feishu documents as strings of digits (``timestamp``, ``create_time``,
``file_size``) are read as ``str | int``, and nullable strings take ``null``.
What a value *means* (a known status, a timestamp in range) is the
converters' business (:mod:`._convert`).

Writes build the same Structs and send :func:`to_json` of them: unset
(None) fields are left out, so a patch carries only what it sets.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from ...errors import ResponseFormatError
from .._wire import DECODE_ERRORS

__all__ = [
    "AttendeeWire",
    "BusyItem",
    "CalendarChange",
    "CalendarWire",
    "CallbackHeader",
    "CallbackV2",
    "EventPage",
    "EventWire",
    "FreeBusyData",
    "ListData",
    "Location",
    "Organizer",
    "PrimaryItem",
    "Reminder",
    "RsvpInfo",
    "TimeInfo",
    "TokenAnswer",
    "UserId",
    "Vchat",
    "decode",
    "decode_event_page",
    "to_json",
]

#: A digit string or a number: Feishu writes epoch seconds as ``"1602504000"``.
Digits = str | int


class _Wire(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    """
    Base of the wire Structs: unknown fields ignored, None fields not sent.

    ``gc=False``: a Struct decoded from JSON holds strings, numbers, lists and
    other Structs, never itself, so it cannot be part of a reference cycle;
    untracked, a page's thousands of them do not set off the cyclic
    collector (msgspec's documented use of the option).
    """


class TimeInfo(_Wire):
    """``time_info``: ``{timestamp, timezone}`` (timed) or ``{date}`` (all-day)."""

    date: str | None = None
    timestamp: Digits | None = None
    timezone: str | None = None


class Location(_Wire):
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class Vchat(_Wire):
    vc_type: str | None = None
    icon_type: str | None = None
    description: str | None = None
    meeting_url: str | None = None


class Reminder(_Wire):
    #: Minutes before the start (negative: after it), −20160…20160.
    minutes: Digits


class Organizer(_Wire):
    user_id: str | None = None
    display_name: str | None = None


class AttendeeWire(_Wire):
    """An attendee (``get`` with ``need_attendee``, the attendee endpoints)."""

    type: str | None = None
    attendee_id: str | None = None
    rsvp_status: str | None = None
    is_optional: bool | None = None
    is_organizer: bool | None = None
    is_external: bool | None = None
    display_name: str | None = None
    user_id: str | None = None
    chat_id: str | None = None
    room_id: str | None = None
    third_party_email: str | None = None
    operate_id: str | None = None


class EventWire(_Wire):
    """One calendar v4 event (``reference/feishu.md`` §4)."""

    event_id: str | None = None
    organizer_calendar_id: str | None = None
    summary: str | None = None
    description: str | None = None
    start_time: TimeInfo | None = None
    end_time: TimeInfo | None = None
    vchat: Vchat | None = None
    visibility: str | None = None
    attendee_ability: str | None = None
    free_busy_status: str | None = None
    location: Location | None = None
    color: int | None = None
    reminders: list[Reminder] | None = None
    recurrence: str | None = None
    status: str | None = None
    is_exception: bool | None = None
    recurring_event_id: str | None = None
    create_time: Digits | None = None
    event_organizer: Organizer | None = None
    attendees: list[AttendeeWire] | None = None
    has_more_attendee: bool | None = None
    self_rsvp_status: str | None = None
    app_link: str | None = None


class ListData(_Wire):
    """``data`` of an event listing: ``events``, ``instances`` or ``instance_view``."""

    items: list[dict[str, Any]] | None = None
    has_more: bool | None = None
    page_token: str | None = None
    sync_token: str | None = None


class _PageData(msgspec.Struct, gc=False):
    #: Each event's own bytes: decoded one by one, and kept for ``Event.raw``.
    items: list[msgspec.Raw] | None = None
    has_more: bool | None = None
    page_token: str | None = None
    sync_token: str | None = None


class _PageEnvelope(msgspec.Struct, gc=False):
    """A success answer: ``code`` 0 and a ``data`` object."""

    code: int = -1
    data: _PageData | None = None


class EventPage(list[tuple[EventWire, msgspec.Raw]]):
    """
    The events of a listing page (``events``, ``instance_view``) read into
    :class:`EventWire`, each with its bytes (see ``RawJSON``); the paging
    fields; and the body, for the dict readers when the Structs are not enough.
    """

    __slots__ = ("content", "has_more", "page_token", "sync_token")

    def __init__(
        self, items: list[tuple[EventWire, msgspec.Raw]], data: _PageData, content: bytes
    ) -> None:
        super().__init__(items)
        self.content = content
        self.has_more = bool(data.has_more)
        self.page_token = data.page_token or None
        self.sync_token = data.sync_token or None


_page_envelope = msgspec.json.Decoder(_PageEnvelope)
_event_decoder = msgspec.json.Decoder(EventWire)


def decode_event_page(content: bytes) -> EventPage | None:
    """
    A listing's success body read into :class:`EventWire` Structs; None for an
    error answer or anything the Structs do not take (the HTTP core then
    reads it as JSON and the dict readers say what is wrong).
    """
    try:
        envelope = _page_envelope.decode(content)
        data = envelope.data
        if envelope.code != 0 or data is None:
            return None
        decode_event = _event_decoder.decode
        return EventPage([(decode_event(raw), raw) for raw in data.items or ()], data, content)
    except DECODE_ERRORS:
        return None


class CalendarWire(_Wire):
    """One calendar (``reference/feishu.md`` §2)."""

    calendar_id: str
    summary: str | None = None
    description: str | None = None
    permissions: str | None = None
    #: ARGB as a signed int32.
    color: int | None = None
    type: str | None = None
    summary_alias: str | None = None
    is_deleted: bool | None = None
    is_third_party: bool | None = None
    role: str | None = None


class PrimaryItem(_Wire):
    """An item of ``calendars/primary`` and ``calendars/primarys``."""

    calendar: CalendarWire
    user_id: str | None = None


class BusyItem(_Wire):
    """A busy stretch of ``freebusy/list``: RFC 3339 times with an offset."""

    start_time: str
    end_time: str
    rsvp_status: str | None = None


class FreeBusyData(_Wire):
    freebusy_list: list[BusyItem] | None = None


S = TypeVar("S")

_AT_RE = re.compile(r"^(?P<why>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", re.DOTALL)


def decode(value: Any, kind: type[S], *, path: str = "$") -> S:
    """
    ``value`` (decoded JSON) read as ``kind``; a mismatch is a
    :class:`~wecal.ResponseFormatError` whose path starts at ``path``.

    >>> decode({"date": "2024-06-03"}, TimeInfo).date
    '2024-06-03'
    """
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT_RE.match(str(exc))
        why, at = (match["why"], match["at"] or "") if match else (str(exc), "")
        raise ResponseFormatError(why.replace("`", ""), path=path + at) from None


def to_json(struct: msgspec.Struct) -> dict[str, Any]:
    """A Struct as plain JSON types, unset fields left out (a request body)."""
    body = msgspec.to_builtins(struct)
    assert isinstance(body, dict)
    return body


class TokenAnswer(_Wire):
    """``auth/v3/tenant_access_token/internal``: flat, not wrapped in ``data``."""

    code: int
    msg: str | None = None
    tenant_access_token: str | None = None
    #: The token's *remaining* lifetime in seconds (not a constant 7200).
    expire: int | None = None


class UserId(_Wire):
    union_id: str | None = None
    user_id: str | None = None
    open_id: str | None = None


class RsvpInfo(_Wire):
    from_user_id: UserId | None = None
    rsvp_status: str | None = None


class CallbackHeader(_Wire):
    """``header`` of a v2 callback; ``create_time`` is milliseconds as a string."""

    event_id: str
    event_type: str
    create_time: Digits | None = None
    token: str | None = None
    app_id: str | None = None
    tenant_key: str | None = None


class CalendarChange(_Wire):
    """``event`` of ``calendar.calendar.event.changed_v4`` / ``calendar.calendar.changed_v4``."""

    calendar_id: str | None = None
    user_id_list: list[UserId] | None = None
    #: Gray-release fields: may be absent.
    calendar_event_id: str | None = None
    change_type: str | None = None
    rsvp_infos: list[RsvpInfo] | None = None


class CallbackV2(_Wire):
    header: CallbackHeader
    schema: str | None = None
    event: CalendarChange | None = None
