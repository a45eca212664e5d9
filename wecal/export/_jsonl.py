"""JSONL output: exactly ``wecal.to_dict(event)``, one object per line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .._convert import to_dict
from ..models import Event

__all__ = ["JsonlWriter"]


class JsonlWriter:
    """One ``wecal.to_dict(event)`` JSON object per line (UTF-8, not ASCII-escaped)."""

    format = "jsonl"

    def header(self) -> bytes:
        return b""

    def footer(self) -> bytes:
        return b""

    def encode(self, events: Iterable[Event]) -> bytes:
        return "".join(
            json.dumps(to_dict(e), ensure_ascii=False, separators=(",", ":")) + "\n" for e in events
        ).encode()

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None
