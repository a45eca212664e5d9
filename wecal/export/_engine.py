"""The export run: sources in parallel, one writer, group commit (see the package doc)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
import attrs

from ..errors import ValidationError, WecalError
from ..models import Event
from ._checkpoint import Checkpoint, SourceState, fingerprint
from ._ics import IcsWriter
from ._jsonl import JsonlWriter

__all__ = [
    "EventWriter",
    "ExportResult",
    "PageLike",
    "Progress",
    "Source",
    "SourceResult",
    "export",
    "parse_when",
    "writer_for",
]


class PageLike(Protocol):
    """What the exporter needs of a page: its events and the cursor after it."""

    @property
    def items(self) -> Sequence[Event]: ...

    @property
    def cursor(self) -> str | None: ...


#: Opens the pages of one source, resuming after ``cursor`` (None = from the start).
PageOpener = Callable[["Source", str | None], AsyncIterator[PageLike]]


@attrs.frozen
class Source:
    """One thing to export: a calendar (``kind="calendar"``) or a user's events."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


# --- output formats -------------------------------------------------------------------


class EventWriter(Protocol):
    """Turns events into bytes. Stateless but for what ``state`` returns."""

    format: str

    def header(self) -> bytes: ...

    def footer(self) -> bytes: ...

    def encode(self, events: Iterable[Event]) -> bytes: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


def writer_for(fmt: str) -> JsonlWriter | IcsWriter:
    """``"jsonl"`` or ``"ics"`` → a fresh writer."""
    if fmt == "jsonl":
        return JsonlWriter()
    if fmt == "ics":
        return IcsWriter()
    raise ValidationError(f"unknown export format {fmt!r}; use 'jsonl' or 'ics'")


# --- the run --------------------------------------------------------------------------


@attrs.frozen
class SourceResult:
    source: Source
    events: int
    pages: int
    error: str | None = None


@attrs.frozen
class ExportResult:
    """What one run did. ``already_done`` when the checkpoint said it was finished."""

    sources: tuple[SourceResult, ...]
    events: int
    pages: int
    seconds: float
    already_done: bool = False

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        return tuple(s for s in self.sources if s.error is not None)

    @property
    def ok(self) -> bool:
        return not self.failed


@attrs.define
class Progress:
    """Live counters a progress display reads (updated by the exporter only)."""

    events: int = 0
    pages: int = 0
    per_source: dict[str, int] = attrs.Factory(dict)
    done_sources: int = 0
    failed_sources: int = 0
    total_sources: int = 0


async def export(
    sources: Sequence[Source],
    open_pages: PageOpener,
    *,
    output: Path | IO[bytes],
    fmt: str,
    checkpoint: Path | None = None,
    concurrency: int = 8,
    query: Sequence[object] = (),
    progress: Progress | None = None,
    buffer_pages: int = 64,
) -> ExportResult:
    """
    Export every event of ``sources`` to ``output``.

    Args:
        sources: what to export; each is opened with ``open_pages(source, cursor)``.
        open_pages: returns the source's pages after ``cursor`` (a paginator's
            ``by_page(cursor=...)``).
        output: a path (appended to page by page) or a binary stream (no resume).
        fmt: ``"jsonl"`` or ``"ics"``.
        checkpoint: where progress is recorded; rerunning with it resumes.
        concurrency: how many sources are read at once.
        query: anything else that identifies the export (provider, window,
            expand); part of the checkpoint's fingerprint, so a checkpoint is
            never resumed by a different export.

    A source that fails does not stop the others: it is reported in the
    result (``failed``) and its checkpoint lets a rerun finish it.
    """
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency!r}")
    if checkpoint is not None and not isinstance(output, Path):
        raise ValidationError("a checkpoint needs an output file, not a stream")
    started = time.monotonic()
    writer = writer_for(fmt)
    progress = progress if progress is not None else Progress()
    progress.total_sources = len(sources)
    fp = fingerprint(fmt, sorted(s.key for s in sources), list(query))

    state = Checkpoint.load(checkpoint) if checkpoint is not None else None
    if state is not None and (state.fingerprint != fp or state.format != fmt):
        raise ValidationError(
            f"checkpoint {checkpoint} belongs to a different export (other sources, format "
            "or window); use another --checkpoint path or delete it",
        )
    if state is not None and state.done:
        return ExportResult(
            sources=tuple(
                SourceResult(s, state.sources[s.key].events, state.sources[s.key].pages)
                for s in sources
                if s.key in state.sources
            ),
            events=sum(v.events for v in state.sources.values()),
            pages=sum(v.pages for v in state.sources.values()),
            seconds=time.monotonic() - started,
            already_done=True,
        )
    if state is None:
        state = Checkpoint(fingerprint=fp, format=fmt)
    for s in sources:
        state.sources.setdefault(s.key, SourceState())
    writer.restore(state.writer)

    sink = _Sink(output, writer, state, checkpoint)
    await anyio.to_thread.run_sync(sink.open)
    errors: dict[str, str] = {}
    try:
        send, receive = anyio.create_memory_object_stream[tuple[Source, PageLike | None]](
            buffer_pages
        )
        limiter = anyio.CapacityLimiter(concurrency)

        async def read_source(source: Source) -> None:
            sstate = state.sources[source.key]
            if sstate.done:
                progress.done_sources += 1
                return
            async with limiter, send.clone() as out:
                try:
                    async for page in open_pages(source, sstate.cursor):
                        await out.send((source, page))
                    await out.send((source, None))
                except WecalError as exc:
                    errors[source.key] = f"{type(exc).__name__}: {exc}"
                    progress.failed_sources += 1

        async def write_all() -> None:
            async with receive:
                while True:
                    try:
                        first = await receive.receive()
                    except anyio.EndOfStream:
                        return
                    batch = [first]
                    while True:  # group commit: take everything already waiting
                        try:
                            batch.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    await anyio.to_thread.run_sync(sink.commit, batch)
                    for source, page in batch:
                        if page is None:
                            progress.done_sources += 1
                        else:
                            progress.pages += 1
                            progress.events += len(page.items)
                            key = source.key
                            progress.per_source[key] = progress.per_source.get(key, 0) + len(
                                page.items
                            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(write_all)
            async with send, anyio.create_task_group() as readers:
                for source in sources:
                    readers.start_soon(read_source, source)
        if not errors:
            state.done = True
            await anyio.to_thread.run_sync(sink.finish)
    finally:
        await anyio.to_thread.run_sync(sink.close)

    return ExportResult(
        sources=tuple(
            SourceResult(
                s, state.sources[s.key].events, state.sources[s.key].pages, errors.get(s.key)
            )
            for s in sources
        ),
        events=sum(v.events for v in state.sources.values()),
        pages=sum(v.pages for v in state.sources.values()),
        seconds=time.monotonic() - started,
    )


class _Sink:
    """The output file and its checkpoint; every method runs in a worker thread."""

    def __init__(
        self,
        output: Path | IO[bytes],
        writer: JsonlWriter | IcsWriter,
        state: Checkpoint,
        checkpoint: Path | None,
    ) -> None:
        self.output = output
        self.writer = writer
        self.state = state
        self.checkpoint = checkpoint
        self.fh: IO[bytes] | None = None
        self.owned = isinstance(output, Path)

    def open(self) -> None:
        if isinstance(self.output, Path):
            fresh = self.state.committed == 0
            mode = "r+b" if not fresh and self.output.exists() else "w+b"
            self.fh = open(self.output, mode)  # noqa: SIM115 - closed in close()
            if fresh:
                self.fh.truncate(0)
                self._append(self.writer.header())
                self.state.committed = self.fh.tell()
                self._seal()
            else:
                # Drop whatever a crash left after the committed length.
                self.fh.truncate(self.state.committed)
                self.fh.seek(self.state.committed)
        else:
            self.fh = self.output
            self._append(self.writer.header())

    def _append(self, data: bytes) -> None:
        assert self.fh is not None
        self.fh.write(data)

    def _seal(self) -> None:
        """Write the footer after the committed bytes, make it durable, checkpoint."""
        assert self.fh is not None
        self.fh.seek(self.state.committed)
        self.fh.write(self.writer.footer())
        self.fh.truncate()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.state.writer = self.writer.state()
        if self.checkpoint is not None:
            self.state.save(self.checkpoint)

    def commit(self, batch: list[tuple[Source, PageLike | None]]) -> None:
        assert self.fh is not None
        if self.owned:
            self.fh.seek(self.state.committed)  # overwrite the footer of the last seal
        for source, page in batch:
            sstate = self.state.sources[source.key]
            if page is None:
                sstate.done = True
                continue
            if page.items:
                self._append(self.writer.encode(page.items))
            sstate.cursor = page.cursor
            sstate.events += len(page.items)
            sstate.pages += 1
            if page.cursor is None:
                # The last page: mark the source done in the same commit, or a
                # crash before the end marker would restart it from scratch.
                sstate.done = True
        if self.owned:
            self.state.committed = self.fh.tell()
            self._seal()
        else:
            self.fh.flush()

    def finish(self) -> None:
        if self.owned:
            self._seal()
        else:
            assert self.fh is not None
            self.fh.write(self.writer.footer())
            self.fh.flush()

    def close(self) -> None:
        if self.owned and self.fh is not None:
            self.fh.close()
        self.fh = None


def parse_when(text: str, *, default_tz: tzinfo = UTC) -> datetime:
    """
    ``2024-06-01`` or ``2024-06-01T09:00[+08:00]`` → an aware datetime.

    Dates mean midnight; naive times are taken in ``default_tz``.
    """
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=default_tz)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not an ISO date or datetime") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=default_tz)
