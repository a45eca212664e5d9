"""
An ASGI app answering a provider's callbacks; mount it in any async framework.

Plain ASGI (no framework dependency): it reads the query string and the body,
lets the callback object verify and parse them, answers the handshakes itself
and awaits ``on_notification`` for each calendar notification before
answering — so a handler that fails makes the provider deliver again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..errors import AuthenticationError, UnsupportedError, WecalError
from ._dingtalk import DingTalkCallback
from ._model import Notification
from ._wecom import WeComCallback

__all__ = ["CallbackEndpoint", "asgi_endpoint"]

logger = logging.getLogger("wecal.notifications")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Notification], Awaitable[object]]

#: Larger bodies are refused (413): a callback is a few KB.
MAX_BODY = 64 * 1024


class _Answer:
    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type


class CallbackEndpoint:
    """The ASGI app :func:`asgi_endpoint` returns."""

    def __init__(
        self,
        callback: WeComCallback | DingTalkCallback,
        on_notification: Handler,
        *,
        max_body: int = MAX_BODY,
    ) -> None:
        self.callback = callback
        self.on_notification = on_notification
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"CallbackEndpoint({self.callback!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        answer = await self._answer(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.content_type.encode("latin-1")),
                    (b"content-length", str(len(answer.body)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, receive: Receive) -> _Answer:
        method = scope.get("method", "GET")
        raw_query = scope.get("query_string", b"")
        query = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
        body = await _read_body(receive, self.max_body)
        if body is None:
            return _Answer(413, b"request body too large")
        try:
            if isinstance(self.callback, WeComCallback):
                return await self._wecom(self.callback, method, query, body)
            return await self._dingtalk(self.callback, method, query, body)
        except AuthenticationError as exc:
            logger.warning("refused a %s callback: %s", exc.provider, exc.message)
            return _Answer(403, b"forbidden")
        except WecalError as exc:
            logger.warning("malformed callback: %s", exc)
            return _Answer(400, b"bad request")
        except Exception:
            logger.exception("the notification handler failed; the provider will retry")
            return _Answer(500, b"handler failed")

    async def _wecom(
        self, cb: WeComCallback, method: str, query: dict[str, str], body: bytes
    ) -> _Answer:
        args = (query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
        if method == "GET":
            return _Answer(200, cb.verify_url(*args, query.get("echostr", "")).encode())
        if method != "POST":
            return _Answer(405, b"method not allowed")
        try:
            note = cb.parse(*args, body)
        except UnsupportedError as exc:  # not about calendars: acknowledge, ignore
            logger.debug("ignored a WeCom event: %s", exc.feature)
            return _Answer(200, b"")
        await self.on_notification(note)
        return _Answer(200, b"")

    async def _dingtalk(
        self, cb: DingTalkCallback, method: str, query: dict[str, str], body: bytes
    ) -> _Answer:
        if method != "POST":
            return _Answer(405, b"method not allowed")
        signature = query.get("signature") or query.get("msg_signature", "")
        timestamp = query.get("timestamp") or query.get("timeStamp", "")
        try:
            note = cb.parse(signature, timestamp, query.get("nonce", ""), body)
        except UnsupportedError as exc:
            logger.debug("ignored a DingTalk event: %s", exc.feature)
            note = None
        if note is not None:
            await self.on_notification(note)
        return _Answer(200, json.dumps(cb.reply()).encode(), "application/json")


def asgi_endpoint(
    callback: WeComCallback | DingTalkCallback,
    on_notification: Handler,
    *,
    max_body: int = MAX_BODY,
) -> CallbackEndpoint:
    """
    An ASGI app for a provider's callback URL: mount it in FastAPI, Starlette,
    Quart… (``app.mount("/wecom/callback", asgi_endpoint(wecom_cb, handle))``)
    or serve it alone with uvicorn.

    - WeCom: answers the URL-verification GET with the decrypted ``echostr``;
      a POST is verified, parsed and handed to ``on_notification``, then
      answered with an empty 200.
    - DingTalk: every POST (``check_url`` included) is answered with the
      encrypted ``success``; calendar changes go to ``on_notification`` first.
    - Events that are not about calendars are acknowledged and ignored. A
      forged or stale request gets 403, a malformed one 400, a body over
      ``max_body`` bytes 413; ``on_notification`` raising gets 500 (and is
      logged), so the provider delivers again.
    """
    return CallbackEndpoint(callback, on_notification, max_body=max_body)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None past ``limit`` bytes (the rest is read and dropped)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size <= limit else None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
