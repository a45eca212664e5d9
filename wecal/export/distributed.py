"""
The export across processes and machines: *units* run by any number of workers.

A job (``wecal export --redis URL --job NAME``) is planned into units, one per
``(app, provider, source, window slice)``. Each unit's state lives in a Redis hash;
its events go to *segment files* in a directory every worker can reach; the
finalizer concatenates the committed segments into the output. Exactly once
rests on wecal's own commit protocol, never on the job engine (arq delivers a
job at least once, and may run it twice):

- **Lease and fencing.** A worker takes a unit's lease (``SET NX PX``) and,
  in the same script, a new *epoch* (``HINCRBY``). It writes only to its own
  segment file, named after the epoch and a random owner id, so a worker
  paused past its lease (a zombie) never writes into its successor's bytes.
- **Commit.** After each page the segment is fsynced, then one script records
  the segment's length and the cursor after the page, *only if* the lease
  still names this owner and the epoch is still this one. A zombie's commit
  is refused and it stops. The last page marks the unit done in the same
  commit.
- **Slices.** A unit runs a bounded number of pages or seconds, commits,
  gives its lease back and enqueues its continuation, so a killed worker's
  unit is taken up again after its lease (seconds), not the engine's timeout.
- **Reconciler.** Units neither done nor leased nor recently enqueued are
  enqueued again, by every worker and by the waiting ``wecal export``, so
  nothing rests on the engine's redelivery.
- **Finalize.** When every unit is done, the committed prefix of each segment
  is concatenated — units in plan order (the order of the sources), segments
  in epoch order (listing order) — into a temporary file that replaces the
  output. The same job always gives the same bytes; an output that already
  holds them is left untouched. The commit that marks the last unit done
  enqueues the finalize as an engine job, so any worker writes the output
  (``JobSpec.output``), whether or not the ``wecal export`` that started the
  job still waits; one finalizer at a time (a lock), the output's digest
  recorded, then the segments removed (kept on any failure).

This module knows no provider: the caller gives it ``open_pages`` (as for
:func:`wecal.export.export`) and a :class:`Queue` (``wecal.export.arq``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import anyio
import attrs

from ..errors import (
    QuotaExceededError,
    RateLimitError,
    TransportError,
    ValidationError,
    WecalError,
)
from ._engine import PageLike, Source, writer_for

try:
    import coredis
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("wecal.export.distributed needs coredis: pip install 'wecal[arq]'") from exc

__all__ = [
    "Coordinator",
    "Deferred",
    "JobSpec",
    "JobStatus",
    "Queue",
    "Unit",
    "UnitSource",
    "UnitStatus",
    "enqueue",
    "finalize",
    "maybe_finalize",
    "plan",
    "reconcile",
    "run_unit",
    "status",
]

# --- the plan ----------------------------------------------------------------------------


@attrs.frozen
class UnitSource:
    """
    One source of a job: which provider and app serve it, and the source.

    ``slices`` > 1 splits the job's window into that many equal slices, each
    its own unit, so several workers share one big calendar (the job needs
    ``start`` and ``end``). Only for a provider that filters the window on
    the server and writes an event the same whichever window lists it
    (DingTalk): an event listed by two slices is written once, by the first.
    In a unit, ``window`` is its slice (ISO start and end); None: the job's.
    """

    provider: str
    app: str
    source: Source
    slices: int = 1
    window: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        """``provider/app/kind:id``."""
        return f"{self.provider}/{self.app}/{self.source.key}"


@attrs.frozen
class JobSpec:
    """
    What a job exports, as every worker reads it from Redis (no secret in it:
    workers take credentials from their own environment).

    ``base_url`` is the API host (None: the provider's); ``start``/``end`` ISO
    datetimes; ``slice_pages``/``slice_seconds`` bound one run of a unit;
    ``lease`` is the seconds a silent worker keeps a unit.
    """

    job: str
    sources: tuple[UnitSource, ...]
    base_url: str | None = None
    start: str | None = None
    end: str | None = None
    expand: bool = False
    page_size: int | None = None
    format: str = "jsonl"
    slice_pages: int = 20
    slice_seconds: float = 20.0
    lease: float = 30.0
    segments: str = ""
    #: Where the output goes (absolute, reachable by every worker: any of them
    #: finalizes when the last unit is done); "" when only the caller writes it.
    output: str = ""
    #: Keep the segments after a successful finalize (default: removed).
    keep_segments: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.job or any(c.isspace() or c in ":{}" for c in self.job):
            raise ValidationError(
                f"job name {self.job!r} must be non-empty, without spaces, ':' or braces"
            )
        if self.format not in ("jsonl", "ics"):
            raise ValidationError(f"a distributed export writes jsonl or ics, not {self.format!r}")
        if not self.sources:
            raise ValidationError(f"job {self.job!r} has no source")
        if not os.path.isabs(self.segments):
            raise ValidationError(
                f"job {self.job!r}: the segments directory must be an absolute path "
                f"every worker reaches, got {self.segments!r}"
            )
        if self.output and not os.path.isabs(self.output):
            raise ValidationError(
                f"job {self.job!r}: the output must be an absolute path every worker "
                f"reaches, got {self.output!r}"
            )
        if self.slice_pages < 1 or self.slice_seconds <= 0 or self.lease <= 0:
            raise ValidationError("slice_pages, slice_seconds and lease must be positive")
        for source in self.sources:
            if isinstance(source.slices, bool) or not isinstance(source.slices, int):
                raise ValidationError(f"{source.key}: slices must be an int")
            if source.slices < 1:
                raise ValidationError(f"{source.key}: slices must be at least 1")
            if source.slices > 1 and (self.start is None or self.end is None):
                raise ValidationError(f"{source.key}: window slices need the job's start and end")

    def identity(self) -> dict[str, Any]:
        """What says which data the job exports (a rerun must match it)."""
        return {
            "sources": [
                [s.provider, s.app, s.source.kind, s.source.id]
                + ([s.slices] if s.slices != 1 else [])
                for s in self.sources
            ],
            "base_url": self.base_url,
            "start": self.start,
            "end": self.end,
            "expand": self.expand,
            "page_size": self.page_size,
            "format": self.format,
            "segments": self.segments,
        }

    def to_json(self) -> str:
        """The spec as stored in Redis (sorted keys: the same spec, the same text)."""
        data = self.identity()
        data.update(
            job=self.job,
            slice_pages=self.slice_pages,
            slice_seconds=self.slice_seconds,
            lease=self.lease,
            output=self.output,
            keep_segments=self.keep_segments,
        )
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        """A spec back from :meth:`to_json`; a damaged one is a ValidationError."""
        try:
            data = json.loads(text)
            return cls(
                job=data["job"],
                sources=tuple(
                    UnitSource(p, a, Source(k, i), int(more[0]) if more else 1)
                    for p, a, k, i, *more in data["sources"]
                ),
                base_url=data["base_url"],
                start=data["start"],
                end=data["end"],
                expand=bool(data["expand"]),
                page_size=data["page_size"],
                format=data["format"],
                slice_pages=int(data["slice_pages"]),
                slice_seconds=float(data["slice_seconds"]),
                lease=float(data["lease"]),
                segments=str(data["segments"]),
                output=str(data.get("output") or ""),
                keep_segments=bool(data.get("keep_segments")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"the stored plan of a job is damaged ({exc!r})") from None


@attrs.frozen
class Unit:
    """
    One unit of a job: its key (the engine's job id stem), place in the plan,
    source (with its window slice, if sliced) and which slice of how many.
    """

    key: str
    index: int
    source: UnitSource
    slice: int = 0
    slices: int = 1


def plan(spec: JobSpec) -> list[Unit]:
    """
    The units of ``spec``: sources in order, a sliced source's slices in
    window order; keys depend on the job's data only.
    """
    window = json.dumps([spec.base_url, spec.start, spec.end, spec.expand, spec.page_size])
    units: list[Unit] = []
    seen: set[str] = set()
    for source in spec.sources:
        if source.key in seen:
            continue
        seen.add(source.key)
        bounds = _slices(spec, source.slices)
        for n, part in enumerate(bounds):
            name = source.key if len(bounds) == 1 else f"{source.key}\0{n}/{len(bounds)}"
            digest = hashlib.sha256(f"{spec.job}\0{name}\0{window}".encode()).hexdigest()
            unit_source = source if part is None else attrs.evolve(source, window=part)
            units.append(Unit(digest[:16], len(units), unit_source, n, len(bounds)))
    return units


def _slices(spec: JobSpec, count: int) -> list[tuple[str, str] | None]:
    """The job's window cut into ``count`` equal slices (ISO bounds); [None] for one."""
    if count == 1 or spec.start is None or spec.end is None:
        return [None]
    from datetime import datetime

    start, end = datetime.fromisoformat(spec.start), datetime.fromisoformat(spec.end)
    if (end - start).total_seconds() < count:
        raise ValidationError(f"a window of {end - start} cannot be cut into {count} slices")
    step = (end - start) / count
    # Whole seconds at the cuts: every provider takes them.
    cuts = [start] + [(start + step * i).replace(microsecond=0) for i in range(1, count)] + [end]
    return [(cuts[i].isoformat(), cuts[i + 1].isoformat()) for i in range(count)]


# --- Redis scripts -------------------------------------------------------------------------
# Ours, not a library's: each is a few commands that must run atomically.

# KEYS: unit hash, lease, queued marker. ARGV: owner, lease ms.
# {-1, state}: finished; {0, pttl}: leased by another; {epoch, has_cursor, cursor}.
_ACQUIRE = """
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'done' or st == 'failed' then return {-1, st} end
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[1] then return {0, redis.call('PTTL', KEYS[2])} end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
return {epoch, redis.call('HGET', KEYS[1], 'has_cursor') or '0',
        redis.call('HGET', KEYS[1], 'cursor') or ''}
"""

# KEYS: unit hash, lease, done counter. ARGV: owner, epoch, has_cursor, cursor,
# segment field, segment value, events, pages, done (0/1), lease ms.
_COMMIT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'has_cursor', ARGV[3], 'cursor', ARGV[4], ARGV[5], ARGV[6])
redis.call('HINCRBY', KEYS[1], 'events', ARGV[7])
redis.call('HINCRBY', KEYS[1], 'pages', ARGV[8])
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'done')
  redis.call('INCR', KEYS[3])
  redis.call('DEL', KEYS[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[10])
end
return 1
"""

# KEYS: unit hash, lease. ARGV: owner, epoch, lease ms.
_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: unit hash, lease. ARGV: owner, epoch, state, error.
_FINISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[3], 'error', ARGV[4]) end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: unit hash, lease, queued marker, calls spent, budget. ARGV: queued ms,
# force (0/1). The next job number, or 0 when the unit needs no job now.
_ENQUEUE = """
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'done' or st == 'failed' then return 0 end
local budget = redis.call('GET', KEYS[5])
if budget and tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(budget) then return 0 end
if ARGV[2] ~= '1' then
  if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'jobs', 1)
"""

# KEYS: calls spent, budget. ARGV: n. 1 spent; 0 over the budget.
_SPEND = """
local budget = redis.call('GET', KEYS[2])
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if budget and spent + tonumber(ARGV[1]) > tonumber(budget) then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
"""


# KEYS: lock. ARGV: owner. Compare and delete.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# KEYS: lock. ARGV: owner, ms. Compare and extend.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@attrs.frozen
class Lease:
    """A unit held by this worker: the owner id and fencing epoch its commits carry."""

    unit: Unit
    owner: str
    epoch: int
    cursor: str | None


@attrs.frozen
class UnitStatus:
    """One unit as Redis has it."""

    unit: Unit
    state: str  # "todo", "running", "done", "failed"
    events: int
    pages: int
    error: str | None
    segments: tuple[tuple[int, str, int], ...]  # (epoch, file name, committed length)
    leased: bool = False


@attrs.frozen
class JobStatus:
    """A job's progress, from any machine."""

    spec: JobSpec
    units: tuple[UnitStatus, ...]
    calls: int
    budget: int | None

    def count(self, state: str) -> int:
        """How many units are in ``state``."""
        return sum(1 for u in self.units if u.state == state)

    @property
    def events(self) -> int:
        """Events committed so far."""
        return sum(u.events for u in self.units)

    @property
    def pages(self) -> int:
        """Pages committed so far."""
        return sum(u.pages for u in self.units)

    @property
    def finished(self) -> bool:
        """Every unit done or failed: nothing more will happen without a rerun."""
        return all(u.state in ("done", "failed") for u in self.units)

    @property
    def complete(self) -> bool:
        """Every unit done: the output can be written."""
        return all(u.state == "done" for u in self.units)

    def __str__(self) -> str:
        done, failed = self.count("done"), self.count("failed")
        running = self.count("running")
        text = (
            f"job {self.spec.job}: {done} of {len(self.units)} units done"
            f"{f', {failed} failed' if failed else ''}, {running} running; "
            f"{self.events:,} events in {self.pages:,} pages; {self.calls:,} calls"
        )
        if self.budget is not None:
            text += f" of a budget of {self.budget:,}"
        return text


class Queue(Protocol):
    """Puts a unit's job on the engine: ``job_id`` is unique (a second put is a no-op)."""

    async def put(self, job: str, unit: str, job_id: str, defer: float) -> None:
        """Enqueue ``unit`` of ``job`` as ``job_id``, to run in ``defer`` seconds."""
        ...

    async def put_finalize(self, job: str, job_id: str) -> None:
        """Enqueue the finalize of ``job`` (:func:`finalize` into the spec's output)."""
        ...


class Deferred(WecalError):
    """The unit gave its slot back; run it again in ``seconds`` (the adapter's ``Retry``)."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class Coordinator:
    """
    The Redis side of distributed jobs (coredis). Unlike :class:`wecal.redis.RedisBackend`
    it has no fallback: without Redis no unit commits, and the engine retries.
    """

    def __init__(self, url: str, *, prefix: str = "wecal", **options: Any) -> None:
        if not isinstance(url, str) or "://" not in url:
            raise ValidationError("a distributed export needs a redis:// URL")
        self.prefix = prefix
        self.redis: coredis.Redis[str] = coredis.Redis.from_url(
            url, decode_responses=True, **options
        )
        script = self.redis.register_script
        self._acquire = script(_ACQUIRE)
        self._commit = script(_COMMIT)
        self._renew = script(_RENEW)
        self._finish = script(_FINISH)
        self._enqueue = script(_ENQUEUE)
        self._spend = script(_SPEND)
        self._unlock = script(_UNLOCK)
        self._extend = script(_EXTEND)
        self._specs: dict[str, JobSpec] = {}
        self._plans: dict[str, tuple[list[Unit], dict[str, Unit]]] = {}

    async def __aenter__(self) -> Coordinator:
        await self.redis.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.redis.__aexit__(None, None, None)

    def key(self, job: str, *parts: str) -> str:
        """The Redis key of ``parts`` of ``job``."""
        return ":".join((self.prefix, "job", job, *parts))

    # -- jobs ----------------------------------------------------------------------------

    async def create(self, spec: JobSpec) -> JobSpec:
        """Record ``spec`` once (the same again is a no-op); a different one is refused."""
        await self.redis.set(
            self.key(spec.job, "spec"), spec.to_json(), condition=coredis.PureToken.NX
        )
        stored = await self.spec(spec.job)
        if stored.identity() != spec.identity():
            mine, theirs = spec.identity(), stored.identity()
            what = ", ".join(k for k in mine if mine[k] != theirs[k])
            raise ValidationError(
                f"job {spec.job!r} already exists with other {what}; "
                "use another --job name, or rerun with the same sources and options"
            )
        await self.redis.sadd(f"{self.prefix}:jobs", [spec.job])
        return stored

    async def jobs(self) -> list[str]:
        """The names of the jobs on this Redis."""
        names = await self.redis.smembers(f"{self.prefix}:jobs")
        return sorted(names)

    async def spec(self, job: str) -> JobSpec:
        """The stored plan of ``job``."""
        if job in self._specs:
            return self._specs[job]
        text = await self.redis.get(self.key(job, "spec"))
        if text is None:
            raise ValidationError(f"no job {job!r} on this Redis (prefix {self.prefix!r})")
        spec = JobSpec.from_json(text)
        self._specs[job] = spec
        return spec

    async def units(self, job: str) -> list[Unit]:
        """The plan of ``job`` (computed once per process: a spec never changes)."""
        if job not in self._plans:
            units = plan(await self.spec(job))
            self._plans[job] = (units, {unit.key: unit for unit in units})
        return self._plans[job][0]

    async def unit(self, job: str, key: str) -> Unit:
        """The unit of ``job`` whose key is ``key``."""
        await self.units(job)
        found = self._plans[job][1].get(key)
        if found is None:
            raise ValidationError(f"job {job!r} has no unit {key!r}")
        return found

    async def set_budget(self, job: str, calls: int | None) -> None:
        """Allow ``calls`` more calls from now (None: no budget)."""
        if calls is None:
            await self.redis.delete([self.key(job, "budget")])
            return
        spent = int(await self.redis.get(self.key(job, "calls")) or 0)
        await self.redis.set(self.key(job, "budget"), str(spent + calls))

    async def retry_failed(self, job: str) -> int:
        """Put the failed units back to do (a rerun retries them); how many."""
        count = 0
        for unit in await self.units(job):
            key = self.key(job, "unit", unit.key)
            if await self.redis.hget(key, "state") == "failed":
                await self.redis.hset(key, {"state": "todo", "error": ""})
                count += 1
        return count

    async def status(self, job: str) -> JobStatus:
        """Every unit's state, the calls spent and the budget."""
        spec = await self.spec(job)
        plan_ = await self.units(job)
        units = []
        # Pipelined, a thousand units a round trip: a job of 50,000 units is
        # polled by the waiting command and reconciled by every worker.
        for at in range(0, len(plan_), 1000):
            batch = plan_[at : at + 1000]
            async with self.redis.pipeline(transaction=False) as pipe:
                answers = [
                    (
                        pipe.hgetall(self.key(job, "unit", unit.key)),
                        pipe.exists([self.key(job, "lease", unit.key)]),
                    )
                    for unit in batch
                ]
            for unit, (data, leased) in zip(batch, answers, strict=True):
                units.append(_unit_status(unit, dict(await data), bool(await leased)))
        calls = int(await self.redis.get(self.key(job, "calls")) or 0)
        budget = await self.redis.get(self.key(job, "budget"))
        return JobStatus(spec, tuple(units), calls, None if budget is None else int(budget))

    # -- units ---------------------------------------------------------------------------

    async def acquire(self, job: str, unit: Unit, owner: str) -> Lease | str | float:
        """The lease, or the unit's final state ("done"/"failed"), or seconds until it frees."""
        spec = await self.spec(job)
        keys = self._unit_keys(job, unit)
        got: Any = await self._acquire([keys[0], keys[1], keys[2]], [owner, _ms(spec.lease)])
        epoch = int(got[0])
        if epoch == -1:
            return str(got[1])
        if epoch == 0:
            return max(0.0, int(got[1]) / 1000)
        cursor = str(got[2]) if str(got[1]) == "1" else None
        return Lease(unit, owner, epoch, cursor)

    async def commit(
        self,
        job: str,
        lease: Lease,
        *,
        cursor: str | None,
        segment: str,
        length: int,
        events: int,
        pages: int,
        done: bool,
    ) -> bool:
        """Record a fsynced segment length and cursor, if ``lease`` still holds (fenced)."""
        spec = await self.spec(job)
        unit_key, lease_key, _ = self._unit_keys(job, lease.unit)
        applied: Any = await self._commit(
            [unit_key, lease_key, self.key(job, "done")],
            [
                lease.owner,
                lease.epoch,
                "0" if cursor is None else "1",
                cursor or "",
                f"seg:{lease.epoch:08d}",
                f"{segment} {length}",
                events,
                pages,
                "1" if done else "0",
                _ms(spec.lease),
            ],
        )
        return bool(applied)

    async def renew(self, job: str, lease: Lease) -> bool:
        """Extend ``lease``; False when it is no longer this holder's."""
        spec = await self.spec(job)
        unit_key, lease_key, _ = self._unit_keys(job, lease.unit)
        ok: Any = await self._renew(
            [unit_key, lease_key], [lease.owner, lease.epoch, _ms(spec.lease)]
        )
        return bool(ok)

    async def release(self, job: str, lease: Lease, *, state: str = "", error: str = "") -> bool:
        """Give the lease back; with ``state="failed"``, fail the unit (fenced like a commit)."""
        unit_key, lease_key, _ = self._unit_keys(job, lease.unit)
        ok: Any = await self._finish(
            [unit_key, lease_key], [lease.owner, lease.epoch, state, error]
        )
        return bool(ok)

    async def spend(self, job: str, calls: int = 1) -> bool:
        """Count ``calls`` against the job's budget; False (nothing counted) when over it."""
        ok: Any = await self._spend([self.key(job, "calls"), self.key(job, "budget")], [calls])
        return bool(ok)

    async def next_job(self, job: str, unit: Unit, *, force: bool, queued_for: float) -> int:
        """The number of the unit's next engine job, or 0 when it needs none now."""
        keys = [*self._unit_keys(job, unit), self.key(job, "calls"), self.key(job, "budget")]
        n: Any = await self._enqueue(keys, [_ms(queued_for), "1" if force else "0"])
        return int(n)

    async def mark_queued(self, job: str, unit: Unit, seconds: float) -> None:
        """Say the unit has a job waiting for ``seconds`` (a deferral): not reconciled meanwhile."""
        await self.redis.set(self._unit_keys(job, unit)[2], "1", px=_ms(seconds))

    async def done_count(self, job: str) -> int:
        """Units marked done by their last commit (finalize re-checks each)."""
        return int(await self.redis.get(self.key(job, "done")) or 0)

    async def final(self, job: str) -> dict[str, str]:
        """What the last finalize wrote: ``{"path", "sha256", "size"}``, or {}."""
        return dict(await self.redis.hgetall(self.key(job, "final")))

    async def set_final(self, job: str, path: str, sha256: str, size: int) -> None:
        """Record what finalize wrote (before the segments are removed)."""
        await self.redis.hset(
            self.key(job, "final"), {"path": path, "sha256": sha256, "size": str(size)}
        )

    async def lock_finalize(self, job: str, owner: str, seconds: float) -> bool:
        """The job's finalize lock (one finalizer at a time), or False when held."""
        return bool(
            await self.redis.set(
                self.key(job, "finalizing"),
                owner,
                condition=coredis.PureToken.NX,
                px=_ms(seconds),
            )
        )

    async def extend_finalize(self, job: str, owner: str, seconds: float) -> bool:
        """Keep the finalize lock ``seconds`` more; False when it is not ``owner``'s."""
        ok: Any = await self._extend([self.key(job, "finalizing")], [owner, _ms(seconds)])
        return bool(ok)

    async def unlock_finalize(self, job: str, owner: str) -> None:
        """Release the finalize lock, if still ``owner``'s."""
        await self._unlock([self.key(job, "finalizing")], [owner])

    def _unit_keys(self, job: str, unit: Unit) -> tuple[str, str, str]:
        return (
            self.key(job, "unit", unit.key),
            self.key(job, "lease", unit.key),
            self.key(job, "queued", unit.key),
        )


def _unit_status(unit: Unit, data: dict[str, str], leased: bool) -> UnitStatus:
    segments = []
    for field, value in data.items():
        if field.startswith("seg:"):
            name, _, length = value.rpartition(" ")
            segments.append((int(field[4:]), name, int(length)))
    state = data.get("state") or "todo"
    if state == "todo" and (data.get("pages") or data.get("epoch")):
        state = "running"  # started (it may be waiting for its next slice)
    return UnitStatus(
        unit,
        state,
        int(data.get("events", 0)),
        int(data.get("pages", 0)),
        data.get("error") or None,
        tuple(sorted(segments)),
        leased,
    )


# --- queueing and reconciling ----------------------------------------------------------------


def job_id(job: str, unit: Unit, n: int) -> str:
    """The engine's job id of the unit's ``n``-th job: unique, so a second put is a no-op."""
    return f"wecal:{job}:{unit.key}:{n}"


async def enqueue(coord: Coordinator, queue: Queue, job: str, *, queued_for: float = 60.0) -> int:
    """Enqueue every unit that needs a job (not done, not leased, not queued); how many."""
    count = 0
    state = await coord.status(job)  # pipelined: only the units that may need a job are asked
    for unit in state.units:
        if unit.state in ("done", "failed") or unit.leased:
            continue
        n = await coord.next_job(job, unit.unit, force=False, queued_for=queued_for)
        if n:
            await queue.put(job, unit.unit.key, job_id(job, unit.unit, n), 0.0)
            count += 1
    return count


#: The reconciler is :func:`enqueue`: a unit neither done, nor leased, nor queued
#: within ``queued_for`` seconds gets a new job.
reconcile = enqueue


# --- running a unit ------------------------------------------------------------------------

#: Opens the pages of one source after ``cursor``: given by the caller (it knows the providers).
UnitPages = Callable[[UnitSource, str | None], AsyncIterator[PageLike]]


def segment_dir(root: Path, job: str, unit: Unit) -> Path:
    return root / job / unit.key


async def run_unit(
    coord: Coordinator,
    queue: Queue,
    job: str,
    unit_key: str,
    open_pages: UnitPages,
    *,
    owner: str | None = None,
) -> str:
    """
    Run one slice of a unit: take its lease, read pages, commit each, then
    enqueue its continuation (or finish it). Returns what happened: "done",
    "slice", "busy", "failed", "budget", "fenced" or "finished" (nothing to do).

    Raises :class:`Deferred` when the unit should run again later (its lease is
    held elsewhere, a rate limit or block is longer than the clients' ``max_wait``).
    """
    unit = await coord.unit(job, unit_key)
    spec = await coord.spec(job)
    # The process id shows in the lease and the segment's name: which worker holds what.
    owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    got = await coord.acquire(job, unit, owner)
    if isinstance(got, str):
        return "finished"
    if isinstance(got, float):
        # Leased: the reconciler leaves it alone while the lease lasts.
        raise Deferred(f"unit {unit.key} is leased by another worker", got + _jitter())
    lease = got
    folder = segment_dir(Path(spec.segments), job, unit)
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    name = f"{lease.epoch:08d}-{owner}.{spec.format}"
    writer = writer_for(spec.format)
    fd = await anyio.to_thread.run_sync(
        lambda: os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    )
    length = 0
    fenced = False

    async def keep_lease(scope: anyio.CancelScope) -> None:
        nonlocal fenced
        while True:
            await anyio.sleep(spec.lease / 3)
            if not await coord.renew(job, lease):
                fenced = True
                scope.cancel()
                return

    outcome = "slice"
    deferred: Deferred | None = None
    started = time.monotonic()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_lease, tg.cancel_scope)
            pages = open_pages(unit.source, lease.cursor)
            count = 0
            try:
                while True:
                    if count >= spec.slice_pages or time.monotonic() - started > spec.slice_seconds:
                        break
                    if not await coord.spend(job):
                        outcome = "budget"
                        break
                    try:
                        page = await pages.__anext__()
                    except StopAsyncIteration:
                        page = None
                    if page is None:  # an empty listing's end: nothing more
                        ok = await coord.commit(
                            job, lease, cursor=None, segment=name, length=length,
                            events=0, pages=0, done=True,
                        )  # fmt: skip
                        outcome = "done" if ok else "fenced"
                        break
                    try:
                        data = writer.encode(page.items) if page.items else b""
                    except Exception as exc:  # an event the format cannot hold
                        outcome = "failed"
                        why = f"cannot be written as {spec.format}: {type(exc).__name__}: {exc}"
                        await coord.release(job, lease, state="failed", error=why)
                        break
                    if data:
                        await anyio.to_thread.run_sync(_append, fd, data)
                        length += len(data)
                    done = page.cursor is None
                    ok = await coord.commit(
                        job, lease, cursor=page.cursor, segment=name, length=length,
                        events=len(page.items), pages=1, done=done,
                    )  # fmt: skip
                    count += 1
                    if not ok:
                        outcome = "fenced"
                        break
                    if done:
                        outcome = "done"
                        break
            except QuotaExceededError as exc:
                outcome = "failed"
                await coord.release(job, lease, state="failed", error=f"quota: {exc}")
            except RateLimitError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 5.0
                deferred = Deferred(f"unit {unit.key} rate limited", wait + _jitter())
            except WecalError as exc:
                if not _transient(exc):
                    outcome = "failed"
                    await coord.release(job, lease, state="failed", error=str(exc))
                else:
                    deferred = Deferred(f"unit {unit.key}: {exc}", 1.0 + _jitter())
            finally:
                aclose = getattr(pages, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
            tg.cancel_scope.cancel()
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    if fenced:
        outcome = "fenced"
    if outcome in ("slice", "budget") or deferred is not None:
        # Give the lease back (fenced: a zombie's release does nothing) and,
        # unless the budget is spent, put the continuation on the queue.
        await coord.release(job, lease)
        if outcome == "slice" and deferred is None:
            n = await coord.next_job(job, unit, force=True, queued_for=60.0)
            if n:
                await queue.put(job, unit.key, job_id(job, unit, n), 0.0)
    if outcome == "done" and spec.output:
        await maybe_finalize(coord, queue, job)
    if deferred is not None:
        # The engine runs this job again after the deferral: until then (and a
        # minute more) the reconciler must not give the unit another job.
        await coord.mark_queued(job, unit, deferred.seconds + 60.0)
        raise deferred
    return outcome


def finalize_job_id(job: str) -> str:
    """The engine's job id of a job's finalize (a second put is a no-op)."""
    return f"wecal:{job}:finalize"


async def maybe_finalize(coord: Coordinator, queue: Queue, job: str) -> bool:
    """
    Enqueue the job's finalize when its last unit is done and its output not
    yet written; True when enqueued. The commit that marks a unit done counts
    it, so the worker committing the last one enqueues the finalize (and the
    reconciler does, should that worker die before).
    """
    spec = await coord.spec(job)
    if not spec.output or await coord.done_count(job) < len(await coord.units(job)):
        return False
    if await coord.final(job):
        return False
    await queue.put_finalize(job, finalize_job_id(job))
    return True


def _transient(exc: WecalError) -> bool:
    if isinstance(exc, TransportError):
        return True
    status = getattr(exc, "status", None)
    return isinstance(status, int) and status >= 500


def _append(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _jitter() -> float:
    return random.uniform(0.5, 2.0)


# --- progress and the output ---------------------------------------------------------------


async def status(coord: Coordinator, job: str) -> JobStatus:
    """The job's progress (any machine that reaches the Redis)."""
    return await coord.status(job)


async def finalize(
    coord: Coordinator,
    job: str,
    output: Path | None = None,
    *,
    cleanup: bool | None = None,
    wait: float = 600.0,
) -> bool:
    """
    Write ``output`` (default: the spec's) from the committed segments once
    every unit is done, then remove the job's segments (``cleanup``; default:
    unless the spec keeps them).

    One finalizer at a time (a lock in Redis; another waits up to ``wait``
    seconds for it). What was written is recorded (path, SHA-256, size)
    before the segments go, so a second finalize — the command after a
    worker, a rerun of the finished job — changes no byte: an output that
    already holds those bytes is left untouched, and another path gets a
    copy of the recorded output. Returns True when a file was (re)written.

    Raises :class:`ValidationError` when units are not done, a segment is
    shorter than its commit (the segment directory is not the one the
    workers wrote), or the segments are gone and the recorded output no
    longer holds what was written. The segments stay on any failure.
    """
    spec = await coord.spec(job)
    target = output if output is not None else Path(spec.output) if spec.output else None
    if target is None:
        raise ValidationError(f"job {job!r} names no output: pass the path to write")
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    lease = max(60.0, spec.lease * 4)
    deadline = time.monotonic() + wait
    while not await coord.lock_finalize(job, owner, lease):
        if time.monotonic() > deadline:
            raise ValidationError(f"job {job!r}: another finalize has held it for {wait:.0f}s")
        await anyio.sleep(0.2)

    async def keep_lock(scope: anyio.CancelScope) -> None:
        # A big output takes longer than the lock's TTL: renewed while held,
        # so no second finalizer reads segments this one is about to remove.
        while True:
            await anyio.sleep(lease / 3)
            if not await coord.extend_finalize(job, owner, lease):
                scope.cancel()  # lost (Redis emptied): stop before touching segments
                return

    wrote: bool | None = None
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_lock, tg.cancel_scope)
            try:
                wrote = await _finalize_held(coord, job, spec, target, cleanup)
            except Exception as exc:  # raised below as itself, not in an ExceptionGroup
                failure = exc
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await coord.unlock_finalize(job, owner)
    if failure is not None:
        raise failure
    if wrote is None:
        raise ValidationError(f"job {job!r}: the finalize lock was lost; finalize again")
    return wrote


async def _finalize_held(
    coord: Coordinator, job: str, spec: JobSpec, target: Path, cleanup: bool | None
) -> bool:
    state = await coord.status(job)
    if not state.complete:
        raise ValidationError(
            f"job {job!r} is not complete: {state}; rerun to finish it before finalizing"
        )
    done = await coord.final(job)
    segments = Path(spec.segments)
    if done:
        wrote = await anyio.to_thread.run_sync(_from_record, done, target, segments, state)
    else:
        wrote, sha256, size = await anyio.to_thread.run_sync(_write_output, state, target, segments)
        await coord.set_final(job, str(target), sha256, size)
    if cleanup if cleanup is not None else not spec.keep_segments:
        await anyio.to_thread.run_sync(_remove_segments, segments, job)
    return wrote


def _file_digest(path: Path) -> str | None:
    try:
        fh = path.open("rb")
    except OSError:
        return None
    digest = hashlib.sha256()
    with fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_record(done: dict[str, str], target: Path, segments: Path, state: JobStatus) -> bool:
    """A finalized job again: nothing when ``target`` holds its bytes, else a copy."""
    if _file_digest(target) == done["sha256"]:
        return False
    source = Path(done["path"])
    if _file_digest(source) == done["sha256"]:
        _replace_with(target, lambda sink: _copy(source, int(done["size"]), sink))
        return True
    if (segments / state.spec.job).is_dir():
        return _write_output(state, target, segments)[0]
    raise ValidationError(
        f"job {state.spec.job!r} was written to {done['path']}, which has changed since, "
        "and its segments are removed: export it again under another --job name"
    )


def _remove_segments(segments: Path, job: str) -> None:
    import shutil

    shutil.rmtree(segments / job, ignore_errors=True)
    with contextlib.suppress(OSError):
        segments.rmdir()  # only when empty: it may hold other jobs' segments


def _parts(state: JobStatus, segments: Path) -> list[tuple[int, Path, int]]:
    """(unit index, segment, committed length) of every non-empty segment, in output order."""
    parts = []
    for unit in state.units:
        folder = segment_dir(segments, state.spec.job, unit.unit)
        for _epoch, name, length in unit.segments:
            if length:
                parts.append((unit.unit.index, folder / name, length))
    return parts


def _emit(state: JobStatus, segments: Path, sink: Callable[[bytes], object]) -> None:
    """
    The output's bytes, in order: the format's header, every committed prefix,
    the footer. A segment holds what the writer encoded, so for .ics each
    holds the VTIMEZONE of a zone the first time *its* writer used it: a zone
    written before in the output is dropped. A sliced source's slices may
    list one event twice (it overlaps a cut): the record an earlier slice of
    the source wrote — the same JSONL line, the same .ics UID — is dropped.
    """
    writer = writer_for(state.spec.format)
    ics = state.spec.format == "ics"
    sink(writer.header())
    units = {u.unit.index: u.unit for u in state.units}
    zones: set[bytes] = set()  # .ics: the TZIDs written
    seen: set[bytes] = set()  # keys of the records of the source's earlier slices
    current: set[bytes] = set()  # ... and of the slice being written
    last, source = -1, ""
    for index, path, length in _parts(state, segments):
        unit = units[index]
        if unit.slices == 1 and not ics:
            _copy(path, length, sink)
            continue
        if index != last:  # the next unit written: a slice of this source, or another
            if unit.source.key != source:
                seen, source = set(), unit.source.key
            else:
                seen |= current
            current, last = set(), index
        # A segment's committed prefix holds whole records (commits follow pages).
        data = bytearray()
        _copy(path, length, data.extend)
        kept = bytearray()
        for record, key, zone in _records(bytes(data), ics):
            if zone is not None:
                if zone not in zones:
                    zones.add(zone)
                    kept += record
                continue
            if unit.slices > 1:
                digest = hashlib.blake2b(key, digest_size=16).digest()
                if digest in seen:
                    continue
                current.add(digest)
            kept += record
        if kept:
            sink(bytes(kept))
    sink(writer.footer())


def _records(data: bytes, ics: bool) -> Iterator[tuple[bytes, bytes, bytes | None]]:
    """
    ``(record, key, tzid)``: JSONL lines (the key is the line), or the
    top-level .ics components a writer encodes (VEVENT keyed by its UID,
    VTIMEZONE named by its TZID). Ours, not icalendar's parser: only the
    component boundaries are needed, and the bytes must pass unchanged.
    """
    if not ics:
        for line in data.splitlines(keepends=True):
            yield line, line, None
        return
    lines = data.split(b"\r\n")
    component: list[bytes] = []
    for line in lines[:-1] if lines and lines[-1] == b"" else lines:
        component.append(line)
        if line.startswith(b"END:") and line[4:] in (b"VEVENT", b"VTIMEZONE"):
            record = b"\r\n".join(component) + b"\r\n"
            unfolded = record.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
            if line[4:] == b"VTIMEZONE":
                yield record, b"", _property(unfolded, b"TZID") or b""
            else:
                yield record, _property(unfolded, b"UID") or record, None
            component = []
    if component:  # not a writer's output: pass it on as it is
        yield b"\r\n".join(component) + b"\r\n", b"", None


def _property(component: bytes, name: bytes) -> bytes | None:
    """The first ``NAME:value`` (or ``NAME;params:value``) line's value."""
    for line in component.split(b"\r\n"):
        if line.startswith(name + b":") or line.startswith(name + b";"):
            return line.partition(b":")[2]
    return None


def _write_output(state: JobStatus, output: Path, segments: Path) -> tuple[bool, str, int]:
    """(whether written, SHA-256, size) of the output the segments make."""
    digest = hashlib.sha256()
    size = 0

    def count(block: bytes) -> None:
        nonlocal size
        digest.update(block)
        size += len(block)

    _emit(state, segments, count)
    if _file_digest(output) == digest.hexdigest():
        return False, digest.hexdigest(), size
    _replace_with(output, lambda sink: _emit(state, segments, sink))
    return True, digest.hexdigest(), size


def _replace_with(output: Path, fill: Callable[[Callable[[bytes], object]], None]) -> None:
    """``output`` replaced at once by what ``fill`` writes (a temporary file, fsynced)."""
    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as out:
            fill(out.write)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(output.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _copy(path: Path, length: int, sink: Callable[[bytes], object]) -> None:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise ValidationError(
            f"segment {path} is missing: --segments must be the directory the workers wrote"
        ) from None
    with fh:
        left = length
        while left:
            block = fh.read(min(1 << 20, left))
            if not block:
                raise ValidationError(
                    f"segment {path} has fewer bytes than its {length} committed ones"
                )
            sink(block)
            left -= len(block)
