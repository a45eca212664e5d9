"""
The notification endpoint under hostile callers over real sockets: uvicorn
serves it on loopback, the attackers are raw TCP clients (anyio sockets, on
asyncio and on trio) that send what no well-behaved client would — an endless
chunked body, a 100 MB body, hundreds of bodies that never finish, a trickle
of one byte at a time — while a real callback must still be answered.
Every test is bounded by the endpoint's own deadlines (and pytest's timeout).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from wecal.notifications import Notification, asgi_endpoint
from wecal.sandbox import serve

from . import _procs
from .test_notifications import (
    AES_KEY,
    CORP_ID,
    TOKEN,
    VECTORS,
    Recorder,
    ref_sign,
    wecom_cb,
    wecom_post,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@pytest.fixture
def anyio_backend() -> str:
    """
    One backend: the endpoint under test runs in uvicorn's own (asyncio) loop
    in its thread whatever this is; the event loop here only drives the test's
    sockets, so trio would repeat the same server run (tests/test_notifications.py
    runs the endpoint in-process on both).
    """
    return "asyncio"


BODY_TIMEOUT = 4.0


def _signed_request() -> tuple[str, bytes]:
    sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    return "/?" + urlencode({"msg_signature": sig, "timestamp": ts, "nonce": nonce}), body


@pytest.fixture
def inbox() -> Recorder:
    return Recorder()


@pytest.fixture
def server(inbox: Recorder) -> Iterator[tuple[str, int]]:
    app = asgi_endpoint(wecom_cb(max_age=None), inbox, body_timeout=BODY_TIMEOUT)
    with serve(app) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port


async def _connect(server: tuple[str, int]) -> SocketStream:
    return await anyio.connect_tcp(*server)


async def _read_answer(stream: SocketStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
        return data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def _send_endless(stream: SocketStream, target: str) -> tuple[bytes, int]:
    """Send a chunked body until the server answers or hangs up: (answer, bytes sent)."""
    head = f"POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    await stream.send(head.encode())
    chunk = b"%x\r\n%s\r\n" % (16_384, b"<a/>" * 4096)
    sent = 0
    answer = b""
    # A server that read on forever would let this run to the cap (and fail).
    with anyio.move_on_after(60):
        try:
            while sent < 200 * 1024 * 1024:
                await stream.send(chunk)
                sent += len(chunk)
                with anyio.move_on_after(0):
                    answer += await stream.receive()
                if answer:
                    break
        except (anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError):
            pass
    return answer + await _read_answer(stream), sent


async def _post_ok(server: tuple[str, int]) -> int:
    target, body = _signed_request()
    async with httpx.AsyncClient(base_url=f"http://{server[0]}:{server[1]}") as http:
        return (await http.post(target, content=body)).status_code


async def test_endless_chunked_body_is_413_without_reading_it(
    server: tuple[str, int], inbox: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    target, _ = _signed_request()
    async with await _connect(server) as stream:
        answer, sent = await _send_endless(stream, target)
    # The server answers 413 and closes with the rest unread; the kernel then
    # resets the connection, which may destroy the 413 before the client reads it.
    assert _status(answer) in (413, 0)
    assert "request body too large" in caplog.text
    assert sent < 50 * 1024 * 1024  # the kernel's buffers, not the body, bound it
    assert inbox.notes == []
    assert await _post_ok(server) == 200  # and the server is fine


async def test_a_declared_100_mb_body_is_413_before_any_of_it(server: tuple[str, int]) -> None:
    target, _ = _signed_request()
    head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n"
    async with await _connect(server) as stream:
        await stream.send(head.encode())
        answer = await _read_answer(stream)  # nothing of the body sent: answered anyway
    assert _status(answer) == 413
    assert b"connection: close" in answer.lower()


async def test_slow_bodies_get_408_and_do_not_pin_the_server(
    server: tuple[str, int], inbox: Recorder
) -> None:
    target, body = _signed_request()
    head = (f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    slow: list[SocketStream] = []
    for _ in range(300):  # 300 bodies that stop after 10 bytes
        stream = await _connect(server)
        await stream.send(head + body[:10])
        slow.append(stream)
    answers: list[bytes] = []
    order: list[str] = []
    try:
        await _flood(server, slow, head, body, answers, order)
    finally:
        for stream in slow:
            await stream.aclose()
    assert order[0] == "real"
    assert len(answers) == 305
    assert {_status(a) for a in answers} == {408}
    assert [n.event_id for n in inbox.notes] == ["17c7d2bd9f20d652840f72f59e796AAA"]


async def _flood(
    server: tuple[str, int],
    slow: list[SocketStream],
    head: bytes,
    body: bytes,
    answers: list[bytes],
    order: list[str],
) -> None:
    async def wait_answer(stream: SocketStream) -> None:
        answers.append(await _read_answer(stream))
        order.append("slow")

    async def trickle(stream: SocketStream) -> None:
        # A slow loris: one byte at a time, never done within the deadline.
        await stream.send(head)
        try:
            for byte in body:
                await stream.send(bytes([byte]))
                await anyio.sleep(0.2)
        except (anyio.BrokenResourceError, ConnectionError):
            pass

    async with anyio.create_task_group() as tg:
        for stream in slow:
            tg.start_soon(wait_answer, stream)
        for _ in range(5):
            loris = await _connect(server)
            slow.append(loris)
            tg.start_soon(trickle, loris)
            tg.start_soon(wait_answer, loris)
        # While they all hang, a real callback is answered and handed over.
        assert await _post_ok(server) == 200
        order.append("real")


async def test_a_hanging_handler_is_answered_503_then_the_retry_is_delivered() -> None:
    calls: list[Notification] = []

    async def handler(note: Notification) -> None:
        calls.append(note)
        if len(calls) == 1:
            await anyio.sleep_forever()

    app = asgi_endpoint(wecom_cb(max_age=None), handler, handler_timeout=1.0)
    with serve(app) as url:
        target, body = _signed_request()
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.post(target, content=body)).status_code == 503
            assert (await http.post(target, content=body)).status_code == 200
            assert (await http.post(target, content=body)).status_code == 200
    assert len(calls) == 2


@pytest.fixture
def replicas(redis_server: Any, tmp_path: Path) -> Iterator[tuple[list[int], Path]]:
    """Two processes serving one callback URL, sharing Redis: their ports, and their log."""
    out = tmp_path / "delivered.txt"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    # Each a process of its own, forked with wecal already imported (tests/_procs.py).
    command = ["--redis", redis_server.url, "--out", str(out), "--token", TOKEN,
               "--aes-key", AES_KEY, "--corp-id", CORP_ID]  # fmt: skip
    processes = [
        _procs.start("tests._notify_replica", *command, stdout=_procs.PIPE, cwd=root, env=env)
        for _ in range(2)
    ]
    try:
        ports = []
        for process in processes:
            assert process.stdout is not None
            ports.append(int(process.stdout.readline().split()[1]))
        yield ports, out
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


def test_replicas_sharing_redis_deliver_a_replayed_request_once(
    replicas: tuple[list[int], Path],
) -> None:
    # Two processes serve one callback URL and share what they accepted
    # through a real Redis: a request replayed to both reaches a handler once.
    # (Run once: the client's event loop plays no part in what is tested.)
    ports, out = replicas
    target, body = _signed_request()
    with httpx.Client(timeout=30) as http:
        for i in range(40):
            url = f"http://127.0.0.1:{ports[i % 2]}{target}"
            assert http.post(url, content=body).status_code == 200
        # Another delivery of the event (a new nonce) is a new request.
        _, ts, _, again = wecom_post(VECTORS["wecom_events"]["add_schedule"])
        enc = again.split(b"CDATA[")[1].split(b"]")[0].decode()
        sig = ref_sign(TOKEN, ts, "other", enc)
        fresh = urlencode({"msg_signature": sig, "timestamp": ts, "nonce": "other"})
        url = f"http://127.0.0.1:{ports[1]}/?{fresh}"
        assert http.post(url, content=again).status_code == 200
    event = "17c7d2bd9f20d652840f72f59e796AAA"
    lines = out.read_text().splitlines()
    assert lines == [f"created {event}", f"created {event}"]
