"""
Pytest fixtures for the provider emulator (import them in ``conftest.py``).

``sandbox``: a fresh :class:`wecal.sandbox.Sandbox` with one WeCom app and one
DingTalk app (the credentials below) and a :class:`FakeClock` (``sandbox.clock``)
fixed at ``NOW``, no data — call ``generate(sandbox, ...)`` for some.
``sandbox_url``: the same sandbox served by uvicorn on a free loopback port for
the test, stopped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import pytest

import wecal
from wecal.sandbox import FakeClock, Sandbox, serve

__all__ = [
    "DINGTALK_APP_KEY",
    "DINGTALK_APP_SECRET",
    "FAST_LIMITS",
    "FAST_RETRY",
    "NOW",
    "WECOM_CORP_ID",
    "WECOM_SECRET",
    "client_on",
    "ding_token",
    "new_sandbox",
    "sandbox",
    "sandbox_url",
    "wecom_token",
]

WECOM_CORP_ID = "ww_test_corp"
WECOM_SECRET = "test-wecom-corpsecret-0123456789"
DINGTALK_APP_KEY = "dingtestappkey"
DINGTALK_APP_SECRET = "test-dingtalk-appsecret-0123456789"
#: The fake clock's start: 2024-06-01T00:00:00Z (08:00 in Asia/Shanghai).
NOW = 1_717_200_000.0


def new_sandbox(seed: int = 0) -> Sandbox:
    """A fresh sandbox with the test apps and a fake clock at ``NOW``."""
    sb = Sandbox(seed=seed, clock=FakeClock(NOW))
    sb.add_wecom_app(WECOM_CORP_ID, WECOM_SECRET)
    sb.add_dingtalk_app(DINGTALK_APP_KEY, DINGTALK_APP_SECRET)
    return sb


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox with the test apps and a fake clock at ``NOW``."""
    return new_sandbox()


@pytest.fixture
def sandbox_url(sandbox: Sandbox) -> Iterator[str]:
    """Base URL of ``sandbox`` served over loopback (uvicorn, free port)."""
    with serve(sandbox) as url:
        yield url


async def wecom_token(http: httpx.AsyncClient) -> str:
    """A WeCom access token for the test app, fetched from the sandbox at ``http``."""
    r = await http.get(
        "/cgi-bin/gettoken", params={"corpid": WECOM_CORP_ID, "corpsecret": WECOM_SECRET}
    )
    token: str = r.json()["access_token"]
    return token


async def ding_token(http: httpx.AsyncClient) -> str:
    """A DingTalk access token for the test app, fetched from the sandbox at ``http``."""
    r = await http.get(
        "/gettoken", params={"appkey": DINGTALK_APP_KEY, "appsecret": DINGTALK_APP_SECRET}
    )
    token: str = r.json()["access_token"]
    return token


#: Retries that finish in milliseconds, for client tests against the sandbox.
FAST_RETRY = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=5.0)
#: The client's rate limiter on, at 1,000 calls per second per API: a test's
#: dozens of pages do not wait out DingTalk's 20/s (a test of the limits passes
#: its own ``rate_limit``).
FAST_LIMITS = wecal.RateLimitConfig(rate=1000)

C = TypeVar("C", wecal.WeComClient, wecal.DingTalkLegacyClient, wecal.DingTalkClient)


def client_on(sb: Sandbox, cls: type[C], **settings: Any) -> C:
    """
    A ``cls`` client on ``sb`` in-process (ASGITransport) with the test app's
    credentials, its own token store, fast retries and a fast rate limit;
    ``settings`` override.
    """
    defaults: dict[str, Any] = {
        "base_url": "http://sandbox",
        "transport": httpx.ASGITransport(app=sb.app),
        "token_store": wecal.MemoryTokenStore(),
        "retry": FAST_RETRY,
        "rate_limit": FAST_LIMITS,
    }
    key, secret = (
        (WECOM_CORP_ID, WECOM_SECRET)
        if cls is wecal.WeComClient
        else (DINGTALK_APP_KEY, DINGTALK_APP_SECRET)
    )
    return cls(key, secret, **{**defaults, **settings})
