"""
Run wecal's benchmarks and print each figure next to its target.

    .venv/bin/python benchmarks/run.py            # full sizes (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # toy sizes (seconds): does it still run?
    .venv/bin/python benchmarks/run.py --only 1 3 # some of them
    .venv/bin/python benchmarks/run.py --only 3 --many-sources  # + 1M events over 10,000 sources

1 decode + normalize, 2 export efficiency, 3 memory, 4 send-loop overhead,
5 fan-out over many calendars at 16 in flight, 6 CPU per request of the
notification endpoint for hostile vs plain bodies, 7 the cost per call of
sharing an app's budget through Redis, 8 the sandbox at scale (page time
against store size, a 100,000-event export; see each ``bench_*.py``
docstring). Servers run on 127.0.0.1 in child processes and are stopped on
exit. Not part of CI's pass/fail: the exit status is 0 whether targets are
met or not, non-zero only if a benchmark could not run. Results are copied
into ``RESULTS.md`` by hand.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

import bench_decode
import bench_export
import bench_fanout
import bench_memory
import bench_notify
import bench_sandbox
import bench_sendloop
import bench_shared
from _common import Result, machine

BENCHMARKS: dict[str, tuple[str, Callable[[bool], list[Result]]]] = {
    "1": ("decode + normalize", bench_decode.run),
    "2": ("export efficiency", bench_export.run),
    "3": ("memory", bench_memory.run),
    "4": ("send-loop overhead", bench_sendloop.run),
    "5": ("fan-out, 16 in flight", bench_fanout.run),
    "6": ("notification endpoint, hostile bodies", bench_notify.run),
    "7": ("shared state on Redis vs in-process", bench_shared.run),
    "8": ("the sandbox at scale", bench_sandbox.run),
}


def _verdict(result: Result) -> str:
    if result.ok is None:
        return "info"
    return "met" if result.ok else "MISSED"


def table(results: Sequence[Result]) -> str:
    """The results as a fixed-width text table, details indented below each row."""
    rows = [("benchmark", "value", "target", "verdict")]
    rows += [
        (r.name, f"{r.value:.2f} {r.unit}", r.target, _verdict(r)) for r in results
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
        elif results[k - 1].detail:
            lines.append(f"    {results[k - 1].detail}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; print the machine and the table."""
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="toy sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="N")
    parser.add_argument(
        "--many-sources",
        action="store_true",
        help="benchmark 3 also exports 1M events over 10,000 sources (minutes)",
    )
    args = parser.parse_args(argv)
    if args.many_sources:
        bench_memory.MANY_SOURCES = 10_000

    info = machine()
    mode = "quick (toy sizes: figures mean nothing)" if args.quick else "full"
    print(f"machine: {info['nproc']} cores, {info['cpu']}, {info['python']}, {info['os']}")
    print(f"mode: {mode}")
    results: list[Result] = []
    failed = []
    for key in args.only or sorted(BENCHMARKS):
        title, bench = BENCHMARKS[key]
        t0 = time.perf_counter()
        print(f"running {key}. {title} ...", flush=True)
        try:
            results.extend(bench(args.quick))
        except Exception:
            failed.append(key)
            traceback.print_exc()
        print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    print()
    print(table(results))
    if failed:
        print(f"\ncould not run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
