"""
Cancellation storms leave every connection pool slot usable.

httpcore's pool keeps a connection in a slot while a request uses it; a
request cancelled at the wrong moment leaves it there, claimed by no request
and usable by none (see ``wecal._http._reclaim_orphans``): never connected,
or connected but still ``NEW`` when the cancellation was noticed at the next
checkpoint after the connect. These tests cancel requests at random points
of their network I/O — before or after a connect, a write, a read — and at
random times, thousands of times, over real loopback sockets (uvicorn), on
both backends and for several pool sizes; then they check that *every* slot
serves a request: N requests to an endpoint that answers only once N of them
are in flight at the same time.
"""

from __future__ import annotations

import contextvars
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import anyio
import httpcore
import httpx
import pytest

import wecal
from tests.hostile import CORP_ID, SECRET
from wecal.sandbox import serve

pytestmark = pytest.mark.anyio

Scope = contextvars.ContextVar[anyio.CancelScope | None]
_SCOPE: Scope = contextvars.ContextVar("request_scope", default=None)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Barrier:
    """
    A WeCom-shaped ASGI app: a token, and a listing that serves two items
    per page. With ``need`` set, each listing request is answered only once
    ``need`` of them are in flight together (else after 10 s, with an error).
    """

    def __init__(self) -> None:
        self.need = 0
        self.arrived = 0
        self.gate: anyio.Event | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        if path == "/cgi-bin/gettoken":
            body: dict[str, Any] = {"errcode": 0, "access_token": "tok-barrier", "expires_in": 7200}
        elif self.need:
            if self.gate is None:
                self.gate = anyio.Event()
            self.arrived += 1
            if self.arrived >= self.need:
                self.gate.set()
            with anyio.move_on_after(10):
                await self.gate.wait()
            body = {"errcode": 0 if self.gate.is_set() else -1, "schedule_list": []}
        else:
            await anyio.sleep(random.random() * 0.002)
            body = {"errcode": 0, "schedule_list": []}
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


class ChaosStream(httpcore.AsyncNetworkStream):
    """A real socket stream whose reads and writes may cancel the request around them."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, chaos: Chaos) -> None:
        self._stream = stream
        self._chaos = chaos

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        await self._chaos.maybe_cancel()
        data = await self._stream.read(max_bytes, timeout)
        await self._chaos.maybe_cancel(after=True)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._chaos.maybe_cancel()
        await self._stream.write(buffer, timeout)
        await self._chaos.maybe_cancel(after=True)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return await self._stream.start_tls(*args, **kwargs)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class Chaos(httpcore.AsyncNetworkBackend):
    """
    The real network backend, with cancellations at random points: before
    or right after a connect, a read or a write, the request's cancel scope
    (set by the caller) is cancelled with probability ``p`` (seeded).
    "Right after" leaves the cancellation pending until the next checkpoint
    — where httpcore notices it in the middle of its own bookkeeping.
    """

    def __init__(self, real: httpcore.AsyncNetworkBackend, *, p: float, seed: int) -> None:
        self._real = real
        self._p = p
        self._random = random.Random(seed)
        self.cancelled = 0

    async def maybe_cancel(self, *, after: bool = False) -> None:
        scope = _SCOPE.get()
        if scope is None or scope.cancel_called or self._random.random() >= self._p:
            return
        self.cancelled += 1
        scope.cancel()
        if not after:
            await anyio.lowlevel.checkpoint()

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        await self.maybe_cancel()
        stream = await self._real.connect_tcp(*args, **kwargs)
        await self.maybe_cancel(after=True)
        return ChaosStream(stream, self)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def chaos_client(max_connections: int, *, p: float, seed: int) -> tuple[httpx.AsyncClient, Chaos]:
    """An httpx client whose pool connects through :class:`Chaos`."""
    # Few kept alive: most requests connect, so connects are cut too.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=2)
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    chaos = Chaos(pool._network_backend, p=p, seed=seed)
    pool._network_backend = chaos
    return httpx.AsyncClient(transport=transport, timeout=10), chaos


@pytest.fixture
def barrier() -> Iterator[tuple[Barrier, str]]:
    app = Barrier()
    with serve(app) as url:  # type: ignore[arg-type]
        yield app, url


def _client(url: str, http: httpx.AsyncClient) -> wecal.WeComClient:
    return wecal.WeComClient(
        CORP_ID,
        SECRET,
        base_url=url,
        http_client=http,
        token_store=wecal.MemoryTokenStore(),
        rate_limit=False,
        retry=wecal.RetryConfig(max_attempts=2, backoff_base=0.001, deadline=30),
    )


async def storm(
    wecom: wecal.WeComClient, cancellations: int, chaos: Chaos, *, seed: int, width: int
) -> int:
    """Listings cancelled by ``chaos`` or at a random time until ``cancellations`` were cut."""
    rnd = random.Random(seed)
    cut = 0

    async def listing(seconds: float) -> None:
        nonlocal cut
        with anyio.CancelScope() as scope:
            scope.deadline = anyio.current_time() + seconds
            token = _SCOPE.set(scope)
            try:
                async for _ in wecom.list_events("cal", page_size=1):
                    pass
            finally:
                _SCOPE.reset(token)
        if scope.cancelled_caught:
            cut += 1

    # Until enough were cut, and enough of them by ``chaos`` mid-I/O: on a
    # loaded machine the random deadlines fire first more often, so the count
    # of chaos cuts is a stop condition, not a matter of timing luck.
    min_chaos = cancellations // 20 + 1
    rounds = 0
    while cut < cancellations or chaos.cancelled < min_chaos:
        rounds += 1
        assert rounds <= 10 * (cancellations // width + 1), "chaos never cut a request mid-I/O"
        async with anyio.create_task_group() as tg:
            for _ in range(max(1, min(width, cancellations - cut))):
                tg.start_soon(listing, rnd.random() * 0.5)
    return cut


async def every_slot_serves(app: Barrier, wecom: wecal.WeComClient, slots: int) -> None:
    """``slots`` listings in flight at once, each answered only when all are."""
    app.need, app.arrived, app.gate = slots, 0, None

    async def one() -> None:
        assert [e async for e in wecom.list_events("cal")] == []

    with anyio.fail_after(20):  # a stuck slot: fewer arrive, and nothing is answered
        async with anyio.create_task_group() as tg:
            for _ in range(slots):
                tg.start_soon(one)
    assert app.arrived >= slots  # a request retried on a stale kept-alive connection counts twice


def _pool_connections(http: httpx.AsyncClient) -> Iterable[Any]:
    return list(http._transport._pool.connections)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("slots", "cancellations"),
    [
        pytest.param(100, 2400, marks=pytest.mark.slow),  # ~10-20 s a backend
        (100, 200),
        (7, 150),
        (1, 60),
    ],
)
async def test_every_pool_slot_is_usable_after_a_cancellation_storm(
    barrier: tuple[Barrier, str], slots: int, cancellations: int
) -> None:
    app, url = barrier
    http, chaos = chaos_client(slots, p=0.1, seed=slots)
    async with http, _client(url, http) as wecom:
        await wecom._http.tokens.get()  # the token is not what is measured
        cut = await storm(wecom, cancellations, chaos, seed=slots, width=min(100, 2 * slots))
        stuck = [c for c in _pool_connections(http) if "NEW" in repr(c) or "CONNECTING" in repr(c)]
        assert stuck == []
        await every_slot_serves(app, wecom, slots)
        assert cut >= cancellations
        assert chaos.cancelled > cancellations // 20  # many were cut mid-I/O, not only by time


class CancelAfterConnect(Chaos):
    """Cancels the request right after each connect completes, nowhere else."""

    async def maybe_cancel(self, *, after: bool = False) -> None:
        return None

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        stream = await super().connect_tcp(*args, **kwargs)
        scope = _SCOPE.get()
        if scope is not None:
            self.cancelled += 1
            scope.cancel()  # noticed at httpcore's next checkpoint: its state lock
        return stream


async def test_a_request_cancelled_right_after_its_connect_frees_its_slot(
    barrier: tuple[Barrier, str],
) -> None:
    app, url = barrier
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)  # connect each time
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    pool._network_backend = CancelAfterConnect(pool._network_backend, p=0.0, seed=0)
    async with httpx.AsyncClient(transport=transport) as http, _client(url, http) as wecom:
        await wecom._http.tokens.get()
        for _ in range(3):
            with anyio.CancelScope() as scope:
                token = _SCOPE.set(scope)
                try:
                    await wecom.get_events(["s1"])
                finally:
                    _SCOPE.reset(token)
            assert scope.cancelled_caught
        assert _pool_connections(http) == []
        await every_slot_serves(app, wecom, 1)
