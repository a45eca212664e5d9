"""
A provider that misbehaves on purpose: a raw ASGI app with one mode per
hostile behaviour, for WeCom (``/cgi-bin/...``) and legacy DingTalk
(``/gettoken``, ``/topapi/calendar/list``) clients.

In process (``transport=httpx.ASGITransport(app=server)``) for answers that
are whole; over loopback (``served(server)``: uvicorn in its own thread and
event loop) where timing or streaming matters — httpx's ASGI transport
collects a whole body before it answers, so a trickled or endless body only
behaves as it would on the wire over a socket.

The server counts what it did (``requests`` per path, ``body_bytes`` of whole answers and
``streamed`` bytes of streamed ones),
so tests assert bounds by counting rather than timing::

    server = Hostile("ignore_offset")
    async with client_for(server) as wecom:
        ...
    assert server.requests[LIST] <= 1 + NO_PROGRESS_PAGES
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.lowlevel
import httpx

import wecal
from tests._mock import ISSUED_TOKENS
from wecal.sandbox import serve

__all__ = [
    "CORP_ID",
    "DING_KEY",
    "DING_LIST",
    "DING_SECRET",
    "GET",
    "LIST",
    "SECRET",
    "Hostile",
    "ding_client",
    "served",
    "wecom_client",
]

CORP_ID = "ww-hostile-corp"
SECRET = "hostile-corpsecret-K7v2Qx9w"
DING_KEY = "dinghostilekey"
DING_SECRET = "hostile-appsecret-M3n8Ry4t"
LIST = "/cgi-bin/oa/schedule/get_by_calendar"
DING_LIST = "/topapi/calendar/list"
GET = "/cgi-bin/oa/schedule/get"
V1_TOKEN = "/v1.0/oauth2/accessToken"
V1_HEADER = b"x-acs-dingtalk-access-token"
#: 2001-01-01: far outside any window the tests ask for.
OLD = 978_307_200
_serial = itertools.count(1)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def schedule(sid: str, start: int = OLD) -> dict[str, Any]:
    """A minimal WeCom schedule the converter accepts."""
    return {
        "schedule_id": sid,
        "cal_id": "cal",
        "summary": f"s {sid}",
        "start_time": start,
        "end_time": start + 3600,
        "status": 0,
    }


def ding_item(eid: str) -> dict[str, Any]:
    """A minimal legacy DingTalk event the converter accepts."""
    return {
        "id": eid,
        "summary": f"e {eid}",
        "start": {"date_time": "2024-06-03T10:00:00+0800"},
        "end": {"date_time": "2024-06-03T11:00:00+0800"},
        "status": "confirmed",
    }


class Hostile:
    """
    The hostile provider. ``mode`` picks the behaviour of the listing
    endpoints (and of ``gettoken`` for the token modes):

    - ``ignore_offset``: the same page of old schedules, whatever the offset
      (the window filters out every one).
    - ``insert_front``: ignores the offset and inserts a new schedule at the
      front before every answer.
    - ``fresh_token_empty`` / ``fresh_token_same``: legacy DingTalk pages that
      are empty / identical, each with a new ``next_page_token``.
    - ``long_page_token``: a new item and a 100 000-character page token
      on every legacy DingTalk page.
    - ``trickle``: a valid body sent one byte every ``interval`` seconds;
      ``trickle_token``: the same from ``gettoken``.
    - ``endless``: a chunked body that never ends (until the client leaves).
    - ``declared_huge``: ``Content-Length`` of 2 GB, then a few bytes.
    - ``deep_json``, ``deep_field`` (a summary nested 800 deep),
      ``errcode_superscript``, ``errcode_digits``, ``errcode_digits_str``:
      hostile JSON.
    - ``echo``: errors that echo the request URL (token included), the
      secret and the token in the message, request id, ``hint`` and headers
      (the first page of a listing is served, so there is output to check);
      DingTalk v1.0 paths answer HTTP 400 with the token in ``code``,
      ``message``, ``requestid`` and a header.
    - ``token_fail``: ``gettoken`` answers 40013 after ``delay`` seconds.
    - ``token_long`` / ``token_int``: a 100 000-character / integer token.
    - ``token_plan``: ``gettoken`` follows ``token_plan`` (see there).
    - ``slow``: correct offset paging over ``items`` schedules, each answer
      after ``delay`` seconds.
    """

    def __init__(
        self,
        mode: str,
        *,
        page: int = 5,
        items: int = 20,
        delay: float = 0.0,
        interval: float = 0.4,
    ) -> None:
        self.mode = mode
        self.page = page
        self.delay = delay
        self.interval = interval
        self.requests: Counter[str] = Counter()
        self.body_bytes = 0
        #: Bytes of streamed bodies (trickle, endless, declared_huge) sent.
        self.streamed = 0
        self.tokens: list[str] = []
        self.items = [schedule(f"s{i:03d}", 1_717_200_000 + i * 3600) for i in range(items)]
        self.inserted = 0
        #: Answers of the next ``gettoken`` calls: "fail" (40013) or "slow"
        #: (after ``delay`` s); then the usual answer.
        self.token_plan: list[str] = []

    # -- ASGI --------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        self.requests[path] += 1
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw) if raw else {}
        url = f"{path}?{scope['query_string'].decode()}"
        if path == V1_TOKEN:
            token = f"HOSTILETOKEN-v1-{next(_serial)}-x9"
            self.tokens.append(token)
            ISSUED_TOKENS.append(token)
            await self._json(send, {"accessToken": token, "expireIn": 7200})
        elif path.startswith("/v1.0/") and self.mode == "echo":
            # DingTalk v1.0: HTTP status + {code, message, requestid}, token in a header.
            token = next((v.decode() for k, v in scope["headers"] if k == V1_HEADER), "")
            await self._raw(
                send,
                400,
                json.dumps(
                    {
                        "code": f"InvalidParameter.{token}",
                        "message": f"bad request {url} {token} {DING_SECRET}",
                        "requestid": f"{token}-{DING_SECRET}",
                    }
                ).encode(),
                headers=[(b"x-echo-token", token.encode())],
            )
        elif path in ("/cgi-bin/gettoken", "/gettoken") and self.mode == "trickle_token":
            await self._stream(send, receive)
        elif path in ("/cgi-bin/gettoken", "/gettoken"):
            await self._token(send)
        elif self.mode == "echo" and not (path == LIST and body.get("offset") == 0):
            await self._echo(send, url, query)
        elif self.mode in ("trickle", "endless", "declared_huge"):
            await self._stream(send, receive)
        elif self.mode.startswith(("deep", "errcode")):
            await self._raw(send, 200, _HOSTILE_JSON[self.mode]())
        elif path == LIST:
            await self._wecom_page(send, body)
        elif path == DING_LIST:
            await self._ding_page(send)
        elif path == GET:
            wanted = set(body.get("schedule_id_list", []))
            found = [s for s in self.items if s["schedule_id"] in wanted]
            await self._json(send, {"errcode": 0, "errmsg": "ok", "schedule_list": found})
        else:
            await self._json(send, {"errcode": 0, "errmsg": "ok"})

    async def _raw(
        self, send: Send, status: int, data: bytes, headers: list[tuple[bytes, bytes]] = ()
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *headers],
            }
        )
        self.body_bytes += len(data)
        await send({"type": "http.response.body", "body": data})

    async def _json(self, send: Send, payload: Any, **kw: Any) -> None:
        await self._raw(send, 200, json.dumps(payload, ensure_ascii=False).encode(), **kw)

    async def _token(self, send: Send) -> None:
        step = self.token_plan.pop(0) if self.token_plan else ""
        if step == "slow":
            await anyio.sleep(self.delay)
        if self.mode == "token_fail" or step == "fail":
            await anyio.sleep(self.delay)
            await self._json(send, {"errcode": 40013, "errmsg": "invalid corpid"})
            return
        if self.mode == "token_long":
            token: Any = "T" * 100_000
        elif self.mode == "token_int":
            token = 12345678
        else:
            token = f"HOSTILETOKEN-{next(_serial)}-x9"
            self.tokens.append(token)
            ISSUED_TOKENS.append(token)  # the suite's secret checks look for it
        await self._json(
            send, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        )

    async def _wecom_page(self, send: Send, body: dict[str, Any]) -> None:
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 1000))
        if self.delay:
            await anyio.sleep(self.delay)
        if self.mode == "ignore_offset":
            page = [schedule(f"old{i}") for i in range(self.page)]
        elif self.mode == "insert_front":
            self.inserted += 1
            self.items.insert(0, schedule(f"new{self.inserted:04d}", 1_717_200_000))
            page = self.items[:limit]
        else:
            page = self.items[offset : offset + limit]
        await self._json(send, {"errcode": 0, "errmsg": "ok", "schedule_list": page})

    async def _ding_page(self, send: Send) -> None:
        items = [] if self.mode == "fresh_token_empty" else [ding_item("e1"), ding_item("e2")]
        token = f"pt-{next(_serial)}"
        if self.mode == "long_page_token":
            n = next(_serial)
            items, token = [ding_item(f"e{n}")], token * 20_000
        await self._json(send, {"errcode": 0, "result": {"items": items, "next_page_token": token}})

    async def _echo(self, send: Send, url: str, query: dict[str, str]) -> None:
        token = query.get("access_token", "")
        message = f"invalid calendar, url {url} secret {SECRET} hint: [{url}], token {token}"
        await self._json(
            send,
            {"errcode": 60020, "errmsg": message, "request_id": f"req {url} {token}"},
            headers=[(b"x-echo-token", token.encode()), (b"x-echo-url", url.encode())],
        )

    async def _stream(self, send: Send, receive: Receive) -> None:
        gone = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        headers = [(b"content-type", b"application/json")]
        payload = b'{"errcode": 0, "schedule_list": []}'
        trickle = self.mode in ("trickle", "trickle_token")
        if trickle:
            headers.append((b"content-length", str(len(payload)).encode()))
        elif self.mode == "declared_huge":
            headers.append((b"content-length", b"2000000000"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if trickle:
                for byte in payload:
                    if gone.is_set():
                        break
                    await send(
                        {"type": "http.response.body", "body": bytes([byte]), "more_body": True}
                    )
                    self.streamed += 1
                    await anyio.sleep(self.interval)
            elif self.mode == "declared_huge":
                await send({"type": "http.response.body", "body": b"{", "more_body": True})
                self.streamed += 1
                await gone.wait()
            else:
                chunk = b'{"errcode": 0, "schedule_list": [' + b'{"schedule_id": "x"},' * 3000
                # Stop on disconnect; 2 GB is a safety net for a broken test.
                while not gone.is_set() and self.streamed < 2_000_000_000:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    self.streamed += len(chunk)
                    await anyio.lowlevel.checkpoint()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b""})
            tg.cancel_scope.cancel()


_HOSTILE_JSON: dict[str, Callable[[], bytes]] = {
    "deep_json": lambda: (
        b'{"errcode": 0, "schedule_list": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    ),
    "deep_field": lambda: (
        b'{"errcode": 0, "schedule_list": [{"schedule_id": "x", "summary": '
        + b"[" * 800
        + b"]" * 800
        + b"}]}"
    ),
    "errcode_superscript": lambda: '{"errcode": "²", "errmsg": "x"}'.encode(),
    "errcode_digits": lambda: b'{"errcode": ' + b"9" * 5000 + b', "errmsg": "x"}',
    "errcode_digits_str": lambda: b'{"errcode": "' + b"9" * 5000 + b'", "errmsg": "x"}',
}


@contextlib.contextmanager
def served(server: Hostile | Liar) -> Iterator[str]:
    """``server`` over loopback (uvicorn in its own thread); yields the base URL."""
    with serve(server) as url:
        yield url


def wecom_client(server: Hostile | str, **settings: Any) -> wecal.WeComClient:
    """A WeComClient on ``server`` (in process), or on a loopback URL."""
    defaults: dict[str, Any] = {
        "token_store": wecal.MemoryTokenStore(),
        "retry": wecal.RetryConfig(max_attempts=2, backoff_base=0.001, deadline=10),
        "rate_limit": False,
    }
    if isinstance(server, str):
        defaults["base_url"] = server
    else:
        defaults |= {"base_url": "http://hostile", "transport": httpx.ASGITransport(app=server)}
    return wecal.WeComClient(CORP_ID, SECRET, **(defaults | settings))


def ding_client(server: Hostile, **settings: Any) -> wecal.DingTalkLegacyClient:
    """A DingTalkLegacyClient on ``server``, in process."""
    defaults: dict[str, Any] = {
        "base_url": "http://hostile",
        "transport": httpx.ASGITransport(app=server),
        "token_store": wecal.MemoryTokenStore(),
        "retry": wecal.RetryConfig(max_attempts=2, backoff_base=0.001, deadline=10),
        "rate_limit": False,
    }
    return wecal.DingTalkLegacyClient(DING_KEY, DING_SECRET, **(defaults | settings))


# -- a liar in front of the sandbox (any provider) -----------------------------------------

#: What a rewrite returns: (status, headers, body), or None to pass the answer through.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
Rewrite = Callable[[str, int, int, list[tuple[bytes, bytes]], bytes], Answer | None]


class Liar:
    """
    An ASGI app in front of the sandbox's: each request goes to the sandbox
    (so the emulator's real answer is at hand), and ``rewrite(api, n, status,
    headers, body)`` may replace the answer (``n``: how many earlier requests
    of ``api`` there were). ``api`` is the emulator's api name of the path, so
    the lies are written once for every provider of the registry.

    ``answers[api]`` keeps the sandbox's own (status, body) per request, and
    ``requests`` counts them per api: bounds are asserted by counting.
    """

    def __init__(self, inner: Any, api_name: Callable[[str, str], str | None]) -> None:
        self.inner = inner
        self.api_name = api_name
        self.rewrite: Rewrite = lambda api, n, status, headers, body: None
        self.requests: Counter[str] = Counter()
        self.answers: dict[str, list[tuple[int, bytes]]] = {}
        #: The HTTP method of each api.
        self.methods: dict[str, str] = {}
        #: Apis whose answers are sent a byte at a time (over loopback), and how slowly.
        self.trickle: set[str] = set()
        self.trickle_interval = 0.05
        #: Bytes of trickled answers sent.
        self.streamed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        api = self.api_name(scope["path"], scope["method"]) or scope["path"]
        n = self.requests[api]
        self.requests[api] += 1
        self.methods[api] = scope["method"]
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.inner(scope, receive, keep)
        status = int(start.get("status", 500))
        headers = [
            (bytes(k), bytes(v))
            for k, v in start.get("headers", [])
            if bytes(k).lower() != b"content-length"
        ]
        body = b"".join(chunks)
        self.answers.setdefault(api, []).append((status, body))
        answer = self.rewrite(api, n, status, headers, body) or (status, headers, body)
        status, headers, body = answer
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if api in self.trickle:
            await self._trickle(body, receive, send)
            return
        await send({"type": "http.response.body", "body": body})

    async def _trickle(self, body: bytes, receive: Receive, send: Send) -> None:
        """``body`` a byte every ``trickle_interval`` s, until the client leaves."""
        gone = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            for i in range(len(body)):
                if gone.is_set():
                    break
                more = i + 1 < len(body)
                await send(
                    {"type": "http.response.body", "body": body[i : i + 1], "more_body": more}
                )
                self.streamed += 1
                await anyio.sleep(self.trickle_interval)
            tg.cancel_scope.cancel()
