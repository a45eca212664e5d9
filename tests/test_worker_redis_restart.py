"""
A ``wecal worker`` rides out a Redis restart: arq's poll loop has no error
handling of its own, so a worker polling while Redis was down met a refused
or closed connection and exited (in the soak, every worker but a stopped one
went, and the stopped worker's unit was left to nobody). Its queue
connection now retries while Redis is unreachable (wecal/export/arq.py).

Deterministic, with no sleep: while Redis is down, a stand-in listens on its
port until the worker's next poll connects to it, and closes that connection
(what a restart does to it), then Redis comes back on the same port.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from tests.test_export_distributed import Cluster, _lines, cluster_factory  # noqa: F401


def test_a_worker_rides_out_a_redis_restart_then_runs_a_job(
    cluster_factory: Callable[..., Cluster],  # noqa: F811
    tmp_path: Path,
) -> None:
    cluster = cluster_factory(sources=2, workers=1)
    (worker,) = cluster.workers
    # Polling: the job list is on Redis (one job done first, so the worker
    # is known to be past its start-up and in its poll loop).
    first = tmp_path / "first.jsonl"
    done = cluster.run(*cluster.job("before", "wecom", first, n=1))
    assert done.returncode == 0, done.stderr

    redis = cluster.redis
    redis.stop()
    with socket.create_server(("127.0.0.1", redis.port)) as stand_in:
        stand_in.settimeout(30)
        met, _ = stand_in.accept()  # the worker's poll, reconnecting
        met.close()  # ... meets a connection closed by the server
    assert worker.poll() is None, "the worker exited while Redis was down"
    redis.start()

    out = tmp_path / "after.jsonl"
    done = cluster.run(*cluster.job("after", "wecom", out, n=2))
    assert done.returncode == 0, done.stderr
    assert sorted(_lines(out)) == cluster.single("wecom", n=2)
    assert worker.poll() is None
