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

import httpx
import pytest

from wecal.sandbox import FakeClock, Sandbox, serve

__all__ = [
    "DINGTALK_APP_KEY",
    "DINGTALK_APP_SECRET",
    "NOW",
    "WECOM_CORP_ID",
    "WECOM_SECRET",
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
