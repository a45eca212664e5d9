"""
The transport's answers to a server asking too much, and to a wrong setup:

- ``Retry-After`` (seconds or an HTTP date) and provider block times are
  capped by ``RetryConfig(max_retry_after=…)`` (default 5 min), even with
  ``deadline=None``: a longer wait is raised at once as ``RateLimitError``
  with ``retry_after``, never slept.
"""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, ok, wecom_error
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.wecom._errors import WECOM

pytestmark = pytest.mark.anyio

NO_DEADLINE = wecal.RetryConfig(max_attempts=4, deadline=None)


def _429(retry_after: str, status: int = 429) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"retry-after": retry_after},
        json={"code": "Throttled", "message": "slow down", "requestid": "r1"},
    )


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("seconds", [86_400, 301, 10**9])
async def test_a_long_retry_after_is_raised_not_slept(status: int, seconds: int) -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", _429(str(seconds), status), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == seconds
    assert info.value.http_status == status
    assert "max_retry_after" in str(info.value)
    assert clock.sleeps == []
    assert len(fake.business_requests()) == 1


async def test_retry_after_as_an_http_date() -> None:
    fake = FakeProvider(DINGTALK_V1)
    later = email.utils.formatdate(time.time() + 7200, usegmt=True)
    fake.script("/x", _429(later))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after is not None
    assert 7000 < info.value.retry_after <= 7200
    assert clock.sleeps == []


async def test_a_short_retry_after_is_waited_out() -> None:
    fake = FakeProvider(DINGTALK_V1)
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.script("/x", _429("12"), _429(soon), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    assert await core.call("x", "GET", "/x") == {"v": 1}
    assert clock.sleeps[0] == 12
    assert 25 < clock.sleeps[1] <= 30


async def test_the_cap_is_configurable_and_can_be_lifted() -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", _429("600"), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(
        fake, clock=clock, retry=wecal.RetryConfig(deadline=None, max_retry_after=None)
    )
    assert await core.call("x", "GET", "/x") == {"v": 1}
    assert clock.sleeps == [600]

    fake.script("/x", _429("20"))
    core = make_core(fake, clock=FakeClock(), retry=wecal.RetryConfig(max_retry_after=15))
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == 20


async def test_a_provider_block_over_the_cap_is_raised_for_every_task() -> None:
    # WeCom 45009 blocks the app for 60 s; with max_retry_after=30 nobody sleeps it.
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(45009, "api freq out of limit"), ok({"errcode": 0}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=wecal.RetryConfig(deadline=None, max_retry_after=30))
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.retry_after == 60
    assert info.value.code == 45009
    # The next call of the same client meets the client-wide pause: raised too.
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.retry_after == 60
    assert clock.sleeps == []


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_max_retry_after_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(wecal.ValidationError, match="max_retry_after"):
        wecal.RetryConfig(max_retry_after=bad)  # type: ignore[arg-type]
