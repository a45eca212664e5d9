"""The export run: sources in parallel, one writer, group commit (see the package doc)."""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, Protocol

import anyio
import attrs

from .._zones import DEFAULT_DATE_ZONE, zone_for
from ..errors import ValidationError
from ..models import Event
from ._checkpoint import Binding, Checkpoint, SourceState, temp_path
from ._ics import IcsWriter
from ._jsonl import JsonlWriter
from ._lock import LockFile, lock_fd

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
    def items(self) -> Sequence[Event]:
        """The page's events."""
        ...

    @property
    def cursor(self) -> str | None:
        """Where the source resumes after this page (None: nothing after it)."""
        ...


#: Opens the pages of one source, resuming after ``cursor`` (None = from the start).
PageOpener = Callable[["Source", str | None], AsyncIterator[PageLike]]


@attrs.frozen
class Source:
    """One thing to export: a calendar (``kind="calendar"``) or a user's events."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        """``kind:id``: how the checkpoint and the result name this source."""
        return f"{self.kind}:{self.id}"


# --- output formats -------------------------------------------------------------------


class EventWriter(Protocol):
    """Turns events into bytes. Stateless but for what ``state`` returns."""

    format: str

    def header(self) -> bytes:
        """What a new output starts with (written once)."""
        ...

    def footer(self) -> bytes:
        """What closes the output; rewritten after every commit, so the file is whole."""
        ...

    def encode(self, events: Iterable[Event]) -> bytes:
        """The bytes of ``events``, appended after what was written before."""
        ...

    def state(self) -> dict[str, Any]:
        """What the writer must remember across a resume (kept in the checkpoint; JSON)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the ``state()`` a checkpoint kept, before encoding more."""
        ...


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
    """One source's outcome. ``error`` is one line; ``exception`` is what was raised."""

    source: Source
    events: int
    pages: int
    error: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ExportResult:
    """What one run did. ``already_done`` when the checkpoint said it was finished."""

    sources: tuple[SourceResult, ...]
    events: int
    pages: int
    seconds: float
    already_done: bool = False
    #: ``max_calls`` ran out: the run stopped at a commit point with sources
    #: left to read (the checkpoint resumes them).
    budget_spent: bool = False
    #: Pages asked of the providers this run (each one listing call).
    calls: int = 0

    @property
    def failed(self) -> tuple[SourceResult, ...]:
        """The sources that failed (a rerun with the checkpoint retries them)."""
        return tuple(s for s in self.sources if s.error is not None)

    @property
    def ok(self) -> bool:
        """True when no source failed."""
        return not self.failed


#: Seconds of a source's latest pages its reading rate is taken over, so the
#: ETA follows a source that speeds up (its provider's other sources done, a
#: rate limit no longer shared) or slows down, instead of its average so far.
RATE_WINDOW = 5.0


@attrs.define
class Progress:
    """
    Live counters a progress display reads (updated by the exporter only).

    ``str(progress)`` is one line for a log or a status bar:
    ``1,200 events in 14 pages; sources: 2 of 9 done, 1 failed``.
    """

    events: int = 0
    pages: int = 0
    per_source: dict[str, int] = attrs.Factory(dict)
    done_sources: int = 0
    failed_sources: int = 0
    total_sources: int = 0
    #: Sources a resumed run found already done (they take no time this run).
    skipped_sources: int = 0
    #: Keys of the sources this run finished or failed.
    finished: set[str] = attrs.Factory(set)
    #: ``time.monotonic()`` when each source began to be read, and when it ended.
    started_at: dict[str, float] = attrs.Factory(dict)
    ended_at: dict[str, float] = attrs.Factory(dict)
    #: Source key → the group whose sources share a capacity (the CLI: their
    #: provider, one app's rate limit): a source done leaves its share to the
    #: group's others. Without one, a source is a group of its own.
    groups: dict[str, str] = attrs.Factory(dict)
    #: Per source, ``(time, events read)`` after each page of the last
    #: :data:`RATE_WINDOW` seconds, and one before them (the baseline).
    _marks: dict[str, collections.deque[tuple[float, int]]] = attrs.field(factory=dict, repr=False)

    def __str__(self) -> str:
        sources = f"{self.done_sources} of {self.total_sources} done"
        if self.failed_sources:
            sources += f", {self.failed_sources} failed"
        if self.skipped_sources:
            sources += f" ({self.skipped_sources} done before this run)"
        pages = "page" if self.pages == 1 else "pages"
        return f"{self.events:,} events in {self.pages:,} {pages}; sources: {sources}"

    def _page_read(self, key: str, count: int, now: float) -> None:
        """Mark that source ``key`` has read ``count`` events by ``now`` (after each page)."""
        marks = self._marks.setdefault(key, collections.deque())
        if len(marks) >= 2 and now - marks[-2][0] < RATE_WINDOW / 50:
            marks[-1] = (now, count)  # marks 0.1 s apart at most: ~50 per source
        else:
            marks.append((now, count))
        while len(marks) > 2 and marks[1][0] <= now - RATE_WINDOW:
            marks.popleft()

    def _rate(self, key: str, count: int, now: float) -> float | None:
        """
        Events per second ``key`` read over the last :data:`RATE_WINDOW`
        seconds (since its start, if more recent); its average so far when
        nothing came in that window; None before its first event.
        """
        started = self.started_at[key]
        base_time, base_count = started, 0
        for at, read in self._marks.get(key, ()):
            if at > now - RATE_WINDOW:
                break
            base_time, base_count = at, read
        if count > base_count and now > base_time:
            return (count - base_count) / (now - base_time)
        if count > 0 and now > started:
            return count / (now - started)
        return None

    def remaining_seconds(self, elapsed: float, *, now: float | None = None) -> float | None:
        """
        The time left at the rates observed so far, or None before it can be told.

        Once a source has finished, its size is the typical one. Each source
        being read then has ``typical - read`` events left (none once it has
        read more), at its recent rate (over the last :data:`RATE_WINDOW`
        seconds); sources of one group (``groups``: those sharing a rate
        limit) are timed together, their events left over their rates'
        sum. So a slow provider's sources are not timed at a fast one's, a
        source that sped up is timed at its new pace, and a rate limit its
        group's finished sources leave goes to the others. The slowest group
        bounds the wait, and sources not started yet add a typical source's
        time per free slot.
        Without start times (``started_at``), work is counted in sources over
        ``elapsed``.
        """
        todo = self.total_sources - self.skipped_sources
        sizes = [self.per_source.get(key, 0) for key in self.finished]
        if not sizes or elapsed <= 0 or todo <= 0:
            return None
        typical = sum(sizes) / len(sizes)
        running = [key for key in self.started_at if key not in self.finished]
        if not self.started_at:
            return self._remaining_by_share(todo, typical, elapsed)
        now = time.monotonic() if now is None else now
        spans = [
            self.ended_at[key] - self.started_at[key]
            for key in self.finished
            if key in self.ended_at and key in self.started_at
        ]
        typical_span = sum(spans) / len(spans) if spans else elapsed / len(sizes)
        # Per group: the events its running sources have left, over the rate
        # they read at together now (a rate limit they share goes to those
        # still reading when one is done).
        left: dict[str, float] = {}
        rates: dict[str, float] = {}
        starting: dict[str, float] = {}
        for key in running:
            group = self.groups.get(key, f"\0{key}")
            count, took = self.per_source.get(key, 0), now - self.started_at[key]
            left[group] = left.get(group, 0.0) + max(0.0, typical - count)
            rate = self._rate(key, count, now)
            if rate is None:
                starting[group] = max(starting.get(group, 0.0), typical_span - took)
            else:
                rates[group] = rates.get(group, 0.0) + rate
        waits = [
            left[group] / rates[group] if group in rates else max(0.0, starting[group])
            for group in left
        ]
        queued = max(0, todo - len(self.finished) - len(running))
        return max(waits, default=0.0) + queued * typical_span / max(1, len(running))

    def _remaining_by_share(self, todo: int, typical: float, elapsed: float) -> float | None:
        """Work in sources (a running one: its share of a typical one) over ``elapsed``."""
        work = float(len(self.finished))
        if typical > 0:
            work += sum(
                min(1.0, count / typical)
                for key, count in self.per_source.items()
                if key not in self.finished
            )
        if work <= 0:
            return None
        return max(0.0, (todo - work) * elapsed / work)


async def export(
    sources: Sequence[Source],
    open_pages: PageOpener,
    *,
    output: Path | IO[bytes],
    fmt: str | EventWriter,
    checkpoint: Path | None = None,
    concurrency: int = 8,
    options: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    buffer_pages: int = 0,
    max_calls: int | None = None,
) -> ExportResult:
    """
    Export every event of ``sources`` to ``output``.

    Args:
        sources: what to export; each is opened with ``open_pages(source, cursor)``.
        open_pages: returns the source's pages after ``cursor`` (a paginator's
            ``by_page(cursor=...)``).
        output: a path (appended to page by page) or a binary stream (no resume).
        fmt: ``"jsonl"``, ``"ics"``, or a writer of your own (an :class:`EventWriter`).
        checkpoint: where progress is recorded; rerunning with it resumes.
        concurrency: how many sources are read at once.
        progress: a :class:`Progress` the exporter keeps up to date (events,
            pages, sources done/failed) for a display to read; optional.
        buffer_pages: pages read but not yet taken by the writer, beyond the one
            each reader hands over. 0 (the default): a reader waits while the
            writer commits, so memory stays at about ``concurrency`` pages
            however long the export (a buffer of 64 let fast readers pile up
            64 pages of 1000 events, ~250 MB; benchmarks/RESULTS.md).
        max_calls: ask the providers for at most this many pages in this run
            (one listing call each), then stop at a commit point: the sources
            left unread stay resumable with the checkpoint, and the result
            says ``budget_spent``. A reader asks the budget before each page,
            so ``open_pages`` must not prefetch (``by_page(prefetch=0)``); a
            page the paginator has to ask again (a retry) is counted once.
        options: anything else that identifies the export (provider, window,
            expand…), as ``{name: value}``. The checkpoint is bound to them, to
            the output path, the format and the sources: resuming with any
            other is refused with a line naming the difference.

    With a checkpoint, the output names it in ``<output>.wecal-checkpoint``:
    while that checkpoint exists, an export onto the same output with another
    checkpoint (or none) is refused rather than overwriting it.

    A source that fails — its provider says no, or one of its events cannot
    be written in ``fmt`` — does not stop the others: it is reported in the
    result (``failed``) and its checkpoint lets a rerun retry it. A run where
    every source fails before writing anything leaves no output behind.

    Raises:
        ValidationError: bad arguments, or a checkpoint that does not fit
            (corrupt, another export's, an output changed since it was
            written, another run holding it), or an output another
            checkpoint still holds; nothing is changed on disk.
        OSError: the output or checkpoint could not be written (disk full, a
            file-size limit); what was committed before stays resumable.
    """
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency!r}")
    if max_calls is not None and (
        isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1
    ):
        raise ValidationError(f"max_calls must be a positive integer or None, got {max_calls!r}")
    if checkpoint is not None and not isinstance(output, Path):
        raise ValidationError("a checkpoint needs an output file, not a stream")
    started = time.monotonic()
    writer = writer_for(fmt) if isinstance(fmt, str) else fmt
    sources = list(dict.fromkeys(sources))
    progress = progress if progress is not None else Progress()
    progress.total_sources = len(sources)
    where = "<stream>"
    if isinstance(output, Path):
        where = await anyio.to_thread.run_sync(_check_paths, output, checkpoint)
    binding = Binding(
        output=where,
        format=writer.format,
        sources=tuple(sorted(s.key for s in sources)),
        options={k: _option_text(v) for k, v in (options or {}).items()},
    )

    sink = _Sink(output, writer, binding, checkpoint)
    try:
        await anyio.to_thread.run_sync(sink.open)
        state = sink.state
        if state.done:
            return _result(sources, state, {}, started, already_done=True)
        for s in sources:
            sstate = state.sources.setdefault(s.key, SourceState())
            if sstate.done:
                progress.done_sources += 1
                progress.skipped_sources += 1
        budget = _Budget(max_calls)
        failures = await _run(
            sources, open_pages, sink, progress, concurrency, buffer_pages, budget
        )
        if not failures and not budget.stopped:
            state.done = True
            try:
                await anyio.to_thread.run_sync(sink.finish)
            except OSError as exc:
                await anyio.to_thread.run_sync(sink.rollback)
                raise sink.io_error(exc) from None
        return _result(sources, state, failures, started, budget=budget)
    finally:
        sink.close()  # synchronous: runs even when the run is being cancelled


def _result(
    sources: Sequence[Source],
    state: Checkpoint,
    failures: Mapping[str, tuple[str, BaseException]],
    started: float,
    *,
    already_done: bool = False,
    budget: _Budget | None = None,
) -> ExportResult:
    results = []
    for s in sources:
        sstate = state.sources.get(s.key, SourceState())
        error, exc = failures.get(s.key, (None, None))
        results.append(SourceResult(s, sstate.events, sstate.pages, error, exc))
    return ExportResult(
        sources=tuple(results),
        events=sum(r.events for r in results),
        pages=sum(r.pages for r in results),
        seconds=time.monotonic() - started,
        already_done=already_done,
        budget_spent=bool(budget and budget.stopped),
        calls=budget.spent if budget is not None else 0,
    )


class _Budget:
    """The pages a run may still ask for (``max_calls``); counts them either way."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0
        #: Sources that stopped because the budget ran out.
        self.stopped: set[str] = set()

    def take(self, source: Source) -> bool:
        """One call for ``source``'s next page, or False (and it stops) when none is left."""
        if self.limit is not None and self.spent >= self.limit:
            self.stopped.add(source.key)
            return False
        self.spent += 1
        return True


async def _run(
    sources: Sequence[Source],
    open_pages: PageOpener,
    sink: _Sink,
    progress: Progress,
    concurrency: int,
    buffer_pages: int,
    budget: _Budget,
) -> dict[str, tuple[str, BaseException]]:
    """Read the sources, write their pages; returns the failed sources' errors."""
    state = sink.state
    failures: dict[str, tuple[str, BaseException]] = {}  # the sources that raised
    unwritable = sink.failures  # the sources with an event the writer refused
    scopes: dict[str, anyio.CancelScope] = {}
    write_error: list[OSError] = []
    send, receive = anyio.create_memory_object_stream[tuple[Source, PageLike | None]](buffer_pages)
    limiter = anyio.CapacityLimiter(concurrency)

    async def read_source(source: Source) -> None:
        if state.sources[source.key].done:
            return
        with scopes.setdefault(source.key, anyio.CancelScope()):
            async with limiter, send.clone() as out:
                progress.started_at[source.key] = time.monotonic()
                pages: Any = None
                try:
                    pages = open_pages(source, state.sources[source.key].cursor)
                    # The budget is asked before each page; a page without a
                    # cursor is the last (no call follows it).
                    ended = False
                    while not ended:
                        if not budget.take(source):
                            return  # not done: the checkpoint resumes it
                        try:
                            page = await pages.__anext__()
                        except StopAsyncIteration:
                            break
                        await out.send((source, page))
                        ended = page.cursor is None
                    await out.send((source, None))
                except Exception as exc:  # one bad source must not stop the rest
                    if source.key not in unwritable:
                        failures[source.key] = (_describe_error(exc), exc)
                        progress.failed_sources += 1
                        progress.finished.add(source.key)
                        progress._marks.pop(source.key, None)  # its rate is no longer read
                        progress.ended_at[source.key] = time.monotonic()
                finally:
                    # A reader cancelled mid-listing (its source failed in the
                    # writer) closes its pages: an async generator left open
                    # would be finalized by the garbage collector.
                    aclose = getattr(pages, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()

    async def write_all() -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while True:  # group commit: take everything already waiting
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                try:
                    newly_failed = await anyio.to_thread.run_sync(sink.commit, batch)
                except OSError as exc:
                    write_error.append(exc)
                    tg.cancel_scope.cancel()
                    return
                for key in newly_failed:
                    progress.failed_sources += 1
                    progress.finished.add(key)
                    progress._marks.pop(key, None)
                    if key in scopes:
                        scopes[key].cancel()
                for source, page in batch:
                    if source.key in unwritable:
                        continue
                    if page is None:
                        progress.done_sources += 1
                        progress.finished.add(source.key)
                        progress._marks.pop(source.key, None)  # its rate is no longer read
                        progress.ended_at[source.key] = time.monotonic()
                    else:
                        progress.pages += 1
                        progress.events += len(page.items)
                        key = source.key
                        progress.per_source[key] = progress.per_source.get(key, 0) + len(page.items)
                        progress._page_read(key, progress.per_source[key], time.monotonic())

    async with anyio.create_task_group() as tg:
        tg.start_soon(write_all)
        async with send, anyio.create_task_group() as readers:
            for source in sources:
                readers.start_soon(read_source, source)
    if write_error:
        await anyio.to_thread.run_sync(sink.rollback)
        raise sink.io_error(write_error[0]) from None
    return {**failures, **unwritable}


def _describe_error(exc: BaseException) -> str:
    text = str(exc) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def _option_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _check_paths(output: Path, checkpoint: Path | None) -> str:
    """Refuse what cannot work before touching anything (one line each); the output's path."""
    if output.is_dir():
        raise ValidationError(f"output {output} is a directory; name a file")
    if not output.absolute().parent.is_dir():
        raise ValidationError(f"output {output}: directory {output.parent} does not exist")
    if checkpoint is None:
        return os.path.abspath(output)
    if checkpoint.is_dir():
        raise ValidationError(f"checkpoint {checkpoint} is a directory; name a file")
    if not checkpoint.absolute().parent.is_dir():
        raise ValidationError(
            f"checkpoint {checkpoint}: directory {checkpoint.parent} does not exist"
        )
    own = {checkpoint, temp_path(checkpoint), _lock_path(checkpoint)}
    if any(_same_file(output, p) for p in own):
        raise ValidationError(
            f"output {output} is the checkpoint's own file; use different paths for the "
            "output and the checkpoint"
        )
    return os.path.abspath(output)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a.absolute()) == os.path.normpath(b.absolute())


def _lock_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".lock")


def owner_note(output: Path) -> Path:
    """``<output>.wecal-checkpoint``: the absolute path of the checkpoint that owns ``output``."""
    return output.with_name(output.name + ".wecal-checkpoint")


def _read_owner(note: Path) -> str | None:
    """The checkpoint path a note names; None when there is no readable note."""
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    value = data.get("checkpoint") if isinstance(data, dict) else None
    return value if isinstance(value, str) and os.path.isabs(value) else None


def _write_owner(note: Path, checkpoint: str) -> None:
    tmp = note.with_name(note.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"checkpoint": checkpoint}) + "\n", encoding="utf-8")
        os.replace(tmp, note)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _holds(checkpoint: Path, output: str) -> bool:
    """Whether ``checkpoint`` exists and is (or may be: unreadable) bound to ``output``."""
    if not checkpoint.is_file():
        return False
    try:
        saved = Checkpoint.load(checkpoint)
    except ValidationError:
        return True  # damaged: its owner has to decide, not this run
    return saved is not None and saved.binding.output == output


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is below it."""
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            return relative
    return path


class _Sink:
    """
    The output file and its checkpoint; ``open``/``commit``/``finish``/``rollback``
    run in a worker thread, ``close`` anywhere.

    A fresh run touches the output only when the first batch arrives, so a
    run whose every source fails leaves an existing file as it was and
    creates none. The output (by ``flock`` on it) and the checkpoint (by
    ``flock`` on ``<checkpoint>.lock``) are locked for the whole run.
    """

    def __init__(
        self,
        output: Path | IO[bytes],
        writer: EventWriter,
        binding: Binding,
        checkpoint: Path | None,
    ) -> None:
        self.output = output
        self.writer = writer
        self.binding = binding
        self.checkpoint = checkpoint
        self.state = Checkpoint(binding=binding)
        self.failures: dict[str, tuple[str, BaseException]] = {}
        self.fh: IO[bytes] | None = None
        self.owned = isinstance(output, Path)
        self.created = False  # this run created the output file
        self.started = False  # the output holds this export's header
        self.digest = hashlib.sha256()
        self.durable = 0  # the committed length the last successful seal recorded
        self.lock = (
            LockFile(_lock_path(checkpoint), f"checkpoint {checkpoint}")
            if checkpoint is not None
            else None
        )
        self.busy: Path | None = None  # the file being written, for error messages
        self.noted: Path | None = None  # the owner note this run wrote beside the output

    # -- opening -----------------------------------------------------------------

    def open(self) -> None:
        if not isinstance(self.output, Path):
            self.fh = self.output
            return
        if self.lock is not None:
            self.lock.acquire()
            assert self.checkpoint is not None
            # A run killed while writing the checkpoint left its temp file: ours now.
            with contextlib.suppress(FileNotFoundError):
                temp_path(self.checkpoint).unlink()
        saved = Checkpoint.load(self.checkpoint) if self.checkpoint is not None else None
        if saved is None:
            self._open_fresh(self.output)
            return
        why = saved.binding.difference(self.binding)
        if why is not None:
            raise ValidationError(
                f"checkpoint {self.checkpoint} belongs to a different export: {why}; "
                "use another checkpoint path, or delete it to start over"
            )
        self._open_resume(self.output, saved)
        self._claim(self.output)

    def _open_fresh(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            self.created = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR)
        self.fh = os.fdopen(fd, "r+b", buffering=0)
        lock_fd(fd, f"output {path}")
        self._claim(path)

    def _claim(self, path: Path) -> None:
        """
        Refuse an output another checkpoint still holds; record ours beside it.

        Runs with the output locked. A checkpoint names its output, but an
        output does not name its checkpoint: without this note a second export
        given another checkpoint (or none) would overwrite what the first one
        committed, finished or resumable, and exit 0.
        """
        note = owner_note(path)
        mine = os.path.abspath(self.checkpoint) if self.checkpoint is not None else None
        holder = _read_owner(note)
        if holder is not None and holder != mine and _holds(Path(holder), self.binding.output):
            shown = _shown(holder)
            raise ValidationError(
                f"output {path} belongs to the export checkpointed in {shown}; resume it "
                f"with --checkpoint {shown}, or delete {shown} to start that export over"
            )
        if mine is None:
            if holder is not None:  # its checkpoint is gone: the note says nothing now
                with contextlib.suppress(OSError):
                    note.unlink()
            return
        if holder != mine:
            _write_owner(note, mine)
            self.noted = note

    def _open_resume(self, path: Path, saved: Checkpoint) -> None:
        where = f"checkpoint {self.checkpoint}"
        restart = f"restore it, or delete {self.checkpoint} to start the export over"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            raise ValidationError(
                f"output {path} is missing but {where} has {saved.committed} bytes of it "
                f"committed; {restart}"
            ) from None
        self.fh = os.fdopen(fd, "r+b", buffering=0)
        lock_fd(fd, f"output {path}")
        size = os.fstat(fd).st_size
        if size < saved.committed:
            raise ValidationError(
                f"output {path} has {size} bytes, fewer than the {saved.committed} {where} "
                f"committed: it was truncated or replaced; {restart}"
            )
        for block in iter(functools.partial(self._read_committed, saved.committed), b""):
            self.digest.update(block)
        try:
            self.writer.restore(saved.writer)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"{where} is unusable: writer state ({exc})") from None
        tail = self.fh.read()
        changed = self.digest.hexdigest() != saved.digest or (
            saved.done and tail != self.writer.footer()
        )
        if changed:
            raise ValidationError(
                f"output {path} was changed since {where} last committed it; {restart}"
            )
        self.state = saved
        self.started = True
        self.durable = saved.committed
        if not saved.done:
            # Drop whatever a crash left after the committed length.
            self.fh.truncate(saved.committed)
            self.fh.seek(saved.committed)

    def _read_committed(self, committed: int) -> bytes:
        assert self.fh is not None
        return self.fh.read(min(1 << 20, committed - self.fh.tell()))

    # -- writing -----------------------------------------------------------------

    def _start(self) -> None:
        """Write the header: the first output of a fresh run."""
        assert self.fh is not None
        header = self.writer.header()
        self.busy = self.output if isinstance(self.output, Path) else None
        if self.owned:
            self.fh.seek(0)
            self.fh.truncate(0)
        self._write(header)
        self.digest.update(header)
        self.state.committed = len(header)
        self.started = True

    def commit(self, batch: list[tuple[Source, PageLike | None]]) -> list[str]:
        """Append a batch of pages and seal it; returns the sources that failed in it."""
        assert self.fh is not None
        if not self.started:
            self._start()
        self.busy = self.output if isinstance(self.output, Path) else None
        if self.owned:
            self.fh.seek(self.state.committed)  # overwrite the footer of the last seal
        newly_failed: list[str] = []
        for source, page in batch:
            if source.key in self.failures:
                continue  # a failed source's later pages are dropped
            sstate = self.state.sources[source.key]
            if page is None:
                sstate.done = True
                continue
            if page.items:
                data = self._encode(source, page.items)
                if data is None:
                    newly_failed.append(source.key)
                    continue
                self._write(data)
                self.digest.update(data)
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
        return newly_failed

    def _encode(self, source: Source, events: Sequence[Event]) -> bytes | None:
        """The page's bytes; None (and the source failed) when an event cannot be written."""
        before = self.writer.state()
        try:
            return self.writer.encode(events)
        except Exception as exc:  # one bad event fails its source, not the run
            error: BaseException = exc
        # Find the event to name (encoding one at a time), then forget what
        # the failed attempts recorded (an .ics writer's zones).
        culprit = None
        for event in events:
            self.writer.restore(before)
            try:
                self.writer.encode([event])
            except Exception as exc:
                culprit, error = event, exc
                break
        self.writer.restore(before)
        what = f"event {culprit.id!r}" if culprit is not None else "a page"
        message = f"{what} cannot be written as {self.writer.format}: {_describe_error(error)}"
        self.failures[source.key] = (message, error)
        return None

    def _write(self, data: bytes) -> None:
        """All of ``data``: the output file is unbuffered (a failed write leaves no
        buffer behind to be flushed later), so a short write is continued."""
        assert self.fh is not None
        if not self.owned:
            self.fh.write(data)
            return
        view = memoryview(data)
        while view:
            view = view[self.fh.write(view) or 0 :]

    def _seal(self) -> None:
        """Write the footer after the committed bytes, make it durable, checkpoint."""
        assert self.fh is not None
        self.fh.seek(self.state.committed)
        self._write(self.writer.footer())
        self.fh.truncate()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.state.writer = self.writer.state()
        self.state.digest = self.digest.hexdigest()
        if self.checkpoint is not None:
            self.busy = self.checkpoint
            self.state.save(self.checkpoint)
        self.durable = self.state.committed

    def finish(self) -> None:
        assert self.fh is not None
        if not self.started:
            self._start()  # no events at all: still a valid (empty) file
        if self.owned:
            self._seal()
        else:
            self.fh.write(self.writer.footer())
            self.fh.flush()

    def rollback(self) -> None:
        """After a failed write: back to the last durable commit, best effort."""
        if not self.owned or self.fh is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if self.durable == 0:
                self.fh.truncate(0)
                self.started = False
            else:
                self.fh.truncate(self.durable)
                self.fh.seek(self.durable)
                self._write(self.writer.footer())

    def io_error(self, exc: OSError) -> OSError:
        """``exc`` with the file it was about (a bare write error names none)."""
        where = self.busy or (self.output if isinstance(self.output, Path) else None)
        return OSError(exc.errno, exc.strerror or str(exc), str(where) if where else None)

    def close(self) -> None:
        if self.owned and self.fh is not None:
            self.fh.close()  # releases the output's lock
            if self.created and not self.started:
                with contextlib.suppress(OSError):
                    assert isinstance(self.output, Path)
                    self.output.unlink()
        self.fh = None
        if self.noted is not None and self.checkpoint is not None:
            if not self.checkpoint.exists():  # nothing was committed: the note names nothing
                with contextlib.suppress(OSError):
                    self.noted.unlink()
            self.noted = None
        if self.lock is not None:
            self.lock.release()


_DEFAULT_ZONE: tzinfo = zone_for(DEFAULT_DATE_ZONE) or UTC


def parse_when(text: str, *, default_tz: tzinfo | None = None) -> datetime:
    """
    ``2024-06-01`` or ``2024-06-01T09:00[+08:00]`` → an aware datetime.

    The clients' rule for dates: a date is 00:00 of that day, and a time
    without an offset a wall-clock time, in ``default_tz`` (default
    ``Asia/Shanghai``, as the clients' ``date_zone``).
    """
    if default_tz is None:
        default_tz = _DEFAULT_ZONE
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=default_tz)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not an ISO date or datetime") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=default_tz)
