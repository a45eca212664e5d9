"""
Benchmark 4 — send-loop overhead: a wecal client vs bare ``httpx.AsyncClient``.

One loopback server (``_servers.py stream --per-calendar 0``, its own
process) answers every ``schedule/get_by_calendar`` with the smallest valid
WeCom page. Both sides send the same POST (same token in the query, same JSON
body) over one pooled keep-alive connection and decode the JSON:

- bare: ``http.post(...)``, ``response.json()``, check ``errcode``;
- wecal: ``WeComClient``'s HTTP core ``call(...)`` — token cache, rate-limit
  slot (a limit set high enough never to bind), send, classify, redaction
  machinery. Also reported with ``rate_limit=False``.

Rounds alternate bare / wecal / wecal-unlimited so load drifts hit all three;
the figure is the ratio of median time per request (target ≤ 1.10×). The
same is measured with 16 requests in flight, for information.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import httpx
from _common import Result, median, server

import wecal

TARGET = 1.10
PATH = "/cgi-bin/oa/schedule/get_by_calendar"
BODY = {"cal_id": "cal-00", "offset": 0, "limit": 1000}
#: Far above what one client can send over loopback: the limiter runs but never waits.
NOT_BINDING = wecal.RateLimitConfig(rate=1_000_000, burst=1000, max_concurrency=None)


async def _per_request(send: Callable[[], Awaitable[None]], n: int, in_flight: int) -> float:
    """Seconds per request for ``n`` requests, ``in_flight`` at a time."""
    per_task = n // in_flight

    async def worker() -> None:
        for _ in range(per_task):
            await send()

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(in_flight):
            tg.start_soon(worker)
    return (time.perf_counter() - t0) / (per_task * in_flight)


async def measure(url: str, n: int, rounds: int, in_flight: int) -> dict[str, list[float]]:
    """Alternate the three senders for ``rounds`` rounds of ``n`` requests each."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    bare_http = httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0)
    clients = {
        "wecal": wecal.WeComClient(
            "ww_bench", "bench-secret", base_url=url, rate_limit=NOT_BINDING,
            http_client=httpx.AsyncClient(limits=limits, timeout=10.0),
        ),
        "wecal-unlimited": wecal.WeComClient(
            "ww_bench2", "bench-secret", base_url=url, rate_limit=False,
            http_client=httpx.AsyncClient(limits=limits, timeout=10.0),
        ),
    }  # fmt: skip
    times: dict[str, list[float]] = {"bare": [], "wecal": [], "wecal-unlimited": []}
    async with bare_http:
        token = (await bare_http.get("/cgi-bin/gettoken")).json()["access_token"]

        async def bare() -> None:
            response = await bare_http.post(PATH, params={"access_token": token}, json=BODY)
            if response.json()["errcode"] != 0:
                raise RuntimeError("the server said no")

        senders: dict[str, Callable[[], Awaitable[None]]] = {"bare": bare}
        for name, client in clients.items():

            def make(c: wecal.WeComClient) -> Callable[[], Awaitable[None]]:
                async def send() -> None:
                    await c._http.call("schedule/get_by_calendar", "POST", PATH, json=BODY)

                return send

            senders[name] = make(client)
        try:
            for send in senders.values():  # warm up: connections, token, caches
                await _per_request(send, in_flight * 4, in_flight)
            for _ in range(rounds):
                for name, send in senders.items():
                    times[name].append(await _per_request(send, n, in_flight))
        finally:
            for client in clients.values():
                await client.aclose()
                await client._settings["http_client"].aclose()
    return times


def run(quick: bool) -> list[Result]:
    """Benchmark 4: 500 sequential requests × 7 rounds (quick: 30 × 1)."""
    n, rounds = (32, 1) if quick else (512, 7)
    with server("stream", "--per-calendar", "0") as hello:
        url = str(hello["url"])
        seq = anyio.run(measure, url, n, rounds, 1)
        par = anyio.run(measure, url, n, rounds, 16)
    bare, ours, free = (median(seq[k]) for k in ("bare", "wecal", "wecal-unlimited"))
    pbare, pours = median(par["bare"]), median(par["wecal"])
    ratio = ours / bare
    return [
        Result(
            name="4. send-loop overhead, sequential",
            value=ratio,
            unit="× bare httpx",
            target=f"≤ {TARGET:.2f}×",
            ok=ratio <= TARGET,
            detail=(
                f"per request: bare httpx {bare * 1e6:.0f} µs, wecal {ours * 1e6:.0f} µs "
                f"(+{(ours - bare) * 1e6:.0f} µs), wecal rate_limit=False {free * 1e6:.0f} µs "
                f"({free / bare:.2f}×); {n} requests × {rounds} rounds, medians"
            ),
        ),
        Result(
            name="4. send-loop overhead, 16 in flight",
            value=pours / pbare,
            unit="× bare httpx",
            target="(info)",
            ok=None,
            detail=(
                f"per request: bare {pbare * 1e6:.0f} µs, wecal {pours * 1e6:.0f} µs "
                f"({1 / pbare:,.0f} vs {1 / pours:,.0f} requests/s)"
            ),
        ),
    ]
