"""
Benchmark 1 before/after: the decode ratios of two checkouts, side by side.

    .venv/bin/python benchmarks/compare_decode.py BEFORE_TREE AFTER_TREE [--reps 5] [--rounds 7]

``BEFORE_TREE`` and ``AFTER_TREE`` are checkouts of wecal (e.g. a
``git worktree add --detach /tmp/before <commit>``). Each repetition runs
``bench_decode.measure`` once in a fresh child process per tree, alternating
before/after so that both see the same machine load; the figure per provider
is the median of the repetitions' ratios (client path ÷ ``json.loads``).
The ratios of a shared machine move by ±20 % run to run: compare the two
columns, not runs made at different times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = """
import json, sys
import anyio
sys.path.insert(0, "benchmarks")
import bench_decode
results = anyio.run(bench_decode.measure, {rounds})
print(json.dumps({{r.name.split(" (")[0]: r.value for r in results}}))
"""


def _one(tree: str, rounds: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(rounds=rounds)],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    ratios: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    seen: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for _ in range(args.reps):
        for side in ("before", "after"):
            for name, ratio in _one(getattr(args, side), args.rounds).items():
                seen[side].setdefault(name, []).append(ratio)
    for name, before in seen["before"].items():
        after = seen["after"].get(name, [])
        shown = f"{statistics.median(after):.2f}×" if after else "—"
        print(f"{name}: {statistics.median(before):.2f}× → {shown} json.loads")
        print(f"    runs: {', '.join(f'{r:.2f}' for r in before)} → "
              f"{', '.join(f'{r:.2f}' for r in after)}")  # fmt: skip


if __name__ == "__main__":
    main()
