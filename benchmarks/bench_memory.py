"""
Benchmark 3 — peak RSS of a streaming export of 100k and 1M events.

The data server is the purpose-built ``_servers.py stream`` (its own
process): WeCom-shaped schedules produced on the fly from (cal_id, index),
so a million events cost the server no memory. The export runs in a fresh
child process (this file with ``--child``) that does nothing else:
``WeComClient`` + ``wecal.export.export`` of ``CALENDARS`` calendars, 1000
schedules a page, concurrency 8, JSONL into a temporary file (deleted).
The child reports ``ru_maxrss`` — its peak resident set.

The number of calendars is fixed, so 10× the events means 10× the events
*per calendar*: the case where anything kept per listing (rather than per
page) shows up as growth.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from _common import HERE, Result, python, server

CALENDARS = 8
PAGE_SIZE = 1000
CONCURRENCY = 8
TARGET_MB = 150.0
TARGET_GROWTH = 0.10
CHILD_TIMEOUT = 900.0
#: ``run.py --many-sources``: also export the 1M events from this many calendars
#: (100 each; 20,000 requests). Opt-in: it takes 3–7 minutes on the shared machine.
MANY_SOURCES = 0


def child(url: str, calendars: int, out: Path) -> dict[str, float]:
    """The export, alone in this process; returns events, seconds and peak RSS (MB)."""
    import anyio

    import wecal
    from wecal.export import PageLike, Source, export

    async def main() -> tuple[int, float]:
        client = wecal.WeComClient("ww_bench", "bench-secret", base_url=url, rate_limit=False)
        async with client:

            def open_pages(source: Source, cursor: str | None) -> AsyncIterator[PageLike]:
                return client.list_events(source.id, page_size=PAGE_SIZE).by_page(cursor=cursor)

            sources = [Source("calendar", f"cal-{k:02d}") for k in range(calendars)]
            t0 = time.perf_counter()
            result = await export(
                sources, open_pages, output=out, fmt="jsonl", concurrency=CONCURRENCY
            )
            if not result.ok:
                raise RuntimeError(f"export failed: {result.failed}")
            return result.events, time.perf_counter() - t0

    events, seconds = anyio.run(main)
    # Linux reports ru_maxrss in KiB.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"events": events, "seconds": seconds, "peak_mb": peak, "bytes": out.stat().st_size}


def measure(events: int, calendars: int = CALENDARS) -> dict[str, float]:
    """Serve ``events`` (split over ``calendars``) and export them in a fresh child."""
    per_calendar = events // calendars
    with (
        server("stream", "--per-calendar", str(per_calendar)) as hello,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp) / "export.jsonl"
        argv = [python(), str(HERE / "bench_memory.py"), "--child", str(hello["url"])]
        argv += ["--calendars", str(calendars), "--out", str(out)]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"export child failed:\n{done.stderr[-2000:]}")
        report: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if report["events"] != per_calendar * calendars:
        raise RuntimeError(f"exported {report['events']} of {per_calendar * calendars} events")
    return report


def run(quick: bool, sizes: tuple[int, int] | None = None) -> list[Result]:
    """
    Benchmark 3 at 100k and 1M events (quick: 1k and 5k).

    In full mode the 1M export is also run over 10× the calendars (the
    100k run's events per calendar), which tells growth per listing from
    growth per export.
    """
    small_n, big_n = sizes or ((1_000, 5_000) if quick else (100_000, 1_000_000))
    floor_text = "" if quick else f"; an empty export peaks at {measure(0)['peak_mb']:.0f} MB"
    small = measure(small_n)
    big = measure(big_n)
    wide = None if quick else measure(big_n, CALENDARS * big_n // small_n)
    many = None if quick or not MANY_SOURCES else measure(big_n, MANY_SOURCES)
    growth = big["peak_mb"] / small["peak_mb"] - 1
    peak = max(small["peak_mb"], big["peak_mb"])

    def line(r: dict[str, float]) -> str:
        rate = r["events"] / r["seconds"] if r["seconds"] else 0.0
        return (
            f"{int(r['events']):,} events: {r['peak_mb']:.0f} MB in {r['seconds']:.0f} s "
            f"({rate:,.0f} events/s, {r['bytes'] / 1e6:.0f} MB JSONL)"
        )

    results = [
        Result(
            name=f"3. peak RSS, export of {big_n:,} events",
            value=peak,
            unit="MB",
            target=f"≤ {TARGET_MB:.0f} MB",
            ok=peak <= TARGET_MB,
            detail=f"{line(small)}; {line(big)}{floor_text}",
        ),
        Result(
            name=f"3. RSS growth {small_n:,} → {big_n:,} events",
            value=growth * 100,
            unit="%",
            target=f"≤ {TARGET_GROWTH * 100:.0f}%",
            ok=growth <= TARGET_GROWTH,
            detail=f"{small['peak_mb']:.0f} MB → {big['peak_mb']:.0f} MB, {CALENDARS} calendars",
        ),
    ]
    if wide is not None:
        wide_growth = wide["peak_mb"] / small["peak_mb"] - 1
        wide_calendars = CALENDARS * big_n // small_n
        results.append(
            Result(
                name=f"3. RSS growth, {big_n:,} events over {wide_calendars} calendars",
                value=wide_growth * 100,
                unit="%",
                target=f"≤ {TARGET_GROWTH * 100:.0f}%",
                ok=wide_growth <= TARGET_GROWTH,
                detail=f"{line(wide)} (same events per calendar as the {small_n:,} run)",
            )
        )
    if many is not None:
        many_growth = many["peak_mb"] / small["peak_mb"] - 1
        results.append(
            Result(
                name=f"3. peak RSS, {big_n:,} events over {MANY_SOURCES:,} sources",
                value=many["peak_mb"],
                unit="MB",
                target=f"≤ {TARGET_MB:.0f} MB",
                ok=many["peak_mb"] <= TARGET_MB,
                detail=f"{line(many)}; {many_growth * 100:+.1f}% over the {small_n:,} run",
            )
        )
    return results


def main() -> int:
    """``--child URL --calendars N --out PATH``: run one export and print its report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", metavar="URL", required=True)
    parser.add_argument("--calendars", type=int, default=CALENDARS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(child(args.child, args.calendars, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
