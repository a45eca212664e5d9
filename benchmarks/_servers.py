"""
Loopback servers for the benchmarks, each run in its own process.

``python benchmarks/_servers.py sandbox --calendars 16 --per-calendar 130 --latency 0.02``
    ``wecal.sandbox`` with generated WeCom data and a latency fault on every
    ``schedule/get_by_calendar`` (the export-efficiency benchmark).

``python benchmarks/_servers.py stream --per-calendar 125000 [--latency 0.05]``
    A tiny purpose-built WeCom-shaped server (raw ASGI, no state): any
    ``cal_id`` has ``--per-calendar`` schedules, produced on the fly and
    deterministically from (cal_id, index), so a million events cost no server
    memory. With ``--per-calendar 0`` every page is empty: the smallest valid
    answer, for the send-loop benchmark. ``--latency`` holds every
    ``get_by_calendar`` answer that many seconds (an asyncio sleep: it costs
    the server no CPU), for the fan-out benchmark.

Both bind 127.0.0.1 on a free port and print one JSON line (``{"url": ...}``)
when they listen; they stop on SIGTERM or when their stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TOKEN = "bench-token-not-a-secret"
_TOKEN_BODY = json.dumps(
    {"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}
).encode()
_EMPTY_PAGE = b'{"errcode":0,"errmsg":"ok","schedule_list":[]}'

# Realistic text: Chinese, emoji, mixed scripts (as the sandbox's generator).
_SUMMARIES = ["周会 weekly sync", "项目评审 🚀", "客户拜访：华为", "季度 OKR 复盘", "团建 🍲 火锅"]
_LOCATIONS = ["上海 3F 会议室", "深圳总部 A-1201", "线上 / online", ""]
_BASE = 1_717_200_000  # 2024-06-01 00:00 UTC: fixed, so pages are identical across runs


def stream_schedule(cal_id: str, n: int) -> dict[str, Any]:
    """Schedule ``n`` of ``cal_id``: a pure function, so any page can be served without state."""
    start = _BASE + (n % 5000) * 3600
    item: dict[str, Any] = {
        "schedule_id": f"{cal_id}-{n:08d}-bench",
        "cal_id": cal_id,
        "organizer": f"user{n % 97}",
        "summary": _SUMMARIES[n % len(_SUMMARIES)],
        "description": "议程：1. 回顾 2. 计划 3. 风险" if n % 3 == 0 else "",
        "location": _LOCATIONS[n % len(_LOCATIONS)],
        "start_time": start,
        "end_time": start + 1800 * (1 + n % 4),
        "status": 0,
        "sequence": 1,
        "attendees": [
            {"userid": f"user{(n + a) % 97}", "response_status": a % 5} for a in range(n % 6)
        ],
        "reminders": {
            "is_remind": 1,
            "remind_before_event_secs": 900,
            "timezone": 8,
            "is_repeat": 1 if n % 4 == 0 else 0,
            "repeat_type": 1,
        },
    }
    if n % 4 == 0:
        item["reminders"]["repeat_until"] = start + 30 * 86400
    return item


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:  # bounded by the request body: uvicorn ends it with more_body=False
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def stream_app(
    per_calendar: int, latency: float = 0.0
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The purpose-built WeCom-shaped ASGI app (gettoken + get_by_calendar)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/cgi-bin/gettoken":
            body = _TOKEN_BODY
        elif path == "/cgi-bin/oa/schedule/get_by_calendar":
            request = json.loads(await _read_body(receive) or b"{}")
            if latency > 0:
                await asyncio.sleep(latency)
            offset, limit = int(request.get("offset", 0)), int(request.get("limit", 500))
            if offset >= per_calendar:
                body = _EMPTY_PAGE
            else:
                cal_id = str(request["cal_id"])
                items = [
                    stream_schedule(cal_id, n)
                    for n in range(offset, min(per_calendar, offset + limit))
                ]
                body = json.dumps(
                    {"errcode": 0, "errmsg": "ok", "schedule_list": items}, ensure_ascii=False
                ).encode()
        else:
            body = b'{"errcode":404,"errmsg":"no such api"}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def _sandbox_app(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from wecal.sandbox import Fault, Sandbox, generate

    sandbox = Sandbox(seed=args.seed)
    summary = generate(
        sandbox,
        seed=args.seed,
        wecom_calendars=args.calendars,
        schedules_per_calendar=args.per_calendar,
        dingtalk_users=0,
        events_per_user=0,
        max_attendees=args.max_attendees,
    )
    if args.latency > 0:
        sandbox.faults.rate(
            Fault.latency(args.latency), p=1.0, target="wecom.schedule.get_by_calendar"
        )
    hello = {
        "calendars": list(summary.wecom_calendars),
        "schedules": len(summary.wecom_schedules),
    }
    return sandbox.app, hello


def _watch_stdin(server: uvicorn.Server) -> None:
    # The parent holds our stdin: EOF means it is gone, so we go too.
    try:
        sys.stdin.buffer.read()
    finally:
        server.should_exit = True


def main() -> int:
    """Serve one benchmark server until SIGTERM or stdin EOF."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sandbox", "stream"])
    parser.add_argument("--calendars", type=int, default=16)
    parser.add_argument("--per-calendar", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-attendees", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.kind == "sandbox":
        app, hello = _sandbox_app(args)
    else:
        app, hello = stream_app(args.per_calendar, args.latency), {}
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say
    # they are TCP, and without it every keep-alive answer waits ~40 ms for a
    # delayed ACK (headers and body are written separately).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        backlog=256,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=_watch_stdin, args=(server,), daemon=True).start()
    hello["url"] = f"http://127.0.0.1:{sock.getsockname()[1]}"
    hello["pid"] = os.getpid()
    # Say hello only once uvicorn listens: run it in a thread and poll `started`.
    runner = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    runner.start()
    for _ in range(3000):  # up to 30 s
        if server.started or not runner.is_alive():
            break
        runner.join(0.01)
    if not server.started:
        return 1
    print(json.dumps(hello), flush=True)
    runner.join()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
