"""
DingTalk v1.0's wire schema: the event list page as msgspec Structs.

``GET /v1.0/calendar/users/{userId}/calendars/{calendarId}/events`` (and
``…/eventsview``) answer ``{"events": [...], "nextToken": "..."}``
(``reference/dingtalk.md``; ``tests/data/real/dingtalk_v1_events_list_0254.json``).
The Structs state the fields
:func:`~wecal.providers.dingtalk._convert.event_from_dingtalk` reads and
their JSON types, and nothing more: unknown fields are ignored, optional
ones default to None. DingTalk writes some booleans as ``"true"`` and
reminder minutes as ``"15"``: those are ``bool | str`` and ``int | str``.
``recurrence`` is kept as its bytes (read only for the events that repeat).

:func:`decode_event_page` is the ``decode`` the client passes to the HTTP
core (see ``wecal/_http.py``): it returns None for anything but a success of
this shape, and that body then takes the dict readers. An event whose values
the typed path does not take (an all-day shape it does not know, an unknown
status) is read by the dict readers on its own, which name what is wrong
(see ``providers/_wire.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._wire import DECODE_ERRORS

__all__ = ["BoundWire", "EventPage", "EventWire", "PersonWire", "decode_event_page"]

_NULL = msgspec.Raw(b"null")


class BoundWire(msgspec.Struct):
    """``start`` / ``end`` / ``originStart``: ``dateTime`` + ``timeZone``, or ``date``."""

    dateTime: str | None = None
    date: str | None = None
    timeZone: str | None = None


class PersonWire(msgspec.Struct):
    """An attendee or the organizer."""

    id: str | None = None
    displayName: str | None = None
    responseStatus: str | None = None
    isOptional: bool | str | None = None


class LocationWire(msgspec.Struct):
    displayName: str | None = None


class MeetingWire(msgspec.Struct):
    url: str | None = None


class ReminderWire(msgspec.Struct):
    #: Minutes before the start; answers write it as a string ("15").
    minutes: int | str | None = None


class EventWire(msgspec.Struct):
    """One element of ``events``."""

    id: str
    start: BoundWire
    end: BoundWire | None = None
    isAllDay: bool | str | None = None
    summary: str | None = None
    description: str | None = None
    location: str | LocationWire | None = None
    onlineMeetingInfo: MeetingWire | None = None
    status: str | None = None
    organizer: PersonWire | None = None
    attendees: list[PersonWire] | None = None
    seriesMasterId: str | None = None
    originStart: BoundWire | None = None
    #: Its bytes: read (``_pattern.py``) only for an event that repeats.
    recurrence: msgspec.Raw = _NULL
    reminders: list[ReminderWire] | None = None
    #: ISO 8601 text (epoch milliseconds tolerated).
    createTime: str | int | None = None
    updateTime: str | int | None = None


class _Envelope(msgspec.Struct):
    events: list[msgspec.Raw] | None = None
    nextToken: str | None = None
    #: A gateway ban (``punish: deny``): the dict path classifies it.
    punish: Any = None
    #: An error's code in a success status ({code, message, requestid} with
    #: HTTP 200): the dict path classifies it.
    code: Any = None


class EventPage(list[tuple[EventWire, msgspec.Raw]]):
    """The events of a page, each with its bytes, and the next page token."""

    __slots__ = ("token",)

    def __init__(self, items: list[tuple[EventWire, msgspec.Raw]], token: str | None) -> None:
        super().__init__(items)
        self.token = token


_envelope = msgspec.json.Decoder(_Envelope)
_event = msgspec.json.Decoder(EventWire)


def decode_event_page(content: bytes) -> EventPage | None:
    """An ``events`` / ``eventsview`` success body read into :class:`EventWire`; None otherwise."""
    try:
        envelope = _envelope.decode(content)
        if envelope.punish is not None or envelope.code is not None:
            return None
        decode = _event.decode
        items = [(decode(raw), raw) for raw in envelope.events or ()]
        return EventPage(items, envelope.nextToken or None)
    except DECODE_ERRORS:
        return None
