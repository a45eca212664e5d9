"""
JSONL output: exactly ``wecal.to_dict(event)``, one object per line.

The bytes are those of ``json.dumps(to_dict(e), ensure_ascii=False,
separators=(",", ":"))`` with the line-breaking characters escaped (see
``_UNSAFE``), but made by msgspec's C encoder from a mirror of the JSON form
(``_EventOut``): ``to_dict`` walks the event through cattrs and ``json.dumps``
walks the dict again, ~80 µs an event; the mirror is filled with plain
attribute reads and encoded in one pass. ``tests/test_jsonl_bytes.py`` holds
both to the same bytes on the golden corpora and generated events.

Where msgspec's output would differ from ``json.dumps``, the value is written
for it: datetimes and dates as ``isoformat()`` strings (msgspec writes UTC as
``Z``), durations as numbers of seconds (msgspec writes ISO 8601 durations), a
fractional number of seconds as ``repr(float)`` (``1e-06`` where msgspec
writes ``0.000001``). A lone surrogate cannot be UTF-8 encoded by msgspec: that
event takes the reference path (``to_dict`` + ``json.dumps``), which escapes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from .._convert import to_dict
from ..models import Attendee, Event, EventStatus, Person, Provider, Recurrence, ResponseStatus

__all__ = ["JsonlWriter", "encode_jsonl"]

# Characters JSON allows raw inside strings but that break a JSONL file: line
# separators some splitters honour (U+2028, U+2029, NEL U+0085; Python's
# str.splitlines among them), and surrogates, which UTF-8 cannot encode (a
# lone one in a summary would stop the export). Written as \uXXXX escapes,
# every record is one line for every splitter and reads back unchanged.
_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")
# The same three separators in UTF-8 and their escapes. UTF-8 is
# self-synchronizing: these byte sequences are those characters wherever
# they appear, so replacing them in the encoded line is escaping them.
_ESCAPES = tuple((char.encode(), f"\\u{ord(char):04x}".encode()) for char in "\u0085\u2028\u2029")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


_encoder = msgspec.json.Encoder()


# The JSON form of wecal._convert.to_dict, field for field and in its order.
class _PersonOut(msgspec.Struct):
    id: str
    display_name: str


class _AttendeeOut(msgspec.Struct):
    id: str
    display_name: str
    response: ResponseStatus  # a StrEnum: msgspec writes its value, as to_dict does
    optional: bool


class _RecurrenceOut(msgspec.Struct):
    rrule: str
    exdates: list[str]
    rdates: list[str]


class _EventOut(msgspec.Struct):
    provider: Provider
    id: str
    calendar_id: str | None
    summary: str
    description: str
    location: str
    start: str
    end: str
    all_day: bool
    timezone: str | None
    recurrence: _RecurrenceOut | None
    series_id: str | None
    recurrence_id: str | None
    status: EventStatus
    organizer: _PersonOut | None
    attendees: list[msgspec.Raw]
    reminders: list[Any]
    meeting_url: str | None
    created: str | None
    updated: str | None


def _moment(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(value: timedelta) -> Any:
    seconds = value.total_seconds()
    if seconds.is_integer():
        return int(seconds)
    return msgspec.Raw(repr(seconds).encode())  # json.dumps writes floats by repr


# Converters share one frozen Attendee between the events a person attends
# (one per corp member and answer), so the encoded attendee is kept by the
# object's identity (the entry holds the object: its id cannot be reused).
_ATTENDEES: dict[int, tuple[Attendee, msgspec.Raw]] = {}
_MAX_ATTENDEES = 8192


_get = _ATTENDEES.get


def _attendee(a: Attendee) -> msgspec.Raw:
    raw = msgspec.Raw(_encoder.encode(_AttendeeOut(a.id, a.display_name, a.response, a.optional)))
    if len(_ATTENDEES) >= _MAX_ATTENDEES:
        _ATTENDEES.clear()
    _ATTENDEES[id(a)] = (a, raw)
    return raw


def _recurrence(r: Recurrence | None) -> _RecurrenceOut | None:
    if r is None:
        return None
    return _RecurrenceOut(
        r.rrule, [d.isoformat() for d in r.exdates], [d.isoformat() for d in r.rdates]
    )


def _person(p: Person | None) -> _PersonOut | None:
    return None if p is None else _PersonOut(p.id, p.display_name)


def _mirror(e: Event) -> _EventOut:
    updated = e.updated
    created = e.created
    rid = e.recurrence_id
    return _EventOut(
        e.provider,
        e.id,
        e.calendar_id,
        e.summary,
        e.description,
        e.location,
        e.start.isoformat(),
        e.end.isoformat(),
        e.all_day,
        e.timezone,
        None if e.recurrence is None else _recurrence(e.recurrence),
        e.series_id,
        None if rid is None else rid.isoformat(),
        e.status,
        None if e.organizer is None else _person(e.organizer),
        # The cache lookup inlined: ~10 attendees an event, a call each would show.
        [
            hit[1] if (hit := _get(id(a))) is not None and hit[0] is a else _attendee(a)
            for a in e.attendees
        ],
        [_seconds(r) for r in e.reminders],
        e.meeting_url,
        None if created is None else created.isoformat(),
        None if updated is None else updated.isoformat(),
    )


def _reference_line(event: Event) -> bytes:
    """``to_dict`` + ``json.dumps``, escaped: the definition the fast path matches."""
    text = json.dumps(to_dict(event), ensure_ascii=False, separators=(",", ":")) + "\n"
    return _UNSAFE.sub(_escape, text).encode()


def encode_jsonl(events: Iterable[Event]) -> bytes:
    """The JSONL lines of ``events``: ``to_dict`` of each, one JSON object a line."""
    out = bytearray()
    encode_into = _encoder.encode_into
    for event in events:
        start = len(out)
        try:
            encode_into(_mirror(event), out, -1)
        except UnicodeEncodeError:  # a lone surrogate: the reference path escapes it
            del out[start:]
            out += _reference_line(event)
            continue
        out += b"\n"
    data = bytes(out)
    for char, escape in _ESCAPES:
        if char in data:
            data = data.replace(char, escape)
    return data


class JsonlWriter:
    """
    One ``wecal.to_dict(event)`` JSON object per line (UTF-8, not ASCII-escaped,
    but for U+0085, U+2028, U+2029 and lone surrogates: ``\\uXXXX``).
    """

    format = "jsonl"

    def header(self) -> bytes:
        """Nothing: JSONL has no header."""
        return b""

    def footer(self) -> bytes:
        """Nothing: JSONL has no footer."""
        return b""

    def encode(self, events: Iterable[Event]) -> bytes:
        """One line per event, each ending in ``\\n``."""
        return encode_jsonl(events)

    def state(self) -> dict[str, Any]:
        """Nothing to remember: every line stands alone."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""
        return None
