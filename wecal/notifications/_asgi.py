"""
An ASGI app answering a provider's callbacks; mount it in any async framework.

Plain ASGI (no framework dependency): it reads the query string and the body,
lets the callback object verify and parse them, answers the handshakes itself
and awaits ``on_notification`` for each calendar notification before
answering — so a handler that fails makes the provider deliver again.

What an unauthenticated caller can cost it is bounded: the body is read up to
``max_body`` bytes and within ``body_timeout`` seconds (413 / 408 at once,
the rest never read), the signature is checked before anything but the
ciphertext is read from the envelope, and every malformed request is a 4xx
logged at WARNING without a traceback. A signed request already accepted
inside the replay window is acknowledged without reaching the handler again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import anyio

from .._callbacks._model import CallbackAnswer, Notification, ProviderCallback
from .._shared import MemoryState, SharedState
from ..errors import AuthenticationError, ValidationError, WecalError

__all__ = ["CallbackEndpoint", "asgi_endpoint"]

logger = logging.getLogger("wecal.notifications")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Notification], Awaitable[object]]

#: Larger bodies are refused (413): a callback is a few KB.
MAX_BODY = 64 * 1024
#: Seconds a request may take to send its body (then 408).
BODY_TIMEOUT = 10.0
#: Seconds ``on_notification`` may take (then 503, and the provider delivers
#: again); WeCom itself gives up on an answer after about 5 s.
HANDLER_TIMEOUT = 5.0
#: How long an accepted request is remembered; at least twice the callback's
#: ``max_age`` (a request is accepted from ``max_age`` before its timestamp
#: to ``max_age`` after it).
REPLAY_WINDOW = timedelta(minutes=10)
#: Query parameters read at most; a callback sends four.
_MAX_FIELDS = 32


class _RecentKeys:
    """
    Keys with their expiry, oldest first, at most ``max_keys`` (the oldest
    are forgotten first): the requests whose handler failed in this process.
    """

    def __init__(self, max_keys: int = 100_000, *, clock: Callable[[], float] = time.monotonic):
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._max = max_keys
        self._clock = clock

    def check_and_add(self, key: str, ttl: float) -> bool:
        """True if ``key`` was added within its ttl; else add it (for ``ttl`` s), False."""
        now = self._clock()
        keys = self._keys
        expiry = keys.pop(key, None)
        if expiry is not None and expiry > now:
            keys[key] = expiry
            return True
        keys[key] = now + ttl
        while keys and (len(keys) > self._max or next(iter(keys.values())) <= now):
            keys.popitem(last=False)
        return False

    def discard(self, key: str) -> bool:
        """Forget ``key``; True if it was recorded and not yet expired."""
        expiry = self._keys.pop(key, None)
        return expiry is not None and expiry > self._clock()


_TOO_LARGE = CallbackAnswer(413, b"request body too large", close=True)
_TOO_SLOW = CallbackAnswer(408, b"request body too slow", close=True)
_BAD = CallbackAnswer(400, b"bad request")
_FORBIDDEN = CallbackAnswer(403, b"forbidden")


class _Delivery:
    """A notification to hand over, the answer once handed, and its replay key."""

    __slots__ = ("answer", "key", "note")

    def __init__(self, note: Notification, answer: CallbackAnswer, key: str) -> None:
        self.note = note
        self.answer = answer
        self.key = key


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(f"asgi_endpoint: {name} must be a positive number, got {value!r}")
    return float(value)


class CallbackEndpoint:
    """The ASGI app :func:`asgi_endpoint` returns."""

    def __init__(
        self,
        callback: ProviderCallback,
        on_notification: Handler,
        *,
        max_body: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
        handler_timeout: float = HANDLER_TIMEOUT,
        replay_window: timedelta = REPLAY_WINDOW,
        shared: SharedState | None = None,
    ) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
            raise ValidationError(f"asgi_endpoint: max_body must be an int > 0, got {max_body!r}")
        if not isinstance(replay_window, timedelta) or replay_window <= timedelta(0):
            raise ValidationError("asgi_endpoint: replay_window must be a positive timedelta")
        if shared is not None and not callable(getattr(shared, "seen", None)):
            raise ValidationError(
                "asgi_endpoint: shared must be a wecal.SharedState (async seen(key, ttl))"
            )
        self.callback = callback
        self.on_notification = on_notification
        self.max_body = max_body
        self.body_timeout = _positive("body_timeout", body_timeout)
        self.handler_timeout = _positive("handler_timeout", handler_timeout)
        self.replay_window = replay_window
        self.shared: SharedState = shared if shared is not None else MemoryState()
        # Requests whose handler failed here: a provider's identical retry is
        # delivered again even though the store has seen it.
        self._failed = _RecentKeys(10_000)

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
        headers = [
            (b"content-type", answer.content_type.encode("latin-1")),
            (b"content-length", str(len(answer.body)).encode("latin-1")),
        ]
        if answer.close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, receive: Receive) -> CallbackAnswer:
        method = str(scope.get("method", "GET"))
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            logger.warning("refused a callback: a body of %d bytes (max_body)", declared)
            return _TOO_LARGE
        body: bytes | CallbackAnswer = _TOO_SLOW
        with anyio.move_on_after(self.body_timeout):
            body = await _read_body(receive, self.max_body)
        if isinstance(body, CallbackAnswer):
            logger.warning("refused a callback: %s", body.body.decode())
            return body
        try:
            query = _query(scope)
            outcome = self._read(method, query, body, _headers(scope))
        except AuthenticationError as exc:
            logger.warning("refused a %s callback: %s", exc.provider, exc.message)
            return _FORBIDDEN
        except WecalError as exc:
            logger.warning("malformed callback: %s", exc)
            return _BAD
        except Exception as exc:  # a request no reader foresaw is still the caller's fault
            logger.warning("malformed callback: %s", type(exc).__name__)
            return _BAD
        if isinstance(outcome, CallbackAnswer):
            return outcome
        return await self._deliver(outcome)

    def _read(
        self, method: str, query: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> CallbackAnswer | _Delivery:
        outcome = self.callback.answer(method, query, body, headers=headers)
        if isinstance(outcome, CallbackAnswer):
            return outcome
        return _Delivery(outcome.note, outcome.answer, _replay_key(outcome.note, outcome.signature))

    async def _deliver(self, delivery: _Delivery) -> CallbackAnswer:
        ttl = self.replay_window.total_seconds()
        if await self.shared.seen(delivery.key, ttl) and not self._failed.discard(delivery.key):
            logger.info("acknowledged a %s callback already accepted", delivery.note.provider)
            return delivery.answer
        failed = True
        try:
            with anyio.move_on_after(self.handler_timeout):
                await self.on_notification(delivery.note)
                failed = False
            if failed:
                logger.warning(
                    "the notification handler took over %gs; the provider will retry",
                    self.handler_timeout,
                )
                return CallbackAnswer(503, b"handler timed out")
        except Exception:
            logger.exception("the notification handler failed; the provider will retry")
            return CallbackAnswer(500, b"handler failed")
        finally:
            if failed:
                self._failed.check_and_add(delivery.key, ttl)
        return delivery.answer


def _replay_key(note: Notification, signature: str) -> str:
    # The verified signature covers the timestamp, the nonce and the
    # ciphertext: it names this request, so a replay of it has the same key,
    # while a provider's fresh delivery (new nonce) does not.
    return f"wecal:callback:{note.provider}:{signature.strip().lower()}"


def asgi_endpoint(
    callback: ProviderCallback,
    on_notification: Handler,
    *,
    max_body: int = MAX_BODY,
    body_timeout: float = BODY_TIMEOUT,
    handler_timeout: float = HANDLER_TIMEOUT,
    replay_window: timedelta = REPLAY_WINDOW,
    shared: SharedState | None = None,
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
      ``max_body`` bytes 413 (at once, the rest unread), a body not received
      within ``body_timeout`` seconds 408; ``on_notification`` raising gets
      500 (and is logged), taking over ``handler_timeout`` seconds 503, so the
      provider delivers again.
    - A request already accepted within ``replay_window`` (a replay, or a
      provider's duplicate delivery) is acknowledged without calling
      ``on_notification`` again. ``shared`` (a :class:`wecal.SharedState`;
      only its ``seen(key, ttl)`` is used) remembers the accepted requests:
      the default :class:`wecal.MemoryState` serves this process; give every
      replica behind one callback URL the same ``wecal.redis.RedisBackend``
      so a replay is caught whichever replica it reaches.
    """
    return CallbackEndpoint(
        callback,
        on_notification,
        max_body=max_body,
        body_timeout=body_timeout,
        handler_timeout=handler_timeout,
        replay_window=replay_window,
        shared=shared,
    )


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names in lower case (the last of a repeated one wins)."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if isinstance(name, bytes) and isinstance(value, bytes):
            found[name.decode("latin-1").lower()] = value.decode("latin-1")
    return found


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    if not isinstance(raw, bytes):
        raise ValidationError("query string is not bytes")
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise ValidationError("query string is not UTF-8") from None
    except ValueError:
        raise ValidationError(f"query string has over {_MAX_FIELDS} fields") from None
    return dict(pairs)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() and len(value) < 20 else None
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | CallbackAnswer:
    """The request body, or 413 as soon as it passes ``limit`` bytes (the rest unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return CallbackAnswer(400, b"request body incomplete", close=True)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
