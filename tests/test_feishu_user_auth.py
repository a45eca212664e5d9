"""
Feishu user tokens (``FeishuUserAuth``, ``FeishuClient.as_user``) against the
emulator: single-use refresh tokens redeemed by exactly one caller however
many refresh at once, stored before the lock is released; a reused refresh
token destroys the credential (what the fencing prevents).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

import wecal
from tests.sandbox_fixtures import FAST_RETRY, NOW
from wecal.providers.feishu import FeishuUserAuth
from wecal.providers.feishu._emulator import CREDENTIALS, FeishuEmulator, feishu
from wecal.sandbox import FakeClock, Sandbox

pytestmark = pytest.mark.anyio

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 6, 3, 10, tzinfo=SH)
USER = "ou_zhang"


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed=5, clock=FakeClock(NOW))


def client(sb: Sandbox) -> wecal.FeishuClient:
    return wecal.FeishuClient(
        *CREDENTIALS,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sb.app),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
        rate_limit=False,
    )


def auth_for(c: wecal.FeishuClient, sb: Sandbox, **kwargs: Any) -> FeishuUserAuth:
    assert isinstance(sb.clock, FakeClock)
    kwargs.setdefault("shared", wecal.MemoryState(wall_clock=sb.clock))
    return FeishuUserAuth(c, redirect_uri="https://app.example.com/cb", clock=sb.clock, **kwargs)


def tokens(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.api == "feishu.authen.oauth_token"]


async def test_authorize_code_then_calls_as_the_user(sb: Sandbox) -> None:
    fs: FeishuEmulator = feishu(sb)
    mine = fs.add_user(USER, "张三")
    async with client(sb) as c:
        auth = auth_for(c, sb)
        url = auth.authorize_url(state="csrf-1")
        assert url.startswith("http://sandbox/open-apis/authen/v1/authorize?")
        assert "client_id=cli_sandboxfeishu01" in url
        assert "offline_access" in url
        await auth.exchange_code(USER, fs.authorization_code(USER))
        me = c.as_user(auth, USER)
        created = await me.create_event(
            wecal.Event(
                provider="feishu", id="", summary="我的会", start=T0, end=T0 + timedelta(hours=1)
            )
        )
        # "primary" is the user's own calendar now, and they organize what they create.
        assert created.id in fs.events[mine]
        assert fs.events[mine][created.id]["event_organizer"]["user_id"] == USER
        listed = [
            e async for e in me.list_events(start=T0, end=T0 + timedelta(hours=1), expand=True)
        ]
        assert [e.summary for e in listed] == ["我的会"]
    assert (
        "client_secret" not in str(tokens(sb)[0].json)
        or tokens(sb)[0].json["client_secret"] == "REDACTED"
    )


async def test_concurrent_refreshes_redeem_the_refresh_token_once(sb: Sandbox) -> None:
    fs = feishu(sb)
    fs.add_user(USER, "张三")
    shared = wecal.MemoryState(wall_clock=sb.clock)
    async with client(sb) as c1, client(sb) as c2:
        first = auth_for(c1, sb, shared=shared)
        second = auth_for(c2, sb, shared=shared)  # another "process", the same store
        await first.exchange_code(USER, fs.authorization_code(USER))
        assert isinstance(sb.clock, FakeClock)
        sb.clock.advance(7200 - 60)  # inside the refresh margin
        got: list[str] = []

        async def take(auth: FeishuUserAuth) -> None:
            got.append(await auth.access_token(USER))

        async with anyio.create_task_group() as tg:
            for auth in (first, second) * 5:
                tg.start_soon(take, auth)
        assert fs.refreshes == 1
        assert len(set(got)) == 1
        # The new pair was stored: the next refresh redeems the new refresh token.
        sb.clock.advance(7200 - 60)
        await second.access_token(USER)
        assert fs.refreshes == 2
    assert [r.status for r in tokens(sb)] == [200, 200, 200]


async def test_a_reused_refresh_token_is_refused_for_good(sb: Sandbox) -> None:
    """What the lock prevents: without it, the second redemption revokes the user."""
    fs = feishu(sb)
    fs.add_user(USER, "张三")
    async with client(sb) as c:
        lone = auth_for(c, sb)  # its own memory: no shared lock with the other
        other = auth_for(c, sb)
        code = fs.authorization_code(USER)
        await lone.exchange_code(USER, code)
        stored = await lone._shared.get_token(lone._key(USER))
        assert stored is not None
        await other._shared.set_token(other._key(USER), stored, 1)  # a copy, as two stores would
        assert isinstance(sb.clock, FakeClock)
        sb.clock.advance(7200 - 60)
        await lone.access_token(USER)
        with pytest.raises(wecal.AuthenticationError) as info:
            await other.access_token(USER)
        assert info.value.code == 20064
        with pytest.raises(wecal.AuthenticationError):
            await auth_for(c, sb).access_token("ou_never")  # never authorized


async def test_a_refused_user_token_is_refreshed_and_the_call_replayed(sb: Sandbox) -> None:
    fs = feishu(sb)
    fs.add_user(USER, "张三")
    async with client(sb) as c:
        auth = auth_for(c, sb)
        await auth.exchange_code(USER, fs.authorization_code(USER))
        me = c.as_user(auth, USER)
        await me.get_primary_calendar()
        fs._user_tokens.clear()  # Feishu forgot it (revoked early): 99991677 / 99991663
        await me.get_primary_calendar()  # refreshed, replayed once
        assert fs.refreshes == 1
        assert [r.status for r in sb.requests if r.api == "feishu.calendars.primary"] == [
            200,
            400,
            200,
        ]
