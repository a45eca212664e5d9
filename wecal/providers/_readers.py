"""
Small JSON readers shared by the provider converters.

Strict types and a JSON path in every error (:class:`~wecal.ResponseFormatError`);
paths are built only when an error is raised, so the happy path stays cheap.
One leniency, because real answers need it: where a number is expected, an
integer written as a decimal string is read as that number (:func:`as_int`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ResponseFormatError, _describe

__all__ = [
    "as_int",
    "as_text",
    "read_code",
    "read_flag",
    "read_int",
    "read_list",
    "read_mapping",
    "read_str",
    "read_str_list",
    "read_text",
]


def read_mapping(value: Any, path: str, key: str = "") -> Mapping[str, Any]:
    # ``type(...) is dict`` first: what json.loads gives, and much cheaper than
    # the ABC check (converters call this several times per item).
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ResponseFormatError(f"expected an object, got {_describe(value)}", path=path + key)
    return value


def as_int(value: Any) -> int | None:
    """
    ``value`` as an integer: an int (not a bool), or an integer in a string.

    Providers send numbers as strings (DingTalk's ``"errcode": "0"``,
    ``"minutes": "15"``, ``"hired_date": "1597573616828"``), so every reader of
    a number takes ``"1571274600"`` or ``"-3600"`` as well. ASCII digits only,
    at most 20 of them (``int()`` of thousands of digits is refused). None for
    anything else.

    >>> as_int(" -3600"), as_int(True), as_int("1.5"), as_int("+8"), as_int("²")
    (-3600, None, None, None, None)
    """
    # ``type(...) is int`` rejects bool (a JSON true is not a timestamp) and is fast.
    if type(value) is int:
        return value
    if type(value) is str:
        text = value.strip()
        digits = text.removeprefix("-")  # as a JSON integer is written: no "+"
        if 0 < len(digits) <= 20 and digits.isascii() and digits.isdigit():
            return int(text)
    return None


def as_text(value: Any) -> str:
    """
    ``value`` as text, leniently, for what an error answer says (a message, a
    request id): a string as is, None as ``""``, anything else ``str()``.

    >>> as_text("x"), as_text(None), as_text(90002)
    ('x', '', '90002')
    """
    return value if isinstance(value, str) else ("" if value is None else str(value))


def read_int(value: Any, path: str, key: str = "") -> int:
    if type(value) is int:
        return value
    number = as_int(value)
    if number is None:
        raise ResponseFormatError(f"expected an integer, got {_describe(value)}", path=path + key)
    return number


def read_str(value: Any, path: str, key: str = "") -> str:
    if type(value) is not str:
        raise ResponseFormatError(f"expected a string, got {_describe(value)}", path=path + key)
    return value


def read_text(data: Mapping[str, Any], key: str, path: str) -> str:
    """An optional string field: missing or null reads as ``""``."""
    value = data.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise ResponseFormatError(
            f"expected a string, got {_describe(value)}", path=f"{path}.{key}"
        )
    return value


def read_flag(data: Mapping[str, Any], key: str, path: str) -> bool:
    """A WeCom 0/1 flag (``"0"``/``"1"`` too); missing or null reads as 0."""
    value = data.get(key)
    if value is None or value == 0:
        return False
    if value == 1:
        return True
    number = as_int(value)
    if number == 0 or number == 1:
        return number == 1
    raise ResponseFormatError(f"expected 0 or 1, got {_describe(value)}", path=f"{path}.{key}")


def read_list(data: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
    """An optional array field: missing or null reads as empty."""
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ResponseFormatError(
            f"expected an array, got {_describe(value)}", path=f"{path}.{key}"
        )
    return value


def read_str_list(data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    items = read_list(data, key, path)
    for i, item in enumerate(items):
        if type(item) is not str:
            read_str(item, f"{path}.{key}[{i}]")
    return tuple(items)


def read_code(table: Mapping[int, Any], value: Any, path: str, key: str = "") -> Any:
    number = value if type(value) is int else as_int(value)
    found = None if number is None else table.get(number)
    if found is None:
        read_int(value, path, key)
        known = ", ".join(str(k) for k in table)
        raise ResponseFormatError(f"unknown code {value!r} (known: {known})", path=path + key)
    return found
