"""
State that several clients (and, with :mod:`wecal.redis`, several processes)
share about one provider budget: tokens, rate-limit schedules, a monthly
quota ledger, provider blocks, concurrency permits and a dedupe set.

:class:`SharedState` is the protocol; :class:`MemoryState` implements it in
this process (the default), ``wecal.redis.RedisBackend`` on Redis.

The operations are shaped so that one implementation call is one round trip
to a shared store:

- **Tokens**: ``get_token``; ``lock_token`` takes the refresh lock for
  ``ttl`` seconds and returns a *fence* (a number that grows with every
  acquisition) or None when someone else holds it; ``set_token`` writes only
  when its fence is newer than the stored token's (a fetcher that was paused
  past its lock cannot overwrite a newer token); ``discard_token`` is
  compare-and-delete; ``set_verdict`` / ``get_verdict`` share a failed
  fetch's error for a few seconds.
- **Limits**: ``reserve`` checks every :class:`Band` of a call, the
  provider blocks and the quota in one step and reserves a slot in all of
  them, or none (the wait is longer than ``max_wait``, a block is in force,
  the quota is spent). Waits are *relative* seconds, so clocks of the
  processes never mix with the store's.
- **Permits**: ``acquire_permit`` leases one of ``cap`` permits for
  ``lease`` seconds (a holder that dies frees it when the lease ends).
- **Blocks**: ``block`` records "the provider said wait N s" for everyone.
- **Dedupe**: ``seen(key, ttl)`` is True when ``key`` was seen within
  ``ttl`` seconds, else it records the key and answers False.

GCRA ("virtual scheduling", as ``wecal/_ratelimit.py`` always used): each
band keeps the theoretical arrival time (TAT) of its next call; a call
reserves ``max(TAT, now) + interval`` and waits until ``burst`` intervals
before it. Written by hand: the one operation needed is smaller than any
dependency, and the Redis port (``wecal/redis.py``) is the same arithmetic in
Lua.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import attrs

__all__ = [
    "LEDGER_UNREACHABLE",
    "Band",
    "MemoryState",
    "Quota",
    "Reservation",
    "SharedState",
    "StoredToken",
]


# The token a SharedState keeps (and a TokenStore caches); here, below
# wecal._tokens, which builds its managers on SharedState.
@attrs.frozen
class StoredToken:
    """A cached token: its value (never in ``repr``), expiry and refresh time (epoch s)."""

    value: str = attrs.field(repr=False)
    expires_at: float
    refresh_at: float


@attrs.frozen
class Band:
    """One schedule a call must fit: ``key`` names the budget, one call per ``interval`` s,
    ``burst`` calls back to back."""

    key: str
    interval: float
    burst: int = 1


@attrs.frozen
class Quota:
    """A ledger a call spends one unit of: ``key`` (one per period), ``limit``,
    kept ``ttl`` seconds."""

    key: str
    limit: int
    ttl: float


@attrs.frozen
class Reservation:
    """
    What :meth:`SharedState.reserve` decided.

    ``status``: ``"ok"`` (reserved: send after ``wait`` seconds), ``"wait"``
    (nothing reserved: the next slot is ``wait`` seconds away, longer than
    ``max_wait``), ``"blocked"`` (nothing reserved: a provider block lasts
    ``wait`` more seconds; ``code`` is what the provider answered, or
    :data:`LEDGER_UNREACHABLE`: look again in ``wait`` seconds) or
    ``"quota"`` (nothing reserved: ``used`` units of the quota are spent).
    """

    status: Literal["ok", "wait", "blocked", "quota"]
    wait: float = 0.0
    code: str | None = None
    used: int | None = None


RESERVED_NOW = Reservation("ok", 0.0)

#: The ``code`` of a ``"blocked"`` reservation that waits for the quota
#: ledger: the shared state is unreachable and this process may not spend
#: more of the quota on its own (see ``RedisBackend``).
LEDGER_UNREACHABLE = "quota-ledger-unreachable"


@runtime_checkable
class SharedState(Protocol):
    """
    What the clients of one app share: pass one as ``shared=`` to any client.

    :class:`MemoryState` shares within a process, ``wecal.redis.RedisBackend``
    between processes. Keys are built by wecal and hold no secret.
    """

    async def get_token(self, key: str) -> StoredToken | None:
        """The token stored under ``key``, or None."""
        ...

    async def set_token(self, key: str, token: StoredToken, fence: int) -> bool:
        """Store ``token`` if ``fence`` is newer than the stored token's; True if written."""
        ...

    async def discard_token(self, key: str, value: str) -> None:
        """Forget the token under ``key`` if its value is still ``value``."""
        ...

    async def lock_token(self, key: str, ttl: float) -> int | None:
        """Take the refresh lock of ``key`` for ``ttl`` s: its fence, or None if held."""
        ...

    async def unlock_token(self, key: str, fence: int) -> None:
        """Release the refresh lock of ``key`` if ``fence`` still holds it."""
        ...

    async def get_verdict(self, key: str) -> str | None:
        """A failed token fetch's verdict shared under ``key``, or None."""
        ...

    async def set_verdict(self, key: str, verdict: str, ttl: float) -> None:
        """Share ``verdict`` (no secret in it) under ``key`` for ``ttl`` seconds."""
        ...

    async def reserve(
        self,
        bands: Sequence[Band],
        *,
        max_wait: float,
        quota: Quota | None = None,
        blocks: Sequence[str] = (),
    ) -> Reservation:
        """Reserve a slot in every band (and a quota unit), or nothing: see :class:`Reservation`."""
        ...

    async def block(self, key: str, seconds: float, code: str) -> None:
        """Record that the provider blocks ``key`` for ``seconds`` (answering ``code``)."""
        ...

    async def acquire_permit(self, key: str, cap: int, lease: float) -> str | None:
        """Lease one of ``cap`` permits of ``key`` for ``lease`` s: its id, or None (all out)."""
        ...

    async def release_permit(self, key: str, permit: str) -> None:
        """Give back a permit of ``key``."""
        ...

    async def seen(self, key: str, ttl: float) -> bool:
        """True if ``key`` was seen within ``ttl`` s; else record it and answer False."""
        ...


class MemoryState:
    """
    :class:`SharedState` in this process: dicts, no I/O, no lock needed
    (nothing awaits between reading and writing).

    One instance can be passed as ``shared=`` to several clients so that they
    share one app's budget. ``clock`` (monotonic seconds) and ``wall_clock``
    (epoch seconds, for token expiry) are injectable for tests.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._tokens: dict[str, tuple[StoredToken, int]] = {}
        self._locks: dict[str, tuple[int, float]] = {}
        self._fences: dict[str, int] = {}
        self._verdicts: dict[str, tuple[str, float]] = {}
        self._tat: dict[str, float] = {}
        self._quota: dict[str, tuple[int, float]] = {}
        self._blocks: dict[str, tuple[str, float]] = {}
        self._permits: dict[str, dict[str, float]] = {}
        self._seen: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"MemoryState(<{len(self._tokens)} tokens, {len(self._tat)} schedules>)"

    # -- tokens ------------------------------------------------------------

    async def get_token(self, key: str) -> StoredToken | None:
        """The token stored under ``key``, or None."""
        entry = self._tokens.get(key)
        if entry is None:
            return None
        if entry[0].expires_at <= self._wall():
            del self._tokens[key]
            return None
        return entry[0]

    async def set_token(self, key: str, token: StoredToken, fence: int) -> bool:
        """Store ``token`` if ``fence`` is newer than the stored token's; True if written."""
        entry = self._tokens.get(key)
        if entry is not None and entry[1] >= fence:
            return False
        self._tokens[key] = (token, fence)
        return True

    async def discard_token(self, key: str, value: str) -> None:
        """Forget the token under ``key`` if its value is still ``value``."""
        entry = self._tokens.get(key)
        if entry is not None and entry[0].value == value:
            del self._tokens[key]

    async def lock_token(self, key: str, ttl: float) -> int | None:
        """Take the refresh lock of ``key`` for ``ttl`` s: its fence, or None if held."""
        now = self._clock()
        held = self._locks.get(key)
        if held is not None and held[1] > now:
            return None
        fence = self._fences.get(key, 0) + 1
        self._fences[key] = fence
        self._locks[key] = (fence, now + ttl)
        return fence

    async def unlock_token(self, key: str, fence: int) -> None:
        """Release the refresh lock of ``key`` if ``fence`` still holds it."""
        held = self._locks.get(key)
        if held is not None and held[0] == fence:
            del self._locks[key]

    async def get_verdict(self, key: str) -> str | None:
        """A failed token fetch's verdict shared under ``key``, or None."""
        entry = self._verdicts.get(key)
        if entry is None or entry[1] <= self._clock():
            self._verdicts.pop(key, None)
            return None
        return entry[0]

    async def set_verdict(self, key: str, verdict: str, ttl: float) -> None:
        """Share ``verdict`` under ``key`` for ``ttl`` seconds."""
        self._verdicts[key] = (verdict, self._clock() + ttl)

    # -- limits ------------------------------------------------------------

    def reserve_now(
        self,
        bands: Sequence[Band],
        *,
        max_wait: float = float("inf"),
        quota: Quota | None = None,
        blocks: Sequence[str] = (),
        scale: float = 1.0,
    ) -> Reservation:
        """
        :meth:`reserve` without the ``await`` (the send loop's fast path).
        ``scale`` stretches every interval (a fallback limiter's share).
        """
        now = self._clock()
        for key in blocks:
            found = self._blocks.get(key)
            if found is not None:
                if found[1] > now:
                    return Reservation("blocked", found[1] - now, code=found[0])
                del self._blocks[key]
        wait = 0.0
        tats: list[float] = []
        for band in bands:
            interval = band.interval * scale
            tat = max(self._tat.get(band.key, now), now) + interval
            tats.append(tat)
            wait = max(wait, tat - now - band.burst * interval)
        if wait > max_wait:
            return Reservation("wait", wait)
        if quota is not None:
            wall = self._wall()
            used, until = self._quota.get(quota.key, (0, 0.0))
            if until <= wall:
                used = 0
            if used >= quota.limit:
                return Reservation("quota", used=used)
            self._quota[quota.key] = (used + 1, wall + quota.ttl)
        for band, tat in zip(bands, tats, strict=True):
            self._tat[band.key] = tat
        return Reservation("ok", wait) if wait > 0 else RESERVED_NOW

    async def reserve(
        self,
        bands: Sequence[Band],
        *,
        max_wait: float,
        quota: Quota | None = None,
        blocks: Sequence[str] = (),
    ) -> Reservation:
        """Reserve one slot in every band (and a quota unit), or nothing."""
        return self.reserve_now(bands, max_wait=max_wait, quota=quota, blocks=blocks)

    async def block(self, key: str, seconds: float, code: str) -> None:
        """Record that the provider blocks ``key`` for ``seconds``."""
        until = self._clock() + seconds
        found = self._blocks.get(key)
        if found is None or found[1] < until:
            self._blocks[key] = (code, until)

    async def acquire_permit(self, key: str, cap: int, lease: float) -> str | None:
        """Lease one of ``cap`` permits of ``key`` for ``lease`` s, or None if all are out."""
        now = self._clock()
        holders = self._permits.setdefault(key, {})
        for permit, until in list(holders.items()):
            if until <= now:
                del holders[permit]
        if len(holders) >= cap:
            return None
        permit = uuid.uuid4().hex
        holders[permit] = now + lease
        return permit

    async def release_permit(self, key: str, permit: str) -> None:
        """Give back a permit of ``key``."""
        self._permits.get(key, {}).pop(permit, None)

    async def seen(self, key: str, ttl: float) -> bool:
        """True if ``key`` was seen within ``ttl`` s; else record it and answer False."""
        now = self._clock()
        until = self._seen.get(key)
        if until is not None and until > now:
            return True
        if len(self._seen) > 4096:  # keep the set bounded: drop what expired
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        self._seen[key] = now + ttl
        return False

    async def used(self, key: str) -> int:
        """Units of the quota ledger ``key`` spent so far (for tests and displays)."""
        used, until = self._quota.get(key, (0, 0.0))
        return used if until > self._wall() else 0


#: How long the job's command and a worker follow an unreachable Redis (a
#: restart, a failover) before they give up with its error.
REDIS_PATIENCE = 120.0


def redis_client_error(exc: BaseException) -> bool:
    """
    A connection failure or timeout of coredis or of redis-py (arq's client):
    Redis is down or restarting, not a bug of ours. The socket's own errors
    (builtin ``ConnectionError``/``OSError``) are for the caller to add: a
    provider's refused connection is one too.
    """
    kind = type(exc)
    return kind.__module__.split(".")[0] in {"coredis", "redis"} and any(
        k.__name__ in {"ConnectionError", "TimeoutError"} for k in kind.__mro__
    )
