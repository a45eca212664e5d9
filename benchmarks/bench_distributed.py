"""
The distributed export's throughput with 1, 2 and 4 ``wecal worker`` processes.

``python benchmarks/bench_distributed.py [--calendars 20 --per-calendar 5000 --latency 0.05]``

One redis-server (a free port, no persistence), the stateless WeCom-shaped
``stream`` server of ``_servers.py`` (every ``get_by_calendar`` answer held
``--latency`` seconds), N workers and one ``wecal export --redis --job``. For
each N: events/s of the job (from its start to the output written), the ratio
to one worker, and each worker's peak RSS (``VmHWM`` of /proc, read just
before it is stopped). The provider limit does not bind (no limit at the
stream server; the WeCom default of 10,000 calls/min is far above).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(workers: int, url: str, redis_url: str, calendars: int, tmp: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), WECAL_WECOM_CORP_ID="bench",
               WECAL_WECOM_SECRET="bench-secret", WECAL_RECONCILE_SECONDS="1")  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "wecal.cli", "worker", "--redis", redis_url, "--jobs", "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    cals = [arg for i in range(calendars) for arg in ("--calendar", f"cal{i:04d}")]
    out = tmp / f"out-{workers}.jsonl"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wecal.cli", "export", "--provider", "wecom", "--base-url", url,
         *cals, "--page-size", "500", "--redis", redis_url, "--job", f"bench{workers}",
         "-o", str(out), "-q"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    rss = [_peak_rss_mb(p.pid) for p in procs]
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(30)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    events = sum(1 for _ in out.open("rb"))
    return {
        "workers": workers,
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "peak_rss_mb": [round(r) for r in rss],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calendars", type=int, default=20)
    parser.add_argument("--per-calendar", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wecal-bench-dist-"))
    port = _free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_servers.py"), "stream",
         "--per-calendar", str(args.per_calendar), "--latency", str(args.latency)],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        results = []
        for n in (int(w) for w in args.workers.split(",")):
            results.append(run(n, url, f"redis://127.0.0.1:{port}/{n}", args.calendars, tmp))
            base = results[0]["events_per_s"]
            results[-1]["ratio"] = round(results[-1]["events_per_s"] / base, 2)  # type: ignore[operator]
            print(json.dumps(results[-1]), flush=True)
    finally:
        server.terminate()
        redis.terminate()
        server.wait(10)
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
