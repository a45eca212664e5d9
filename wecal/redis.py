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

The per-call operations (the reservation, the permits) do not go through
coredis' command pipeline but through a small pool of connections of the
backend's own (``wecal/_resp.py``: one write and one read in the calling
task), opened where coredis' pool would open its own; everything else is
coredis.

**The monthly quota during an outage.** A process spends on its own at most
``outage_share`` of what was left of a ledger at its last contact with
Redis; past that, or when it never read this month's ledger, quota-counted
calls wait for Redis (a ``"blocked"`` reservation with code
``LEDGER_UNREACHABLE``). What it spent alone is added to the shared ledger
(``INCRBY``) on the first answer of Redis, so the ledger counts every call
sent; N processes at ``outage_share = 1/N`` cannot spend more than was left.

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
import anyio.abc

from ._resp import Lane, Script, bulk, pack
from ._shared import (
    LEDGER_UNREACHABLE,
    RESERVED_NOW,
    Band,
    MemoryState,
    Quota,
    Reservation,
    StoredToken,
)
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
# Returns {0, wait_us, used} reserved (used: the quota's count after this call, or
# -1); {1, wait_us} too far; {2, block_us, code}; {3, used} quota spent.
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
local q, spent = KEYS[nb + n + 1], -1
if q then
  local used = tonumber(redis.call('GET', q) or '0')
  if used >= tonumber(ARGV[4 + 2 * n]) then return {3, used} end
  spent = redis.call('INCR', q)
  redis.call('PEXPIRE', q, ARGV[5 + 2 * n])
end
for i = 1, n do
  redis.call('SET', KEYS[nb + i], string.format('%.0f', tats[i]),
             'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, wait, spent}
"""

# The calls a process sent on its own while Redis was down, added to the
# ledgers they spent (KEYS) when it answers again. ARGV: (count, ttl_ms) per
# key. Returns each ledger's new count.
_SPEND = """
local counts = {}
for i = 1, #KEYS do
  counts[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2 * i]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  end
end
return counts
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
        #: Every operation answers (from Redis, or from this process's state
        #: when Redis is down) within this many seconds and never raises a
        #: foreign exception: the limiter adds no time bound of its own.
        self.answers_within = float(op_timeout) + 1.0
        #: How many operations went to Redis, and how many fell back (for tests and metrics).
        self.round_trips = 0
        self.fallbacks = 0
        script = self._redis.register_script
        self._token_set = script(_TOKEN_SET)
        self._token_discard = script(_TOKEN_DISCARD)
        self._lock = script(_LOCK)
        self._unlock = script(_UNLOCK)
        self._block = script(_BLOCK)
        # The per-call path (reservations, permits) on the lane's connections,
        # see wecal/_resp.py; the pool's settings say where and how to connect.
        self._lane = Lane(self._open_stream, timeout=self._op_timeout)
        self._reserve = Script(_RESERVE)
        self._permit = Script(_PERMIT)
        self._spend = Script(_SPEND)
        self._packed: dict[tuple[int, int], tuple[Any, ...]] = {}
        # The quota ledgers' counts at the last contact with Redis, and the
        # calls this process counted alone since (sent while Redis was down,
        # added to the shared ledger when it answers again): (count, ttl_ms).
        self._ledger: dict[str, int] = {}
        self._pending: dict[str, tuple[int, int]] = {}

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
        self._lane.reopen()
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        try:
            await self._lane.aclose()
        finally:
            await self._redis.__aexit__(exc_type, exc, tb)

    async def _open_stream(self) -> anyio.abc.ByteStream:
        """A connection for the lane, where and as coredis' pool would open one."""
        pool = self._redis.connection_pool
        options: dict[str, Any] = pool.connection_kwargs  # type: ignore[assignment]
        location = pool.location
        with anyio.fail_after(self._op_timeout):
            path = getattr(location, "path", None)
            if path is not None:
                stream: anyio.abc.ByteStream = await anyio.connect_unix(path)
            else:
                host: str = location.host  # type: ignore[union-attr]
                port: int = location.port  # type: ignore[union-attr]
                context = options.get("ssl_context")
                if context is None:
                    stream = await anyio.connect_tcp(host, port)
                else:
                    stream = await anyio.connect_tcp(
                        host, port, ssl_context=context, tls_standard_compatible=False
                    )
            try:
                username, password = options.get("username"), options.get("password")
                provider = options.get("credential_provider")
                if provider is not None:
                    username, password = await provider.get_credentials()
                hello: list[str | int] = []
                if password:
                    hello = ["AUTH", *([username] if username else []), password]
                    await _expect_ok(stream, pack(hello))
                if options.get("db"):
                    await _expect_ok(stream, pack(["SELECT", int(options["db"])]))
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                raise
        return stream

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
        *,
        bounded: bool = False,
    ) -> T:
        """
        ``operation`` on Redis; ``fallback`` on this process's state when Redis is
        down. ``bounded``: the operation runs on the lane, whose every wait for
        Redis is bounded by ``op_timeout`` already (no timer per call).
        """
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
            if bounded:
                result = await operation()
            else:
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
            if self._pending:
                await self._reconcile()
            answer: Any = await self._lane.script(
                self._reserve, self._reserve_payload(bands, blocks, max_wait, quota)
            )
            status = answer[0]
            if status == 0:
                if quota is not None:
                    self._ledger[quota.key] = answer[2]
                return Reservation("ok", answer[1] / 1e6) if answer[1] > 0 else RESERVED_NOW
            if status == 1:
                return Reservation("wait", answer[1] / 1e6)
            if status == 2:
                return Reservation("blocked", answer[1] / 1e6, code=str(answer[2]) or None)
            if quota is not None:
                self._ledger[quota.key] = answer[1]
            return Reservation("quota", used=int(answer[1]))

        async def local() -> Reservation:
            if quota is not None:
                refused = self._outage_quota(quota)
                if refused is not None:
                    return refused
            found = self._local.reserve_now(
                bands, max_wait=max_wait, blocks=blocks, scale=1.0 / self.outage_share
            )
            if found.status == "ok" and quota is not None:
                count, _ = self._pending.get(quota.key, (0, 0))
                self._pending[quota.key] = (count + 1, _ms(quota.ttl))
            return found

        return await self._run(remote, local, bounded=True)

    def _reserve_payload(
        self,
        bands: Sequence[Band],
        blocks: Sequence[str],
        max_wait: float,
        quota: Quota | None,
    ) -> bytes:
        """
        The packed EVALSHA of a reservation. Its keys and band arguments are
        packed once per (bands, blocks) — the limiter passes the same tuples
        for every call of an API — and only ``max_wait`` and the quota's are
        packed per call.
        """
        found = self._packed.get((id(bands), id(blocks)))
        if found is None or found[0] is not bands or found[1] is not blocks:
            if len(self._packed) > 256:
                self._packed.clear()
            keys = [self._key(b) for b in blocks] + [self._key(b.key) for b in bands]
            band_args: list[str | int] = []
            for band in bands:
                band_args += [repr(band.interval * 1e6), band.burst]
            found = (
                bands,
                blocks,
                len(keys),
                len(band_args),
                bulk(*keys),
                bulk(len(blocks), len(bands)),
                bulk(*band_args),
            )
            self._packed[(id(bands), id(blocks))] = found
        _, _, nkeys, nargs, packed_keys, counts, packed_bands = found
        # An endless max_wait (math.inf) is "any wait": 2**52 µs.
        wait = bulk(-1 if max_wait < 0 else int(min(max_wait * 1e6, 2**52)))
        if quota is None:
            return b"".join(
                (b"*%d\r\n" % (6 + nkeys + nargs), self._reserve.head, bulk(nkeys),
                 packed_keys, counts, wait, packed_bands)
            )  # fmt: skip
        return b"".join(
            (b"*%d\r\n" % (9 + nkeys + nargs), self._reserve.head, bulk(nkeys + 1), packed_keys,
             bulk(self._key(quota.key)), counts, wait, packed_bands,
             bulk(quota.limit, _ms(quota.ttl)))
        )  # fmt: skip

    def _outage_quota(self, quota: Quota) -> Reservation | None:
        """
        While Redis is down, a quota-counted call spends at most ``outage_share``
        of what was left of the ledger at this process's last contact with it;
        past that, or knowing nothing of this month's ledger, the call waits for
        Redis (a block with code :data:`wecal._shared.LEDGER_UNREACHABLE`).
        None: the call may spend a unit locally.
        """
        known = self._ledger.get(quota.key)
        spent, _ = self._pending.get(quota.key, (0, 0))
        if known is not None and known + spent >= quota.limit:
            return Reservation("quota", used=known + spent)
        if known is None or spent >= math.floor((quota.limit - known) * self.outage_share):
            wait = max(self._retry_at - time.monotonic(), 0.01)
            return Reservation("blocked", wait, code=LEDGER_UNREACHABLE)
        return None

    async def _reconcile(self) -> None:
        """Add the calls this process counted alone during an outage to the shared ledgers."""
        pending, self._pending = self._pending, {}
        keys = list(pending)
        args = [part for key in keys for part in pending[key]]
        try:
            counts: Any = await self._lane.script(
                self._spend, self._spend.call([self._key(k) for k in keys], args)
            )
        except BaseException:
            # Unknown whether Redis added them: counted again later, which can
            # only under-use the quota, never overspend it.
            for key, (count, ttl) in pending.items():
                now, _ = self._pending.get(key, (0, 0))
                self._pending[key] = (now + count, ttl)
            raise
        for key, count in zip(keys, counts, strict=True):
            self._ledger[key] = int(count)
        logger.info(
            "Redis at %s: %d call(s) counted by this process during the outage added "
            "to the shared quota ledger",
            self._where,
            sum(count for count, _ in pending.values()),
        )

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
            got: Any = await self._lane.script(
                self._permit, self._permit.call([self._key(key)], [cap, _ms(lease), permit])
            )
            return permit if got else None

        async def local() -> str | None:
            # Each process gets its share of the permits while Redis is down.
            share = max(1, math.floor(cap * self.outage_share))
            return await self._local.acquire_permit(key, share, lease)

        return await self._run(remote, local, bounded=True)

    async def release_permit(self, key: str, permit: str) -> None:
        """Give back a permit of ``key``."""

        async def remote() -> None:
            await self._lane.call(pack(["ZREM", self._key(key), permit]))

        await self._local.release_permit(key, permit)
        await self._run(remote, _nothing, bounded=True)

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


async def _expect_ok(stream: anyio.abc.ByteStream, payload: bytes) -> None:
    """Send a setup command (AUTH, SELECT) and check that Redis answered +OK."""
    await stream.send(payload)
    answer = b""
    while not answer.endswith(b"\r\n"):
        answer += await stream.receive()
    if not answer.startswith(b"+OK"):
        # The command's name and the server's words, never the password we sent.
        name = payload.split(b"\r\n")[2].decode()
        said = redact(answer[:200].decode(errors="replace").strip())
        raise WecalError(f"Redis refused {name}: {said}")
