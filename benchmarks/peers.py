"""
wecal beside its peers, in one run: what the same work costs elsewhere.

Every figure is a median of interleaved rounds (each round runs every peer
once, in turn), printed beside a ratio to its reference measured in the
same rounds; on a shared machine only the ratios are worth comparing.

1. **Decode** a 1000-event page per provider (DingTalk v1.0: ten pages of
   100) — the sandbox's answers, captured as bytes (``bench_decode.py``):
   stdlib ``json.loads`` (the reference); ``msgspec.json.decode`` into plain
   objects (the floor of a C decoder that builds dicts); the official DingTalk
   SDK's models, ``json.loads`` + ``ListEventsResponseBody().from_map(...)``
   as its client does (v1.0 only; skipped, and said, when
   ``alibabacloud_dingtalk`` cannot be imported — ``--sdk-path DIR`` appends
   a directory it was installed to with ``pip install --target DIR
   alibabacloud-dingtalk``); wecal's typed decode + events on the same bytes
   without the client (v1.0: what the SDK figure compares with); and wecal's
   ``list_events`` through a client answered by ``httpx.MockTransport`` (HTTP
   core, decoding, events).
2. **JSONL encode**: wecal's JSONL writer vs ``to_dict`` + ``json.dumps``
   (the same bytes), µs per event, on the WeCom page's events.
3. **Export CPU per event**: ``wecal.export`` of WeCom calendars to JSONL vs a
   bare ``httpx.AsyncClient`` loop writing each page's raw body to a file,
   same requests and concurrency, against ``_servers.py stream`` (own
   process, no latency); this process's CPU time ÷ events.
4. **Fan-out** (``bench_fanout.py``'s harness: 32 calendars × 100 events,
   20 a page, 16 in flight, 50 ms a request): bare httpx (reference), a bare
   ``aiohttp.ClientSession`` loop, wecal (fully normalized events) on httpx's
   default transport and on ``httpx_aiohttp.AiohttpTransport``.

Run: ``python benchmarks/peers.py`` (``--quick``: toy sizes, the figures
mean nothing; ``--only decode encode export fanout``; ``--rounds N``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
from _common import machine, median, server

import wecal
from wecal.export import Source, export
from wecal.export._jsonl import JsonlWriter, _reference_line

HERE = Path(__file__).resolve().parent


def _rounds(fns: Mapping[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median CPU seconds of each function, run in turn ``rounds`` times."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()  # warm up
    for _ in range(rounds):
        for name, f in fns.items():
            t0 = time.process_time()
            f()
            times[name].append(time.process_time() - t0)
    return {k: median(v) for k, v in times.items()}


def _sdk_models() -> Any:
    try:
        from alibabacloud_dingtalk.calendar_1_0 import models
    except ImportError:
        return None
    return models


# -- 1. decode ----------------------------------------------------------------------


def decode(rounds: int, n: int) -> list[str]:
    from bench_decode import cases

    lines = []
    models = _sdk_models()
    with anyio.from_thread.start_blocking_portal() as portal:
        found = portal.call(cases, n)
        for case in found:
            pages = case.pages

            def client_path(case: Any = case) -> None:
                portal.call(case.client_page)

            fns: dict[str, Callable[[], Any]] = {
                "json.loads": lambda pages=pages: [json.loads(p) for p in pages],
                "msgspec raw": lambda pages=pages: [msgspec.json.decode(p) for p in pages],
            }
            if case.label == "DingTalk v1.0" and models is not None:
                body = models.ListEventsResponseBody

                def sdk(pages: list[bytes] = pages, body: Any = body) -> None:
                    for p in pages:
                        body().from_map(json.loads(p))

                fns["DingTalk SDK from_map"] = sdk
            if case.label == "DingTalk v1.0":
                # The SDK figure has no HTTP in it: wecal's decode + events on
                # the same bytes, without the client (ten requests) around them.
                fns["wecal decode, no HTTP"] = _v1_wire_path(pages)
            fns["wecal list_events"] = client_path
            m = _rounds(fns, rounds)
            ref = m["json.loads"]
            size = sum(len(p) for p in pages) / 1e6
            parts = [f"{k} {v * 1e3:.1f} ms ({v / ref:.2f}×)" for k, v in m.items()]
            line = f"decode {case.label} ({n} events, {size:.2f} MB): " + ", ".join(parts)
            if "DingTalk SDK from_map" in m:
                sdk_ratio = m["wecal list_events"] / m["DingTalk SDK from_map"]
                bare_ratio = m["wecal decode, no HTTP"] / m["DingTalk SDK from_map"]
                line += f"; wecal ÷ SDK {sdk_ratio:.2f}× (no HTTP: {bare_ratio:.2f}×)"
            elif case.label == "DingTalk v1.0":
                line += "; DingTalk SDK: alibabacloud_dingtalk not importable (see --sdk-path)"
            lines.append(line)
    return lines


def _v1_wire_path(pages: list[bytes]) -> Callable[[], Any]:
    """DingTalk v1.0 pages → events as the client reads them, minus the HTTP client."""
    from wecal.providers.dingtalk._convert import events_from_wire
    from wecal.providers.dingtalk._wire import decode_event_page

    def run() -> None:
        for p in pages:
            page = decode_event_page(p)
            if page is None:
                raise RuntimeError("the v1.0 page did not take the typed path")
            events_from_wire(page)

    return run


# -- 2. JSONL encode ------------------------------------------------------------------


def encode(rounds: int, n: int) -> list[str]:
    from bench_decode import cases

    with anyio.from_thread.start_blocking_portal() as portal:
        wecom = next(c for c in portal.call(cases, n) if c.label == "WeCom")
        events = list(portal.call(wecom.client_page))
    writer = JsonlWriter()
    if writer.encode(events) != b"".join(_reference_line(e) for e in events):
        raise RuntimeError("the JSONL writer's bytes differ from to_dict + json.dumps")
    m = _rounds(
        {
            "to_dict + json.dumps": lambda: b"".join(_reference_line(e) for e in events),
            "wecal JSONL writer": lambda: writer.encode(events),
        },
        rounds,
    )
    per = {k: v / len(events) * 1e6 for k, v in m.items()}
    attendees = sum(len(e.attendees) for e in events) / len(events)
    return [
        f"JSONL encode, {len(events)} WeCom events (mean {attendees:.1f} attendees): "
        + ", ".join(f"{k} {v:.1f} µs/event" for k, v in per.items())
        + f" ({per['wecal JSONL writer'] / per['to_dict + json.dumps']:.2f}×)"
    ]


# -- 3. export CPU per event -----------------------------------------------------------

EXPORT_PAGE = 1000
EXPORT_CONCURRENCY = 8


async def _wecal_export(url: str, calendars: list[str], out: Path) -> int:
    async with wecal.WeComClient("ww_bench", "bench-secret", base_url=url, rate_limit=False) as c:

        def open_pages(source: Source, cursor: str | None) -> Any:
            pages: Any = c.list_events(source.id, page_size=EXPORT_PAGE).by_page(cursor=cursor)
            return pages

        result = await export(
            [Source("calendar", k) for k in calendars],
            open_pages,
            output=out,
            fmt="jsonl",
            concurrency=EXPORT_CONCURRENCY,
        )
        if not result.ok:
            raise RuntimeError(f"export failed: {result.failed}")
        return result.events


async def _bare_export(url: str, calendars: list[str], out: Path) -> int:
    total = 0
    gate = anyio.Semaphore(EXPORT_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
        token = (await http.get("/cgi-bin/gettoken")).json()["access_token"]
        with out.open("wb") as f:

            async def one(cal_id: str) -> None:
                nonlocal total
                offset = 0
                async with gate:
                    while True:
                        r = await http.post(
                            "/cgi-bin/oa/schedule/get_by_calendar",
                            params={"access_token": token},
                            json={"cal_id": cal_id, "offset": offset, "limit": EXPORT_PAGE},
                        )
                        n = len(r.json()["schedule_list"])
                        if not n:
                            break
                        f.write(r.content + b"\n")
                        offset += n
                total += offset

            async with anyio.create_task_group() as tg:
                for cal_id in calendars:
                    tg.start_soon(one, cal_id)
    return total


def export_cpu(rounds: int, calendars: int, per_calendar: int) -> list[str]:
    cals = [f"cal-{k:02d}" for k in range(calendars)]
    runs: dict[str, Callable[[str, list[str], Path], Awaitable[int]]] = {
        "bare httpx, raw JSON": _bare_export,
        "wecal export, JSONL": _wecal_export,
    }
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    with (
        server("stream", "--per-calendar", str(per_calendar)) as hello,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = str(hello["url"])
        for r in range(rounds + 1):
            for name, run in runs.items():
                out = Path(tmp) / "out"
                t0 = time.process_time()
                events = anyio.run(run, url, cals, out)
                spent = time.process_time() - t0
                if events != calendars * per_calendar:
                    raise RuntimeError(f"{name}: {events} of {calendars * per_calendar} events")
                if r:  # the first round warms up
                    cpu[name].append(spent / events)
                out.unlink()
    m = {k: median(v) * 1e6 for k, v in cpu.items()}
    ref = m["bare httpx, raw JSON"]
    return [
        f"export CPU, {calendars} × {per_calendar} WeCom events, {EXPORT_PAGE}/page, "
        f"{EXPORT_CONCURRENCY} in flight: "
        + ", ".join(f"{k} {v:.1f} µs/event ({v / ref:.2f}×)" for k, v in m.items())
    ]


# -- 4. fan-out --------------------------------------------------------------------------


def fanout(rounds: int, quick: bool) -> list[str]:
    import bench_fanout as bf

    n_cal, per, latency = bf.CALENDARS, bf.PER_CALENDAR, bf.LATENCY
    if quick:
        n_cal, per, latency = 4, 2 * bf.PAGE_SIZE, 0.005
    calendars = [f"cal-{k:03d}" for k in range(n_cal)]

    async def measure(url: str) -> dict[str, list[tuple[float, float]]]:
        try:
            import aiohttp
        except ImportError:  # the bench extra brings it; without it, its peers are left out
            aiohttp = None

        out: dict[str, list[tuple[float, float]]] = {}
        async with contextlib.AsyncExitStack() as stack:
            bare = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30.0))
            wc = await stack.enter_async_context(
                wecal.WeComClient("ww_bench", "bench-secret", base_url=url, rate_limit=False)
            )
            session = (
                None
                if aiohttp is None
                else await stack.enter_async_context(aiohttp.ClientSession(base_url=url))
            )
            token = (await bare.get("/cgi-bin/gettoken")).json()["access_token"]

            async def httpx_send(cal_id: str, offset: int) -> Mapping[str, Any]:
                r = await bare.post(
                    bf.PATH, params={"access_token": token}, json=bf._body(cal_id, offset)
                )
                body: Mapping[str, Any] = r.json()
                return body

            async def aiohttp_send(cal_id: str, offset: int) -> Mapping[str, Any]:
                assert session is not None
                async with session.post(
                    bf.PATH, params={"access_token": token}, json=bf._body(cal_id, offset)
                ) as r:
                    body: Mapping[str, Any] = await r.json()
                    return body

            async def wecal_list(cal_id: str) -> int:
                return len([e async for e in wc.list_events(cal_id, page_size=bf.PAGE_SIZE)])

            variants: dict[str, bf.Lister] = {"bare httpx": bf._offset_loop(httpx_send)}
            if session is not None:
                variants["bare aiohttp"] = bf._offset_loop(aiohttp_send)
            variants["wecal"] = wecal_list
            aio_client = None
            if bf.AiohttpTransport is not None:
                aio_client = wecal.WeComClient(
                    "ww_bench", "bench-secret", base_url=url, rate_limit=False,
                    transport=bf.AiohttpTransport(),
                )  # fmt: skip
                await aio_client.__aenter__()

                async def wecal_aio(cal_id: str) -> int:
                    assert aio_client is not None
                    pages = aio_client.list_events(cal_id, page_size=bf.PAGE_SIZE)
                    return len([e async for e in pages])

                variants["wecal on AiohttpTransport"] = wecal_aio
            try:
                for list_one in variants.values():
                    await bf.fan_out(calendars[: bf.IN_FLIGHT], bf.IN_FLIGHT, list_one)
                for _ in range(rounds):
                    for name, list_one in variants.items():
                        wall, cpu, items = await bf.fan_out(calendars, bf.IN_FLIGHT, list_one)
                        if items != n_cal * per:
                            raise RuntimeError(f"{name}: {items} of {n_cal * per} schedules")
                        out.setdefault(name, []).append((wall, cpu))
            finally:
                if aio_client is not None:
                    await aio_client.__aexit__(None, None, None)
        return out

    with server("stream", "--per-calendar", str(per), "--latency", str(latency)) as hello:
        data = anyio.run(measure, str(hello["url"]), backend="asyncio")
    wall = {k: median([w for w, _ in v]) for k, v in data.items()}
    cpu = {k: median([c for _, c in v]) for k, v in data.items()}
    requests = n_cal * (math.ceil(per / bf.PAGE_SIZE) + 1)
    ref = wall["bare httpx"]
    return [
        f"fan-out, {n_cal} calendars × {per} events, {bf.PAGE_SIZE}/page, {bf.IN_FLIGHT} in "
        f"flight, {latency * 1e3:.0f} ms ({requests} requests): "
        + ", ".join(
            f"{k} {wall[k] * 1e3:.0f} ms ({wall[k] / ref:.2f}×, CPU {cpu[k] * 1e3:.0f} ms)"
            for k in wall
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes (figures mean nothing)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9)")
    parser.add_argument(
        "--only", nargs="+", choices=("decode", "encode", "export", "fanout"), default=None
    )
    parser.add_argument("--sdk-path", help="a directory holding alibabacloud_dingtalk (appended)")
    args = parser.parse_args(argv)
    if args.sdk_path:
        sys.path.append(args.sdk_path)
    rounds = args.rounds or (1 if args.quick else 9)
    only = set(args.only or ("decode", "encode", "export", "fanout"))
    info = machine()
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    n = 50 if args.quick else 1000
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("decode", lambda: decode(rounds, n)),
        ("encode", lambda: encode(rounds, n)),
        (
            "export",
            lambda: export_cpu(min(rounds, 5), 2 if args.quick else 8, 40 if args.quick else 5000),
        ),
        ("fanout", lambda: fanout(min(rounds, 5), args.quick)),
    ]
    for name, step in steps:
        if name in only:
            for line in step():
                print(line, flush=True)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
