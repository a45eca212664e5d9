"""
The provider contract: one set of cases every provider of the registry passes.

Parametrized over ``wecal.providers._registry.PROVIDERS`` — a provider added
to the registry gets every case without an edit here. What is provider-shaped
(credentials, how a source is made, how an event is stored in the emulator,
how writes are called) comes from the provider's folder through the entry's
``contract`` (:class:`wecal.providers._emulation._contract.ProviderContract`).
Each case drives the real client through ``httpx.ASGITransport`` against a
fresh sandbox, on asyncio and trio.

Expected values are computed here from what was stored — ids the emulator
gave, starts chosen by the test, occurrence ids by DESIGN.md's formula —
never from the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import httpx
import pytest

import wecal
from tests._mock import ISSUED_TOKENS, note_sandbox_tokens
from tests.sandbox_fixtures import NOW
from wecal.providers._emulation._contract import ProviderContract
from wecal.providers._registry import PROVIDERS, ProviderEntry
from wecal.sandbox import FakeClock, Sandbox

pytestmark = pytest.mark.anyio

PLUS8 = timezone(timedelta(hours=8))
#: A window a week long, ten days after the sandbox clock's start.
W0 = datetime(2024, 6, 10, tzinfo=PLUS8)
W1 = W0 + timedelta(days=7)
HOUR = timedelta(hours=1)
#: Retries that finish in milliseconds; a short deadline so a block ends a call at once.
FAST = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=5.0)


@attrs.define
class Harness:
    """One provider's entry and contract, on a fresh sandbox with one empty source."""

    entry: ProviderEntry
    contract: ProviderContract
    sb: Sandbox
    source: str

    def client(self, *, secret: str | None = None, **settings: Any) -> wecal.CalendarProvider:
        defaults: dict[str, Any] = {
            "base_url": "http://sandbox",
            "transport": httpx.ASGITransport(app=self.sb.app),
            "token_store": wecal.MemoryTokenStore(),
            "retry": FAST,
            "rate_limit": False,
        }
        app_id, real = self.contract.credentials
        return self.entry.client(app_id, secret or real, **{**defaults, **settings})

    def listing(
        self, client: wecal.CalendarProvider, source: str | None = None, **kw: Any
    ) -> wecal.Paginator[wecal.Event]:
        return self.entry.list_source(client, source or self.source, **kw)

    def add(self, summary: str, start: datetime, end: datetime, *, daily: int = 0) -> str:
        return self.contract.add_event(
            self.sb, self.source, summary=summary, start=start, end=end, daily=daily
        )

    def calls(self, api: str) -> list[Any]:
        return [r for r in self.sb.requests if r.api == api]


@pytest.fixture(params=list(PROVIDERS))
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    entry = PROVIDERS[request.param]
    contract = entry.load_contract()
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    source = contract.prepare(sb)
    ISSUED_TOKENS.extend(s for s in contract.credentials[1:] if s not in ISSUED_TOKENS)
    yield Harness(entry, contract, sb, source)
    note_sandbox_tokens(sb)


async def collect(h: Harness, **kw: Any) -> list[wecal.Event]:
    async with h.client() as client:
        return [e async for e in h.listing(client, **kw)]


async def pages(h: Harness, cursor: str | None = None, **kw: Any) -> list[wecal.Page[wecal.Event]]:
    async with h.client() as client:
        return [p async for p in h.listing(client, **kw).by_page(cursor)]


def ids(events: list[wecal.Event]) -> list[str]:
    return [e.id for e in events]


def page_ids(got: list[wecal.Page[wecal.Event]]) -> list[str]:
    return [e.id for p in got for e in p.items]


def seed_week(h: Harness) -> tuple[dict[str, str], dict[str, str]]:
    """Five events inside the window, two outside it: (inside, outside) id → summary."""
    inside = {
        h.add(f"in {i}", W0 + timedelta(days=i, hours=9), W0 + timedelta(days=i, hours=10)): (
            f"in {i}"
        )
        for i in range(5)
    }
    outside = {
        h.add("before", W0 - timedelta(days=3), W0 - timedelta(days=3) + HOUR): "before",
        h.add("after", W1 + timedelta(days=2), W1 + timedelta(days=2) + HOUR): "after",
    }
    return inside, outside


# -- listing --------------------------------------------------------------------------


async def test_a_window_lists_exactly_the_events_stored_in_it(h: Harness) -> None:
    inside, outside = seed_week(h)
    got = await collect(h, start=W0, end=W1)
    assert sorted(ids(got)) == sorted(inside)
    assert {e.id: e.summary for e in got} == inside
    everything = await collect(h)
    assert sorted(ids(everything)) == sorted(inside | outside)
    for event in got:
        day = int(event.summary.split()[1])
        assert event.start == W0 + timedelta(days=day, hours=9)
        assert event.end == W0 + timedelta(days=day, hours=10)


async def test_an_empty_source_lists_nothing(h: Harness) -> None:
    assert await collect(h) == []
    assert await collect(h, start=W0, end=W1) == []


# -- paging ---------------------------------------------------------------------------


def seed_pages(h: Harness) -> list[str]:
    """Two and a half pages of events in the window, an hour apart."""
    n = 2 * h.contract.page_size + h.contract.page_size // 2 + 1
    return [h.add(f"p{i}", W0 + i * HOUR, W0 + i * HOUR + HOUR / 2) for i in range(n)]


@pytest.mark.parametrize("windowed", [False, True], ids=["all", "window"])
async def test_paging_loses_and_repeats_nothing(h: Harness, windowed: bool) -> None:
    stored = seed_pages(h)
    size = h.contract.page_size
    window: dict[str, Any] = {"start": W0, "end": W1} if windowed else {}
    got = await pages(h, page_size=size, **window)
    listed = page_ids(got)
    assert len(listed) == len(set(listed)), "an event came twice"
    assert sorted(listed) == sorted(stored)
    assert all(len(p.items) <= size for p in got)
    assert len(h.calls(h.contract.list_api)) >= 3, "the listing did not page"


async def test_a_cursor_resumes_where_the_listing_stopped(h: Harness) -> None:
    stored = seed_pages(h)
    size = h.contract.page_size
    async with h.client() as client:
        first = [p async for p in h.listing(client, page_size=size).by_page()][:1]
    (page,) = first
    assert page.cursor is not None
    rest = await pages(h, page.cursor, page_size=size)
    listed = [e.id for e in page.items] + page_ids(rest)
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(stored)
