"""
The distributed export end to end: a real redis-server, real ``wecal worker``
processes (arq), the sandbox over loopback uvicorn, and ``wecal export
--redis --job`` as a user runs it.

The expected output is a single-process ``wecal export`` of the same sources
(compared as sorted lines: one process interleaves sources by arrival); the
calls are counted at the sandbox. Every command and worker is a process of its
own, forked with wecal already imported (:mod:`tests._procs`: real pids,
signals and connections, without 0.7 s of CPU importing wecal each). No test
sleeps "long enough": every wait polls for the state it needs, under a deadline.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from tests import _procs
from tests._redis import RedisServer
from wecal.sandbox import Fault, serve
from wecal.sandbox._demo import Demo, DemoSettings, build, credentials

ROOT = Path(__file__).resolve().parent.parent
PAGE = 10
SIZE = 45  # events per source: 5 pages of 10 (the last short)
TOKEN_APIS = ("token", "gettoken", "accessToken", "oauth2")


def _is_listing(api: str | None) -> bool:
    return api is not None and not any(t.lower() in api.lower() for t in TOKEN_APIS)


class Cluster:
    """One Redis, one sandbox, N worker processes, and the commands a user runs."""

    def __init__(self, demo: Demo, base_url: str, redis: RedisServer, tmp: Path) -> None:
        self.demo = demo
        self.base_url = base_url
        self.redis = redis
        self.tmp = tmp
        self.workers: list[_procs.Forked] = []
        self.started: list[_procs.Forked] = []
        self.env = dict(os.environ)
        self.env.update(PYTHONPATH=str(ROOT))
        for name, (app_id, secret) in credentials().items():
            from wecal.providers._registry import PROVIDERS

            entry = PROVIDERS[name]
            self.env[entry.app_id.env] = app_id
            self.env[entry.secret.env] = secret
        self.db = redis_py.Redis.from_url(redis.url, decode_responses=True)

    def start_worker(self, *extra: str) -> _procs.Forked:
        with (self.tmp / f"worker{len(self.workers)}.log").open("wb") as log:
            proc = _procs.start(
                "wecal", "worker", "--redis", self.redis.url,
                "--jobs", "2", "--reconcile-seconds", "0.5", *extra,
                env=self.env,
                stdout=log,
                stderr=_procs.STDOUT,
            )  # fmt: skip
        self.workers.append(proc)
        return proc

    def sources(self, provider: str, n: int | None = None) -> list[str]:
        from wecal.providers._registry import PROVIDERS

        kind = PROVIDERS[provider].source_kind
        ids = list(self.demo.sources[provider])[:n]
        return [arg for i in ids for arg in (f"--{kind}", i)]

    def args(self, provider: str, n: int | None = None) -> list[str]:
        return [
            "--provider", provider, "--base-url", self.base_url, "--page-size", str(PAGE),
            *self.sources(provider, n),
        ]  # fmt: skip

    def run(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _procs.run("wecal", *args, env=self.env if env is None else env, timeout=timeout)

    def without_secrets(self) -> dict[str, str]:
        """The environment less every app secret: a job's command needs only the app id."""
        from wecal.providers._registry import PROVIDERS

        secrets = {entry.secret.env for entry in PROVIDERS.values()}
        return {k: v for k, v in self.env.items() if k not in secrets}

    def start(self, *args: str) -> _procs.Forked:
        proc = _procs.start(
            "wecal", *args, env=self.env, stdout=_procs.PIPE, stderr=_procs.PIPE, text=True
        )
        self.started.append(proc)
        return proc

    def job(
        self, job: str, provider: str, out: Path, *extra: str, n: int | None = None
    ) -> list[str]:
        return ["export", *self.args(provider, n), "--redis", self.redis.url, "--job", job,
                "-o", str(out), "--slice-pages", "2", "--lease", "2", *extra]  # fmt: skip

    def single(self, provider: str, n: int | None = None) -> list[str]:
        """The sorted lines of a single-process export of the same sources."""
        out = self.tmp / f"single-{provider}.jsonl"
        done = self.run("export", *self.args(provider, n), "-o", str(out), "-q")
        assert done.returncode == 0, done.stderr
        return sorted(out.read_bytes().decode().splitlines())

    def holders(self, job: str) -> dict[str, int]:
        """Lease key → pid of the worker holding it."""
        found = {}
        for key in self.db.scan_iter(f"wecal:job:{job}:lease:*"):
            owner = self.db.get(key)
            if owner:
                found[key] = int(owner.split("-", 1)[0])
        return found

    def stop_a_holder_past_its_lease(self, job: str) -> None:
        """
        SIGSTOP a live worker holding a unit of ``job`` until its lease runs out
        and another worker takes the unit with a newer epoch (or it is done),
        then SIGCONT it: a zombie that wakes up.
        """
        live = {p.pid for p in self.workers if p.poll() is None}
        key, pid = self.wait_for(
            lambda: next(((k, p) for k, p in self.holders(job).items() if p in live), None),
            why="a live worker holding a unit",
        )
        unit = key.replace(":lease:", ":unit:")
        epoch = int(self.db.hget(unit, "epoch") or 0)
        os.kill(pid, signal.SIGSTOP)
        try:
            self.wait_for(
                lambda: (
                    int(self.db.hget(unit, "epoch") or 0) > epoch
                    or self.db.hget(unit, "state") == "done"
                ),
                why="the stopped worker's unit taken over",
            )
        finally:
            os.kill(pid, signal.SIGCONT)

    def wait_for(self, what: Callable[[], Any], timeout: float = 60, why: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {why or what}")

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            proc.wait(10)
        # A test that failed midway leaves no command running, nor its pipes open.
        for started in self.started:
            if started.poll() is None:
                started.kill()
            started.communicate(timeout=30)


@pytest.fixture
def cluster_factory(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []
    closers: list[Any] = []

    def make(sources: int = 4, latency: float = 0.0, workers: int = 2) -> Cluster:
        demo = build(DemoSettings(seed=3, sources=sources, size=SIZE))
        if latency:
            demo.sandbox.faults.rate(Fault.latency(latency), p=1.0)
        server = serve(demo.sandbox)
        url = server.__enter__()
        closers.append(server)
        cluster = Cluster(demo, url, redis_server, tmp_path)
        made.append(cluster)
        for _ in range(workers):
            cluster.start_worker()
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
        for server in closers:
            server.__exit__(None, None, None)


def _unit_keys(cluster: Cluster, job: str) -> list[str]:
    """The unit keys of the job, from its stored plan."""
    from wecal.export.distributed import JobSpec, plan

    spec = JobSpec.from_json(cluster.db.get(f"wecal:job:{job}:spec") or "")
    return [unit.key for unit in plan(spec)]


def _lines(path: Path) -> list[str]:
    return sorted(path.read_bytes().decode().splitlines())


#: The default run checks one provider; CI's slow run checks every one.
ALL_PROVIDERS = [
    "wecom",
    pytest.param("dingtalk-legacy", marks=pytest.mark.slow),
    pytest.param("dingtalk", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_the_job_writes_what_one_process_writes_and_a_rerun_changes_no_byte(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, provider: str
) -> None:
    cluster = cluster_factory()
    expected = cluster.single(provider)
    assert len(expected) == 4 * SIZE
    out = tmp_path / "out.jsonl"
    # The workers' first request is answered 502: retried, and said in their log.
    cluster.demo.sandbox.faults.script("*", [Fault.server_error(502)])
    # The command plans and follows; the workers read with their own secrets.
    done = cluster.run(*cluster.job("nightly", provider, out), env=cluster.without_secrets())
    assert done.returncode == 0, done.stderr
    assert _lines(out) == expected
    logs = "".join(log.read_text() for log in sorted(tmp_path.glob("worker*.log")))
    retries = [
        line
        for line in logs.splitlines()
        if " wecal INFO retrying in " in line and line.endswith("(HTTP 502)")
    ]
    assert len(retries) == 1, logs
    assert "(attempt 1 of 4 failed): ProviderError: " in retries[0]
    # A first run names who wrote the output: the command, or the worker
    # that finished the last unit when it got there first; never an earlier run.
    last = done.stderr.splitlines()[-1]
    assert re.fullmatch(
        rf"wecal: job nightly: {4 * SIZE} events from 4 units; (wrote|a worker wrote) "
        rf"{re.escape(str(out))} \(\d+\.\ds, \d+ listing calls\)",
        last,
    ), last
    # Written, recorded, then the segments removed.
    assert not (tmp_path / "out.jsonl.segments" / "nightly").exists()
    first = out.read_bytes()
    stat = out.stat()
    status = cluster.run("export", "--redis", cluster.redis.url, "--job", "nightly",
                         "--status", "--json")  # fmt: skip
    calls = int(json.loads(status.stdout)["calls"])
    cluster.demo.sandbox.requests.clear()
    again = cluster.run(*cluster.job("nightly", provider, out))
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == (
        f"wecal: job nightly was already complete: {4 * SIZE} events from 4 units, "
        f"written to {out} by an earlier run and unchanged since; nothing read or "
        f"written again ({calls} listing calls in all)"
    )
    assert cluster.demo.sandbox.requests == []  # nothing read again
    assert out.read_bytes() == first
    assert out.stat().st_mtime_ns == stat.st_mtime_ns
    status = cluster.run("export", "--redis", cluster.redis.url, "--job", "nightly",
                         "--status", "--json")  # fmt: skip
    assert json.loads(status.stdout)["complete"] is True
    assert json.loads(status.stdout)["output"] == str(out)
    # Another -o for the finished job: a copy of what was written.
    other = tmp_path / "copy.jsonl"
    segments = str(tmp_path / "out.jsonl.segments")  # the job's, not the default beside -o
    copied = cluster.run(*cluster.job("nightly", provider, other, "--segments", segments))
    assert copied.returncode == 0, copied.stderr
    assert other.read_bytes() == first


def test_a_worker_writes_the_output_when_the_command_is_gone(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory()
    expected = cluster.single("wecom")
    out = tmp_path / "out.jsonl"
    command = cluster.start(*cluster.job("gone", "wecom", out))
    cluster.wait_for(lambda: cluster.db.exists("wecal:job:gone:spec"), why="the plan")
    # Enqueuing a unit numbers its job in the unit's hash.
    units = [f"wecal:job:gone:unit:{key}" for key in _unit_keys(cluster, "gone")]
    cluster.wait_for(lambda: all(cluster.db.hget(u, "jobs") for u in units), why="units queued")
    command.kill()
    command.communicate()
    # The worker committing the last unit enqueues the finalize; a worker runs it.
    # It records the output, then removes the segments.
    folder = tmp_path / "out.jsonl.segments" / "gone"
    cluster.wait_for(
        lambda: cluster.db.exists("wecal:job:gone:final") and not folder.exists(),
        why="the finalize",
    )
    assert _lines(out) == expected


@pytest.mark.parametrize(
    "provider", ["dingtalk", pytest.param("dingtalk-legacy", marks=pytest.mark.slow)]
)
def test_window_slices_share_a_source_and_write_what_one_process_writes(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, provider: str
) -> None:
    cluster = cluster_factory(sources=2)
    today = date.today()
    window = ["--start", str(today - timedelta(days=40)), "--end", str(today + timedelta(days=80))]
    single = tmp_path / "single.jsonl"
    done = cluster.run("export", *cluster.args(provider), *window, "-o", str(single), "-q")
    assert done.returncode == 0, done.stderr
    expected = _lines(single)
    assert 0 < len(expected) < 2 * SIZE  # the window cuts the data
    out = tmp_path / "out.jsonl"
    dry = cluster.run("export", *cluster.args(provider), *window, "--window-slices", "4",
                      "--dry-run", "--json")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["units"] == 2 * 4
    job = cluster.job("sliced", provider, out, *window, "--window-slices", "4", "--keep-segments")
    cluster.demo.sandbox.requests.clear()
    ran = cluster.run(*job)
    assert ran.returncode == 0, ran.stderr
    # Sliced, the plan assumes each slice's last page half full: near, not exact.
    made = len(cluster.demo.sandbox.requests)
    assert abs(plan["calls"] - made) <= 0.15 * made, (plan["calls"], made)
    lines = _lines(out)
    assert lines == expected  # each record once, though a slice overlapping another lists it too
    status = json.loads(
        cluster.run("export", "--redis", cluster.redis.url, "--job", "sliced", "--status",
                    "--json").stdout
    )  # fmt: skip
    assert status["units"] == 2 * 4
    # Events overlapping a cut were listed by both slices and written once.
    assert status["events"] > len(lines)
    assert (tmp_path / "out.jsonl.segments" / "sliced").is_dir()  # --keep-segments
    before = out.read_bytes()
    again = cluster.run(*job)
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == before
    # The segments gone and the output changed since: nothing can give the
    # job's bytes again, and the rerun says so instead of writing others.
    shutil.rmtree(tmp_path / "out.jsonl.segments" / "sliced")
    out.write_bytes(before + b"{}\n")
    changed = cluster.run(*job)
    assert changed.returncode != 0
    assert "has changed since, and its segments are removed" in changed.stderr
    assert out.read_bytes() == before + b"{}\n"


def _calendar(path: Path) -> tuple[list[bytes], list[str]]:
    """An .ics file's VEVENTs (sorted, without the writer's DTSTAMP) and TZIDs, by icalendar."""
    import icalendar

    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    events = []
    for vevent in calendar.walk("VEVENT"):
        del vevent["DTSTAMP"]
        events.append(bytes(vevent.to_ical()))
    zones = [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]
    return sorted(events), zones


def test_an_ics_job_holds_the_events_and_zones_of_a_one_process_calendar(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(sources=2)
    today = date.today()
    window = ["--start", str(today - timedelta(days=40)), "--end", str(today + timedelta(days=80))]
    single = tmp_path / "single.ics"
    done = cluster.run("export", *cluster.args("dingtalk"), *window, "-o", str(single), "-q")
    assert done.returncode == 0, done.stderr
    events, zones = _calendar(single)
    assert events
    assert zones
    out = tmp_path / "out.ics"
    # Three slices a source, each unit's segments written by its own writer:
    # zones each written once, an event listed by two slices once.
    ran = cluster.run(*cluster.job("cal", "dingtalk", out, *window, "--window-slices", "3"))
    assert ran.returncode == 0, ran.stderr
    got_events, got_zones = _calendar(out)
    assert got_events == events
    assert sorted(got_zones) == sorted(set(zones)) == sorted(set(got_zones))
    text = out.read_bytes()
    assert text.startswith(b"BEGIN:VCALENDAR\r\n")
    assert text.endswith(b"END:VCALENDAR\r\n")


def _blocked_and_deferred(cluster: Cluster, job: str) -> bool:
    """
    The app is blocked (its shared block key in Redis), no unit holds a lease,
    and every unit not done has its one engine job scheduled after the block
    ends (arq's queue: score = when to run, in ms).
    """
    blocks = list(cluster.db.scan_iter("wecal:block:wecom:*"))
    if len(blocks) != 1 or cluster.holders(job):
        return False
    block_end = time.time() * 1000 + cluster.db.pttl(blocks[0])
    queue = cluster.db.zrange("arq:queue", 0, -1, withscores=True)
    for key in _unit_keys(cluster, job):
        if cluster.db.hget(f"wecal:job:{job}:unit:{key}", "state") == "done":
            continue
        scores = [score for name, score in queue if name.startswith(f"wecal:{job}:{key}:")]
        if len(scores) != 1 or scores[0] < block_end:
            return False
    return True


@pytest.mark.parametrize("wait", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_wecom_block_defers_the_apps_units_until_it_ends(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, wait: bool
) -> None:
    cluster = cluster_factory(workers=1)
    expected = cluster.single("wecom") if wait else []
    requests = cluster.demo.sandbox.requests
    requests.clear()
    # The second listing call is answered 45009: the client blocks the app
    # (60 s, shared through Redis); past --max-wait, units defer, not wait.
    cluster.demo.sandbox.faults.script(
        "wecom.schedule.get_by_calendar", [None, Fault.rate_limited()]
    )
    out = tmp_path / "out.jsonl"
    job = cluster.start(*cluster.job("hb", "wecom", out))
    cluster.wait_for(lambda: any(r.errcode == 45009 for r in requests), why="the 45009")
    cluster.wait_for(lambda: _blocked_and_deferred(cluster, "hb"), why="the units deferred")
    if not wait:
        return
    _, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    assert _lines(out) == expected
    listing = [r for r in requests if _is_listing(r.api)]
    blocked = next(i for i, r in enumerate(listing) if r.errcode == 45009)
    # Nothing was asked of the app until its block ended.
    assert listing[blocked + 1].at - listing[blocked].at >= 59.0


def test_another_plan_under_the_same_job_name_is_refused(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(workers=0)
    out = tmp_path / "out.jsonl"
    first = cluster.start(*cluster.job("j", "wecom", out))
    cluster.wait_for(lambda: cluster.db.exists("wecal:job:j:spec"), why="the plan")
    other = cluster.run(*cluster.job("j", "wecom", out, n=2))
    first.kill()
    first.communicate()
    assert other.returncode == 2
    assert "job 'j' already exists with other sources" in other.stderr


def test_a_worker_killed_mid_job_and_a_new_one_give_the_exact_output(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(latency=0.15)
    expected = cluster.single("wecom")
    out = tmp_path / "out.jsonl"
    job = cluster.start(*cluster.job("k", "wecom", out))
    pids = {p.pid: p for p in cluster.workers}
    holders = cluster.wait_for(
        lambda: [pid for pid in cluster.holders("k").values() if pid in pids],
        why="a worker holding a unit",
    )
    victim = pids[holders[0]]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    cluster.start_worker()
    _, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    assert _lines(out) == expected


@pytest.mark.slow
def test_a_worker_stopped_past_its_lease_cannot_commit_when_it_wakes(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(latency=0.15)
    expected = cluster.single("wecom")
    out = tmp_path / "out.jsonl"
    job = cluster.start(*cluster.job("z", "wecom", out))
    cluster.stop_a_holder_past_its_lease("z")
    _, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    lines = _lines(out)
    assert len(lines) == len(set(lines))
    assert lines == expected


def test_the_command_follows_its_job_through_a_redis_restart(tmp_path: Path) -> None:
    """Redis restarts (AOF on) while ``export --job`` waits: it says so, waits, finishes."""
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    demo = build(DemoSettings(seed=3, sources=2, size=SIZE))
    try:
        with serve(demo.sandbox) as url:
            cluster = Cluster(demo, url, server, tmp_path)
            try:
                expected = cluster.single("wecom")
                out = tmp_path / "out.jsonl"
                log = tmp_path / "command.log"
                with log.open("wb") as sink:
                    command = _procs.start(
                        "wecal", *cluster.job("restart", "wecom", out),
                        env=cluster.env, stdout=_procs.DEVNULL, stderr=sink,
                    )  # fmt: skip
                try:
                    keys = _unit_keys_when_planned(cluster, "restart")
                    units = [f"wecal:job:restart:unit:{key}" for key in keys]
                    cluster.wait_for(
                        lambda: all(cluster.db.hget(u, "jobs") for u in units),
                        why="units queued",
                    )
                    server.stop()  # no worker yet: the command only follows the job
                    cluster.wait_for(
                        lambda: b"Redis unreachable" in log.read_bytes(),
                        why="the command noticing the outage",
                    )
                    server.start()
                    cluster.db = redis_py.Redis.from_url(server.url, decode_responses=True)
                    cluster.start_worker()
                    assert command.wait(120) == 0, log.read_text()
                finally:
                    if command.poll() is None:
                        command.kill()
                        command.wait(10)
                said = log.read_text()
                assert "internal error" not in said
                assert "Redis answers again" in said
                assert _lines(out) == expected
            finally:
                cluster.stop()
    finally:
        server.stop()


def _unit_keys_when_planned(cluster: Cluster, job: str) -> list[str]:
    cluster.wait_for(lambda: cluster.db.exists(f"wecal:job:{job}:spec"), why="the plan")
    return _unit_keys(cluster, job)


@pytest.mark.slow
def test_two_export_commands_for_one_job_make_one_plan_and_one_output(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory()
    expected = cluster.single("dingtalk")
    out = tmp_path / "out.jsonl"
    cluster.demo.sandbox.requests.clear()
    a = cluster.start(*cluster.job("twice", "dingtalk", out))
    b = cluster.start(*cluster.job("twice", "dingtalk", out))
    for proc in (a, b):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert _lines(out) == expected
    status = json.loads(
        cluster.run(
            "export", "--redis", cluster.redis.url, "--job", "twice", "--status", "--json"
        ).stdout
    )
    assert status["units"] == 4
    assert status["events"] == 4 * SIZE
    listing = [r for r in cluster.demo.sandbox.requests if _is_listing(r.api)]
    assert len(listing) == 4 * (SIZE // PAGE + 1)  # each page once: one plan ran


@pytest.mark.slow
def test_max_calls_stops_within_the_budget_and_the_rerun_finishes_exactly(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory()
    expected = cluster.single("wecom")
    out = tmp_path / "out.jsonl"
    cluster.demo.sandbox.requests.clear()
    budget = 7
    first = cluster.run(*cluster.job("b", "wecom", out, "--max-calls", str(budget)))
    assert first.returncode == 1, first.stderr
    assert "stopped" in first.stderr
    assert "Rerun the same command" in first.stderr
    assert not out.exists()
    listing = [r for r in cluster.demo.sandbox.requests if _is_listing(r.api)]
    assert 0 < len(listing) <= budget
    second = cluster.run(*cluster.job("b", "wecom", out))
    assert second.returncode == 0, second.stderr
    assert _lines(out) == expected


@pytest.mark.slow
def test_a_spent_monthly_quota_fails_the_units_with_that_reason_without_retrying(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(workers=0)
    cluster.start_worker("--monthly-quota", "3")  # the token and two pages
    out = tmp_path / "out.jsonl"
    done = cluster.run(*cluster.job("q", "dingtalk", out))
    assert done.returncode == 1, done.stderr
    assert "failed: quota" in done.stderr
    assert not out.exists()
    assert (tmp_path / "out.jsonl.segments" / "q").is_dir()  # kept: nothing was finalized
    listing = [r for r in cluster.demo.sandbox.requests if _is_listing(r.api)]
    assert len(listing) <= 3  # refused before sending, and never retried


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["wecom", "dingtalk-legacy", "dingtalk"])
def test_the_dry_run_estimate_is_within_ten_percent_of_the_calls_made(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, provider: str
) -> None:
    cluster = cluster_factory()
    cluster.demo.sandbox.requests.clear()
    out = tmp_path / "out.jsonl"
    dry = cluster.run(
        "export", *cluster.args(provider), "--dry-run", "--json", "-o", str(out),
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    sent = [r for r in cluster.demo.sandbox.requests if _is_listing(r.api)]
    assert len(sent) == 4  # one first page per source, nothing more
    assert not out.exists()
    assert plan["units"] == 4
    estimate = plan["apis"][provider]["calls"]
    cluster.demo.sandbox.requests.clear()
    done = cluster.run(*cluster.job("d", provider, out))
    assert done.returncode == 0, done.stderr
    from collections import Counter

    made = len(cluster.demo.sandbox.requests)
    apis = Counter(r.api for r in cluster.demo.sandbox.requests)
    assert abs(estimate - made) <= 0.1 * made, (estimate, made, apis)


def test_the_offline_dry_run_sends_nothing_and_prints_a_table(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(workers=0)
    cluster.demo.sandbox.requests.clear()
    dry = cluster.run(
        "export", *cluster.args("dingtalk"), "--dry-run", "--offline", "--expect-events", "95",
        "--monthly-quota", "5000",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert cluster.demo.sandbox.requests == []
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["api", "units", "calls", "events", "at", "limit", "quota"]
    # 4 sources × ceil(95 / 10) pages + the token; 41 of 5000 is 0.8%.
    assert lines[1].split() == ["dingtalk", "4", "41", "380", "2.0s", "0.8%"]


@pytest.mark.slow
def test_soak_kills_a_stop_and_a_redis_restart_leave_the_exact_output(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, appendonly=True)
    server.start()
    demo = build(DemoSettings(seed=5, sources=30, size=SIZE))
    demo.sandbox.faults.rate(Fault.latency(0.05), p=1.0)
    rng = random.Random(21)
    with serve(demo.sandbox) as url:
        cluster = Cluster(demo, url, server, tmp_path)
        try:
            for _ in range(3):
                cluster.start_worker()
            expected = cluster.single("dingtalk-legacy")
            out = tmp_path / "out.jsonl"
            job = cluster.start(*cluster.job("soak", "dingtalk-legacy", out))
            for n in range(5):
                live = [p for p in cluster.workers if p.poll() is None]
                pids = {p.pid: p for p in live}
                pid = cluster.wait_for(
                    lambda pids=pids: next(  # type: ignore[misc]
                        (p for p in cluster.holders("soak").values() if p in pids), None
                    ),
                    why="a busy worker",
                )
                victim = pids[pid] if rng.random() < 0.5 else rng.choice(live)
                victim.kill()
                victim.wait(10)
                cluster.start_worker()
                if n == 2:
                    server.stop()  # SIGTERM: AOF is on, what was written stays
                    server.start()
                    cluster.db = redis_py.Redis.from_url(server.url, decode_responses=True)
            cluster.stop_a_holder_past_its_lease("soak")
            _, err = job.communicate(timeout=600)
            assert job.returncode == 0, err
            lines = _lines(out)
            assert len(lines) == len(set(lines))
            assert lines == expected
            before = out.read_bytes()
            again = cluster.run(*cluster.job("soak", "dingtalk-legacy", out))
            assert again.returncode == 0
            assert out.read_bytes() == before
        finally:
            cluster.stop()
            server.stop()


def test_an_unreachable_redis_is_a_clear_error_not_an_internal_one(tmp_path: Path) -> None:
    from tests._redis import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    done = _procs.run(
        "wecal", "export", "--provider", "wecom",
        "--base-url", "http://127.0.0.1:9", "--calendar", "c1", "--redis", url,
        "--job", "nowhere", "-o", str(tmp_path / "out.jsonl"),
        env={**os.environ, "PYTHONPATH": str(ROOT), "WECAL_WECOM_CORP_ID": "ww1",
             "WECAL_WECOM_SECRET": "s3cret-value"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Redis unreachable" in done.stderr
    assert "internal error" not in done.stderr
    assert "s3cret-value" not in done.stderr
