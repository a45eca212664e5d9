"""``--redis URL`` / ``WECAL_REDIS_URL`` on ``wecal export`` and ``wecal events list``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import coredis
import pytest

from tests._redis import RedisServer
from wecal.sandbox import Sandbox, generate

from .test_cli import ENV, _export_args, run_forked


@pytest.fixture
def loaded(sandbox: Sandbox) -> tuple[Sandbox, list[str]]:
    summary = generate(
        sandbox, seed=3, wecom_calendars=2, schedules_per_calendar=10, dingtalk_users=0
    )
    return sandbox, list(summary.wecom_calendars)


async def _keys(url: str) -> list[str]:
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        return sorted([k async for k in client.scan_iter(match="*")])


def test_two_exports_share_one_token_through_redis(
    loaded: tuple[Sandbox, list[str]],
    sandbox_url: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    sandbox, calendars = loaded
    for n in (1, 2):
        args = _export_args(sandbox_url, calendars, f"out{n}.jsonl", f"ckpt{n}.json")
        done = run_forked(*args, "--redis", redis_server.url, env=ENV, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = (tmp_path / f"out{n}.jsonl").read_text().splitlines()
        assert len(lines) == 2 * 10
    # Two processes, one after the other: the second used the first's token.
    assert sum(1 for r in sandbox.requests if r.path == "/cgi-bin/gettoken") == 1
    keys = anyio.run(_keys, redis_server.url)
    # The token is kept for its lifetime (rate schedules expire a second
    # after their last slot).
    assert any(k.startswith("wecal:token:") for k in keys)


def test_events_list_takes_the_url_from_the_environment(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    done = run_forked(
        "events", "list", "--sandbox", "--provider", "wecom",
        env={"WECAL_REDIS_URL": redis_server.url}, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "source(s)" in done.stdout
    assert any(k.startswith("wecal:token:") for k in anyio.run(_keys, redis_server.url))


def test_a_redis_that_does_not_answer_fails_no_export(tmp_path: Path) -> None:
    # Nothing listens on port 9: every Redis operation fails, the export does not.
    url = "redis://:redis-password-DO-NOT-PRINT@127.0.0.1:9/0"
    done = run_forked("export", "--sandbox", "--redis", url, "-o", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unreachable" in done.stderr
    assert "DO-NOT-PRINT" not in done.stderr + done.stdout
    assert all(json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines())


def test_a_redis_option_that_is_not_a_redis_url_is_a_usage_error(tmp_path: Path) -> None:
    done = run_forked(
        "export", "--sandbox", "--redis", "http://user:secret-pw@x:1", "-o", "o.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--redis" in done.stderr
    assert "secret-pw" not in done.stderr
