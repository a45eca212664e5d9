"""
Client-side rate limiting: the bands a provider's budget has, a monthly quota,
provider blocks, and concurrency caps.

Each client object is one app. A call of API ``api`` must fit every band of
its budget at once (reserved in one step by the client's
:class:`~wecal.SharedState`, see ``wecal/_shared.py``):

- per second (``rate``, ``burst``): the per-app, per-API limit;
- per minute and per hour (``per_minute``, ``per_hour``): per app and API;
- per egress IP (``egress``, ``egress_limit``): every app and API sending
  through one public address;

plus the monthly quota ledger (``monthly_quota``), the provider blocks
("wait N s") recorded by any process, and two concurrency caps: per process
(``max_concurrency``) and shared with leased permits (``shared_concurrency``).

A band of *N calls per T seconds* is a GCRA schedule that never lets more than
N calls start in any window of T seconds: ``b`` calls may go back to back
(``b`` = N/60, at least 1) and then one every ``T / (N − b + 1)`` seconds.
The per-second band keeps its historical meaning: one call every ``1/rate``
seconds after ``burst`` back-to-back calls. Provider defaults come from each
provider's :class:`~wecal._dialect.Dialect`; nothing here knows a
provider.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import attrs

from ._shared import LEDGER_UNREACHABLE, Band, MemoryState, Quota, Reservation, SharedState
from .errors import QuotaExceededError, RateLimitError, ValidationError, WecalError, redact

__all__ = ["RateLimitConfig", "RateLimiter", "band_for"]

#: Months of the quota ledger are counted in the providers' home zone.
QUOTA_ZONE = ZoneInfo("Asia/Shanghai")
#: Seconds one shared-state operation may take before the call fails.
STATE_TIMEOUT = 10.0
#: A call that wakes up this much after its reserved slot (a starved event
#: loop, a busy machine) does not send: tasks that overslept together would
#: reach the provider in one burst. It reserves a new slot instead (the old
#: one is given up: under-use, never over-use), at most ``_MAX_LATE`` times.
LATE = 0.05
_MAX_LATE = 2


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"RateLimitConfig.{attribute.name}: must be > 0, got {value!r}")
    if math.isnan(value):  # pragma: no cover - NaN is not > 0
        raise ValidationError(f"RateLimitConfig.{attribute.name}: must be > 0, got {value!r}")
    if attribute.name in (
        "burst",
        "max_concurrency",
        "per_minute",
        "per_hour",
        "monthly_quota",
        "shared_concurrency",
    ) and not isinstance(value, int):
        raise ValidationError(f"RateLimitConfig.{attribute.name}: must be an int, got {value!r}")


def _optional_name(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
        raise ValidationError(
            f"RateLimitConfig.{attribute.name}: must be a non-empty string, got {value!r}"
        )


def _optional_limit(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and value[0] > 0
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
        and value[1] > 0
        and math.isfinite(value[1])
    )
    if not ok:
        raise ValidationError(
            f"RateLimitConfig.{attribute.name}: must be (calls, seconds), "
            f"e.g. (10000, 20), got {value!r}"
        )


@attrs.frozen(kw_only=True)
class RateLimitConfig:
    """
    How fast one client may call each API, and what it may spend.

    ``rate`` is calls per second per API (None: the provider's documented
    default — DingTalk 20/s, WeCom 10 000/min); ``burst`` how many calls may go
    back to back before spacing starts. ``per_minute`` / ``per_hour``: calls
    per API per minute / hour (None: the provider's default — WeCom 150 000
    per hour). ``egress`` names the public IP (or NAT) the calls leave from:
    every client with the same name and shared state shares the provider's
    per-IP band (``egress_limit``, (calls, seconds); DingTalk's default
    (10 000, 20)). ``monthly_quota``: calls per calendar month (Asia/Shanghai)
    per org (``quota_scope``, default the app); past it, calls raise
    :class:`~wecal.QuotaExceededError` before sending. ``max_wait``: when a
    slot (or a provider block) is further away, raise
    :class:`~wecal.RateLimitError` with ``retry_after`` at once instead of
    sleeping. ``max_concurrency`` caps requests in flight across all APIs of
    the client in this process (None: no cap); ``shared_concurrency`` caps
    them across every process sharing the state, with permits leased for
    ``permit_lease`` seconds (a killed holder's permit comes back then). Pass
    ``rate_limit=False`` to a client to switch limiting off entirely::

        DingTalkLegacyClient(key, secret, rate_limit=RateLimitConfig(rate=10, max_concurrency=4))
        DingTalkClient(key, secret, shared=state,
                       rate_limit=RateLimitConfig(monthly_quota=5000, max_wait=3))
    """

    rate: float | None = attrs.field(default=None, validator=_optional_positive)
    burst: int = attrs.field(default=1, validator=_optional_positive)
    per_minute: int | None = attrs.field(default=None, validator=_optional_positive)
    per_hour: int | None = attrs.field(default=None, validator=_optional_positive)
    egress: str | None = attrs.field(default=None, validator=_optional_name)
    egress_limit: tuple[int, float] | None = attrs.field(default=None, validator=_optional_limit)
    monthly_quota: int | None = attrs.field(default=None, validator=_optional_positive)
    quota_scope: str | None = attrs.field(default=None, validator=_optional_name)
    max_wait: float | None = attrs.field(default=None, validator=_optional_positive)
    #: WeCom answers 45033 above an undocumented number of parallel calls
    #: (community answers cite 5 to 10), hence a modest default.
    max_concurrency: int | None = attrs.field(default=10, validator=_optional_positive)
    shared_concurrency: int | None = attrs.field(default=None, validator=_optional_positive)
    permit_lease: float = attrs.field(default=30.0, validator=_optional_positive)


def band_for(key: str, calls: int, seconds: float) -> Band:
    """
    The GCRA band that lets at most ``calls`` calls start in any window of
    ``seconds``: ``b`` back to back, then one every ``seconds / (calls − b + 1)``.

    >>> band_for("k", 120, 3600.0)
    Band(key='k', interval=30.252100870588237, burst=2)
    """
    burst = max(1, calls // 60)
    # A hair longer, so that float rounding never lets call N+1 land exactly
    # on the window's end.
    return Band(key, seconds / (calls - burst + 1) * (1 + 1e-9), burst)


def month_quota(scope: str, limit: int, now: datetime) -> Quota:
    """The ledger of ``scope`` for the calendar month of ``now`` (Asia/Shanghai)."""
    local = now.astimezone(QUOTA_ZONE)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    # Kept a day past the month's end: a late process still reads the same count.
    ttl = (following - local).total_seconds() + 86_400
    return Quota(f"quota:{scope}:{local:%Y-%m}", limit, ttl)


class RateLimiter:
    """Reserves a call's slot in every band, waits for it, caps concurrency; anyio-native."""

    def __init__(
        self,
        config: RateLimitConfig,
        default_rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        state: SharedState | None = None,
        scope: str = "app",
        provider: str = "provider",
        per_minute: int | None = None,
        per_hour: int | None = None,
        egress_limit: tuple[int, float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        rate = config.rate if config.rate is not None else default_rate
        self._interval = 1.0 / rate if rate and math.isfinite(rate) else 0.0
        self._burst = config.burst
        self._per_minute = config.per_minute or per_minute
        self._per_hour = config.per_hour or per_hour
        self._egress = config.egress
        self._egress_limit = config.egress_limit or egress_limit
        self._monthly_quota = config.monthly_quota
        self._quota_scope = config.quota_scope or scope
        self._max_wait = config.max_wait
        self._max_concurrency = config.max_concurrency
        self._shared_concurrency = config.shared_concurrency
        self._permit_lease = config.permit_lease
        self._clock = clock
        self._sleep = sleep
        self._wall = wall_clock
        self._scope = scope
        self._provider = provider
        self.state: SharedState = state if state is not None else MemoryState(clock=clock)
        self._fast = type(self.state) is MemoryState
        # A state that bounds its own operations in time (RedisBackend) needs
        # no cancel scope of ours around each reservation.
        self._bounded = isinstance(getattr(self.state, "answers_within", None), float)
        self._bands: dict[str, tuple[Band, ...]] = {}
        self._blocks: tuple[str, ...] = (f"block:{scope}",)
        if self._egress is not None:
            self._blocks += (f"block:egress:{self._egress}",)
        self._limiter: anyio.CapacityLimiter | None = None

    def bands(self, api: str) -> tuple[Band, ...]:
        """Every band a call of ``api`` must fit (computed once per API)."""
        found = self._bands.get(api)
        if found is not None:
            return found
        prefix = f"rate:{self._scope}:{api}"
        bands: list[Band] = []
        if self._interval:
            bands.append(Band(f"{prefix}:s", self._interval, self._burst))
        if self._per_minute:
            bands.append(band_for(f"{prefix}:m", self._per_minute, 60.0))
        if self._per_hour:
            bands.append(band_for(f"{prefix}:h", self._per_hour, 3600.0))
        if self._egress is not None and self._egress_limit is not None:
            calls, seconds = self._egress_limit
            bands.append(band_for(f"rate:egress:{self._egress}", calls, seconds))
        self._bands[api] = found = tuple(bands)
        return found

    def _quota(self) -> Quota | None:
        if self._monthly_quota is None:
            return None
        epoch = self._wall() if self._wall is not None else time.time()
        now = datetime.fromtimestamp(epoch, UTC)
        return month_quota(self._quota_scope, self._monthly_quota, now)

    def reserve(self, api: str) -> float:
        """Reserve the next slot for ``api`` in this process; return how long to wait for it."""
        state = self.state
        assert isinstance(state, MemoryState), "reserve() is the in-process path"
        return state.reserve_now(self.bands(api)).wait

    async def _ask(self, api: str, max_wait: float, counted: bool) -> Reservation:
        bands = self.bands(api)
        quota = self._quota() if counted else None
        if self._fast:
            state = self.state
            assert isinstance(state, MemoryState)
            return state.reserve_now(bands, max_wait=max_wait, quota=quota, blocks=self._blocks)
        name = f"shared state {type(self.state).__name__}.reserve()"
        try:
            if self._bounded:
                return await self.state.reserve(
                    bands, max_wait=max_wait, quota=quota, blocks=self._blocks
                )
            with anyio.fail_after(STATE_TIMEOUT):
                return await self.state.reserve(
                    bands, max_wait=max_wait, quota=quota, blocks=self._blocks
                )
        except TimeoutError:
            raise WecalError(f"{name} did not answer within {STATE_TIMEOUT:g}s") from None
        except WecalError:
            raise
        except Exception as exc:
            raise WecalError(f"{name} failed: {type(exc).__name__}: {redact(str(exc))}") from None

    async def wait_turn(
        self, api: str, time_left: float | None = None, *, counted: bool = True
    ) -> None:
        """
        Reserve ``api``'s slot in every band and sleep until it. Raises
        :class:`~wecal.RateLimitError` when the slot (or a provider block) is
        further than ``max_wait`` or than ``time_left`` of the call's
        deadline, :class:`~wecal.QuotaExceededError` when the quota is spent
        (``counted=False``: a call the quota does not count, a token fetch).
        """
        limit = self._max_wait if self._max_wait is not None else math.inf
        if time_left is not None:
            limit = min(limit, time_left)
        late = 0
        # Bounded: a block is waited out at most a few times before giving up.
        for _ in range(64):
            # A new slot after oversleeping: the quota unit is already spent.
            found = await self._ask(api, limit, counted and late == 0)
            if found.status == "ok":
                if found.wait > 0:
                    due = self._clock() + found.wait
                    await self._sleep(found.wait)
                    if self._clock() - due > LATE and late < _MAX_LATE:
                        late += 1
                        continue
                return
            if found.status == "quota":
                raise QuotaExceededError(
                    f"{api}: the monthly quota of {self._monthly_quota} calls is spent "
                    f"({found.used} used this month); not sent",
                    provider=self._provider,
                )
            if found.status == "blocked":
                if found.wait > limit and found.code == LEDGER_UNREACHABLE:
                    raise RateLimitError(
                        f"{api}: not sent: the shared monthly quota ledger cannot be "
                        "reached, and this process has spent its outage share of it "
                        "(or has not read it this month)",
                        provider=self._provider,
                        retry_after=round(found.wait, 3),
                    )
                if found.wait > limit:
                    raise RateLimitError(
                        f"{api}: {self._provider} blocks this app's calls for "
                        f"{found.wait:.1f}s more (code {found.code})",
                        provider=self._provider,
                        code=found.code,
                        retry_after=round(found.wait, 3),
                    )
                await self._sleep(found.wait)
                continue
            raise RateLimitError(
                f"{api}: the next free slot is {found.wait:.2f}s away, longer than "
                + (
                    "max_wait"
                    if self._max_wait is not None and limit == self._max_wait
                    else "the retry deadline"
                ),
                provider=self._provider,
                retry_after=round(found.wait, 3),
            )
        raise RateLimitError(  # pragma: no cover - a block renewed 64 times in a row
            f"{api}: the provider block kept being extended", provider=self._provider
        )

    async def share_block(self, seconds: float, code: object, *, egress_wide: bool) -> None:
        """Record a provider block for every process sharing the state."""
        key = self._blocks[-1] if egress_wide else self._blocks[0]
        try:
            with anyio.fail_after(STATE_TIMEOUT):
                await self.state.block(key, seconds, str(code))
        except Exception:  # the local pause still applies; the block is advisory
            return

    @asynccontextmanager
    async def slot(
        self, api: str, time_left: float | None = None, *, counted: bool = True
    ) -> AsyncIterator[None]:
        """Wait for a rate slot and the concurrency permits; hold the permits inside."""
        await self.wait_turn(api, time_left, counted=counted)
        if self._max_concurrency is None and self._shared_concurrency is None:
            yield
            return
        async with self._local_permit(), self._shared_permit():
            yield

    @asynccontextmanager
    async def _local_permit(self) -> AsyncIterator[None]:
        if self._max_concurrency is None:
            yield
            return
        if self._limiter is None:
            # Created on first use, inside the running event loop.
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        # A fresh borrower token per call: anyio refuses a second permit to the
        # same task, and one task may legitimately nest calls (token fetch).
        borrower = object()
        try:
            # Uncontended (and nobody queued before us): take the permit
            # without a trip through the event loop, ~15 µs a call (issue 11).
            # The send that follows is the cancellation point.
            self._limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            await self._limiter.acquire_on_behalf_of(borrower)
        try:
            yield
        finally:
            self._limiter.release_on_behalf_of(borrower)

    @asynccontextmanager
    async def _shared_permit(self) -> AsyncIterator[None]:
        cap = self._shared_concurrency
        if cap is None:
            yield
            return
        key = f"permits:{self._scope}"
        delay = 0.005
        while True:
            permit = await self.state.acquire_permit(key, cap, self._permit_lease)
            if permit is not None:
                break
            # Every permit is out: poll (a release or an ended lease frees one).
            await self._sleep(delay)
            delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self.state.release_permit(key, permit)
