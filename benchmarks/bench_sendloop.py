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

Layer by layer, in-process (issue 11): the same calls answered by an
``httpx.MockTransport`` — no socket, no server — with 16 in flight, timed in
CPU time (``time.process_time``), which a shared machine's load disturbs far
less than wall time: bare httpx, wecal's core with the token placed by hand,
+ the token lookup, + a rate limiter that cannot bind (``max_concurrency=16``).
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


_EMPTY = b'{"errcode":0,"errmsg":"ok","schedule_list":[]}'
_TOKEN = b'{"errcode":0,"errmsg":"ok","access_token":"bench-token","expires_in":7200}'


def _mock() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_TOKEN if "gettoken" in request.url.path else _EMPTY)

    return httpx.MockTransport(handler)


async def layers(n: int, rounds: int, in_flight: int = 16) -> dict[str, float]:
    """CPU seconds per call of each layer, in-process, ``in_flight`` at a time (medians)."""
    url = "http://bench.invalid"
    bare_http = httpx.AsyncClient(base_url=url, transport=_mock())
    plain = wecal.WeComClient(
        "ww_a", "bench-secret", base_url=url, rate_limit=False, transport=_mock()
    )
    capped = wecal.RateLimitConfig(rate=1_000_000, burst=1000, max_concurrency=in_flight)
    limited = wecal.WeComClient(
        "ww_b", "bench-secret", base_url=url, rate_limit=capped, transport=_mock()
    )

    async def bare() -> None:
        r = await bare_http.post(PATH, params={"access_token": "bench-token"}, json=BODY)
        if r.json()["errcode"] != 0:
            raise RuntimeError("the mock said no")

    async def no_token() -> None:
        await plain._http.call(
            "schedule/get_by_calendar", "POST", PATH, json=BODY,
            params={"access_token": "bench-token"}, authenticated=False,
        )  # fmt: skip

    async def core() -> None:
        await plain._http.call("schedule/get_by_calendar", "POST", PATH, json=BODY)

    async def core_limited() -> None:
        await limited._http.call("schedule/get_by_calendar", "POST", PATH, json=BODY)

    senders = {
        "bare": bare,
        "core, no token": no_token,
        "core": core,
        "core + limiter": core_limited,
    }
    cpu: dict[str, list[float]] = {k: [] for k in senders}
    async with bare_http, plain, limited:
        for send in senders.values():  # warm up
            await _per_request(send, in_flight * 4, in_flight)
        for _ in range(rounds):
            for name, send in senders.items():
                c0 = time.process_time()
                await _per_request(send, n, in_flight)
                cpu[name].append((time.process_time() - c0) / n)
    return {k: median(v) for k, v in cpu.items()}


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
    cpu = anyio.run(layers, *((64, 1) if quick else (1600, 7)))
    steps = list(cpu)
    layer_text = "; ".join(
        f"{k} {cpu[k] * 1e6:.0f} µs"
        + ("" if i == 0 else f" ({(cpu[k] - cpu[steps[i - 1]]) * 1e6:+.0f})")
        for i, k in enumerate(steps)
    )
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
        Result(
            name="4. send loop layers, CPU per call, 16 in flight, in-process",
            value=cpu["core + limiter"] / cpu["bare"],
            unit="× bare httpx",
            target="(info)",
            ok=None,
            detail=f"{layer_text} (each layer over the previous one; medians)",
        ),
    ]
