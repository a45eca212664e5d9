"""
The distributed export on arq (``pip install 'wecal[arq]'``)::

    WECAL_REDIS_URL=redis://127.0.0.1:6379/0 arq wecal.export.arq.WorkerSettings
    wecal worker --redis redis://127.0.0.1:6379/0          # the same worker

A thin adapter: every guarantee is in :mod:`wecal.export.distributed`. arq
delivers a job at least once; a unit run twice is fenced there. A
:class:`~wecal.export.distributed.Deferred` becomes ``Retry(defer=…)``, so a
throttled unit gives its worker slot back.

The worker knows no provider: it builds its clients with the function named
by :class:`WorkerOptions` ``pages`` (``module:function``, default the command
line's ``wecal.cli:export_pages``), an async context manager ``(spec,
shared)`` → ``open_pages``. Credentials come from the worker's environment,
never from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, ClassVar, cast

import attrs
from arq import Retry
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, Worker, func
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._shared import REDIS_PATIENCE, redis_client_error
from ..errors import ConfigurationError, ValidationError
from ..redis import RedisBackend
from . import distributed
from .distributed import Coordinator, Deferred, JobSpec, UnitPages

__all__ = [
    "ArqQueue",
    "WorkerOptions",
    "WorkerSettings",
    "finalize_job",
    "run",
    "run_unit_job",
    "settings_for",
]

logger = logging.getLogger("wecal")

#: The arq function name of a unit's job.
FUNCTION = "wecal_export_unit"
#: The arq function name of a job's finalize.
FINALIZE = "wecal_export_finalize"
DEFAULT_PAGES = "wecal.cli:export_pages"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class ArqQueue:
    """:class:`~wecal.export.distributed.Queue` on an arq pool (``_job_id`` dedupes)."""

    def __init__(self, pool: ArqRedis) -> None:
        self.pool = pool

    async def put(self, job: str, unit: str, job_id: str, defer: float) -> None:
        """Enqueue the unit's job (a second ``job_id`` is a no-op)."""
        await self.pool.enqueue_job(
            FUNCTION, job, unit, _job_id=job_id, _defer_by=defer if defer > 0 else None
        )

    async def put_finalize(self, job: str, job_id: str) -> None:
        """Enqueue the job's finalize (a second ``job_id`` is a no-op)."""
        await self.pool.enqueue_job(FINALIZE, job, _job_id=job_id)


def _env_number(name: str, default: str, kind: Callable[[str], Any]) -> Any:
    text = os.environ.get(name, default)
    try:
        value = kind(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a number") from None
    return value


@attrs.frozen
class WorkerOptions:
    """
    How a worker runs units (``wecal worker``'s options; the environment
    names each one's default for ``arq wecal.export.arq.WorkerSettings``):

    - ``redis_url``: the jobs' Redis (``WECAL_REDIS_URL``);
    - ``prefix``: its key prefix (``WECAL_REDIS_PREFIX``, ``wecal``);
    - ``pages``: ``module:function`` building the clients, an async context
      manager ``(spec, shared)`` → ``open_pages`` (``WECAL_EXPORT_PAGES``,
      default the command line's, which takes ``max_wait`` and
      ``monthly_quota`` below);
    - ``jobs``: units run at once (``WECAL_WORKER_JOBS``, 4);
    - ``tenant_concurrency``: units of one app run at once across all
      workers; a unit finding them all out is deferred
      (``WECAL_TENANT_CONCURRENCY``, 4);
    - ``max_wait``: a rate slot or provider block further away defers the
      unit instead of waiting in the worker (``WECAL_MAX_WAIT``, 5 s);
    - ``monthly_quota``: the app's calls per month; past it units fail
      (``WECAL_MONTHLY_QUOTA``, none);
    - ``reconcile_seconds``: how often the worker re-enqueues units neither
      done, leased nor queued (``WECAL_RECONCILE_SECONDS``, 5).
    """

    redis_url: str = DEFAULT_REDIS
    prefix: str = "wecal"
    pages: str = DEFAULT_PAGES
    jobs: int = 4
    tenant_concurrency: int = 4
    max_wait: float = 5.0
    monthly_quota: int | None = None
    reconcile_seconds: float = 5.0

    def __attrs_post_init__(self) -> None:
        for name in ("jobs", "tenant_concurrency", "max_wait", "reconcile_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValidationError(f"WorkerOptions.{name} must be positive, got {value!r}")
        if self.monthly_quota is not None and self.monthly_quota < 1:
            raise ValidationError("WorkerOptions.monthly_quota must be positive or None")

    @classmethod
    def from_env(cls, **given: Any) -> WorkerOptions:
        """The options from the environment, ``given`` ones (not None) taking precedence."""
        quota = os.environ.get("WECAL_MONTHLY_QUOTA")
        found: dict[str, Any] = {
            "redis_url": os.environ.get("WECAL_REDIS_URL", DEFAULT_REDIS),
            "prefix": os.environ.get("WECAL_REDIS_PREFIX", "wecal"),
            "pages": os.environ.get("WECAL_EXPORT_PAGES", DEFAULT_PAGES),
            "jobs": _env_number("WECAL_WORKER_JOBS", "4", int),
            "tenant_concurrency": _env_number("WECAL_TENANT_CONCURRENCY", "4", int),
            "max_wait": _env_number("WECAL_MAX_WAIT", "5", float),
            "monthly_quota": _env_number("WECAL_MONTHLY_QUOTA", quota, int) if quota else None,
            "reconcile_seconds": _env_number("WECAL_RECONCILE_SECONDS", "5", float),
        }
        found.update({k: v for k, v in given.items() if v is not None})
        return cls(**found)


class _Service:
    """What a worker process holds: Redis clients, provider clients, the reconciler."""

    def __init__(self, options: WorkerOptions, pool: ArqRedis) -> None:
        self.options = options
        self.url = options.redis_url
        self.prefix = options.prefix
        self.pages_factory = _pages_factory(options)
        self.queue = ArqQueue(pool)
        self.coord: Coordinator | None = None
        self.shared: RedisBackend | None = None
        self.pages: dict[str, UnitPages] = {}
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.failure: BaseException | None = None
        self.stack = contextlib.AsyncExitStack()
        self.lock = asyncio.Lock()
        self.interval = options.reconcile_seconds

    async def main(self) -> None:
        """Enter everything in this one task (coredis keeps its pool in it), then reconcile."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                self.coord = await stack.enter_async_context(
                    Coordinator(self.url, prefix=self.prefix)
                )
                self.shared = await stack.enter_async_context(
                    RedisBackend(self.url, prefix=self.prefix)
                )
                self.stack = stack
                self.ready.set()
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), self.interval)
                    with contextlib.suppress(Exception):
                        await self.reconcile()
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            raise

    async def reconcile(self) -> None:
        assert self.coord is not None
        for job in await self.coord.jobs():
            with contextlib.suppress(Exception):
                if await self.coord.final(job):
                    continue  # written: nothing more to do (one read, not one per unit)
                state = await self.coord.status(job)
                if not state.finished:
                    await distributed.reconcile(self.coord, self.queue, job)
                elif state.complete:  # its finalizer may have died: enqueue it again
                    await distributed.maybe_finalize(self.coord, self.queue, job)

    async def open_pages(self, job: str) -> UnitPages:
        async with self.lock:
            return await self._open_pages(job)

    async def _open_pages(self, job: str) -> UnitPages:
        if job not in self.pages:
            assert self.coord is not None
            assert self.shared is not None
            spec: JobSpec = await self.coord.spec(job)
            maker = self.pages_factory(spec, self.shared)
            self.pages[job] = await self.stack.enter_async_context(maker)
        return self.pages[job]


async def run_unit_job(ctx: dict[str, Any], job: str, unit: str) -> str:
    """The arq function: one slice of one unit."""
    service: _Service = ctx["wecal"]
    await service.ready.wait()
    if service.failure is not None or service.coord is None or service.shared is None:
        raise Retry(defer=5)
    spec = await service.coord.spec(job)
    source = (await service.coord.unit(job, unit)).source
    # Per-tenant fairness: a unit that finds its app's permits all out gives
    # its worker slot back instead of waiting in it.
    cap = service.options.tenant_concurrency
    permit_key = f"export-permit:{source.provider}:{source.app}"
    permit = await service.shared.acquire_permit(permit_key, cap, spec.lease)
    if permit is None:
        defer = distributed._jitter() + 1.0
        unit_ = await service.coord.unit(job, unit)
        await service.coord.mark_queued(job, unit_, defer + 60.0)
        raise Retry(defer=defer)
    try:
        open_pages = await service.open_pages(job)
        return await distributed.run_unit(service.coord, service.queue, job, unit, open_pages)
    except Deferred as deferred:
        raise Retry(defer=deferred.seconds) from None
    finally:
        await service.shared.release_permit(permit_key, permit)


async def finalize_job(ctx: dict[str, Any], job: str) -> bool:
    """The arq function: write the job's output (any worker, once every unit is done)."""
    service: _Service = ctx["wecal"]
    await service.ready.wait()
    if service.failure is not None or service.coord is None:
        raise Retry(defer=5)
    try:
        # Another finalizer holds the lock: it does the work, this one returns.
        return await distributed.finalize(service.coord, job, wait=0)
    except ValidationError as exc:
        # Not complete after all (a Redis that lost its last writes) or the
        # segments are not there: the reconciler enqueues it again when due.
        logger.warning("wecal: job %s: finalize: %s", job, exc)
        return False


def _pages_factory(options: WorkerOptions) -> Callable[..., Any]:
    name = options.pages
    module, _, attr = name.partition(":")
    try:
        found: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise ConfigurationError(
            f"pages {name!r}: no such module:function to build the clients"
        ) from None
    if name == DEFAULT_PAGES:  # the command line's takes the worker's limits
        return functools.partial(
            found, max_wait=options.max_wait, monthly_quota=options.monthly_quota
        )
    return found


async def startup(ctx: dict[str, Any]) -> None:
    """Start the worker's service task: Redis clients, provider clients, the reconciler."""
    options = ctx.get("wecal_options") or WorkerOptions.from_env()
    service = _Service(options, ctx["redis"])
    ctx["wecal"] = service
    ctx["wecal_task"] = asyncio.get_running_loop().create_task(service.main())
    await service.ready.wait()
    if service.failure is not None:
        raise service.failure


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop the service task (its clients close in the task that opened them)."""
    service: _Service | None = ctx.get("wecal")
    task: asyncio.Task[None] | None = ctx.get("wecal_task")
    if service is None or task is None:
        return
    service.stop.set()
    with contextlib.suppress(BaseException):
        await task


def _redis_settings(url: str) -> RedisSettings:
    """
    arq's settings for ``url``, with every command of the worker's pool retried
    while Redis is unreachable, for about ``REDIS_PATIENCE`` seconds.

    arq's poll loop has no error handling of its own: without this, a worker
    polling while Redis restarts meets a refused or closed connection and
    exits, and every worker of a job may go at once. redis-py retries the
    command (connecting included) with this policy; a refused connection is
    an ``OSError``, so it is named beside redis-py's own errors. Attempts
    come 0.25, 0.5, 1, then every 2 s.
    """
    settings = RedisSettings.from_dsn(url)
    settings.retry = RedisRetry(
        ExponentialBackoff(cap=2.0, base=0.25),
        retries=int(REDIS_PATIENCE / 2.0) + 3,
        # redis-py types these as its own errors, but retries whatever it
        # catches: its connect raises the socket's OSError before wrapping it.
        supported_errors=cast(
            "tuple[type[RedisError], ...]", (RedisConnectionError, RedisTimeoutError, OSError)
        ),
    )
    return settings


class _Worker(Worker):
    """
    arq's worker, whose poll loop rides out an unreachable Redis.

    The queue connection's retries (:func:`_redis_settings`) cover a refused
    connection, but not one Redis accepts and drops while it stops or starts
    (redis-py's handshake is outside its retries): arq's poll loop would end
    the worker there. Here a poll that meets Redis unreachable is logged once
    and tried again at the next poll, for ``REDIS_PATIENCE`` seconds.
    """

    _outage: float | None = None

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except Exception as exc:
            if not (redis_client_error(exc) or isinstance(exc, OSError)):
                raise
            now = time.monotonic()
            if self._outage is None:
                self._outage = now
                logger.warning(
                    "wecal worker: Redis unreachable (%s); polling again for up to %.0f s",
                    " ".join(str(exc).split()) or type(exc).__name__,
                    REDIS_PATIENCE,
                )
            elif now - self._outage >= REDIS_PATIENCE:
                raise
            await asyncio.sleep(1.0)
            return
        if self._outage is not None:
            self._outage = None
            logger.warning("wecal worker: Redis answers again")


def run(options: WorkerOptions) -> None:
    """
    Run a worker until it is stopped (SIGINT/SIGTERM), as ``wecal worker``
    does: arq's worker with :func:`settings_for`'s settings, riding out a
    Redis restart or failover of up to ``REDIS_PATIENCE`` seconds.
    """
    _Worker(**settings_for(options)).run()


class WorkerSettings:
    """``arq wecal.export.arq.WorkerSettings``: options from the environment (``WECAL_*``)."""

    functions: ClassVar[list[Function]] = [
        func(run_unit_job, name=FUNCTION, max_tries=100_000, keep_result=60),
        # keep_result 1 s: a finalize that found nothing to do can be enqueued again soon.
        func(finalize_job, name=FINALIZE, max_tries=100, keep_result=1),
    ]
    on_startup = staticmethod(startup)
    on_shutdown = staticmethod(shutdown)
    redis_settings = _redis_settings(os.environ.get("WECAL_REDIS_URL", DEFAULT_REDIS))
    job_timeout = 300
    max_jobs = int(os.environ.get("WECAL_WORKER_JOBS", "4"))
    poll_delay = 0.2
    keep_result = 60


def settings_for(url: str | WorkerOptions, *, jobs: int | None = None) -> dict[str, Any]:
    """
    The worker's settings (``wecal worker`` runs these): for Redis at ``url``
    with the environment's other options, or for :class:`WorkerOptions`.
    """
    options = url if isinstance(url, WorkerOptions) else WorkerOptions.from_env(redis_url=url)
    if jobs is not None:
        options = attrs.evolve(options, jobs=jobs)
    return {
        "functions": WorkerSettings.functions,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": _redis_settings(options.redis_url),
        "job_timeout": WorkerSettings.job_timeout,
        "max_jobs": options.jobs,
        "poll_delay": WorkerSettings.poll_delay,
        "keep_result": WorkerSettings.keep_result,
        "ctx": {"wecal_options": options},
    }
