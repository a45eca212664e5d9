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

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import attrs
import httpx
import pytest

import wecal
from tests._mock import ISSUED_TOKENS, note_sandbox_tokens
from tests.sandbox_fixtures import NOW
from wecal.providers._emulation._contract import ProviderContract
from wecal.providers._registry import PROVIDERS, ProviderEntry
from wecal.sandbox import FakeClock, Fault, Sandbox

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


# -- window edges (DESIGN.md: an event is listed when it overlaps [start, end)) -------


@pytest.mark.parametrize("expand", [False, True], ids=["masters", "expand"])
async def test_window_edges(h: Harness, expand: bool) -> None:
    lo, hi = W0, W0 + timedelta(days=1)
    spans_start = h.add("spans the start", lo - HOUR, lo + HOUR)
    inside = h.add("inside", lo + 5 * HOUR, lo + 6 * HOUR)
    h.add("ends at the start", lo - HOUR, lo)
    h.add("starts at the end", hi, hi + HOUR)
    h.add("ends a second after the end", hi - HOUR, hi + timedelta(seconds=1))
    h.add("before", lo - 2 * HOUR, lo - HOUR)
    got = await collect(h, start=lo, end=hi, expand=expand)
    assert sorted(e.summary for e in got) == sorted(
        ["spans the start", "inside", "ends a second after the end"]
    )
    assert {spans_start, inside} <= set(ids(got))


# -- occurrences and identity (DESIGN.md) -----------------------------------------------


def occurrence_id(series_id: str, original: datetime) -> str:
    return f"{series_id}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"


async def test_expanded_occurrences_have_stable_distinct_design_ids(h: Harness) -> None:
    first = W0 + timedelta(days=1, hours=10)
    h.add("daily", first, first + HOUR, daily=3)
    h.add("single", W0 + 2 * HOUR, W0 + 3 * HOUR)
    (master,) = [e for e in await collect(h, start=W0, end=W1) if e.summary == "daily"]
    assert master.recurrence is not None
    starts = [first + timedelta(days=k) for k in range(3)]
    once = [e for e in await collect(h, start=W0, end=W1, expand=True) if e.summary == "daily"]
    twice = [e for e in await collect(h, start=W0, end=W1, expand=True) if e.summary == "daily"]
    expected = {occurrence_id(master.id, s): s for s in starts}
    assert sorted(ids(once)) == sorted(expected)
    assert sorted(ids(twice)) == sorted(ids(once))
    for event in once:
        assert event.series_id == master.id
        assert event.recurrence_id == expected[event.id]
        assert event.start == expected[event.id]
        assert event.end == expected[event.id] + HOUR
    # The ids wecal.expand gives the master are the same.
    assert {e.id for e in wecal.expand(master, W0, W1)} == set(expected)
    # A window holding only the second occurrence lists that one, under the same id.
    middle = await collect(h, start=starts[1] - HOUR, end=starts[1] + 2 * HOUR, expand=True)
    assert ids(middle) == [occurrence_id(master.id, starts[1])]


# -- errors: who said no ------------------------------------------------------------------


async def test_bad_credentials_are_an_authentication_error(h: Harness) -> None:
    wrong = "wrong-contract-secret-0123456789"
    ISSUED_TOKENS.append(wrong) if wrong not in ISSUED_TOKENS else None
    async with h.client(secret=wrong) as client:
        with pytest.raises(wecal.AuthenticationError) as info:
            [e async for e in h.listing(client)]
    text = f"{info.value} {info.value!r}"
    assert wrong not in text
    assert h.contract.credentials[1] not in text


async def test_an_unknown_source_is_not_found(h: Harness) -> None:
    async with h.client() as client:
        with pytest.raises(wecal.NotFoundError):
            [e async for e in h.listing(client, h.contract.missing_source())]


async def test_rate_limited_is_a_rate_limit_error_with_retry_after(h: Harness) -> None:
    seed_week(h)
    h.sb.faults.script(h.contract.list_api, [Fault.rate_limited()] * 3)
    retry = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=0.5)
    async with h.client(retry=retry) as client:
        with pytest.raises(wecal.RateLimitError) as info:
            [e async for e in h.listing(client)]
    assert info.value.retry_after == pytest.approx(h.contract.rate_limit_retry_after, abs=0.5)
    assert len([r for r in h.calls(h.contract.list_api) if r.fault is not None]) == 1


# -- faults the emulator injects ------------------------------------------------------


RECOVERABLE = {
    "server_error_503": lambda: Fault.server_error(503),
    "server_error_502": lambda: Fault.server_error(502),
    "dropped": Fault.dropped,
    "truncated": Fault.truncated,
    "busy": Fault.busy,
}


@pytest.mark.parametrize("fault", list(RECOVERABLE))
async def test_one_fault_mid_listing_is_retried_and_loses_nothing(h: Harness, fault: str) -> None:
    stored = seed_pages(h)
    # The first page goes through; the second meets the fault once.
    h.sb.faults.script(h.contract.list_api, [None, RECOVERABLE[fault]()])
    listed = page_ids(await pages(h, page_size=h.contract.page_size))
    assert sorted(listed) == sorted(stored)
    assert len(listed) == len(set(listed))
    assert h.sb.faults.pending == 0
    assert len([r for r in h.calls(h.contract.list_api) if r.fault is not None]) == 1


EXHAUSTING = {
    "server_error": (lambda: Fault.server_error(503), wecal.ProviderError),
    "dropped": (Fault.dropped, wecal.TransportError),
    "truncated": (Fault.truncated, wecal.ResponseFormatError),
}


@pytest.mark.parametrize("fault", list(EXHAUSTING))
async def test_a_fault_that_outlasts_the_retries_is_the_right_error_with_a_cursor(
    h: Harness, fault: str
) -> None:
    stored = seed_pages(h)
    make, error = EXHAUSTING[fault]
    h.sb.faults.script(h.contract.list_api, [None] + [make() for _ in range(FAST.max_attempts)])
    done: list[str] = []

    async def run() -> None:
        async with h.client() as client:
            async for page in h.listing(client, page_size=h.contract.page_size).by_page():
                done.extend(e.id for e in page.items)

    with pytest.raises(wecal.WecalError) as info:
        await run()
    assert type(info.value) is error, repr(info.value)
    assert len(done) == h.contract.page_size
    assert info.value.cursor is not None
    h.sb.faults.clear()
    rest = page_ids(await pages(h, info.value.cursor, page_size=h.contract.page_size))
    assert sorted(done + rest) == sorted(stored)


async def test_a_hanging_answer_ends_at_the_deadline_as_a_transport_error(h: Harness) -> None:
    seed_week(h)
    h.sb.faults.script(h.contract.list_api, [Fault.latency(60)] * 3)
    retry = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=0.2)
    async with h.client(retry=retry) as client:
        with pytest.raises(wecal.TransportError):
            [e async for e in h.listing(client)]


# -- writes, where the provider has them ------------------------------------------------


async def test_writes_round_trip(h: Harness) -> None:
    async with h.client() as client:
        has_writes = all(
            callable(getattr(client, name, None))
            for name in ("create_event", "update_event", "delete_event")
        )
        assert has_writes is h.contract.writes, "the capability flag says what the client has"
        if not h.contract.writes:
            return
        start = W0 + timedelta(days=2, hours=14)
        new = wecal.Event(
            provider=h.contract.provider,
            id="",
            summary="契约 create",
            start=start,
            end=start + HOUR,
        )
        made = await h.contract.create(client, h.source, new)
        assert made.id
        got = await h.contract.get(client, h.source, made.id)
        assert (got.id, got.summary, got.start, got.end) == (
            made.id,
            "契约 create",
            start,
            start + HOUR,
        )
        later = start + 2 * HOUR
        changed = await h.contract.update(
            client,
            h.source,
            attrs.evolve(got, summary="契约 update", start=later, end=later + HOUR),
        )
        assert changed.id == made.id
        again = await h.contract.get(client, h.source, made.id)
        assert (again.summary, again.start, again.end) == ("契约 update", later, later + HOUR)
        listed = [e async for e in h.listing(client, start=W0, end=W1)]
        assert [(e.id, e.summary) for e in listed] == [(made.id, "契约 update")]
        await h.contract.delete(client, h.source, again)
        if h.contract.deleted_reads_cancelled:
            gone = await h.contract.get(client, h.source, made.id)
            assert gone.status is wecal.EventStatus.CANCELLED
        else:
            with pytest.raises(wecal.NotFoundError):
                await h.contract.get(client, h.source, made.id)
        with pytest.raises(wecal.NotFoundError):
            await h.contract.get(client, h.source, made.id + "x")


# -- sync ---------------------------------------------------------------------------------


async def sync(h: Harness, state: str | None) -> tuple[list[wecal.Change], str]:
    async with h.client() as client:
        stream = h.entry.sync_source(client, h.source, state=state)
        changes = [c async for c in stream]
        return changes, stream.state


async def test_sync_initial_incremental_and_deletes(h: Harness) -> None:
    inside, outside = seed_week(h)
    stored = inside | outside
    first, state = await sync(h, None)
    assert first[0].kind is wecal.ChangeKind.RESET
    assert {c.kind for c in first[1:]} == {wecal.ChangeKind.CREATED}
    assert {c.event_id: c.event.summary for c in first[1:] if c.event} == stored

    quiet, state = await sync(h, state)
    assert quiet == []

    edited, removed = sorted(inside)[:2]
    h.contract.edit_event(h.sb, h.source, edited, "edited")
    h.contract.remove_event(h.sb, h.source, removed)
    added = h.add("added", W0 + 30 * HOUR, W0 + 31 * HOUR)
    changes, state = await sync(h, state)
    by_id = {c.event_id: c for c in changes}
    assert sorted(by_id) == sorted([edited, removed, added])
    assert len(changes) == 3
    # A sync token says what is now, not whether it is new: both are an upsert.
    new_kind = wecal.ChangeKind.CREATED if h.contract.sync_tells_new else wecal.ChangeKind.UPDATED
    assert by_id[added].kind is new_kind
    assert by_id[added].event is not None
    assert by_id[added].event.summary == "added"
    assert by_id[edited].kind is wecal.ChangeKind.UPDATED
    assert by_id[edited].event is not None
    assert by_id[edited].event.summary == "edited"
    gone = by_id[removed]
    if h.contract.deleted_reads_cancelled:
        assert gone.kind is wecal.ChangeKind.UPDATED
        assert gone.event is not None
        assert gone.event.status is wecal.EventStatus.CANCELLED
    else:
        assert gone.kind is wecal.ChangeKind.DELETED

    quiet, _ = await sync(h, state)
    assert quiet == []


async def test_a_series_running_at_the_window_start_is_listed_once(h: Harness) -> None:
    # Two hours a day from 23:00: the first occurrence spans W0, the second
    # starts inside a two-day window, the third after it.
    first = W0 - HOUR
    series = h.add("nightly", first, first + 2 * HOUR, daily=3)
    for hi in (W0 + HOUR, W0 + timedelta(days=1)):
        got = await collect(h, start=W0, end=hi)
        assert ids(got) == [series], hi
        occurrences = await collect(h, start=W0, end=hi, expand=True)
        starts = [first + timedelta(days=k) for k in range(3) if first + timedelta(days=k) < hi]
        assert sorted(e.start for e in occurrences) == starts


# -- what the caller passes ----------------------------------------------------------------


async def test_bad_arguments_are_validation_errors_before_any_request(h: Harness) -> None:
    naive = datetime(2024, 6, 10)
    cases: list[dict[str, Any]] = [
        {"page_size": 0},
        {"page_size": h.entry.max_page_size + 1},
        {"start": naive, "end": W1},
        {"start": W1, "end": W0},
        {"start": W0, "expand": True},
    ]
    async with h.client() as client:
        for kw in cases:
            with pytest.raises(wecal.ValidationError):
                [e async for e in h.listing(client, **kw)]
    listing_calls = [
        r for r in h.sb.requests if r.api in (h.contract.list_api, h.contract.expand_api)
    ]
    assert listing_calls == []


async def test_the_largest_page_size_is_taken(h: Harness) -> None:
    inside, _ = seed_week(h)
    got = await collect(h, start=W0, end=W1, page_size=h.entry.max_page_size)
    assert sorted(ids(got)) == sorted(inside)


# -- tokens -----------------------------------------------------------------------------


async def test_a_revoked_token_is_refreshed_and_the_page_replayed_once(h: Harness) -> None:
    stored = seed_pages(h)
    h.sb.faults.script(h.contract.list_api, [None, Fault.revoke_token()])
    listed = page_ids(await pages(h, page_size=h.contract.page_size))
    assert sorted(listed) == sorted(stored)
    assert len(listed) == len(set(listed))
    assert h.sb.faults.pending == 0
    # The page met the revoked token, a new one was fetched, the page sent again.
    assert len(h.calls(h.contract.token_api)) == 2
    refused = [r for r in h.calls(h.contract.list_api) if r.fault == "revoke_token"]
    assert len(refused) == 1


# -- items inserted ahead of the listing while it pages -----------------------------------


async def test_offset_drift_repeats_nothing_and_loses_nothing(h: Harness) -> None:
    stored = seed_pages(h)
    h.sb.faults.script(h.contract.list_api, [None, Fault.offset_drift(), Fault.offset_drift()])
    listed = page_ids(await pages(h, page_size=h.contract.page_size))
    assert len(listed) == len(set(listed)), "an event came twice"
    assert set(stored) <= set(listed)
    # The drift did happen: two events were stored ahead of the listing.
    assert len(await collect(h)) == len(stored) + 2


# -- all-day events (DESIGN.md: day D spans D 00:00 to D+1 00:00 in the event's zone) -----


def zone_of(name: str) -> tzinfo:
    if name[0] in "+-":
        sign = 1 if name[0] == "+" else -1
        hours, minutes = int(name[1:3]), int(name[4:6])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return ZoneInfo(name)


@pytest.mark.parametrize("days", [1, 2])
async def test_all_day_events_span_their_days_in_their_zone(h: Harness, days: int) -> None:
    day = W0.date() + timedelta(days=2)
    zone = zone_of(h.contract.all_day_zone)
    event_id = h.contract.add_all_day(h.sb, h.source, summary="全天", day=day, days=days)

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(), zone)

    (got,) = await collect(h, start=W0, end=W1)
    assert (got.id, got.all_day, got.start, got.end) == (
        event_id,
        True,
        day,
        day + timedelta(days=days),
    )
    # The event's own zone, or (none given) the window's: both +08:00 here.
    assert got.timezone == h.contract.all_day_zone or (
        got.timezone is None and zone.utcoffset(midnight(day)) == W0.utcoffset()
    )
    last = day + timedelta(days=days - 1)
    windows = {
        (midnight(day), midnight(day) + HOUR): True,
        (midnight(last) + 23 * HOUR, midnight(last + timedelta(days=1))): True,
        (midnight(day) - HOUR, midnight(day)): False,
        (midnight(last + timedelta(days=1)), midnight(last + timedelta(days=1)) + HOUR): False,
    }
    for (lo, hi), listed in windows.items():
        for expand in (False, True):
            got_ids = ids(await collect(h, start=lo, end=hi, expand=expand))
            assert got_ids == ([event_id] if listed else []), (lo, hi, expand)


# -- one client ---------------------------------------------------------------------------


async def test_one_token_serves_a_whole_paged_listing(h: Harness) -> None:
    stored = seed_pages(h)
    listed = page_ids(await pages(h, page_size=h.contract.page_size))
    assert sorted(listed) == sorted(stored)
    assert len(h.calls(h.contract.token_api)) == 1


async def test_listings_side_by_side_on_one_client_agree(h: Harness) -> None:
    stored = seed_pages(h)
    results: dict[int, list[str]] = {}

    async def one(k: int, client: wecal.CalendarProvider) -> None:
        results[k] = [e.id async for e in h.listing(client, page_size=h.contract.page_size)]

    async with h.client() as client, anyio.create_task_group() as tg:
        for k in range(3):
            tg.start_soon(one, k, client)
    assert [sorted(results[k]) for k in range(3)] == [sorted(stored)] * 3
    assert len(h.calls(h.contract.token_api)) == 1


# -- sync state ----------------------------------------------------------------------------


async def test_a_sync_state_belongs_to_its_source(h: Harness) -> None:
    seed_week(h)
    _, state = await sync(h, None)
    other = h.contract.missing_source()
    async with h.client() as client:
        with pytest.raises(wecal.ValidationError):
            [c async for c in h.entry.sync_source(client, other, state=state)]
        with pytest.raises(wecal.ValidationError):
            [c async for c in h.entry.sync_source(client, h.source, state=state[:-4] + "AAAA")]


#: Faults on a create: (the fault, whether the emulator applies the create first).
WRITE_FAULTS = {
    "applied_then_503": (lambda: Fault.applied_error(503), True),
    "truncated": (Fault.truncated, True),
    "dropped": (Fault.dropped, None),
}


@pytest.mark.parametrize("fault", list(WRITE_FAULTS))
async def test_a_create_that_meets_a_fault_is_never_applied_twice(h: Harness, fault: str) -> None:
    if not h.contract.writes:
        assert h.contract.create_api == ""
        return
    make, applied = WRITE_FAULTS[fault]
    h.sb.faults.script(h.contract.create_api, [make()])
    start = W0 + timedelta(days=3, hours=9)
    new = wecal.Event(
        provider=h.contract.provider, id="", summary="once", start=start, end=start + HOUR
    )
    made: wecal.Event | None = None
    async with h.client() as client:
        with contextlib.suppress(wecal.OutcomeUnknownError):
            made = await h.contract.create(client, h.source, new)
        listed = [e for e in await collect(h, start=W0, end=W1) if e.summary == "once"]
    creates = h.calls(h.contract.create_api)
    if made is None:
        # OutcomeUnknownError: the client could not tell and did not send it again.
        assert len(creates) == 1
    else:
        # Sent again (with the same idempotency key) and created once.
        assert len(creates) == 2
        assert [e.id for e in listed] == [made.id]
    if applied:
        assert len(listed) == 1
    else:
        assert len(listed) <= 1


# -- long windows (split by some clients into the spans their provider takes) -------------


async def test_a_long_window_lists_each_occurrence_once(h: Harness) -> None:
    # Two hours from 23:00 every day for 90 days: an occurrence runs across every
    # midnight a client may cut a long window at (40 days, a year).
    first = W0 - HOUR
    series = h.add("nightly", first, first + 2 * HOUR, daily=90)
    lo, hi = W0 - timedelta(days=1), W0 + timedelta(days=400)
    masters = await collect(h, start=lo, end=hi)
    assert ids(masters) == [series]
    got = await collect(h, start=lo, end=hi, expand=True)
    expected = [occurrence_id(series, first + timedelta(days=k)) for k in range(90)]
    assert sorted(ids(got)) == sorted(expected)
