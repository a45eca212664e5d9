"""
Access tokens: cached per app, fetched once for any number of waiters.

Rules (``DESIGN.md``, "Reliability rules"):

- The cache key is (provider API, app id, a digest of the secret, base URL):
  two apps of one corp never share a token — the most reported bug of
  WeChat-family SDKs (301002 "not allow operate another agent").
- Single flight: one fetch, however many tasks want a token at once.
- Proactive refresh a margin (300 s, at most half the lifetime) before expiry.
- Compare before drop: :meth:`TokenManager.invalidate` removes a token only if
  it is still the cached one, so 100 calls that failed with the same dead
  token cause one refresh, not 100.
- A failed fetch is shared too: tasks that queued behind it get its error
  instead of hammering ``gettoken`` (WeCom throttles erroneous token calls) —
  each task a fresh copy, so one paginator's ``.cursor`` is not another's.
  A fetch that was *cancelled* failed nobody: a waiter fetches again.
- A token that cannot be used (not a string, empty, longer than
  :data:`MAX_TOKEN_LENGTH`, not printable ASCII) is not cached: the fetch
  fails with :class:`~wecal.ResponseFormatError`.
- A store that raises, answers something other than a :class:`StoredToken`
  or does not answer within ``store_timeout`` seconds fails the call with a
  :class:`~wecal.WecalError`; its own exception never escapes.

Stores are pluggable (:class:`TokenStore`) so several processes can share
tokens, e.g. through Redis; expiry times are wall-clock (``time.time``) for
that reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import anyio

from . import errors as _errors
from ._shared import SharedState, StoredToken
from .errors import ProviderError, ResponseFormatError, WecalError, redact

__all__ = [
    "MAX_TOKEN_LENGTH",
    "STORE_TIMEOUT",
    "MemoryTokenStore",
    "SharedTokenManager",
    "TokenManager",
    "TokenStore",
    "token_key",
]

#: Refresh this long before expiry (capped at half the token's lifetime).
REFRESH_MARGIN = 300.0
#: Seconds one token store operation may take before the call fails.
STORE_TIMEOUT = 10.0
#: Longest token accepted. Real ones: WeCom ~200 characters, DingTalk 32.
MAX_TOKEN_LENGTH = 4096
# Longest lifetime believed: a day (providers say 7200 s).
_MAX_LIFETIME = 86_400.0


@runtime_checkable
class TokenStore(Protocol):
    """
    Where tokens are cached. Implement it to share tokens between processes.

    ``discard`` must be compare-and-delete: remove the entry only when its
    value is still ``value`` (another process may have refreshed it already).
    """

    async def get(self, key: str) -> StoredToken | None:
        """The token cached under ``key``, or None."""
        ...

    async def set(self, key: str, token: StoredToken) -> None:
        """Cache ``token`` under ``key``."""
        ...

    async def discard(self, key: str, value: str) -> None:
        """Forget the token under ``key`` if its value is ``value``."""
        ...


class MemoryTokenStore:
    """The default store: a dict in this process, shared by every client that uses it."""

    def __init__(self) -> None:
        self._tokens: dict[str, StoredToken] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} tokens>)"

    async def get(self, key: str) -> StoredToken | None:
        """The token cached under ``key``, or None."""
        return self._tokens.get(key)

    async def set(self, key: str, token: StoredToken) -> None:
        """Cache ``token`` under ``key``."""
        self._tokens[key] = token

    async def discard(self, key: str, value: str) -> None:
        """Forget the token under ``key`` if its value is ``value``."""
        current = self._tokens.get(key)
        if current is not None and current.value == value:
            del self._tokens[key]


#: Shared by all clients that are not given a store, so a web app that builds
#: a client per request still fetches one token per app.
DEFAULT_STORE = MemoryTokenStore()


def token_key(api: str, app_id: str, secret: str, base_url: str) -> str:
    """
    The cache key of an app's token. The secret enters only as a digest.

    >>> token_key("wecom", "ww1", "s", "https://qyapi.weixin.qq.com")[:24]
    'wecal:wecom:ww1:d9b129dd'
    """
    digest = hashlib.sha256(f"{app_id}\0{secret}".encode()).hexdigest()[:16]
    return f"wecal:{api}:{app_id}:{digest}:{base_url}"


class TokenManager:
    """Single-flight token cache for one app (one client)."""

    def __init__(
        self,
        key: str,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        *,
        store: TokenStore,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN,
        store_timeout: float = STORE_TIMEOUT,
    ) -> None:
        self._key = key
        self._fetch = fetch
        self._store = store
        self._clock = clock
        self._margin = margin
        #: Seconds a store operation may take before the call fails.
        self.store_timeout = store_timeout
        self._lock: anyio.Lock | None = None
        self._generation = 0
        self._last_error: WecalError | None = None
        #: How many fetches ran (for tests and metrics).
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenManager(key={self._key!r}, fetches={self.fetches})"

    async def _ask_store(self, operation: str, *args: Any) -> Any:
        """Run one store operation, bounded in time; its failures become WecalErrors."""
        return await _bounded(
            "token store", self._store, operation, self.store_timeout, self._key, *args
        )

    async def _usable(self, stale: str | None) -> str | None:
        if type(self._store) is MemoryTokenStore:
            # A dict in this process cannot hang or fail: no time bound. The
            # cancel scope cost ~70 µs of CPU per call at 16 in flight (issue 11).
            stored = self._store._tokens.get(self._key)
        else:
            stored = await self._ask_store("get")
        if stored is None:
            return None
        if (
            not isinstance(stored, StoredToken)
            or not isinstance(stored.value, str)
            or not isinstance(stored.refresh_at, int | float)
        ):
            raise WecalError(
                f"token store {type(self._store).__name__}.get() returned "
                f"{type(stored).__name__}, not a StoredToken or None"
            )
        if stored.value == stale or self._clock() >= stored.refresh_at:
            return None
        return stored.value

    async def get(self, *, stale: str | None = None) -> str:
        """
        A usable token, fetching one if needed. ``stale`` is a value known to
        be dead: it is never returned.
        """
        token = await self._usable(stale)
        if token is not None:
            return token
        if self._lock is None:
            self._lock = anyio.Lock()
        generation = self._generation
        async with self._lock:
            token = await self._usable(stale)
            if token is not None:
                return token
            if self._generation != generation and self._last_error is not None:
                # A fetch failed while we queued: share its verdict — a copy
                # of it, so that each caller's error is its own.
                raise self._last_error._fresh()
            self._generation += 1
            self.fetches += 1
            # Cleared first: a fetch that is cancelled leaves no verdict, and
            # the next waiter fetches again.
            self._last_error = None
            try:
                value, lifetime = await self._fetch()
                _check_token(value)
            except WecalError as exc:
                self._last_error = exc._fresh()
                raise
            now = self._clock()
            # NaN is not > 0: it counts as the providers' usual 7200 s.
            lifetime = min(lifetime, _MAX_LIFETIME) if lifetime > 0 else 7200.0
            margin = min(self._margin, lifetime / 2)
            await self._ask_store(
                "set", StoredToken(value, now + lifetime, now + lifetime - margin)
            )
            return value

    async def invalidate(self, value: str) -> None:
        """Drop ``value`` if it is still the cached token (compare, then drop)."""
        await self._ask_store("discard", value)


def _check_token(value: object) -> None:
    """Raise ResponseFormatError for a token that cannot be sent (never cached)."""
    if not isinstance(value, str) or not value:
        raise ResponseFormatError(f"the access token is not a string ({type(value).__name__})")
    if len(value) > MAX_TOKEN_LENGTH:
        raise ResponseFormatError(
            f"the access token is {len(value)} characters long (at most {MAX_TOKEN_LENGTH})"
        )
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        raise ResponseFormatError("the access token holds characters a token cannot have")


#: Seconds a refresh lock is held at most: longer than a token fetch with its
#: retries usually takes. A holder that dies frees it after this long.
LOCK_TTL = 15.0
#: Seconds a failed fetch's verdict (bad secret, IP not allowed) is shared.
VERDICT_TTL = 15.0
# The errors a failed fetch shares with the other processes: the provider's
# refusals. Transport errors are transient, each process finds out itself.
_SHARED_VERDICTS = ("AuthenticationError", "PermissionDeniedError", "QuotaExceededError")


class SharedTokenManager:
    """
    Token cache for one app on a :class:`~wecal.SharedState`: one fetch per
    token lifetime across every process sharing the state.

    Within the process an ``anyio.Lock`` lets one task talk to the state at a
    time, and a local copy answers every call until the refresh time, so a
    call costs no store round trip. Past the refresh time:

    - the process that takes the state's refresh lock (with a *fence*) fetches
      and writes the token only if its fence is newer than the stored one's;
    - the others keep using the current token until it expires
      (stale-while-revalidate), or, with no usable token, wait on the store
      (polling 25→200 ms with jitter), not on the token endpoint;
    - a holder that died frees the lock after its TTL, and the next waiter takes it;
    - a fetch refused by the provider (bad secret, IP not allowed) is
      shared as a verdict for ``verdict_ttl`` seconds: the others raise it
      instead of asking again.

    Each process refreshes at a slightly different time (0–30 s of jitter on
    the margin), so the lock is rarely contended.
    """

    def __init__(
        self,
        key: str,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        *,
        state: SharedState,
        provider: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        margin: float = REFRESH_MARGIN,
        lock_ttl: float = LOCK_TTL,
        verdict_ttl: float = VERDICT_TTL,
        store_timeout: float = STORE_TIMEOUT,
    ) -> None:
        self._key = key
        self._fetch = fetch
        self._state = state
        self._provider = provider
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self.lock_ttl = lock_ttl
        self.verdict_ttl = verdict_ttl
        #: Seconds a state operation may take before the call fails.
        self.store_timeout = store_timeout
        self._local: StoredToken | None = None
        self._lock: anyio.Lock | None = None
        self._generation = 0
        self._last_error: WecalError | None = None
        #: How many fetches this process ran (for tests and metrics).
        self.fetches = 0

    def __repr__(self) -> str:
        return f"SharedTokenManager(key={self._key!r}, fetches={self.fetches})"

    async def _ask(self, operation: str, *args: Any) -> Any:
        """One state operation, bounded in time; its failures become WecalErrors."""
        return await _bounded(
            "shared state", self._state, operation, self.store_timeout, self._key, *args
        )

    async def get(self, *, stale: str | None = None) -> str:
        """A usable token (never ``stale``), from the local copy, the state, or a fetch."""
        local = self._local
        if local is not None and local.value != stale and self._clock() < local.refresh_at:
            return local.value
        if self._lock is None:
            self._lock = anyio.Lock()
        generation = self._generation
        async with self._lock:
            local = self._local
            if local is not None and local.value != stale and self._clock() < local.refresh_at:
                return local.value
            if self._generation != generation and self._last_error is not None:
                # A fetch failed while we queued: its verdict, a copy per caller.
                raise self._last_error._fresh()
            self._generation += 1
            self._last_error = None
            try:
                return await self._obtain(stale)
            except WecalError as exc:
                self._last_error = exc._fresh()
                raise

    async def _obtain(self, stale: str | None) -> str:
        delay = 0.025
        while True:
            stored = await self._ask("get_token")
            if stored is not None and not isinstance(stored, StoredToken):
                raise WecalError(
                    f"shared state {type(self._state).__name__}.get_token() returned "
                    f"{type(stored).__name__}, not a StoredToken or None"
                )
            now = self._clock()
            if stored is not None and stored.value != stale and now < stored.refresh_at:
                self._local = stored
                return stored.value
            verdict = await self._ask("get_verdict")
            if verdict is not None:
                raise _verdict_error(str(verdict), self._provider)
            fence = await self._ask("lock_token", self.lock_ttl)
            if fence is not None:
                return await self._refresh(int(fence))
            if stored is not None and stored.value != stale and now < stored.expires_at:
                # Someone else is refreshing: keep the current token meanwhile,
                # and look again in a second.
                self._local = StoredToken(
                    stored.value, stored.expires_at, min(stored.expires_at, now + 1.0)
                )
                return stored.value
            await self._sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)

    async def _refresh(self, fence: int) -> str:
        try:
            self.fetches += 1
            try:
                value, lifetime = await self._fetch()
                _check_token(value)
            except ProviderError as exc:
                if type(exc).__name__ in _SHARED_VERDICTS:
                    verdict = f"{type(exc).__name__}\x1f{exc.code}\x1f{exc.message}"
                    await self._ask("set_verdict", verdict, self.verdict_ttl)
                raise
            now = self._clock()
            lifetime = min(lifetime, _MAX_LIFETIME) if lifetime > 0 else 7200.0
            # Jittered per process, so that processes do not all come due at once.
            margin = min(self._margin, lifetime / 2) + random.uniform(0, min(30.0, lifetime / 10))
            token = StoredToken(value, now + lifetime, now + lifetime - margin)
            if not await self._ask("set_token", token, fence):
                # A newer fence wrote meanwhile (we were paused past our lock):
                # theirs wins.
                newer = await self._ask("get_token")
                if isinstance(newer, StoredToken) and newer.expires_at > now:
                    token = newer
            self._local = token
            return token.value
        finally:
            # A failure is harmless: the lock ends with its TTL anyway.
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(self.store_timeout),
                contextlib.suppress(Exception),
            ):
                await self._state.unlock_token(self._key, fence)

    async def invalidate(self, value: str) -> None:
        """Drop ``value`` here and in the state if it is still the stored token."""
        if self._local is not None and self._local.value == value:
            self._local = None
        await self._ask("discard_token", value)


def _verdict_error(verdict: str, provider: str) -> WecalError:
    """The error a shared verdict stands for (a ProviderError subclass, no secret in it)."""
    name, _, rest = verdict.partition("\x1f")
    code_text, _, message = rest.partition("\x1f")
    cls = getattr(_errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ProviderError)):
        cls = ProviderError
    code: int | str | None = None if code_text in ("", "None") else code_text
    if isinstance(code, str) and code.lstrip("-").isdigit():
        code = int(code)
    return cls(
        f"{message} (shared verdict of another process's token fetch)",
        provider=provider,
        code=code,
    )


async def _bounded(kind: str, target: object, operation: str, limit: float, *args: Any) -> Any:
    """
    ``target.operation(*args)``, bounded by ``limit`` seconds; any failure of it is
    one WecalError naming the operation (secrets redacted), never a foreign
    exception or a hang.
    """
    name = f"{kind} {type(target).__name__}.{operation}()"
    try:
        with anyio.fail_after(limit):
            return await getattr(target, operation)(*args)
    except TimeoutError:
        raise WecalError(f"{name} did not answer within {limit:g}s") from None
    except WecalError:
        raise
    except Exception as exc:
        raise WecalError(f"{name} failed: {type(exc).__name__}: {redact(str(exc))}") from None
