"""
WeCom's wire schema: the schedule page as msgspec Structs, decoded from bytes.

``schedule/get`` and ``schedule/get_by_calendar`` answer
``{"errcode": 0, "errmsg": "ok", "schedule_list": [...]}`` (``reference/wecom.md``;
``tests/data/real/wecom_get_by_calendar_97723.json``). The Structs state
the fields :func:`~wecal.providers.wecom._convert.schedule_to_event` reads
and their JSON types, and nothing more: unknown fields are ignored (WeCom
adds fields), optional ones default to None. Numbers the dict readers also
take as digit strings (times, flags, codes) are ``int | str`` here; the
converter reads the string ones as the dict readers do. ``reminders`` is
kept as its bytes: a corp's schedules share a handful of reminder blocks,
read once each (by the dict readers of ``_repeat.py``) and cached by their
bytes.

:func:`decode_schedule_page` is the ``decode`` the client passes to the HTTP
core (see ``wecal/_http.py``): it returns None for anything but a plain
success of this shape, and that body then takes the dict readers, which
name what is wrong and where (see ``providers/_wire.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._wire import DECODE_ERRORS

__all__ = ["AttendeeWire", "SchedulePage", "ScheduleWire", "decode_schedule_page"]

#: An integer, or the same integer as a decimal string.
Digits = int | str


class AttendeeWire(msgspec.Struct):
    """``attendees[]``: ``userid`` and, when answered, ``response_status`` (0–4)."""

    userid: str
    response_status: Digits | None = None


class ScheduleWire(msgspec.Struct):
    """One element of ``schedule_list``."""

    schedule_id: str
    start_time: Digits
    end_time: Digits
    is_whole_day: Digits | None = None
    status: Digits | None = None
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    cal_id: str | None = None
    #: The 2022 model's organizer userid ("" or absent in the current one).
    organizer: str | None = None
    attendees: list[AttendeeWire] | None = None
    #: Reminders, time zone and the repeat fields: their bytes, read by
    #: ``_repeat.py`` once per distinct block (most schedules share one).
    #: Absent reads as ``null``, as the dict readers take a missing block.
    reminders: msgspec.Raw = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    """A success answer: ``errcode`` 0 (or absent), no gateway ``punish``."""

    errcode: int = 0
    punish: Any = None
    #: Each schedule's own bytes: decoded one by one, and kept for ``Event.raw``.
    schedule_list: list[msgspec.Raw] | None = None


class SchedulePage(list[tuple[ScheduleWire, msgspec.Raw]]):
    """The schedules of a page, each with its bytes (see ``RawJSON``), and the body."""

    __slots__ = ("content",)

    def __init__(self, items: list[tuple[ScheduleWire, msgspec.Raw]], content: bytes) -> None:
        super().__init__(items)
        self.content = content


_envelope = msgspec.json.Decoder(_Envelope)
_schedule = msgspec.json.Decoder(ScheduleWire)


def decode_schedule_page(content: bytes) -> SchedulePage | None:
    """
    A ``schedule/get*`` success body read into :class:`ScheduleWire`; None for an
    error answer or anything the Structs do not take.
    """
    try:
        envelope = _envelope.decode(content)
        if envelope.errcode != 0 or envelope.punish is not None:
            return None
        decode = _schedule.decode
        return SchedulePage([(decode(raw), raw) for raw in envelope.schedule_list or ()], content)
    except DECODE_ERRORS:
        return None
