"""
One worker process of the multi-process tests (``tests/test_redis_processes.py``):
a DingTalk client on a shared RedisBackend, ``callers`` concurrent tasks
calling ``get_calendars`` against the sandbox. It prints ``ready`` once
imported and connected, then reads ``go START UNTIL`` (epoch seconds) on stdin,
so that every worker starts together; at the end it prints one JSON line of
what it saw.

    python -m tests._redis_worker '{"redis": ..., "base_url": ..., ...}'
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import anyio

import wecal
from wecal.redis import RedisBackend


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    limits = wecal.RateLimitConfig(
        rate=cfg.get("rate"),
        per_minute=cfg.get("per_minute"),
        per_hour=cfg.get("per_hour"),
        monthly_quota=cfg.get("monthly_quota"),
        max_concurrency=None,
    )
    ok = failed = quota = 0
    errors: list[str] = []
    async with (
        RedisBackend(
            cfg["redis"],
            outage_share=cfg.get("outage_share", 0.25),
            token_lock_ttl=cfg.get("lock_ttl", 15.0),
            retry_interval=0.2,
            op_timeout=cfg.get("op_timeout", 5.0),
        ) as shared,
        wecal.DingTalkClient(
            cfg["app_key"],
            cfg["app_secret"],
            base_url=cfg["base_url"],
            shared=shared,
            rate_limit=limits,
            retry=wecal.RetryConfig(deadline=120),
        ) as ding,
    ):
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        _, start_at, until = line.split()
        cfg["until"] = float(until)
        await anyio.sleep(max(0.0, float(start_at) - time.time()))

        async def caller() -> None:
            nonlocal ok, failed, quota
            mine = 0  # calls this caller made (``calls``: how many each makes)
            while time.time() < cfg["until"] and (cfg.get("calls") is None or mine < cfg["calls"]):
                try:
                    await ding.get_calendars(user_id=cfg["user"])
                    ok += 1
                    mine += 1
                except wecal.QuotaExceededError:
                    quota += 1
                    return
                except wecal.WecalError as exc:
                    failed += 1
                    errors.append(repr(exc))
                    await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            for _ in range(cfg["callers"]):
                tg.start_soon(caller)
        return {
            "ok": ok,
            "failed": failed,
            "quota": quota,
            "errors": errors[:5],
            "fetches": ding._http.tokens.fetches,
            "fallbacks": shared.fallbacks,
            "round_trips": shared.round_trips,
        }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = anyio.run(run, cfg, backend=cfg.get("backend", "asyncio"))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
