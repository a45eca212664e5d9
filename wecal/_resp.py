"""
The per-call path of :mod:`wecal.redis`: the reservation script (and the
permit commands) sent on connections of our own, one request at a time per
connection, written and read in the caller's task.

Why not coredis for these few commands: coredis passes each command through a
writer task, a reader task, memory streams and an event per request. Profiled
in ``benchmarks/bench_shared.py`` (RESULTS.md, benchmark 7), that machinery
costs ~350–450 µs of CPU per command on our 2-core machine, more than the
whole 0.3 ms a call may add; a request here is one ``send`` and one
``recv`` on the plain socket (~40 µs on the same machine; TLS connections go
through the anyio stream). coredis still reads the URL and
its options (where the server is, TLS, credentials, database) and carries
every other operation of the backend.

The protocol is RESP2 (no ``HELLO``): replies are integers, bulk strings,
arrays, statuses and errors, all that the scripts answer. Written by hand:
~40 lines of it, and no library offers it without its own connection layer.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

__all__ = ["Lane", "ReplyError", "Script", "bulk", "pack"]

Part = bytes | str | int


class ReplyError(Exception):
    """An error reply of Redis (``-ERR ...``): its text."""


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more."""


def bulk(*parts: Part) -> bytes:
    """``parts`` as RESP bulk strings, one after the other."""
    out = []
    for part in parts:
        raw = (
            part
            if isinstance(part, bytes)
            else part.encode()
            if isinstance(part, str)
            else b"%d" % part
        )
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def pack(parts: Sequence[Part]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(parts) + bulk(*parts)


def _parse(buffer: bytearray, start: int) -> tuple[Any, int]:
    """The reply that starts at ``start``, and where the next begins."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line, after = buffer[start], bytes(buffer[start + 1 : end]), end + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x24:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return buffer[after : after + size].decode("utf-8", "replace"), after + size + 2
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # '+' status
        return line.decode("utf-8", "replace"), after
    if kind == 0x2D:  # '-' error
        return ReplyError(line.decode("utf-8", "replace")), after
    raise ReplyError(f"not a RESP2 reply (first byte {kind!r})")


class Script:
    """A Lua script: its body and SHA-1, as ``EVALSHA`` names it."""

    __slots__ = ("body", "head", "sha")

    def __init__(self, body: str) -> None:
        self.body = body
        # SHA-1 is what Redis names scripts by; not a security use.
        self.sha = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
        #: ``EVALSHA <sha>`` packed: the start of every call's array.
        self.head = bulk("EVALSHA", self.sha)

    def call(self, keys: Sequence[Part], args: Sequence[Part]) -> bytes:
        """The packed ``EVALSHA`` of this script."""
        return pack(["EVALSHA", self.sha, len(keys), *keys, *args])


#: What a connection the server has closed raises.
_BROKEN = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class _Connection:
    """A TLS connection: the anyio stream carries it."""

    __slots__ = ("buffer", "stream", "timeout")

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self.buffer = bytearray()

    async def request(self, payload: bytes) -> Any:
        with anyio.fail_after(self.timeout):
            await self.stream.send(payload)
            buffer = self.buffer
            while True:
                try:
                    reply, end = _parse(buffer, 0)
                except _Incomplete:
                    buffer += await self.stream.receive()
                    continue
                del buffer[:end]
                return reply

    async def close(self) -> None:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self.stream.aclose()


class _RawConnection:
    """
    A plain TCP or Unix connection on its non-blocking socket: the request is
    written at once and the reply read when the socket is readable, one trip
    through the event loop a request. An anyio stream takes two (its send
    yields once more) and, on asyncio, re-arms reading on every receive:
    ~100 µs of CPU a request against ~40 µs here (measured on our machine).
    """

    __slots__ = ("buffer", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = bytearray()

    async def request(self, payload: bytes) -> Any:
        sock = self.sock
        view = memoryview(payload)
        while view:
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                with anyio.fail_after(self.timeout):
                    await anyio.wait_writable(sock)
        buffer = self.buffer
        while True:
            try:
                reply, end = _parse(buffer, 0)
            except _Incomplete:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    # A timer only when there is something to wait for.
                    with anyio.fail_after(self.timeout):
                        await anyio.wait_readable(sock)
                    continue
                if not data:
                    raise anyio.EndOfStream from None
                buffer += data
                continue
            del buffer[:end]
            return reply

    async def close(self) -> None:
        self.sock.close()


async def _take_over(stream: anyio.abc.ByteStream, limit: float) -> _Connection | _RawConnection:
    """A connection on ``stream``'s socket itself when it is plain (no TLS)."""
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if sock is None or stream.extra(TLSAttribute.ssl_object, None) is not None:
        return _Connection(stream, limit)
    # A second descriptor of the same connection; closing the stream's
    # (without shutdown) leaves the connection open on ours.
    raw = sock.dup()
    raw.setblocking(False)
    with anyio.CancelScope(shield=True):
        await stream.aclose()
    return _RawConnection(raw, limit)


class Lane:
    """
    Up to ``size`` connections opened by ``connect`` (which also
    authenticates and selects the database, within its own time bound), each
    carrying one request at a time; every wait for the server (to write, to
    read) ends within ``timeout`` seconds or raises TimeoutError. A
    connection whose request did not end cleanly (cancelled, timed out,
    broken) is closed, never reused; a broken *idle* one (the server
    restarted since) is replaced once, at once.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[anyio.abc.ByteStream]],
        *,
        timeout: float,
        size: int = 16,
    ) -> None:
        self._connect = connect
        self._timeout = timeout
        self._size = size
        self._idle: list[_Connection | _RawConnection] = []
        self._slots: anyio.Semaphore | None = None
        self._closed = False

    def reopen(self) -> None:
        """Allow connections again after :meth:`aclose` (the backend entered anew)."""
        self._closed = False

    async def call(self, payload: bytes) -> Any:
        """Send one packed command and return its reply (an error reply raises ReplyError)."""
        if self._slots is None:
            self._slots = anyio.Semaphore(self._size)
        try:
            # Uncontended: no trip through the event loop (the send is the
            # cancellation point).
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.fail_after(self._timeout):
                await self._slots.acquire()
        try:
            reply = await self._request(payload)
        finally:
            self._slots.release()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def script(self, script: Script, payload: bytes) -> Any:
        """``payload`` (an ``EVALSHA`` of ``script``), loading the script once if Redis lacks it."""
        try:
            return await self.call(payload)
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call(pack(["SCRIPT", "LOAD", script.body]))
        return await self.call(payload)

    async def _request(self, payload: bytes) -> Any:
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else await self._new()
        try:
            reply = await connection.request(payload)
        except _BROKEN as exc:
            await connection.close()
            if not reused or isinstance(exc, TimeoutError):  # slow, not gone: no second try
                raise
            # The idle connections died with the server they knew (it
            # restarted): one more try, on a new connection.
            await self._drop_idle()
            connection = await self._new()
            try:
                reply = await connection.request(payload)
            except BaseException:
                await connection.close()
                raise
        except BaseException:
            await connection.close()
            raise
        if self._closed:
            await connection.close()
        else:
            self._idle.append(connection)
        return reply

    async def _new(self) -> _Connection | _RawConnection:
        return await _take_over(await self._connect(), self._timeout)

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their request ends."""
        self._closed = True
        await self._drop_idle()
