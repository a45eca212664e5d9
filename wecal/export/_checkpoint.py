"""
The export checkpoint: what it belongs to, per-source cursors, the committed length.

A checkpoint is read through one schema (cattrs, strict hooks: ``"false"`` is
not a bool, ``-5`` is not a length) and refused with one line when anything
does not fit. It is *bound* to what it checkpoints — the output path, the
format, the sources and the caller's options (window, expand, provider…) — so
resuming with anything else is refused with a line naming the difference,
before anything is touched on disk. It also holds the SHA-256 of the committed
bytes, so an output truncated, replaced or edited between runs is detected
instead of being resumed (or padded with NULs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from ..errors import ValidationError, _describe

__all__ = ["CHECKPOINT_VERSION", "Binding", "Checkpoint", "SourceState"]

CHECKPOINT_VERSION = 2
#: A checkpoint (writer state included) nests a few levels; far deeper is damage.
MAX_DEPTH = 64
#: No real export commits more (8 PiB); a bigger "committed" is an edited checkpoint.
MAX_COMMITTED = 2**53


def _non_negative(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= MAX_COMMITTED:
        raise ValueError(f"{attribute.name}: expected a count from 0 to 2**53, got {value}")


def _sha256_hex(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"{attribute.name}: expected 64 lower-case hex digits")


@attrs.define
class SourceState:
    """One source's progress: the cursor after its last committed page."""

    cursor: str | None = None
    done: bool = False
    events: int = attrs.field(default=0, validator=_non_negative)
    pages: int = attrs.field(default=0, validator=_non_negative)


@attrs.frozen
class Binding:
    """
    What a checkpoint belongs to. ``output`` is the absolute output path;
    ``options`` is whatever else the caller says identifies the export
    (``{"--start": "2024-01-01T00:00:00+00:00", "--expand": "true"}``).
    """

    output: str
    format: str
    sources: tuple[str, ...]
    options: Mapping[str, str] = attrs.field(factory=dict)

    def difference(self, other: Binding) -> str | None:
        """How ``other`` (this run) differs from this binding (the checkpoint's), or None."""
        if self.output != other.output:
            return f"its output is {self.output}, this run's is {other.output}"
        if self.format != other.format:
            return f"its format is {self.format}, this run's is {other.format}"
        if self.sources != other.sources:
            mine, theirs = set(self.sources), set(other.sources)
            parts = []
            if theirs - mine:
                parts.append(f"this run adds {', '.join(sorted(theirs - mine))}")
            if mine - theirs:
                parts.append(f"this run lacks {', '.join(sorted(mine - theirs))}")
            return "its sources differ: " + "; ".join(parts)
        for key in sorted(set(self.options) | set(other.options)):
            was, now = self.options.get(key), other.options.get(key)
            if was != now:
                return f"it was made with {key} {was or '(none)'}, this run has {now or '(none)'}"
        return None


@attrs.define
class Checkpoint:
    """What has been committed: per-source cursors and the output's committed length."""

    binding: Binding
    committed: int = attrs.field(default=0, validator=_non_negative)
    #: SHA-256 of the output's first ``committed`` bytes.
    digest: str = attrs.field(default=hashlib.sha256().hexdigest(), validator=_sha256_hex)
    done: bool = False
    sources: dict[str, SourceState] = attrs.Factory(dict)
    writer: dict[str, Any] = attrs.Factory(dict)

    def to_json(self) -> str:
        """The checkpoint as the JSON text written to disk (what ``from_json`` reads)."""
        data = _converter.unstructure(self)
        return json.dumps({"version": CHECKPOINT_VERSION, **data}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str, *, where: str = "checkpoint") -> Checkpoint:
        """Parse and validate; :class:`~wecal.ValidationError` (one line) when anything is off."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _invalid(where, f"not JSON ({exc})") from None
        except RecursionError:  # nested deeper than the parser's stack: no checkpoint is
            raise _invalid(where, f"damaged (JSON nested deeper than {MAX_DEPTH} levels)") from None
        if not isinstance(data, dict):
            raise _invalid(where, f"expected an object, got {_describe(data)}")
        if _depth_over(data, MAX_DEPTH):
            # The converter and the writer of the next save recurse: refuse here.
            raise _invalid(where, f"damaged (JSON nested deeper than {MAX_DEPTH} levels)")
        version = data.pop("version", None)
        if version != CHECKPOINT_VERSION:
            raise _invalid(
                where,
                f"version {version!r}, this wecal reads version {CHECKPOINT_VERSION} "
                "(it was written by another wecal, or is not a checkpoint)",
            )
        try:
            loaded: Checkpoint = _converter.structure(data, cls)
        except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
            lines = cattrs.transform_error(exc, path="$", format_exception=_format_leaf)
            # "reason @ $.path" → "$.path: reason"
            found = [
                why if path == "$" else f"{path}: {why}"
                for why, _, path in (line.rpartition(" @ ") for line in lines)
            ]
            raise _invalid(where, "; ".join(found[:3])) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise _invalid(where, str(exc)) from None
        return loaded

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        """The checkpoint at ``path``; None when there is none."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise _invalid(str(path), "is a directory") from None
        except OSError as exc:
            raise _invalid(str(path), f"cannot be read ({exc.strerror})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(str(path), "not UTF-8 text") from None
        return cls.from_json(text, where=str(path))

    def save(self, path: Path) -> None:
        """
        Replace the checkpoint atomically: temp file, fsync, rename, fsync dir.

        When any step fails (disk full, file-size limit) the temp file is
        removed and the previous checkpoint stays as it was.
        """
        tmp = temp_path(path)
        data = self.to_json().encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)


def _depth_over(data: dict[str, Any], limit: int) -> bool:
    """Whether ``data`` nests lists/objects more than ``limit`` deep (no recursion)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def temp_path(path: Path) -> Path:
    """The temp file a checkpoint is written to before its rename."""
    return path.with_name(path.name + ".tmp")


def _invalid(where: str, why: str) -> ValidationError:
    return ValidationError(
        f"checkpoint {where} is unusable: {why}; delete it to start the export over"
    )


def _format_leaf(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _strict(kind: type, label: str) -> Any:
    def structure(value: Any, _: Any) -> Any:
        # bool is an int to Python; a checkpoint's counts are not booleans.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"expected {label}, got {_describe(value)}")
        return value

    return structure


def _structure_options(value: Any, _: Any) -> Mapping[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"expected an object of strings, got {_describe(value)}")
    return dict(value)


def _structure_writer(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {_describe(value)}")
    return dict(value)


def _structure_names(value: Any, _: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_describe(value)}")
    return tuple(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(bool, _strict(bool, "true or false"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook_func(lambda t: t == Mapping[str, str], _structure_options)
    conv.register_unstructure_hook_func(lambda t: t == Mapping[str, str], dict)
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_writer)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_names)
    return conv


_converter = _make_converter()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)
