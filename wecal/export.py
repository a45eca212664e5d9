"""
Bulk export: many sources, concurrently, to JSONL or .ics — exactly once across crashes.

Each *source* (a WeCom calendar, a DingTalk user) is one paginator. Sources
run in parallel in an anyio task group bounded by ``concurrency``; their pages
flow through one bounded stream to a single writer, which appends them to the
output and records progress in a checkpoint.

Exactly once, across ``kill -9``:

1. the writer appends a batch of pages (every page that arrived while the
   previous batch was being committed — a *group commit*, so one ``fsync``
   serves many sources), flushes and fsyncs the output;
2. then replaces the checkpoint atomically (write a temp file, fsync, rename,
   fsync the directory). The checkpoint holds, per source, the cursor after
   its last written page, and the output's committed byte length.

A rerun with the same checkpoint truncates the output to the committed length
(dropping whatever a crash left half-written after it) and resumes every source
from its cursor. For .ics the committed length is the position *before* the
closing ``END:VCALENDAR``, which is rewritten after every batch, so the file is
a valid calendar at every commit and resume stays valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

import anyio
import attrs

from ._convert import to_dict
from .errors import InvalidRequestError, WecalError
from .models import Event, EventStatus, ResponseStatus

__all__ = [
    "Checkpoint",
    "ExportResult",
    "IcsWriter",
    "JsonlWriter",
    "PageLike",
    "Source",
    "SourceResult",
    "export",
    "writer_for",
]

CHECKPOINT_VERSION = 1


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


_PARTSTAT = {
    ResponseStatus.NEEDS_ACTION: "NEEDS-ACTION",
    ResponseStatus.ACCEPTED: "ACCEPTED",
    ResponseStatus.TENTATIVE: "TENTATIVE",
    ResponseStatus.DECLINED: "DECLINED",
}
_STATUS = {
    EventStatus.CONFIRMED: "CONFIRMED",
    EventStatus.TENTATIVE: "TENTATIVE",
    EventStatus.CANCELLED: "CANCELLED",
}


class IcsWriter:
    """
    One VCALENDAR; a VEVENT per event, built with the ``icalendar`` library.

    Times in an IANA zone keep their ``TZID`` and get a ``VTIMEZONE`` (emitted
    the first time the zone is used — RFC 5545 lets components come in any
    order); fixed offsets (WeCom) become UTC. The zones already written are part
    of the checkpoint state, so a resumed export does not repeat them.
    """

    format = "ics"

    def __init__(self, *, now: datetime | None = None) -> None:
        self._zones_written: set[str] = set()
        self._dtstamp = now or datetime.now(UTC)

    def header(self) -> bytes:
        return (
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//wecal//wecal export//EN\r\n"
            b"CALSCALE:GREGORIAN\r\n"
        )

    def footer(self) -> bytes:
        return b"END:VCALENDAR\r\n"

    def state(self) -> dict[str, Any]:
        return {"zones": sorted(self._zones_written)}

    def restore(self, state: dict[str, Any]) -> None:
        self._zones_written = set(state.get("zones", ()))

    def encode(self, events: Iterable[Event]) -> bytes:
        chunks: list[bytes] = []
        for event in events:
            component, zones = self._vevent(event)
            for zone in sorted(zones - self._zones_written):
                chunks.append(self._vtimezone(zone))
                self._zones_written.add(zone)
            chunks.append(component)
        return b"".join(chunks)

    @staticmethod
    def _vtimezone(zone: str) -> bytes:
        import icalendar

        vtz = icalendar.Timezone.from_tzid(
            zone, first_date=date(1970, 1, 1), last_date=date(2038, 1, 1)
        )
        return bytes(vtz.to_ical())

    def _vevent(self, event: Event) -> tuple[bytes, set[str]]:
        import icalendar

        zones: set[str] = set()

        def moment(value: datetime | date) -> datetime | date:
            if isinstance(value, datetime):
                tz: tzinfo | None = value.tzinfo
                if not isinstance(tz, ZoneInfo):
                    zone = _fixed_offset_zone(value)
                    if zone is None:
                        return value.astimezone(UTC)
                    value, tz = value.astimezone(zone), zone
                if tz.key != "UTC":
                    zones.add(tz.key)
                    return value
                return value.astimezone(UTC)
            return value

        vevent = icalendar.Event()
        vevent.add("uid", f"{event.provider.value}:{event.id}")
        vevent.add("dtstamp", self._dtstamp)
        vevent.add("dtstart", moment(event.start))
        vevent.add("dtend", moment(event.end))
        if event.summary:
            vevent.add("summary", event.summary)
        if event.description:
            vevent.add("description", event.description)
        if event.location:
            vevent.add("location", event.location)
        vevent.add("status", _STATUS[event.status])
        if event.recurrence is not None:
            vevent.add("rrule", icalendar.vRecur.from_ical(event.recurrence.rrule))
            for exdate in event.recurrence.exdates:
                vevent.add("exdate", moment(exdate))
            for rdate in event.recurrence.rdates:
                vevent.add("rdate", moment(rdate))
        if event.recurrence_id is not None:
            vevent.add("recurrence-id", moment(event.recurrence_id))
        if event.organizer is not None:
            organizer = icalendar.vCalAddress(_cal_address(event, event.organizer.id))
            if event.organizer.display_name:
                organizer.params["CN"] = event.organizer.display_name
            vevent.add("organizer", organizer)
        for attendee in event.attendees:
            address = icalendar.vCalAddress(_cal_address(event, attendee.id))
            address.params["PARTSTAT"] = _PARTSTAT[attendee.response]
            address.params["ROLE"] = "OPT-PARTICIPANT" if attendee.optional else "REQ-PARTICIPANT"
            if attendee.display_name:
                address.params["CN"] = attendee.display_name
            vevent.add("attendee", address)
        if event.meeting_url:
            vevent.add("url", event.meeting_url)
        if event.created is not None:
            vevent.add("created", event.created.astimezone(UTC))
        if event.updated is not None:
            vevent.add("last-modified", event.updated.astimezone(UTC))
        for trigger in event.reminders:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", event.summary or "Reminder")
            alarm.add("trigger", trigger)
            vevent.add_component(alarm)
        return bytes(vevent.to_ical()), zones


def _fixed_offset_zone(value: datetime) -> ZoneInfo | None:
    """
    The ``Etc/GMT±N`` zone of a whole-hour fixed offset (WeCom's ``+08:00``).

    Writing such times in UTC would move a repeat rule's BYDAY across
    midnight (Monday 07:00 +08:00 is Sunday in UTC); a zone with the same
    fixed offset keeps the wall clock. POSIX signs are inverted: +08:00 is
    ``Etc/GMT-8``. Other offsets (+05:45) have no such zone: None.
    """
    offset = value.utcoffset()
    if offset is None or not offset or offset % timedelta(hours=1):
        return None
    hours = int(offset / timedelta(hours=1))
    if not -12 <= hours <= 14:
        return None
    return ZoneInfo(f"Etc/GMT{-hours:+d}")


def _cal_address(event: Event, user_id: str) -> str:
    # Neither provider gives e-mail addresses; a URN keeps the provider's user
    # id intact and is a valid CAL-ADDRESS (a URI).
    return f"urn:wecal:{event.provider.value}:user:{user_id}"


def writer_for(fmt: str) -> JsonlWriter | IcsWriter:
    """``"jsonl"`` or ``"ics"`` → a fresh writer."""
    if fmt == "jsonl":
        return JsonlWriter()
    if fmt == "ics":
        return IcsWriter()
    raise ValueError(f"unknown export format {fmt!r}; use 'jsonl' or 'ics'")


# --- checkpoint -----------------------------------------------------------------------


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
            raise InvalidRequestError(
                f"checkpoint {path} is unreadable ({exc}); delete it to start over",
                provider="wecal",
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
        raise ValueError("concurrency must be at least 1")
    if checkpoint is not None and not isinstance(output, Path):
        raise ValueError("a checkpoint needs an output file, not a stream")
    started = time.monotonic()
    writer = writer_for(fmt)
    progress = progress if progress is not None else Progress()
    progress.total_sources = len(sources)
    fp = fingerprint(fmt, sorted(s.key for s in sources), list(query))

    state = Checkpoint.load(checkpoint) if checkpoint is not None else None
    if state is not None and (state.fingerprint != fp or state.format != fmt):
        raise InvalidRequestError(
            f"checkpoint {checkpoint} belongs to a different export (other sources, format "
            "or window); use another --checkpoint path or delete it",
            provider="wecal",
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
        raise ValueError(f"{text!r} is not an ISO date or datetime") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=default_tz)
