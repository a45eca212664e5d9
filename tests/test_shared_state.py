"""
wecal.MemoryState: one app's budget shared by several clients of a process —
the bands (second, hour), max_wait, the monthly quota, provider blocks, shared
tokens with fences and verdicts, and seen().
"""

from __future__ import annotations

import anyio
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, wecom_error
from tests._redis import most_in_window
from wecal._http import HttpCore
from wecal._ratelimit import RateLimitConfig, RateLimiter, band_for
from wecal._shared import Band, MemoryState
from wecal._tokens import StoredToken
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.wecom._errors import WECOM


def _core(
    fake: FakeProvider,
    state: wecal.SharedState,
    clock: FakeClock,
    *,
    rate_limit: RateLimitConfig | None = None,
    secret: str | None = None,
    retry: wecal.RetryConfig | None = None,
) -> HttpCore:
    app_id = "ww_corp" if fake.dialect.name == "wecom" else "dingkey"
    return HttpCore(
        fake.dialect,
        app_id,
        secret or fake.secret,
        transport=fake.transport(),
        rate_limit=rate_limit or RateLimitConfig(rate=1e6),
        shared=state,
        retry=retry,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
    )


@pytest.mark.parametrize(("calls", "seconds"), [(30, 10.0), (150, 3600.0), (7, 60.0)])
def test_a_band_never_lets_more_than_its_calls_into_any_window(calls: int, seconds: float) -> None:
    clock = FakeClock(0.0)
    state = MemoryState(clock=clock)
    band = band_for("k", calls, seconds)
    starts = []
    for i in range(calls * 3):
        clock.now = i * seconds / (calls * 6)  # callers arrive twice as fast as allowed
        starts.append(clock.now + state.reserve_now([band]).wait)
    assert most_in_window(starts, seconds) == calls


def test_per_hour_band_applies_in_one_process() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(
        RateLimitConfig(per_hour=120), float("inf"), clock=clock, sleep=clock.sleep
    )
    starts = [limiter.reserve("schedule/get") for _ in range(300)]
    assert most_in_window(starts, 3600.0) == 120
    assert limiter.reserve("other/api") == 0.0  # per API


def test_wecom_default_has_the_hour_band() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(
        RateLimitConfig(),
        WECOM.default_rate,
        clock=clock,
        sleep=clock.sleep,
        per_hour=WECOM.default_per_hour,
    )
    starts = [limiter.reserve("schedule/get") for _ in range(160_000)]
    assert most_in_window(starts, 3600.0) <= 150_000
    assert most_in_window(starts, 60.0) <= 10_001


@pytest.mark.anyio
async def test_max_wait_raises_retry_after_without_sending() -> None:
    fake = FakeProvider(DINGTALK_V1)
    clock = FakeClock()
    core = _core(
        fake, MemoryState(clock=clock), clock, rate_limit=RateLimitConfig(rate=2, max_wait=0.2)
    )
    await core.call("x", "GET", "/x")
    # 2/s: the next slot is 0.5 s away, more than max_wait: nothing reserved, nothing sent.
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == pytest.approx(0.5, abs=0.01)
    assert len(fake.business_requests()) == 1
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_monthly_quota_is_shared_and_refuses_before_sending() -> None:
    fake = FakeProvider(DINGTALK_V1)
    clock = FakeClock()
    state = MemoryState(clock=clock)
    limits = RateLimitConfig(rate=1e6, monthly_quota=5)
    a = _core(fake, state, clock, rate_limit=limits)
    b = _core(fake, state, clock, rate_limit=limits)
    for core in (a, b, a, b, a):
        await core.call("x", "GET", "/x")
    for core in (a, b):
        with pytest.raises(wecal.QuotaExceededError, match="monthly quota of 5"):
            await core.call("x", "GET", "/x")
    assert len(fake.business_requests()) == 5
    assert fake.token_requests == 1  # token fetches are not counted; one for both


@pytest.mark.anyio
async def test_a_provider_block_pauses_every_client_of_the_state() -> None:
    fake = FakeProvider(WECOM)
    clock = FakeClock()
    state = MemoryState(clock=clock)
    limits = RateLimitConfig(rate=1e6, max_wait=5)
    a = _core(fake, state, clock, rate_limit=limits, retry=wecal.RetryConfig(max_attempts=1))
    b = _core(fake, state, clock, rate_limit=limits)
    fake.script("/x", wecom_error(45009, "api freq out of limit"))
    with pytest.raises(wecal.RateLimitError):
        await a.call("x", "GET", "/x")
    with pytest.raises(wecal.RateLimitError) as info:
        await b.call("y", "GET", "/y")
    assert info.value.code == "45009"
    assert info.value.retry_after is not None
    assert 50 < info.value.retry_after <= 60
    assert fake.business_requests("/y") == []


@pytest.mark.anyio
async def test_clients_sharing_a_state_fetch_one_token() -> None:
    fake = FakeProvider(DINGTALK_V1, token_delay=0.01)
    clock = FakeClock()
    state = MemoryState()  # real time: the refresh lock's TTL runs in real seconds
    cores = [_core(fake, state, clock) for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(cores[i % 3].call, "x", "GET", "/x")
    assert fake.token_requests == 1
    assert len(fake.business_requests()) == 60


@pytest.mark.anyio
async def test_a_refused_fetch_is_a_shared_verdict() -> None:
    fake = FakeProvider(DINGTALK_V1)
    clock = FakeClock()
    state = MemoryState(clock=clock)
    a = _core(fake, state, clock, secret="wrong-secret-0000")
    b = _core(fake, state, clock, secret="wrong-secret-0000")
    with pytest.raises(wecal.AuthenticationError):
        await a.call("x", "GET", "/x")
    with pytest.raises(wecal.AuthenticationError, match="shared verdict"):
        await b.call("x", "GET", "/x")
    assert fake.token_requests == 1
    clock.now += 16  # the verdict is shared for 15 s only
    with pytest.raises(wecal.AuthenticationError):
        await b.call("x", "GET", "/x")
    assert fake.token_requests == 2


@pytest.mark.anyio
async def test_a_stale_fence_cannot_overwrite_a_newer_token() -> None:
    clock = FakeClock(0.0)
    state = MemoryState(clock=clock, wall_clock=clock)
    old = await state.lock_token("k", 15.0)
    assert old is not None
    assert await state.lock_token("k", 15.0) is None  # held
    clock.now += 16  # the holder stalled past its lock
    new = await state.lock_token("k", 15.0)
    assert new is not None
    assert new > old
    assert await state.set_token("k", StoredToken("new", 7200.0, 7000.0), new)
    assert not await state.set_token("k", StoredToken("old", 7200.0, 7000.0), old)
    stored = await state.get_token("k")
    assert stored is not None
    assert stored.value == "new"
    await state.discard_token("k", "old")  # compare-and-delete: not the stored value
    assert await state.get_token("k") is not None
    await state.discard_token("k", "new")
    assert await state.get_token("k") is None


@pytest.mark.anyio
async def test_seen_answers_once_per_ttl() -> None:
    clock = FakeClock(0.0)
    state = MemoryState(clock=clock)
    assert await state.seen("callback:1", 300) is False
    assert await state.seen("callback:1", 300) is True
    assert await state.seen("callback:2", 300) is False
    clock.now += 301
    assert await state.seen("callback:1", 300) is False


@pytest.mark.anyio
async def test_leased_permits_come_back_when_the_lease_ends() -> None:
    clock = FakeClock(0.0)
    state = MemoryState(clock=clock)
    held = [await state.acquire_permit("p", 2, 30.0) for _ in range(3)]
    assert held[0]
    assert held[1]
    assert held[2] is None
    assert held[0] is not None
    await state.release_permit("p", held[0])
    assert await state.acquire_permit("p", 2, 30.0) is not None
    assert await state.acquire_permit("p", 2, 30.0) is None
    clock.now += 31  # holders died: leases ended
    assert await state.acquire_permit("p", 2, 30.0) is not None


def test_reservation_is_all_or_nothing() -> None:
    clock = FakeClock(0.0)
    state = MemoryState(clock=clock)
    fast, slow = Band("fast", 0.01), Band("slow", 1.0)
    assert state.reserve_now([fast, slow]).wait == 0.0
    refused = state.reserve_now([fast, slow], max_wait=0.5)
    assert refused.status == "wait"
    assert refused.wait == pytest.approx(1.0)
    # Nothing was reserved in the fast band by the refused call: its second slot.
    assert state.reserve_now([fast]).wait == pytest.approx(0.01)


def test_bad_settings_are_validation_errors() -> None:
    with pytest.raises(wecal.ValidationError, match=r"shared must be a wecal\.SharedState"):
        wecal.WeComClient("ww", "shared-state-secret-9c2d", shared=object())  # type: ignore[arg-type]
    with pytest.raises(wecal.ValidationError, match="egress_limit"):
        RateLimitConfig(egress="nat", egress_limit=(0, 20))
    with pytest.raises(wecal.ValidationError, match="per_hour"):
        RateLimitConfig(per_hour=1.5)  # type: ignore[arg-type]
