"""
docs/workers.md's recipe, run as written: its app (the ``workers_app`` block,
copied to ``app.py``) under ``uvicorn --workers 3`` (real OS worker
processes, each entering its own lifespan), the sandbox over loopback and a
redis-server of the test. At the sandbox: one token fetch for all the
workers, and DingTalk's 20 calls/s per app and API held in every 1-s window.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import httpx
import pytest

from tests._redis import RedisServer, free_port, most_in_window, rate_bound
from wecal.sandbox import Sandbox, serve

ROOT = Path(__file__).parents[1]
APP_BLOCK = re.compile(r"<!-- example: workers_app -->\n```python\n(.*?)```", re.S)
WORKERS = 3
APP_KEY = "dingrecipeapp"
APP_SECRET = "recipe-secret-0123456789"
EVENTS = "dingtalk.v1.events.list"
TOKENS = "dingtalk.v1.oauth2.accessToken"
#: DingTalk's per-app, per-API limit: the recipe's RateLimitConfig keeps the default.
RATE = 20


def _workers_talking_to(parent: int, port: int) -> int:
    """How many children of ``parent`` hold a TCP connection to ``port`` (Redis)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    talking = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
                continue
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:  # gone meanwhile
            continue
        talking += any(f"socket:[{inode}]" in links for inode in inodes)
    return talking


def _started(
    process: subprocess.Popen[str], workers: int, timeout: float
) -> tuple[threading.Thread, list[str]]:
    """Wait for ``workers`` lines "Application startup complete." on stderr (read by a thread)."""
    assert process.stderr is not None
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if sum("Application startup complete" in x for x in lines) >= workers:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(timeout), "".join(lines)[-3000:]
    return reader, lines


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="counts connections in /proc")
def test_the_recipe_app_under_uvicorn_workers_shares_one_token_and_one_rate(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    docs = (ROOT / "docs" / "workers.md").read_text(encoding="utf-8")
    found = APP_BLOCK.search(docs)
    assert found is not None, "docs/workers.md has no workers_app example"
    (tmp_path / "app.py").write_text(found.group(1), encoding="utf-8")
    assert f"uvicorn app:app --workers {WORKERS + 1}" in docs  # the command it shows

    sandbox = Sandbox(seed=7)
    sandbox.add_dingtalk_app(APP_KEY, APP_SECRET)
    user = sandbox.dingtalk_v1.add_user("张三")
    port = free_port()
    with serve(sandbox) as base_url:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WECAL_REDIS_URL": redis_server.url,
            "DINGTALK_APP_KEY": APP_KEY,
            "DINGTALK_APP_SECRET": APP_SECRET,
            "DINGTALK_BASE_URL": base_url,
        }
        # The documented command, on a port of the test's and with 3 workers.
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:app", "--workers", str(WORKERS),
             "--app-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        reader: threading.Thread | None = None
        try:
            reader, _ = _started(process, WORKERS, timeout=90)
            answers: list[httpx.Response] = []

            async def wave(n: int) -> None:
                # A connection per request, so that the kernel hands them to
                # whichever worker accepts first.
                limits = httpx.Limits(max_keepalive_connections=0)
                async with (
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                      timeout=30) as http,
                    anyio.create_task_group() as tg,
                ):  # fmt: skip
                    for _ in range(n):

                        async def one() -> None:
                            answers.append(await http.get(f"/busy/{user}"))

                        tg.start_soon(one)

            # Waves of 30 until every worker has served (holds a Redis connection).
            for _ in range(10):
                anyio.run(wave, 30)
                if _workers_talking_to(process.pid, redis_server.port) == WORKERS:
                    break
            serving = _workers_talking_to(process.pid, redis_server.port)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if reader is not None:
                reader.join(10)
            assert process.stderr is not None
            process.stderr.close()

    assert serving >= 2, f"only {serving} worker(s) served requests"
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503}, statuses
    # A 503 is the recipe's "busy, retry in N s" (max_wait=3): nothing sent for it.
    busy = [a.json() for a in answers if a.status_code == 503]
    assert all(b["busy"] and b["retry_after"] > 0 for b in busy)
    arrivals = sandbox.arrivals(api=EVENTS, app=APP_KEY)
    assert len(arrivals) == statuses.count(200)
    # One token for every worker, fetched once.
    assert len(sandbox.arrivals(api=TOKENS, app=APP_KEY)) == 1
    # DingTalk's 20/s for the app, across the workers, in every 1-s window.
    assert most_in_window(arrivals, 1.0) <= rate_bound(RATE, WORKERS), arrivals


WALK_BLOCK = re.compile(r"<!-- run: workers_sandbox -->\n```sh\n(.*?)```", re.S)


@pytest.mark.slow  # four processes started: ~6 s
def test_the_job_walk_on_the_sandbox_runs_as_written(tmp_path: Path) -> None:
    """
    docs/workers.md's walk, in bash as a reader pastes it: its Redis, sandbox
    and worker in the background, the job's command, then the kill. Only the
    two ports are the test's (free ones, on a shared machine).
    """
    docs = (ROOT / "docs" / "workers.md").read_text(encoding="utf-8")
    found = WALK_BLOCK.search(docs)
    assert found is not None, "docs/workers.md has no workers_sandbox walk"
    script = found.group(1)
    assert script.count("6390") == 3
    assert script.count("8765") == 2
    script = script.replace("6390", str(free_port())).replace("8765", str(free_port()))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # The wecal and redis-server beside this interpreter first, as in the reader's venv.
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in [n for n in env if n.startswith("WECAL_")]:
        del env[name]
    process = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its background jobs in its group: all stopped below
    )
    try:
        _, err = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever a failed walk left running
    assert process.returncode == 0, err[-3000:]
    output = tmp_path / "demo-job.jsonl"
    assert err.splitlines()[-1].startswith("wecal: job demo: 240 events from 2 units; "), err
    assert f"wrote {output} (" in err.splitlines()[-1]
    # What one process exports of the same two demo users (compared sorted).
    users = re.findall(r"--user (\S+)", found.group(1))
    single = tmp_path / "single.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "wecal.cli", "export", "--sandbox", "--provider", "dingtalk",
         *[a for u in users for a in ("--user", u)], "-o", str(single), "-q"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = sorted(single.read_text(encoding="utf-8").splitlines())
    assert len(expected) == 240
    assert sorted(output.read_text(encoding="utf-8").splitlines()) == expected
