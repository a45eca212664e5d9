"""The export checkpoint: per-source cursors and the committed length, replaced atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import attrs

from ..errors import ValidationError

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "SourceState", "fingerprint"]

CHECKPOINT_VERSION = 1


@attrs.define
class SourceState:
    cursor: str | None = None
    done: bool = False
    events: int = 0
    pages: int = 0


@attrs.define
class Checkpoint:
    """What has been committed: per-source cursors and the output's committed length."""

    fingerprint: str
    format: str
    committed: int = 0
    done: bool = False
    sources: dict[str, SourceState] = attrs.Factory(dict)
    writer: dict[str, Any] = attrs.Factory(dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CHECKPOINT_VERSION,
                "fingerprint": self.fingerprint,
                "format": self.format,
                "committed": self.committed,
                "done": self.done,
                "sources": {k: attrs.asdict(v) for k, v in self.sources.items()},
                "writer": self.writer,
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if data.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return cls(
                fingerprint=str(data["fingerprint"]),
                format=str(data["format"]),
                committed=int(data["committed"]),
                done=bool(data["done"]),
                sources={k: SourceState(**v) for k, v in data["sources"].items()},
                writer=dict(data.get("writer", {})),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValidationError(
                f"checkpoint {path} is unreadable ({exc}); delete it to start over",
            ) from exc

    def save(self, path: Path) -> None:
        """Replace the checkpoint atomically: temp file, fsync, rename, fsync dir."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fingerprint(*parts: object) -> str:
    """A short stable hash of what an export is (sources, format, window, ...)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]
