"""
What the providers' wire schemas (``providers/<name>/_wire.py``) share.

A provider page is decoded by msgspec straight from the body bytes into the
provider's Structs: the schema of what wecal reads is stated once (types,
optional fields, numbers sent as strings), checked in C, and each item
keeps its own bytes (``msgspec.Raw``) for :class:`RawJSON`, the ``raw`` of
the event built from it. Anything the Structs do not take — a mistyped
field, an error answer, JSON msgspec refuses where the standard library
reads it (a lone surrogate escape) — makes the typed reader say None, and
the body takes the dict readers of ``_convert.py``, which name the JSON path
of what is wrong; so errors and their paths are those of the dict readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from ..errors import ResponseFormatError

__all__ = ["DECODE_ERRORS", "RawJSON"]

#: What a typed decode of hostile or unexpected bytes raises: the body then
#: takes the dict readers (RecursionError: nesting past msgspec's limit).
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class RawJSON(Mapping[str, Any]):
    """
    A provider's JSON object as received, decoded from its bytes on first use.

    ``Event.raw`` of events read by a typed decoder: a read-only mapping equal
    to what ``json.loads`` gives for the object (it is ``json.loads`` of the
    object's bytes), made only when someone reads it — most listings never do.
    """

    __slots__ = ("_data", "_raw")

    def __init__(self, raw: msgspec.Raw) -> None:
        self._raw: msgspec.Raw | None = raw
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            assert self._raw is not None
            try:
                loaded = json.loads(bytes(self._raw))
            except (ValueError, RecursionError):
                # msgspec skipped it as valid JSON; json.loads refuses an
                # integer of more than 4300 digits in a field wecal does not read.
                raise ResponseFormatError(
                    "the provider's object holds a value the JSON reader refuses "
                    "(an integer of more than 4300 digits, or nesting too deep)",
                    path="$",
                ) from None
            if not isinstance(loaded, dict):  # pragma: no cover - the Structs took an object
                raise ResponseFormatError("expected an object", path="$")
            data = self._data = loaded
            self._raw = None
        return data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __eq__(self, other: object) -> bool:
        return self._load() == (other._load() if isinstance(other, RawJSON) else other)

    __hash__ = None  # type: ignore[assignment]  # a mapping: unhashable, as a dict

    def __repr__(self) -> str:
        return repr(self._load())

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self._load(),))
