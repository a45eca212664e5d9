"""JSONL output: exactly ``wecal.to_dict(event)``, one object per line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .._convert import to_dict
from ..models import Event

__all__ = ["JsonlWriter"]

# Characters JSON allows raw inside strings but that break a JSONL file: line
# separators some splitters honour (U+2028, U+2029, NEL U+0085; Python's
# str.splitlines among them), and surrogates, which UTF-8 cannot encode (a
# lone one in a summary would stop the export). Written as \uXXXX escapes,
# every record is one line for every splitter and reads back unchanged.
_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class JsonlWriter:
    """
    One ``wecal.to_dict(event)`` JSON object per line (UTF-8, not ASCII-escaped,
    but for U+0085, U+2028, U+2029 and lone surrogates: ``\\uXXXX``).
    """

    format = "jsonl"

    def header(self) -> bytes:
        return b""

    def footer(self) -> bytes:
        return b""

    def encode(self, events: Iterable[Event]) -> bytes:
        text = "".join(
            json.dumps(to_dict(e), ensure_ascii=False, separators=(",", ":")) + "\n" for e in events
        )
        return _UNSAFE.sub(_escape, text).encode()

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None
