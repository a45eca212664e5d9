"""
The export holds about ``concurrency`` pages however fast its readers are.

Readers that convert faster than the writer writes must wait for it instead
of piling pages up: with 64 buffered pages of 1000 events, a 1M-event export
peaked at 404 MB (benchmarks/RESULTS.md, issue 11). A slow writer and readers
that never wait show the bound without measuring memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

import wecal
from wecal.export import JsonlWriter, Source, export

pytestmark = pytest.mark.anyio

CONCURRENCY = 4
PAGES_PER_SOURCE = 30


@attrs.frozen
class Page:
    items: tuple[wecal.Event, ...]
    cursor: str | None


class Counter:
    """Pages handed to the export vs pages the writer has encoded."""

    def __init__(self) -> None:
        self.produced = 0
        self.written = 0
        self.most_in_flight = 0


class SlowWriter(JsonlWriter):
    """JSONL, but each page takes the writer thread a while (a slow disk)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def encode(self, events: Iterable[wecal.Event]) -> bytes:
        time.sleep(0.002)  # runs in the writer's worker thread, as a slow fsync would
        self.counter.written += 1
        return super().encode(events)


def _event(source: str, n: int) -> wecal.Event:
    start = datetime(2024, 6, 3, tzinfo=UTC) + timedelta(hours=n)
    return wecal.Event(provider=wecal.Provider.WECOM, id=f"{source}-{n}", start=start, end=start)


async def test_fast_readers_wait_for_a_slow_writer(tmp_path: Path) -> None:
    counter = Counter()

    async def pages(source: Source, cursor: str | None) -> AsyncIterator[Page]:
        for n in range(PAGES_PER_SOURCE):
            counter.produced += 1
            in_flight = counter.produced - counter.written
            counter.most_in_flight = max(counter.most_in_flight, in_flight)
            last = n == PAGES_PER_SOURCE - 1
            yield Page((_event(source.id, n),), None if last else str(n + 1))

    result = await export(
        [Source("calendar", f"c{k}") for k in range(CONCURRENCY)],
        pages,
        output=tmp_path / "out.jsonl",
        fmt=SlowWriter(counter),
        concurrency=CONCURRENCY,
    )
    assert result.ok
    assert result.events == CONCURRENCY * PAGES_PER_SOURCE
    assert counter.written == CONCURRENCY * PAGES_PER_SOURCE
    # Each reader holds the page it hands over and the one it is making; the
    # writer holds the batch it took. Nothing else may pile up.
    assert counter.most_in_flight <= 3 * CONCURRENCY
