"""
``RedisBackend``: one app's tokens, rate limits, quota, blocks and dedupe set
shared by every process that uses the same Redis and prefix
(``pip install 'wecal[redis]'``)::

    from wecal.redis import RedisBackend

    async with RedisBackend("redis://127.0.0.1:6379/0", prefix="wecal") as shared:
        async with wecal.DingTalkClient(app_key, app_secret, shared=shared) as ding:
            ...

It implements :class:`wecal.SharedState` with a few small Lua scripts, so that
each operation is one round trip and atomic on the server:

- tokens: a hash ``{v, exp, ref, fence}`` that expires with the token; a
  write only when its fence is newer than the stored one; compare-and-delete
  discard; a refresh lock taken with ``SET NX PX`` whose fence comes from a
  counter (never below the stored token's fence, so an emptied counter cannot
  let an old fetcher win);
- limits: one GCRA script on Redis' clock (``TIME``) that reads the block
  records, checks every band of the call, spends a unit of the monthly quota
  and reserves the slot in all bands — or nothing — and returns a *relative*
  wait in microseconds, so host clocks never enter the schedule;
- permits: a sorted set of holders scored by the end of their lease;
- ``seen``: ``SET NX PX``.

coredis' own ``Lock`` is not used: it has no TTL by default and no fence.

**Redis down.** No business call fails because of Redis: every operation
falls back to a :class:`wecal.MemoryState` of this process — tokens become
per-process single flight, the limiter a local one at ``rate × outage_share``
— and one WARNING a minute says so. Redis is tried again every
``retry_interval`` seconds; the first answer puts the process back on the
shared state. An emptied or restarted Redis holds no schedule and no token:
the next call reserves again and, if needed, fetches a token again (one per
lock), so nothing wrong is ever served.

Enter the backend once, in a long-lived task (an application's lifespan),
and give it to every client: coredis runs its connection pool in a task
group of that task.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio

from ._shared import Band, MemoryState, Quota, Reservation, StoredToken
from .errors import ValidationError, WecalError, redact

try:
    import coredis
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("wecal.redis needs coredis: pip install 'wecal[redis]'") from exc

__all__ = ["RedisBackend"]

logger = logging.getLogger("wecal")

T = TypeVar("T")

# The scripts below are ours, not a library's: each is a handful of Redis
# commands that must run atomically, which is what a script is for.

_TOKEN_SET = """
local cur = redis.call('HGET', KEYS[1], 'fence')
if cur and tonumber(cur) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'exp', ARGV[2], 'ref', ARGV[3], 'fence', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

_TOKEN_DISCARD = """
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock, fence counter, token. A fence never below the stored token's.
_LOCK = """
if not redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[1]) then return 0 end
local fence = redis.call('INCR', KEYS[2])
local stored = tonumber(redis.call('HGET', KEYS[3], 'fence') or '0')
if fence <= stored then
  fence = stored + 1
  redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], fence, 'PX', ARGV[1])
return fence
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: nb block keys, n band keys, then the quota key if any.
# ARGV: nb, n, max_wait_us, (interval_us, burst) per band, quota limit, quota ttl_ms.
# Returns {0, wait_us} reserved; {1, wait_us} too far; {2, block_us, code}; {3, used}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nb, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local blocked, code = 0, ''
for i = 1, nb do
  local left = redis.call('PTTL', KEYS[i])
  if left > blocked then
    blocked = left
    code = redis.call('GET', KEYS[i]) or ''
  end
end
if blocked > 0 then return {2, blocked * 1000, code} end
local wait, tats = 0, {}
for i = 1, n do
  local interval = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[nb + i]) or '0')
  if tat < now then tat = now end
  tat = tat + interval
  tats[i] = tat
  local w = tat - now - burst * interval
  if w > wait then wait = w end
end
if wait > max_wait then return {1, wait} end
local q = KEYS[nb + n + 1]
if q then
  local used = tonumber(redis.call('GET', q) or '0')
  if used >= tonumber(ARGV[4 + 2 * n]) then return {3, used} end
  redis.call('INCR', q)
  redis.call('PEXPIRE', q, ARGV[5 + 2 * n])
end
for i = 1, n do
  redis.call('SET', KEYS[nb + i], string.format('%.0f', tats[i]),
             'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, wait}
"""

_BLOCK = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""

_PERMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _where(url: str) -> str:
    """``host:port/db`` of a Redis URL: what a log line may show (never a password)."""
    rest = url.split("://", 1)[-1].rpartition("@")[2]
    return redact(rest.split("?", 1)[0]) or "redis"


class RedisBackend:
    """
    :class:`wecal.SharedState` on Redis (coredis; asyncio and trio).

    ``url``: ``redis://[:password@]host:port/db`` (or ``rediss://``,
    ``unix://``); ``prefix`` starts every key, so several deployments can
    share one Redis; ``outage_share``: while Redis is unreachable, each
    process sends at this share of every rate (default 1/4: four processes
    stay within the limit); ``token_lock_ttl``: seconds the token refresh lock
    is held at most (a killed holder frees it then); ``op_timeout``: seconds
    one Redis operation may take before it counts as an outage;
    ``retry_interval``: seconds between attempts to reach Redis again.
    Any other keyword goes to ``coredis.Redis.from_url``.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wecal",
        outage_share: float = 0.25,
        token_lock_ttl: float = 15.0,
        op_timeout: float = 2.0,
        retry_interval: float = 1.0,
        **redis_options: Any,
    ) -> None:
        if not isinstance(url, str) or "://" not in url:
            raise ValidationError(
                f"RedisBackend: url must be a redis:// URL, got {type(url).__name__}"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ValidationError("RedisBackend: prefix must be a non-empty string")
        for name, value, top in (
            ("outage_share", outage_share, 1.0),
            ("token_lock_ttl", token_lock_ttl, math.inf),
            ("op_timeout", op_timeout, math.inf),
            ("retry_interval", retry_interval, math.inf),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value <= top
            ):
                raise ValidationError(
                    f"RedisBackend: {name} must be in (0, {top:g}], got {value!r}"
                )
        self._where = _where(url)
        self.prefix = prefix
        self.outage_share = float(outage_share)
        #: Seconds the token refresh lock is held at most.
        self.token_lock_ttl = float(token_lock_ttl)
        self._op_timeout = float(op_timeout)
        self._retry_interval = float(retry_interval)
        options: dict[str, Any] = {"connect_timeout": op_timeout, "stream_timeout": op_timeout}
        options.update(redis_options)
        self._redis: coredis.Redis[str] = coredis.Redis.from_url(
            url, decode_responses=True, **options
        )
        self._local = MemoryState()
        self._entered = False
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._warned_at = -math.inf
        #: How many operations went to Redis, and how many fell back (for tests and metrics).
        self.round_trips = 0
        self.fallbacks = 0
        script = self._redis.register_script
        self._token_set = script(_TOKEN_SET)
        self._token_discard = script(_TOKEN_DISCARD)
        self._lock = script(_LOCK)
        self._unlock = script(_UNLOCK)
        self._reserve = script(_RESERVE)
        self._block = script(_BLOCK)
        self._permit = script(_PERMIT)

    def __repr__(self) -> str:
        state = "down" if self._down_since is not None else "up"
        return f"RedisBackend({self._where!r}, prefix={self.prefix!r}, {state})"

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise WecalError("RedisBackend is entered once, in one long-lived task")
        # coredis connects lazily: an unreachable Redis is an outage, found by
        # the first operation, not a failure to start.
        await self._redis.__aenter__()
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        await self._redis.__aexit__(exc_type, exc, tb)

    @property
    def available(self) -> bool:
        """False while Redis is unreachable (the process runs on its own state)."""
        return self._down_since is None

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def _run(
        self,
        operation: Callable[[], Awaitable[T]],
        fallback: Callable[[], Awaitable[T]],
    ) -> T:
        """``operation`` on Redis; ``fallback`` on this process's state when Redis is down."""
        if not self._entered:
            raise WecalError(
                "RedisBackend used outside its `async with` block (enter it once, "
                "in a long-lived task, before the clients)"
            )
        now = time.monotonic()
        if self._down_since is not None and now < self._retry_at:
            self.fallbacks += 1
            return await fallback()
        try:
            with anyio.fail_after(self._op_timeout):
                result = await operation()
        except Exception as exc:  # any failure of the cache is an outage, never the call's
            self._outage(exc, now)
            self.fallbacks += 1
            return await fallback()
        self.round_trips += 1
        if self._down_since is not None:
            logger.warning(
                "Redis at %s answers again after %.0fs: tokens, limits and quotas are shared again",
                self._where,
                now - self._down_since,
            )
            self._down_since = None
        return result

    def _outage(self, exc: Exception, now: float) -> None:
        if self._down_since is None:
            self._down_since = now
        self._retry_at = now + self._retry_interval
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            logger.warning(
                "Redis at %s unreachable (%s): this process keeps going on its own "
                "state — tokens per process, limits at %g of each rate — until Redis answers",
                self._where,
                type(exc).__name__,
                self.outage_share,
            )

    # -- tokens ------------------------------------------------------------

    async def get_token(self, key: str) -> StoredToken | None:
        """The token stored under ``key``, or None."""

        async def remote() -> StoredToken | None:
            value, exp, ref = await self._redis.hmget(
                self._key(f"token:{key}"), ["v", "exp", "ref"]
            )
            if not value or exp is None or ref is None:
                return None
            return StoredToken(str(value), float(exp), float(ref))

        return await self._run(remote, lambda: self._local.get_token(key))

    async def set_token(self, key: str, token: StoredToken, fence: int) -> bool:
        """Store ``token`` if ``fence`` is newer than the stored token's."""
        ttl = _ms(token.expires_at - time.time())

        async def remote() -> bool:
            written: Any = await self._token_set(
                [self._key(f"token:{key}")],
                [token.value, repr(token.expires_at), repr(token.refresh_at), fence, ttl],
            )
            return bool(written)

        written = await self._run(remote, lambda: self._local.set_token(key, token, fence))
        if written:
            # Kept here too (fence 0: any fetch during an outage replaces it),
            # so that an outage later still finds this process's token.
            self._local._tokens[key] = (token, 0)
        return written

    async def discard_token(self, key: str, value: str) -> None:
        """Forget the token under ``key`` if its value is still ``value``."""
        await self._local.discard_token(key, value)

        async def remote() -> None:
            await self._token_discard([self._key(f"token:{key}")], [value])

        await self._run(remote, lambda: self._local.discard_token(key, value))

    async def lock_token(self, key: str, ttl: float) -> int | None:
        """Take the refresh lock of ``key`` for ``ttl`` s: its fence, or None if held."""

        async def remote() -> int | None:
            keys = [self._key(f"lock:{key}"), self._key(f"fence:{key}"), self._key(f"token:{key}")]
            fence = int(await self._lock(keys, [_ms(ttl)]))
            return fence or None

        return await self._run(remote, lambda: self._local.lock_token(key, ttl))

    async def unlock_token(self, key: str, fence: int) -> None:
        """Release the refresh lock of ``key`` if ``fence`` still holds it."""

        async def remote() -> None:
            await self._unlock([self._key(f"lock:{key}")], [fence])

        await self._local.unlock_token(key, fence)
        await self._run(remote, _nothing)

    async def get_verdict(self, key: str) -> str | None:
        """A failed token fetch's verdict shared under ``key``, or None."""

        async def remote() -> str | None:
            found = await self._redis.get(self._key(f"verdict:{key}"))
            return None if found is None else str(found)

        return await self._run(remote, lambda: self._local.get_verdict(key))

    async def set_verdict(self, key: str, verdict: str, ttl: float) -> None:
        """Share ``verdict`` under ``key`` for ``ttl`` seconds."""

        async def remote() -> None:
            await self._redis.set(self._key(f"verdict:{key}"), verdict, px=_ms(ttl))

        await self._local.set_verdict(key, verdict, ttl)
        await self._run(remote, _nothing)

    # -- limits ------------------------------------------------------------

    async def reserve(
        self,
        bands: Sequence[Band],
        *,
        max_wait: float,
        quota: Quota | None = None,
        blocks: Sequence[str] = (),
    ) -> Reservation:
        """Reserve a slot in every band (and a quota unit) on Redis' clock, or nothing."""

        async def remote() -> Reservation:
            keys = [self._key(b) for b in blocks] + [self._key(b.key) for b in bands]
            args: list[str | int] = [
                len(blocks),
                len(bands),
                -1 if max_wait < 0 else min(int(max_wait * 1e6), 2**52),
            ]
            for band in bands:
                args += [repr(band.interval * 1e6), band.burst]
            if quota is not None:
                keys.append(self._key(quota.key))
                args += [quota.limit, _ms(quota.ttl)]
            answer: Any = await self._reserve(keys, args)
            status = int(answer[0])
            if status == 0:
                return Reservation("ok", int(answer[1]) / 1e6)
            if status == 1:
                return Reservation("wait", int(answer[1]) / 1e6)
            if status == 2:
                return Reservation("blocked", int(answer[1]) / 1e6, code=str(answer[2]) or None)
            return Reservation("quota", used=int(answer[1]))

        async def local() -> Reservation:
            return self._local.reserve_now(
                bands,
                max_wait=max_wait,
                quota=quota,
                blocks=blocks,
                scale=1.0 / self.outage_share,
            )

        return await self._run(remote, local)

    async def block(self, key: str, seconds: float, code: str) -> None:
        """Record that the provider blocks ``key`` for ``seconds``, for every process."""

        async def remote() -> None:
            await self._block([self._key(key)], [code, _ms(seconds)])

        await self._local.block(key, seconds, code)
        await self._run(remote, _nothing)

    async def acquire_permit(self, key: str, cap: int, lease: float) -> str | None:
        """Lease one of ``cap`` permits of ``key`` for ``lease`` s, or None (all out)."""
        permit = uuid.uuid4().hex

        async def remote() -> str | None:
            got: Any = await self._permit([self._key(key)], [cap, _ms(lease), permit])
            return permit if int(got) else None

        async def local() -> str | None:
            # Each process gets its share of the permits while Redis is down.
            share = max(1, math.floor(cap * self.outage_share))
            return await self._local.acquire_permit(key, share, lease)

        return await self._run(remote, local)

    async def release_permit(self, key: str, permit: str) -> None:
        """Give back a permit of ``key``."""

        async def remote() -> None:
            await self._redis.zrem(self._key(key), [permit])

        await self._local.release_permit(key, permit)
        await self._run(remote, _nothing)

    async def seen(self, key: str, ttl: float) -> bool:
        """True if ``key`` was seen within ``ttl`` s (by any process); else record it."""

        async def remote() -> bool:
            fresh = await self._redis.set(
                self._key(f"seen:{key}"), "1", condition=coredis.PureToken.NX, px=_ms(ttl)
            )
            return not fresh

        return await self._run(remote, lambda: self._local.seen(key, ttl))


async def _nothing() -> None:
    return None
