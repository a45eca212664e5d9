"""
Legacy DingTalk's wire schema: the ``calendar/list`` page as msgspec Structs.

``POST /topapi/calendar/list`` answers ``{"errcode": 0, "result": {"items":
[...], "next_page_token": "..."}}`` (``reference/dingtalk.md`` §1.1). The
Structs state the fields :func:`~wecal.providers.dingtalk_legacy._convert.item_to_event`
reads and their JSON types, and nothing more: unknown fields are ignored,
optional ones default to None. ``recurrence`` comes in several shapes (a
string, lines, a ``{"string": [...]}`` wrapper) and is kept as its bytes,
parsed once per distinct rule; ``created`` / ``updated`` are a string or a
``{date_time | date, time_zone}`` object.

:func:`decode_item_page` is the ``decode`` the client passes to the HTTP core
(see ``wecal/_http.py``): it returns None for anything but a plain success of
this shape (the TOP ``{"calendar_item": [...]}`` wrapper included), and that
body then takes the dict readers, which name what is wrong and where (see
``providers/_wire.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._wire import DECODE_ERRORS

__all__ = ["BoundWire", "ItemPage", "ItemWire", "OrganizerWire", "decode_item_page"]

_NULL = msgspec.Raw(b"null")


class BoundWire(msgspec.Struct):
    """``start`` / ``end`` (and the object form of ``created`` / ``updated``)."""

    date_time: str | None = None
    date: str | None = None
    time_zone: str | None = None


class OrganizerWire(msgspec.Struct):
    userid: str | None = None
    display_name: str | None = None
    #: ``self``: only ``true`` says the listed user organizes it.
    is_self: Any = msgspec.field(default=None, name="self")


class ItemWire(msgspec.Struct):
    """One element of ``result.items``."""

    id: str
    start: BoundWire
    end: BoundWire
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    organizer: OrganizerWire | None = None
    response_status: str | None = None
    status: str | None = None
    #: Epoch milliseconds, as a number or a digit string (or an ISO 8601 instant).
    recurrence_id: int | str | None = None
    unique_id: str | None = None
    #: Its bytes: a rule in one of several shapes, parsed once per distinct rule.
    recurrence: msgspec.Raw = _NULL
    created: str | BoundWire | None = None
    updated: str | BoundWire | None = None


class _Result(msgspec.Struct):
    items: list[msgspec.Raw] | None = None
    next_page_token: str | None = None


class _Envelope(msgspec.Struct):
    """A success answer: ``errcode`` 0 (or absent), no gateway ``punish``, a ``result``."""

    result: _Result
    errcode: int = 0
    punish: Any = None


class ItemPage(list[tuple[ItemWire, msgspec.Raw]]):
    """The items of a page, each with its bytes, the next page token and the body."""

    __slots__ = ("content", "token")

    def __init__(
        self, items: list[tuple[ItemWire, msgspec.Raw]], token: str | None, content: bytes
    ) -> None:
        super().__init__(items)
        self.token = token
        self.content = content


_envelope = msgspec.json.Decoder(_Envelope)
_item = msgspec.json.Decoder(ItemWire)


def decode_item_page(content: bytes) -> ItemPage | None:
    """A ``calendar/list`` success body read into :class:`ItemWire`; None otherwise."""
    try:
        envelope = _envelope.decode(content)
        if envelope.errcode != 0 or envelope.punish is not None:
            return None
        result = envelope.result
        decode = _item.decode
        items = [(decode(raw), raw) for raw in result.items or ()]
        return ItemPage(items, result.next_page_token or None, content)
    except DECODE_ERRORS:
        return None
