"""The client-side rate limiter: slots per API, a concurrency cap, off switch."""

from __future__ import annotations

import anyio
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, no_secret_in_logs
from wecal._ratelimit import RateLimitConfig, RateLimiter
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM

__all__ = ["no_secret_in_logs"]


def test_reserve_spaces_calls_at_the_rate_per_api() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(RateLimitConfig(rate=20), 999.0, clock=clock, sleep=clock.sleep)
    # 20/s: slots at 0, 50 ms, 100 ms… (by hand); first call free.
    waits = [limiter.reserve("calendar/list") for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15])
    assert limiter.reserve("other/api") == 0.0  # another API has its own schedule


def test_burst_lets_calls_through_back_to_back() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(RateLimitConfig(rate=10, burst=3), 1.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.reserve("a") for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_documented_defaults_apply_when_rate_is_none() -> None:
    clock = FakeClock(0.0)
    ding = RateLimiter(
        RateLimitConfig(), DINGTALK_LEGACY.default_rate, clock=clock, sleep=clock.sleep
    )
    ding.reserve("a")
    assert ding.reserve("a") == pytest.approx(1 / 20)  # DingTalk: 20 QPS per app per API
    wecom = RateLimiter(RateLimitConfig(), WECOM.default_rate, clock=clock, sleep=clock.sleep)
    wecom.reserve("a")
    assert wecom.reserve("a") == pytest.approx(60 / 10_000)  # WeCom: 10 000 per minute


def test_time_passing_frees_slots() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(RateLimitConfig(rate=10), 1.0, clock=clock, sleep=clock.sleep)
    limiter.reserve("a")
    clock.now += 5.0
    assert limiter.reserve("a") == 0.0


@pytest.mark.anyio
async def test_concurrency_cap_bounds_requests_in_flight() -> None:
    fake = FakeProvider(WECOM, delay=0.005)
    in_flight = peak = 0
    original = fake.handle

    async def counting(request):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(request)
        finally:
            in_flight -= 1

    fake.handle = counting  # type: ignore[method-assign]
    core = make_core(fake, rate_limit=RateLimitConfig(rate=1e9, max_concurrency=4))  # type: ignore[arg-type]
    await core.tokens.get()
    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(core.call, "x", "GET", "/x")
    assert len(fake.business_requests()) == 40
    assert peak == 4


@pytest.mark.anyio
async def test_rate_limit_false_switches_limiting_off() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    clock = FakeClock()
    core = make_core(fake, clock=clock, rate_limit=False)
    for _ in range(50):
        await core.call("x", "GET", "/x")
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "kwargs", [{"rate": 0}, {"rate": -1}, {"burst": 0}, {"max_concurrency": 0}, {"burst": 1.5}]
)
def test_bad_config_is_validation_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(wecal.ValidationError):
        RateLimitConfig(**kwargs)  # type: ignore[arg-type]
