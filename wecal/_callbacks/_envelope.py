"""
The one value of a callback's envelope the signature needs, read before
anything else of the request: the ciphertext.

The envelope itself is not signed (the signature covers the timestamp, the
nonce and the ciphertext), so reading it as a tree before the signature is
checked would only hand an unauthenticated caller a parser to exhaust. Each
reader here is linear in the body and builds nothing but the ciphertext:

- WeCom posts XML whose ``<Encrypt>`` holds base64, as such or in a CDATA
  section. A regular expression finds it (the standard library's XML parsers
  cannot stop at one element without a Python call per element, which is the
  cost to avoid); its quantifiers are possessive, so it never backtracks.
- DingTalk posts JSON ``{"encrypt": "…"}``; msgspec decodes it into a struct
  of that one field, skipping the others in C without building them.
"""

from __future__ import annotations

import re

import msgspec

from ..errors import ResponseFormatError

__all__ = ["MAX_ENVELOPE", "json_ciphertext", "xml_ciphertext"]

#: The largest envelope read (bytes): a callback is a few KB.
MAX_ENVELOPE = 1 << 20

# Every quantifier is possessive (``*+``): a run once taken is never given
# back, so no input makes the scan backtrack (with plain ``*``, the two
# whitespace runs around a value could split a long run of blanks in every
# way: 60,000 spaces after ``<Encrypt>`` cost seconds).
_ENCRYPT_RE = re.compile(
    rb"<Encrypt>\s*+(?:<!\[CDATA\[\s*+([A-Za-z0-9+/=]*+)\s*+\]\]>|([A-Za-z0-9+/=]*+))"
    rb"\s*+</Encrypt>"
)


class _JsonEnvelope(msgspec.Struct):
    encrypt: str


_JSON_ENVELOPE = msgspec.json.Decoder(_JsonEnvelope)


def _bytes(data: object, where: str) -> bytes | bytearray | memoryview:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ResponseFormatError(f"expected bytes, got {type(data).__name__}", path=where)
    if len(data) > MAX_ENVELOPE:
        raise ResponseFormatError(f"a body of {len(data)} bytes is too large", path=where)
    return data


def xml_ciphertext(data: object, *, where: str = "body") -> str:
    """The base64 text of a WeCom envelope's ``<Encrypt>`` element."""
    found = _ENCRYPT_RE.search(_bytes(data, where))
    if found is None:
        raise ResponseFormatError("no <Encrypt> element holding base64", path=where)
    value = found.group(1) if found.group(1) is not None else found.group(2)
    if not value:
        raise ResponseFormatError("missing", path=f"{where}.Encrypt")
    return bytes(value).decode("ascii")


def json_ciphertext(data: object, *, where: str = "body") -> str:
    """The ``encrypt`` member of a DingTalk envelope (a JSON object)."""
    raw = _bytes(data, where)
    try:
        value = _JSON_ENVELOPE.decode(raw).encrypt
    except msgspec.ValidationError as exc:
        raise ResponseFormatError(
            f"not a callback envelope ({str(exc)[:80]})", path=f"{where}.encrypt"
        ) from None
    except (msgspec.DecodeError, RecursionError, UnicodeError, ValueError):
        raise ResponseFormatError("not JSON", path=where) from None
    if not value:
        raise ResponseFormatError("missing", path=f"{where}.encrypt")
    return value
