"""
JSON for the emulators: answers encoded, and stored wire objects copied, by
msgspec (C speed).

Serving a page copies each event it shows, attendees and all, so that a
later write to the store cannot change an answer already handed out;
``copy.deepcopy`` of a crowded event took about a millisecond, the bulk of an
export's time against the sandbox. The stored objects are JSON values (they
came as JSON or are built as such), so a JSON round trip is an exact copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["json_bytes", "json_copy"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese as itself, not ``\\u`` escapes), as the providers send."""
    return _encode(data)


def json_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON object (of dicts, lists, strings, numbers, booleans, None)."""
    copied: dict[str, Any] = _decode(_encode(data))
    return copied
