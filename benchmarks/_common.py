"""
Shared helpers of the benchmarks: results, medians, the machine, server processes.

Every server a benchmark needs runs in its own process (``_servers.py``) on
127.0.0.1, so the measured client never shares a GIL with it; :func:`server`
starts one, reads its address from the first stdout line and always stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Seconds a server process gets to start, and to stop after SIGTERM.
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0


@dataclass
class Result:
    """One figure of a benchmark, next to its target."""

    name: str
    value: float
    unit: str
    target: str
    ok: bool | None  # None: informational, no target
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def median(values: Sequence[float]) -> float:
    """The median; benchmarks quote medians because the machine is shared and noisy."""
    return float(statistics.median(values))


def machine() -> dict[str, str]:
    """What the numbers were measured on: cores, CPU model, Python, OS."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (``pid=None``) or of a child by pid."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def python() -> str:
    """The interpreter running the benchmarks (the project's virtualenv when run from it)."""
    return sys.executable


@contextlib.contextmanager
def server(kind: str, *args: str) -> Iterator[dict[str, Any]]:
    """
    Run ``_servers.py kind *args`` in a child process; yield its hello line (a dict).

    The hello carries ``url`` (http://127.0.0.1:<port>) and whatever else the
    server wants the client to know (calendar ids). The child is stopped with
    SIGTERM (killed if it lingers) on the way out, whatever happened.
    """
    proc = subprocess.Popen(
        [python(), str(HERE / "_servers.py"), kind, *args],
        stdin=subprocess.PIPE,  # the child exits when this pipe closes (our death too)
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        ready, _, _ = select.select([proc.stdout], [], [], SERVER_START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line or time.monotonic() > deadline:
            raise RuntimeError(f"benchmark server {kind!r} did not start (exit {proc.poll()})")
        yield json.loads(line)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child we started: close its stdin, SIGTERM, then SIGKILL after a grace period."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(SERVER_STOP_TIMEOUT)
    if proc.stdout is not None:
        proc.stdout.close()
