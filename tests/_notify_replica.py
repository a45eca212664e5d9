"""
One replica of an app's WeCom callback URL, in its own process, for the tests:
``asgi_endpoint`` with ``shared=RedisBackend(url)`` entered for the app's
lifetime (ASGI lifespan), served by uvicorn on a free loopback port. Each
notification handed to the handler is appended to ``--out`` as one line.

    python -m tests._notify_replica --redis URL --out FILE --token T --aes-key K --corp-id C

prints ``PORT <n>`` once it listens, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import anyio
import uvicorn

from wecal.notifications import Notification, WeComCallback, asgi_endpoint
from wecal.redis import RedisBackend


def build(redis_url: str, out: str, token: str, aes_key: str, corp_id: str) -> Any:
    def record(line: str) -> None:
        with open(out, "a", encoding="utf-8") as file:
            file.write(line)

    async def handler(note: Notification) -> None:
        await anyio.to_thread.run_sync(record, f"{note.kind} {note.event_id}\n")

    endpoint = asgi_endpoint(WeComCallback(token, aes_key, corp_id, max_age=None), handler)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await endpoint(scope, receive, send)
            return
        # The backend is entered once, in the lifespan's long-lived task.
        async with RedisBackend(redis_url, prefix="replica-test") as shared:
            endpoint.shared = shared
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--out", required=True)
    # The app's callback settings (the test's own; passed, so that this module
    # imports no test module).
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes-key", required=True)
    parser.add_argument("--corp-id", required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts
    config = uvicorn.Config(
        build(args.redis, args.out, args.token, args.aes_key, args.corp_id),
        log_config=None,
        access_log=False,
        lifespan="on",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    sys.stdout.close()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
