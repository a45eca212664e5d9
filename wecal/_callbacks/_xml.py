"""
A small, safe reader for the flat XML documents WeCom posts.

The stdlib's expat is used directly, with a guard: any document type
declaration is refused, so no entity can be declared and none expanded
(billion laughs, external entities). Only the five predefined entities and
character references remain. ``defusedxml`` would add a dependency for the
same guard; WeCom's documents need nothing a DTD could give.

The cost is linear in the document: a repeated tag is appended to its list in
place, text arrives in expat's buffered chunks and is joined once per element.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from ..errors import ResponseFormatError

__all__ = ["parse_xml"]

#: Deeper nesting than this is not a WeCom message.
_MAX_DEPTH = 16
#: The largest document read (bytes): a callback is a few KB.
MAX_XML = 1 << 20


class _Refused(Exception):
    """Raised inside expat's handlers to stop the parse."""


class _Repeated(list[Any]):
    """The values of a tag that repeats under one parent (a list built in place)."""

    __slots__ = ()


def parse_xml(data: bytes, *, where: str) -> dict[str, Any]:
    """
    The root element's children as a dict: tag → text, or a nested dict for an
    element with children, or a list when a tag repeats. Malformed or hostile
    input raises :class:`ResponseFormatError` naming ``where``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ResponseFormatError(f"expected bytes, got {type(data).__name__}", path=where)
    if len(data) > MAX_XML:
        raise ResponseFormatError(f"XML document of {len(data)} bytes is too large", path=where)
    parser = expat.ParserCreate()
    # One CharacterDataHandler call per run of text, not per line or entity.
    parser.buffer_text = True
    stack: list[tuple[dict[str, Any], list[str]]] = []
    result: dict[str, Any] = {}

    def refuse_doctype(*_: object) -> None:
        raise _Refused("a document type declaration (DTD) is not allowed")

    def refuse_entity(*_: object) -> None:
        raise _Refused("entity declarations are not allowed")

    def start(_tag: str, _attrs: object) -> None:
        if len(stack) >= _MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {_MAX_DEPTH}")
        stack.append(({}, []))

    def end(tag: str) -> None:
        children, texts = stack.pop()
        if not stack:
            result.update(children)
            return
        value: Any = children if children else "".join(texts).strip()
        parent = stack[-1][0]
        previous = parent.get(tag)
        if previous is None:
            parent[tag] = value
        elif type(previous) is _Repeated:
            previous.append(value)  # in place: the whole parse stays linear
        else:
            parent[tag] = _Repeated((previous, value))

    def text(chunk: str) -> None:
        if stack:
            stack[-1][1].append(chunk)

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(bytes(data), True)
    except _Refused as exc:
        raise ResponseFormatError(f"unsafe XML: {exc}", path=where) from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else "malformed"
        raise ResponseFormatError(
            f"malformed XML ({reason}, line {exc.lineno} column {exc.offset})", path=where
        ) from None
    except LookupError:  # an encoding="…" Python has no codec for
        raise ResponseFormatError("XML in an unknown encoding", path=where) from None
    except (RecursionError, MemoryError, ValueError, UnicodeError):
        raise ResponseFormatError("malformed XML", path=where) from None
    return result
