"""
Benchmark 8: the sandbox at scale — a page in time independent of the store's
size, and a 100,000-event export from it.

8a. For each emulator (WeCom, DingTalk legacy, DingTalk v1.0), the median time
    of a later page of a listing (the first page is computed afresh; the rest
    must not be) with 1,000 and with 10,000 events in the listed source, in
    process (``httpx.ASGITransport``), through the wecal client. Target: the
    ratio is ≤ 1.5 (a page costs the same however large the store).
8b. ``wecal export --sandbox --sandbox-size 8334 -o out.jsonl`` (12 sources ×
    8,334 = 100,008 events: 3 for each of the 4 APIs) in a child process, as a newcomer runs it: the
    export's own rate as the command prints it, and the whole command's wall
    time (demo data built, exported, written). Target ≥ 2,000 events/s.
    Also, for information, the export's CPU per event: the command's CPU
    less that of a child that only builds the same demo data. On a shared
    machine the printed rate is the share of a core the command got times
    this figure.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import REPO, Result, median

import wecal
from wecal.sandbox import (
    DEFAULT_DINGTALK_APP_KEY,
    DEFAULT_DINGTALK_APP_SECRET,
    DEFAULT_WECOM_CORP_ID,
    DEFAULT_WECOM_SECRET,
    Sandbox,
    generate,
)

TARGET_RATIO = 1.5
TARGET_RATE = 2000.0


async def _page_times(size: int, pages: int, page_size: int) -> dict[str, float]:
    """Median seconds per later page, per emulator, with ``size`` events in the source."""
    sandbox = Sandbox(seed=7)
    summary = generate(
        sandbox,
        seed=7,
        wecom_calendars=1,
        schedules_per_calendar=size,
        dingtalk_users=1,
        events_per_user=size,
        dingtalk_v1_users=1,
        max_attendees=20,
    )
    transport = httpx.ASGITransport(app=sandbox.app)
    # No client rate limit: DingTalk's 20 calls/s would make every page take
    # at least 50 ms, whatever the sandbox's own time.
    common: dict[str, Any] = {
        "base_url": "http://sandbox",
        "transport": transport,
        "rate_limit": False,
    }
    wecom = wecal.WeComClient(DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET, **common)
    legacy = wecal.DingTalkLegacyClient(
        DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET, **common
    )
    v1 = wecal.DingTalkClient(DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET, **common)
    listings: dict[str, wecal.Paginator[wecal.Event]] = {
        "WeCom": wecom.list_events(summary.wecom_calendars[0], page_size=page_size),
        "DingTalk legacy": legacy.list_events(
            user_id=summary.dingtalk_users[0], page_size=page_size
        ),
        "DingTalk v1.0": v1.list_events(user_id=summary.dingtalk_v1_users[0], page_size=page_size),
    }
    times: dict[str, float] = {}
    async with wecom, legacy, v1:
        for name, listing in listings.items():
            took: list[float] = []
            pager: AsyncIterator[wecal.Page[wecal.Event]] = listing.by_page().__aiter__()
            await pager.__anext__()  # the first page: computed afresh
            for _ in range(pages):
                t0 = time.perf_counter()
                try:
                    await pager.__anext__()
                except StopAsyncIteration:
                    break
                took.append(time.perf_counter() - t0)
            times[name] = median(took)
    return times


def _export(size: int) -> tuple[float, float, float, int]:
    """(the command's printed events/s, its wall and CPU seconds, events) of a sandbox export."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "wecal.cli", "export", "--sandbox", "--sandbox-size",
             str(size), "-o", str(Path(tmp) / "out.jsonl"), "-q"],
            capture_output=True, text=True, check=True, cwd=REPO,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    match = re.search(r"exported (\d+) events .* \((\d+) events/s", done.stderr)
    if match is None:
        raise RuntimeError(f"unexpected output: {done.stderr!r}")
    return float(match[2]), wall, cpu, int(match[1])


_BUILD = """
import sys
from wecal.sandbox._demo import DemoSettings, build
build(DemoSettings(size=int(sys.argv[1])))
"""


def _build_cpu(size: int) -> float:
    """CPU seconds of a child that builds the demo data of ``--sandbox-size size``, and stops."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", _BUILD, str(size)], check=True, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run(quick: bool) -> list[Result]:
    """Benchmark 8 (quick: 50 vs 500 events a source, a 450-event export)."""
    small, large = (50, 500) if quick else (1000, 10_000)
    pages, page_size = (3, 10) if quick else (15, 100)
    at_small = anyio.run(_page_times, small, pages, page_size)
    at_large = anyio.run(_page_times, large, pages, page_size)
    results = []
    for name in at_small:
        ratio = at_large[name] / at_small[name]
        results.append(
            Result(
                name=f"8. sandbox page time, 10× the events, {name}",
                value=ratio,
                unit="×",
                target=f"≤ {TARGET_RATIO}×",
                ok=ratio <= TARGET_RATIO,
                detail=(
                    f"median of {pages} later pages of {page_size}: {at_small[name] * 1e3:.1f} ms "
                    f"with {small:,} events, {at_large[name] * 1e3:.1f} ms with {large:,}"
                ),
            )
        )
    size = 50 if quick else 8_334
    rate, wall, cpu, events = _export(size)
    export_cpu = max(cpu - _build_cpu(size), 1e-9)
    results.append(
        Result(
            name="8. wecal export --sandbox, events/s",
            value=rate,
            unit="events/s",
            target=f"≥ {TARGET_RATE:,.0f} events/s",
            ok=rate >= TARGET_RATE,
            detail=(
                f"{events:,} events, --sandbox-size {size} ({events // max(size, 1)} sources); "
                "the command took "
                f"{wall:.1f} s in all, building the demo data included "
                f"({events / wall:,.0f} events/s overall), {cpu:.1f} s of CPU "
                f"({events / cpu:,.0f} events per CPU second; on a shared machine the "
                "wall-clock rate is the CPU's share it got)"
            ),
        )
    )
    results.append(
        Result(
            name="8. wecal export --sandbox, events per export CPU second",
            value=events / export_cpu,
            unit="events/CPU-s",
            target="(info)",
            ok=None,
            detail=(
                f"{export_cpu:.1f} s of the command's {cpu:.1f} s of CPU, less a child that "
                "only builds the demo data (interpreter start included in both)"
            ),
        )
    )
    return results
