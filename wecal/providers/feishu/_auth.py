"""
Feishu / Lark user tokens (OAuth 2, ``reference/feishu.md`` §1.2): ``FeishuUserAuth``.

A user token speaks as the user (their own calendar is ``primary``; event
change subscriptions accept only user tokens). Feishu's refresh tokens are
**single-use**: the old one dies when it is redeemed, and a second
redemption (two processes refreshing at once) revokes the user's credential
(20064) until they authorize again. So the tokens live in a
:class:`~wecal.SharedState` and every refresh runs under its fenced refresh
lock: one holder redeems the refresh token and stores the new pair before
releasing; everybody else waits for it and uses what it stored. A holder
that stalls past its lock cannot overwrite a newer pair (the fence).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import anyio

from ..._redact import _register_secret
from ..._shared import MemoryState, SharedState, StoredToken
from ...errors import AuthenticationError, ResponseFormatError, ValidationError, _describe
from ._client import FeishuClient

__all__ = ["FeishuUserAuth"]

_TOKEN_PATH = "/open-apis/authen/v2/oauth/token"
#: Refresh this long before the access token expires (its lifetime is ~2 h).
_MARGIN = 300.0
#: Seconds the refresh lock is held at most (a refresh is one request).
_LOCK_TTL = 30.0
_WAIT_STEP = 0.05


def _accounts_host(base_url: str) -> str:
    # The authorize page is on the accounts host of the same brand
    # (open.feishu.cn → accounts.feishu.cn); another host (a sandbox) serves it.
    return base_url.replace("://open.", "://accounts.", 1)


class FeishuUserAuth:
    """
    Users' OAuth tokens for one app, kept in ``shared`` (default: this
    process's memory; a ``wecal.redis.RedisBackend`` for many processes)::

        auth = FeishuUserAuth(feishu, redirect_uri="https://app.example.com/feishu/oauth")
        url = auth.authorize_url(state=csrf)        # send the user there
        await auth.exchange_code(open_id, code)     # on the redirect back
        me = feishu.as_user(auth, open_id)          # calls as that user
        async for event in me.list_events(start=t0, end=t1, expand=True): ...

    ``feishu`` is the app's :class:`~wecal.FeishuClient` (its host, transport
    and retries are used; a refresh is never replayed after an ambiguous
    failure, since Feishu may have redeemed it). ``scope`` must include
    ``offline_access`` for Feishu to hand out refresh tokens.
    """

    def __init__(
        self,
        feishu: FeishuClient,
        *,
        redirect_uri: str,
        scope: str = "calendar:calendar offline_access",
        shared: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(redirect_uri, str) or not redirect_uri.startswith(
            ("https://", "http://")
        ):
            raise ValidationError(
                f"redirect_uri must be an http(s) URL, got {_describe(redirect_uri)}"
            )
        self._client = feishu
        self.redirect_uri = redirect_uri
        self.scope = scope
        found = shared if shared is not None else feishu._settings.get("shared")
        self._shared: SharedState = found if found is not None else MemoryState()
        self._clock = clock

    def __repr__(self) -> str:
        return f"FeishuUserAuth(app_id={self._client._http.app_id!r})"

    def _key(self, user: str) -> str:
        core = self._client._http
        return f"wecal:feishu-user:{core.base_url}:{core.app_id}:{user}"

    def authorize_url(self, *, state: str) -> str:
        """Where to send a user to grant the app access (``state``: your CSRF value)."""
        host = _accounts_host(self._client._http.base_url)
        query = urlencode(
            {
                "client_id": self._client._http.app_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scope,
                "state": state,
                "response_type": "code",
            }
        )
        return f"{host}/open-apis/authen/v1/authorize?{query}"

    async def _grant(self, body: dict[str, str]) -> StoredToken:
        core = self._client._http
        body = {**body, "client_id": core.app_id, "client_secret": self._client._app_secret}
        answer = await core.call(
            "oauth/token", "POST", _TOKEN_PATH, json=body, authenticated=False, idempotent=False
        )
        access, refresh = answer.get("access_token"), answer.get("refresh_token")
        lifetime = answer.get("expires_in")
        refresh_lifetime = answer.get("refresh_token_expires_in")
        for name, value in (("access_token", access), ("refresh_token", refresh)):
            if not isinstance(value, str) or not value:
                raise ResponseFormatError("missing", path=f"$.{name}")
        for name, value in (
            ("expires_in", lifetime),
            ("refresh_token_expires_in", refresh_lifetime),
        ):
            if type(value) is not int or value <= 0:
                raise ResponseFormatError(
                    f"expected seconds, got {_describe(value)}", path=f"$.{name}"
                )
        assert isinstance(access, str)
        assert isinstance(refresh, str)
        assert isinstance(lifetime, int)
        # Masked wherever they might show (a log line, an error's echo).
        _register_secret(access, kind="token")
        _register_secret(refresh, kind="token")
        assert isinstance(refresh_lifetime, int)
        now = self._clock()
        access_until = now + lifetime
        # Both tokens travel in one stored value (StoredToken never shows it),
        # kept as long as the refresh token lives: an access token that expired
        # unused is refreshed, not lost.
        value = json.dumps({"a": access, "r": refresh, "x": access_until})
        return StoredToken(
            value, now + max(refresh_lifetime, lifetime), access_until - min(_MARGIN, lifetime / 2)
        )

    async def exchange_code(self, user: str, code: str) -> None:
        """Trade the ``code`` Feishu redirected back with for ``user``'s tokens, and keep them."""
        if not isinstance(code, str) or not code:
            raise ValidationError("code must be the non-empty code Feishu redirected back with")
        key = self._key(user)
        fence = await self._lock(key)
        try:
            stored = await self._grant(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                }
            )
            await self._shared.set_token(key, stored, fence)
        finally:
            await self._shared.unlock_token(key, fence)

    async def _lock(self, key: str) -> int:
        with anyio.fail_after(_LOCK_TTL * 2):
            while True:
                fence = await self._shared.lock_token(key, _LOCK_TTL)
                if fence is not None:
                    return fence
                await anyio.sleep(_WAIT_STEP)

    async def access_token(self, user: str) -> str:
        """
        A valid access token of ``user``: the stored one, or a new one from a
        refresh made by exactly one caller across every process sharing the state.

        Raises:
            AuthenticationError: the user never authorized the app, or the
                refresh was refused (20064/20073: the user must authorize again).
        """
        key = self._key(user)
        stored = await self._shared.get_token(key)
        now = self._clock()
        if stored is not None and now < stored.refresh_at:
            return _tokens(stored)[0]
        if stored is None:
            raise AuthenticationError(
                f"user {user!r} has not authorized the app (exchange_code first)",
                provider="feishu",
                code="no_user_token",
            )
        fence = await self._shared.lock_token(key, _LOCK_TTL)
        if fence is None:
            access, _, until = _tokens(stored)
            if now < until:
                return access  # someone refreshes; this one is still good
            fence = await self._lock(key)
        try:
            # Another holder may have refreshed while this one waited.
            current = await self._shared.get_token(key)
            if current is None:
                raise AuthenticationError(
                    f"user {user!r} has no token any more", provider="feishu", code="no_user_token"
                )
            if self._clock() < current.refresh_at:
                return _tokens(current)[0]
            fresh = await self._grant(
                {"grant_type": "refresh_token", "refresh_token": _tokens(current)[1]}
            )
            # Stored before the lock is released: the next holder redeems the new one.
            await self._shared.set_token(key, fresh, fence)
            return _tokens(fresh)[0]
        finally:
            await self._shared.unlock_token(key, fence)

    async def invalidate(self, user: str, token: str) -> None:
        """Feishu refused ``token``: the next :meth:`access_token` refreshes."""
        key = self._key(user)
        fence = await self._lock(key)
        try:
            current = await self._shared.get_token(key)
            if current is not None and _tokens(current)[0] == token:
                stale = StoredToken(current.value, current.expires_at, 0.0)
                await self._shared.set_token(key, stale, fence)
        finally:
            await self._shared.unlock_token(key, fence)

    async def forget(self, user: str) -> None:
        """Drop ``user``'s stored tokens (after a revocation)."""
        stored = await self._shared.get_token(self._key(user))
        if stored is not None:
            await self._shared.discard_token(self._key(user), stored.value)


def _tokens(stored: StoredToken) -> tuple[str, str, float]:
    """(access token, refresh token, access token's expiry) of a stored value."""
    try:
        data: Any = json.loads(stored.value)
        return str(data["a"]), str(data["r"]), float(data["x"])
    except (ValueError, KeyError, TypeError):
        raise ResponseFormatError("a stored user token is not wecal's") from None
