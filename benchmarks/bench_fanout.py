"""
Benchmark 5 — fan-out: many calendars listed 16 at a time against a 50 ms server.

The server is ``_servers.py stream --latency 0.05`` in its own process: any
calendar has ``PER_CALENDAR`` WeCom-shaped schedules (Chinese text, emoji,
a quarter recurring, 0–5 attendees), and every ``get_by_calendar`` answer is
held 50 ms. ``CALENDARS`` calendars are listed with ``PAGE_SIZE`` schedules a
page, at most ``IN_FLIGHT`` listings at a time (one task per calendar behind
one ``anyio.Semaphore``: the same harness for every variant). Offset paging
ends on an empty page, so each calendar costs ``PER_CALENDAR / PAGE_SIZE + 1``
requests; the latency ideal is ``requests / IN_FLIGHT × 50 ms``.

Variants, interleaved round by round (medians of wall time, plus this
process's CPU time per run — the more sensitive measure of overhead, since
the wall time is mostly waiting):

- ``bare``: a hand-written ``httpx.AsyncClient`` loop — ``post`` + ``.json()``
  + ``len(schedule_list)``; the reference.
- ``core, no token``: ``WeComClient``'s HTTP core ``call(...)`` with the token
  placed by hand (``authenticated=False``) and ``rate_limit=False``: the send
  loop alone.
- ``core``: the same with the core's token lookup.
- ``core + limiter``: and a rate limiter that runs but does not bind
  (``NOT_BINDING``: a rate far above the server's, ``max_concurrency=16``).
- ``paginator``: a :class:`wecal.Paginator` over ``OffsetPaging`` yielding the
  raw schedules (key de-duplication and cursors, no conversion).
- ``wecal``: ``client.list_events(cal_id, page_size=PAGE_SIZE)`` — every event
  fully normalized, the limiter running. **The figure**: its wall time ÷
  ``bare`` (target ≤ 1.15×).
- ``one at a time``: ``wecal`` with one calendar at a time; the speed-up
  (target ≥ 12×) is its wall time ÷ ``wecal``'s. ``bare one at a time`` gives
  bare httpx's own speed-up, the ceiling on this machine.
- With ``httpx-aiohttp`` installed (asyncio only): ``bare`` and ``wecal`` on
  its ``AiohttpTransport`` instead of httpcore's pool, for information — is
  the pool the ceiling? (Not a default: it maps a dropped connection to
  ``ConnectTimeout``, which would let a write be replayed.)
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import httpx
from _common import Result, median, server

import wecal
from wecal.paging import OffsetPaging, Paginator

try:  # the optional aiohttp-backed httpx transport, measured when installed
    from httpx_aiohttp import AiohttpTransport
except ImportError:  # pragma: no cover - depends on the environment
    AiohttpTransport = None

CALENDARS = 32
PER_CALENDAR = 100
PAGE_SIZE = 20
LATENCY = 0.050
IN_FLIGHT = 16
TARGET_RATIO = 1.15
TARGET_SPEEDUP = 12.0
PATH = "/cgi-bin/oa/schedule/get_by_calendar"
API = "schedule/get_by_calendar"
#: Far above what one client sends here: the limiter runs its code but never waits.
NOT_BINDING = wecal.RateLimitConfig(rate=1_000_000, burst=1000, max_concurrency=IN_FLIGHT)

Lister = Callable[[str], Awaitable[int]]


def _cpu() -> float:
    return time.process_time()


async def fan_out(
    calendars: Sequence[str], in_flight: int, list_one: Lister
) -> tuple[float, float, int]:
    """List every calendar, ``in_flight`` at a time; (wall s, CPU s, items)."""
    gate = anyio.Semaphore(in_flight)
    total = 0

    async def one(cal_id: str) -> None:
        nonlocal total
        async with gate:
            n = await list_one(cal_id)
        total += n  # not `total += await ...`: that reads `total` before the await

    c0, t0 = _cpu(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for cal_id in calendars:
            tg.start_soon(one, cal_id)
    return time.perf_counter() - t0, _cpu() - c0, total


def _body(cal_id: str, offset: int) -> dict[str, Any]:
    return {"cal_id": cal_id, "offset": offset, "limit": PAGE_SIZE}


def _offset_loop(send: Callable[[str, int], Awaitable[Mapping[str, Any]]]) -> Lister:
    """Offset paging by hand until the empty page, counting schedules."""

    async def list_one(cal_id: str) -> int:
        offset = 0
        for _ in range(100_000):  # bounded; ends on the empty page
            n = len((await send(cal_id, offset))["schedule_list"])
            if not n:
                break
            offset += n
        return offset

    return list_one


async def measure(
    url: str, calendars: Sequence[str], per_calendar: int, rounds: int, sequential_rounds: int
) -> dict[str, Any]:
    """Run every variant ``rounds`` times (interleaved); one-at-a-time ``sequential_rounds``."""
    async with contextlib.AsyncExitStack() as stack:
        bare_http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30.0))
        plain = await stack.enter_async_context(
            wecal.WeComClient("ww_bench", "bench-secret", base_url=url, rate_limit=False)
        )
        limited = await stack.enter_async_context(
            wecal.WeComClient("ww_bench", "bench-secret", base_url=url, rate_limit=NOT_BINDING)
        )
        token = (await bare_http.get("/cgi-bin/gettoken")).json()["access_token"]

        async def bare_send(cal_id: str, offset: int) -> Mapping[str, Any]:
            r = await bare_http.post(
                PATH, params={"access_token": token}, json=_body(cal_id, offset)
            )
            body: Mapping[str, Any] = r.json()
            if body["errcode"] != 0:
                raise RuntimeError("the server said no")
            return body

        def core_send(
            client: wecal.WeComClient, *, auth: bool
        ) -> Callable[[str, int], Awaitable[Mapping[str, Any]]]:
            core = client._http

            async def send(cal_id: str, offset: int) -> Mapping[str, Any]:
                if auth:
                    return await core.call(API, "POST", PATH, json=_body(cal_id, offset))
                return await core.call(
                    API, "POST", PATH, json=_body(cal_id, offset),
                    params={"access_token": token}, authenticated=False,
                )  # fmt: skip

            return send

        async def paginated(cal_id: str) -> int:
            send = core_send(limited, auth=True)

            async def fetch(offset: int, size: int) -> Sequence[Mapping[str, Any]]:
                items: Sequence[Mapping[str, Any]] = (await send(cal_id, offset))["schedule_list"]
                return items

            pager = Paginator(
                OffsetPaging(fetch, page_size=PAGE_SIZE), key=lambda s: s["schedule_id"]
            )
            return len([s async for s in pager])

        def normalized_by(client: wecal.WeComClient) -> Lister:
            async def normalized(cal_id: str) -> int:
                return len([e async for e in client.list_events(cal_id, page_size=PAGE_SIZE)])

            return normalized

        normalized = normalized_by(limited)

        variants: dict[str, Lister] = {
            "bare": _offset_loop(bare_send),
            "core, no token": _offset_loop(core_send(plain, auth=False)),
            "core": _offset_loop(core_send(plain, auth=True)),
            "core + limiter": _offset_loop(core_send(limited, auth=True)),
            "paginator": paginated,
            "wecal": normalized,
        }
        if AiohttpTransport is not None:
            # The optional transport (asyncio only), on both sides.
            aio_http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=30.0, transport=AiohttpTransport())
            )

            async def aio_send(cal_id: str, offset: int) -> Mapping[str, Any]:
                r = await aio_http.post(
                    PATH, params={"access_token": token}, json=_body(cal_id, offset)
                )
                body: Mapping[str, Any] = r.json()
                return body

            aio_wecal = await stack.enter_async_context(
                wecal.WeComClient(
                    "ww_bench", "bench-secret", base_url=url, rate_limit=NOT_BINDING,
                    transport=AiohttpTransport(),
                )
            )  # fmt: skip
            variants["bare, aiohttp transport"] = _offset_loop(aio_send)
            variants["wecal, aiohttp transport"] = normalized_by(aio_wecal)
        sequential: dict[str, Lister] = {
            "one at a time": normalized,
            "bare one at a time": variants["bare"],
        }
        expected = len(calendars) * per_calendar
        wall: dict[str, list[float]] = {k: [] for k in [*variants, *sequential]}
        cpu: dict[str, list[float]] = {k: [] for k in wall}
        for list_one in variants.values():  # warm up: connections, tokens, imports
            await fan_out(calendars[:IN_FLIGHT], IN_FLIGHT, list_one)
        for r in range(max(rounds, sequential_rounds)):
            runs = list(variants.items()) if r < rounds else []
            if r < sequential_rounds:
                runs += sequential.items()
            for name, list_one in runs:
                seconds, cpu_s, items = await fan_out(
                    calendars, 1 if name in sequential else IN_FLIGHT, list_one
                )
                if items != expected:
                    raise RuntimeError(f"{name}: listed {items} of {expected} schedules")
                wall[name].append(seconds)
                cpu[name].append(cpu_s)
    return {"wall": wall, "cpu": cpu}


def run(quick: bool) -> list[Result]:
    """Benchmark 5: 32 calendars × 100 events (quick: 4 × 20, 5 ms latency)."""
    n_cal, per, latency = (CALENDARS, PER_CALENDAR, LATENCY)
    rounds, seq_rounds = 5, 2
    if quick:
        n_cal, per, latency, rounds, seq_rounds = 4, 2 * PAGE_SIZE, 0.005, 1, 1
    calendars = [f"cal-{k:03d}" for k in range(n_cal)]
    with server("stream", "--per-calendar", str(per), "--latency", str(latency)) as hello:
        data = anyio.run(measure, str(hello["url"]), calendars, per, rounds, seq_rounds)
    wall = {k: median(v) for k, v in data["wall"].items()}
    cpu = {k: median(v) for k, v in data["cpu"].items()}
    requests = n_cal * (math.ceil(per / PAGE_SIZE) + 1)
    ideal = math.ceil(requests / min(IN_FLIGHT, n_cal)) * latency
    ratio = wall["wecal"] / wall["bare"]
    speedup = wall["one at a time"] / wall["wecal"]
    components = "; ".join(
        f"{k} {wall[k] * 1e3:.0f} ms ({wall[k] / wall['bare']:.2f}×), CPU {cpu[k] * 1e3:.0f} ms"
        for k in data["wall"]
        if "one at a time" not in k
    )
    results = [
        Result(
            name=f"5. fan-out {n_cal} calendars, {IN_FLIGHT} in flight, wecal ÷ bare httpx",
            value=ratio,
            unit="× bare httpx",
            target=f"≤ {TARGET_RATIO}×",
            ok=ratio <= TARGET_RATIO,
            detail=(
                f"{requests} requests ({PAGE_SIZE}/page, {per} events/calendar), "
                f"{latency * 1e3:.0f} ms each, latency ideal {ideal * 1e3:.0f} ms; medians of "
                f"{rounds}: {components}"
            ),
        ),
        Result(
            name=f"5. fan-out speed-up, {IN_FLIGHT} in flight vs one calendar at a time",
            value=speedup,
            unit="×",
            target=f"≥ {TARGET_SPEEDUP:.0f}×",
            ok=speedup >= TARGET_SPEEDUP,
            detail=(
                f"one at a time {wall['one at a time'] * 1e3:.0f} ms (median of {seq_rounds}; "
                f"ideal {requests * latency * 1e3:.0f} ms), CPU {cpu['one at a time'] * 1e3:.0f} "
                f"ms; bare httpx: one at a time {wall['bare one at a time'] * 1e3:.0f} ms, "
                f"speed-up {wall['bare one at a time'] / wall['bare']:.1f}×"
            ),
        ),
    ]
    if "wecal, aiohttp transport" in wall:
        aio = wall["wecal, aiohttp transport"]
        results.append(
            Result(
                name="5. fan-out, wecal on the aiohttp transport ÷ bare httpx",
                value=aio / wall["bare"],
                unit="× bare httpx",
                target="(info)",
                ok=None,
                detail=(
                    f"httpx_aiohttp.AiohttpTransport (asyncio only): wecal {aio * 1e3:.0f} ms, "
                    f"CPU {cpu['wecal, aiohttp transport'] * 1e3:.0f} ms; bare httpx on it "
                    f"{wall['bare, aiohttp transport'] * 1e3:.0f} ms"
                ),
            )
        )
    return results
