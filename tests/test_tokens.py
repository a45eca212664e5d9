"""Token cache: lifetimes, proactive refresh, compare-before-drop, keys, stores."""

from __future__ import annotations

from typing import Any

import pytest

from tests._mock import FakeClock, FakeProvider, make_core, no_secret_in_logs
from wecal._tokens import MemoryTokenStore, StoredToken, TokenManager, TokenStore, token_key
from wecal.providers._dialects import Dialect
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("dialect", [WECOM, DINGTALK_LEGACY, DINGTALK_V1])
@pytest.mark.parametrize("lifetime", [None, 0, -5, "soon", 7200])
async def test_missing_or_bad_lifetime_counts_as_7200_seconds(
    dialect: Dialect, lifetime: Any
) -> None:
    wall = FakeClock(0.0)
    fake = FakeProvider(dialect, lifetime=lifetime)
    core = make_core(fake, wall_clock=wall)
    await core.call("x", "GET", "/x")
    # Refresh margin 300 s before 7200 s (by hand): still cached at 6899 s…
    wall.now = 6899.0
    await core.call("x", "GET", "/x")
    assert fake.token_requests == 1
    # …refreshed proactively at 6900 s, before the token expires.
    wall.now = 6900.0
    await core.call("x", "GET", "/x")
    assert fake.token_requests == 2


async def test_short_lifetime_refreshes_at_half_life_not_in_a_loop() -> None:
    wall = FakeClock(0.0)
    fake = FakeProvider(WECOM, lifetime=60)
    core = make_core(fake, wall_clock=wall)
    for _ in range(5):
        await core.call("x", "GET", "/x")
    assert fake.token_requests == 1
    wall.now = 30.0
    await core.call("x", "GET", "/x")
    assert fake.token_requests == 2


async def test_invalidate_drops_only_the_token_that_failed() -> None:
    store = MemoryTokenStore()
    fetched = iter(["first-TOKENVALUE", "second-TOKENVALUE", "third-TOKENVALUE"])

    async def fetch() -> tuple[str, float]:
        return next(fetched), 7200.0

    manager = TokenManager("k", fetch, store=store, clock=lambda: 0.0)
    assert await manager.get() == "first-TOKENVALUE"
    await manager.invalidate("first-TOKENVALUE")
    assert await manager.get() == "second-TOKENVALUE"
    # A late waiter reports the old token: the new one stays.
    await manager.invalidate("first-TOKENVALUE")
    assert await manager.get() == "second-TOKENVALUE"
    assert await manager.get(stale="second-TOKENVALUE") == "third-TOKENVALUE"
    assert manager.fetches == 3


def test_token_key_separates_apps_providers_and_base_urls() -> None:
    base = token_key("wecom", "corp", "secret-a", "https://qyapi.weixin.qq.com")
    assert base != token_key("wecom", "corp", "secret-b", "https://qyapi.weixin.qq.com")
    assert base != token_key("dingtalk-legacy", "corp", "secret-a", "https://qyapi.weixin.qq.com")
    assert base != token_key("wecom", "corp", "secret-a", "http://127.0.0.1:8000")
    assert base == token_key("wecom", "corp", "secret-a", "https://qyapi.weixin.qq.com")
    assert "secret-a" not in base


def test_stored_token_repr_hides_the_value() -> None:
    stored = StoredToken("TOKENVALUE-xyz", 1.0, 0.5)
    assert "TOKENVALUE" not in repr(stored)


class _DictStore:
    """A user-written store (as one might back with Redis)."""

    def __init__(self) -> None:
        self.data: dict[str, StoredToken] = {}
        self.calls: list[str] = []

    async def get(self, key: str) -> StoredToken | None:
        self.calls.append("get")
        return self.data.get(key)

    async def set(self, key: str, token: StoredToken) -> None:
        self.calls.append("set")
        self.data[key] = token

    async def discard(self, key: str, value: str) -> None:
        self.calls.append("discard")
        if key in self.data and self.data[key].value == value:
            del self.data[key]


async def test_pluggable_store_is_shared_between_processes() -> None:
    store = _DictStore()
    assert isinstance(store, TokenStore)
    fake = FakeProvider(DINGTALK_V1)
    await make_core(fake, store=store).call("x", "GET", "/x")  # type: ignore[arg-type]
    # A second "process" with its own core and the same store: no new fetch.
    await make_core(fake, store=store).call("x", "GET", "/x")  # type: ignore[arg-type]
    assert fake.token_requests == 1
    assert "set" in store.calls
