"""
The benchmarks still run: ``benchmarks/run.py --quick`` end to end, at toy sizes.

Not a performance check (figures at toy sizes mean nothing, and targets are
not pass/fail): it catches benchmarks that rotted — an API they use changed,
a server that no longer starts, a table that no longer prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_ROWS = [
    "1. decode+normalize WeCom",
    "1. decode+normalize DingTalk legacy",
    "2. export efficiency vs bare httpx, concurrency 16",
    "2. export efficiency, concurrency 16",
    "2. export speed-up, concurrency 16 vs 1",
    "3. peak RSS, export of 5,000 events",
    "3. RSS growth 1,000 → 5,000 events",
    "4. send-loop overhead, sequential",
    "4. send-loop overhead, 16 in flight",
    "4. send loop layers, CPU per call, 16 in flight, in-process",
    "5. fan-out 4 calendars, 16 in flight, wecal ÷ bare httpx",
    "5. fan-out speed-up, 16 in flight vs one calendar at a time",
    "6. endpoint CPU, junk tags ÷ plain, 64 KB",
    "6. endpoint CPU, forged around ciphertext ÷ plain, 64 KB",
    "6. endpoint CPU, replayed with junk ÷ plain, 64 KB",
    "6. endpoint CPU, blanks ÷ plain, 64 KB",
    "6. endpoint CPU, json junk ÷ plain, 64 KB",
    "6. endpoint CPU, signed message of empty tags ÷ plain, 64 KB",
    "7. shared state on Redis, round trips per call",
    "7. shared state on Redis, added per call, sequential",
    "7. shared state on Redis, added CPU per call, sequential",
    "7. shared state on Redis, added per call, 16 in flight",
    "8. sandbox page time, 10× the events, WeCom",
    "8. sandbox page time, 10× the events, DingTalk legacy",
    "8. sandbox page time, 10× the events, DingTalk v1.0",
    "8. wecal export --sandbox, events/s",
]


# Slow (a minute or more on a shared machine: every benchmark starts servers
# and child processes); CI runs it with the other slow tests.
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_benchmark_runs_at_toy_size() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine: "), done.stdout
    for row in EXPECTED_ROWS:
        matching = [line for line in lines if line.startswith(row)]
        assert len(matching) == 1, f"{row!r} missing from:\n{done.stdout}"
        verdict = matching[0].split()[-1]
        assert verdict in {"met", "MISSED", "info"}, matching[0]


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@pytest.mark.timeout(120)
def test_the_peers_run_at_toy_size() -> None:
    """``benchmarks/peers.py --quick``: every section prints its line."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for start in (
        "decode WeCom",
        "decode DingTalk legacy",
        "decode DingTalk v1.0",
        "JSONL encode",
        "export CPU",
        "fan-out",
    ):
        assert sum(line.startswith(start) for line in done.stdout.splitlines()) == 1, done.stdout
