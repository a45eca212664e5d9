"""Serving a sandbox over loopback with uvicorn, and the command line entry point."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.types import ASGIApp

from ..errors import TransportError, ValidationError
from ._data import (
    GenerateSummary,
)
from ._demo import DEFAULTS, DemoSettings, check_limit, credentials, serve_demo
from ._state import Sandbox

__all__ = ["describe", "main", "run", "serve"]


@contextlib.contextmanager
def serve(
    sandbox: Sandbox | ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """
    Serve ``sandbox`` with uvicorn in a background thread; yields the base URL.

    ``port=0`` picks a free port. Leaving the block stops the server and joins
    the thread. uvicorn's logging is left unconfigured (records go to the
    ``uvicorn.*`` loggers), so a library or test run keeps its own setup::

        with serve(sandbox) as base_url:
            httpx.get(f"{base_url}/cgi-bin/gettoken", params={...})
    """
    # Any ASGI app can be served the same way (tests serve a callback endpoint).
    app = sandbox.app if isinstance(sandbox, Sandbox) else sandbox
    # Say IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto is TCP, and without it every keep-alive answer (headers and body
    # written separately) waits ~40 ms for the client's delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            # Keep shutdown quick: idle keep-alive connections are not waited for long.
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="wecal-sandbox", daemon=True
        )
        thread.start()
        # Poll with a deadline: uvicorn sets ``started`` once it listens.
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(startup_timeout)
                raise TransportError(f"wecal sandbox: uvicorn did not start on {host}:{port}")
            time.sleep(0.01)
        shown = f"[{host}]" if ":" in host else host
        try:
            yield f"http://{shown}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(startup_timeout + 5)
    finally:
        sock.close()


def describe(summary: GenerateSummary) -> str:
    """
    What a client needs to talk to a generated sandbox, one line per registered
    provider: its app id (secrets are named, not shown) and its sources — the
    calendars or users (DingTalk v1.0: unionIds) that hold the demo data.
    """

    sources = summary.sources
    return "\n".join(
        f"{name}: app {app_id} (secret: wecal.sandbox.DEFAULT_*), "
        f"sources {', '.join(sources.get(name, ())) or '-'}"
        for name, (app_id, _secret) in credentials().items()
    )


def run(
    port: int = 8765,
    *,
    host: str = "127.0.0.1",
    seed: int | None = None,
    sources: int | None = None,
    size: int | None = None,
    latency: float = 0.0,
    faults: str = "",
) -> int:
    """
    Serve the demo in the foreground until interrupted (Ctrl-C); the exit code.

    The same demo, defaults (``wecal.sandbox._demo.DEFAULTS``), banner and
    taken-port check as ``wecal sandbox`` and ``python -m wecal.sandbox``:
    every registered provider's default app (``DEFAULT_WECOM_CORP_ID`` /
    ``DEFAULT_WECOM_SECRET``, ``DEFAULT_DINGTALK_APP_KEY`` /
    ``DEFAULT_DINGTALK_APP_SECRET``) with ``sources`` calendars or users of
    ``size`` events each.
    """

    settings = DemoSettings(
        seed=DEFAULTS.seed if seed is None else seed,
        sources=DEFAULTS.sources if sources is None else sources,
        size=DEFAULTS.size if size is None else size,
        latency=latency,
        faults=faults,
    )
    return serve_demo(settings, host=host, port=port, out=sys.stdout, err=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``python -m wecal.sandbox [--port N] [--host H] [--seed S] [--sources N] [--size N]
    [--latency S] [--faults SPEC]``: the same demo, defaults and banner as ``wecal sandbox``.
    """

    parser = argparse.ArgumentParser(
        prog="python -m wecal.sandbox",
        description="Serve the wecal provider emulator with demo data (Ctrl-C stops it).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="demo data seed")
    parser.add_argument(
        "--sources", type=int, default=DEFAULTS.sources, help="calendars/users per provider"
    )
    parser.add_argument("--size", type=int, default=DEFAULTS.size, help="events per source")
    parser.add_argument("--latency", type=float, default=DEFAULTS.latency, help="seconds")
    parser.add_argument(
        "--faults", default=DEFAULTS.faults, help="e.g. 'server_error(502)@0.1,busy@0.05'"
    )
    args = parser.parse_args(argv)
    try:
        check_limit("port", args.port)
        return run(
            args.port,
            host=args.host,
            seed=args.seed,
            sources=args.sources,
            size=args.size,
            latency=args.latency,
            faults=args.faults,
        )
    except ValidationError as exc:
        sys.stderr.write(f"python -m wecal.sandbox: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 0
