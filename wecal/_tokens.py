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

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs

from .errors import ResponseFormatError, WecalError, redact

__all__ = [
    "MAX_TOKEN_LENGTH",
    "STORE_TIMEOUT",
    "MemoryTokenStore",
    "StoredToken",
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


@attrs.frozen
class StoredToken:
    """A cached token: its value (never in ``repr``), expiry and refresh time (epoch s)."""

    value: str = attrs.field(repr=False)
    expires_at: float
    refresh_at: float


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
        name = f"token store {type(self._store).__name__}.{operation}()"
        try:
            with anyio.fail_after(self.store_timeout):
                return await getattr(self._store, operation)(self._key, *args)
        except TimeoutError:
            raise WecalError(f"{name} did not answer within {self.store_timeout:g}s") from None
        except WecalError:
            raise
        except Exception as exc:
            raise WecalError(f"{name} failed: {type(exc).__name__}: {redact(str(exc))}") from None

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
