"""
Hostile callers of every registered callback (``ProviderEntry.callback``),
through :func:`wecal.notifications.asgi_endpoint`: parametrized over the
registry, so a provider added to it is tried here without an edit.

Nobody here holds the callback's secrets: every request is forged — bodies
that are not the provider's (not JSON or XML, the wrong top-level type,
nested deep, not UTF-8), signatures and timestamps that are garbage, stale
or from the future, a wrong content type, a method the URL does not take, a
body over ``max_body``, a body that stops arriving. Each gets a 4xx (a body
never read beyond ``max_body``, a stalled one ended by ``body_timeout``),
the handler is never called, and neither the answer nor a log record holds
the token or the key.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlencode

import anyio
import pytest

from tests._mock import ISSUED_TOKENS, no_secret_in_logs
from tests.test_notifications import Asgi
from wecal.notifications import Notification, asgi_endpoint
from wecal.providers._registry import PROVIDERS

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio

TOKEN = "hostile-callback-token-Qz81"
#: A 43-character key (WeCom's and DingTalk's EncodingAESKey form; any text for Feishu).
AES_KEY = base64.b64encode(b"hostile-callback-aes-key-0123456").decode().rstrip("=")
APP_ID = "hostile-app-id"
MAX_BODY = 4096

#: Forged bodies: (name, bytes).
BODIES = {
    "empty": b"",
    "not json": b"<html>hello</html>",
    "json list": b"[1, 2, 3]",
    "json string": b'"encrypt"',
    "json null": b"null",
    "deep json": b'{"encrypt": ' + b"[" * 50_00 + b"]" * 50_00 + b"}",
    "deep xml": b"<xml>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</xml>",
    "encrypt number": b'{"encrypt": 18446744073709551617}',
    "encrypt garbage": b'{"encrypt": "%%%not base64%%%"}',
    "encrypt random": json.dumps({"encrypt": base64.b64encode(bytes(range(48))).decode()}).encode(),
    "xml encrypt random": (
        b"<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA["
        + base64.b64encode(bytes(range(64)))
        + b"]]></Encrypt></xml>"
    ),
    "not utf-8": b'{"encrypt": "\xff\xfe\xc3("}',
    "challenge": json.dumps(
        {"type": "url_verification", "token": "wrong", "challenge": "c"}
    ).encode(),
    "event v2": json.dumps(
        {"schema": "2.0", "header": {"event_id": "e1", "token": "wrong"}, "event": {}}
    ).encode(),
}

#: Forged signing: (query, headers).
SIGNING: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "none": ({}, {}),
    "garbage": (
        {"msg_signature": "x", "signature": "x", "timestamp": "soon", "nonce": "\ud7ff"},
        {"x-lark-signature": "x", "x-lark-request-timestamp": "soon", "x-lark-request-nonce": "n"},
    ),
    "stale": (
        {"msg_signature": "0" * 40, "signature": "0" * 28, "timestamp": "1", "nonce": "n"},
        {
            "x-lark-signature": "0" * 64,
            "x-lark-request-timestamp": "1",
            "x-lark-request-nonce": "n",
        },
    ),
    "future": (
        {"msg_signature": "0" * 40, "signature": "0" * 28, "timestamp": "9" * 15, "nonce": "n"},
        {
            "x-lark-signature": "0" * 64,
            "x-lark-request-timestamp": "9" * 15,
            "x-lark-request-nonce": "n",
        },
    ),
    "huge": (
        {"msg_signature": "a" * 5000, "signature": "a" * 5000, "timestamp": "9" * 5000},
        {"x-lark-signature": "a" * 5000, "x-lark-request-timestamp": "-" + "9" * 5000},
    ),
}

CONTENT_TYPES = [b"application/json", b"text/xml", b"text/html", b"multipart/form-data", b""]


class Handler:
    def __init__(self) -> None:
        self.calls: list[Notification] = []

    async def __call__(self, note: Notification) -> None:
        self.calls.append(note)


def make_endpoint(provider: str, *, body_timeout: float) -> tuple[Asgi, Handler]:
    for secret in (TOKEN, AES_KEY):
        if secret not in ISSUED_TOKENS:
            ISSUED_TOKENS.append(secret)
    callback = PROVIDERS[provider].load_callback()(TOKEN, AES_KEY, APP_ID)
    handler = Handler()
    app = asgi_endpoint(callback, handler, max_body=MAX_BODY, body_timeout=body_timeout)
    return Asgi(app), handler


@pytest.fixture(params=list(PROVIDERS))
def endpoint(request: pytest.FixtureRequest) -> tuple[Asgi, Handler]:
    # A body that does come is never cut short on a loaded machine.
    return make_endpoint(request.param, body_timeout=0.5)


def clean(status: int, body: bytes, headers: dict[bytes, bytes]) -> None:
    assert 400 <= status < 500, (status, body[:200])
    shown = body + b"".join(k + v for k, v in headers.items())
    for secret in (TOKEN, AES_KEY):
        assert secret.encode() not in shown


async def test_forged_requests_are_4xx_and_reach_no_handler(
    endpoint: tuple[Asgi, Handler], caplog: pytest.LogCaptureFixture
) -> None:
    asgi, handler = endpoint
    for name, body in BODIES.items():
        for signing, (query, headers) in SIGNING.items():
            for kind in CONTENT_TYPES[:: 1 if signing == "none" else 4]:
                raw = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in headers.items()]
                if kind:
                    raw.append((b"content-type", kind))
                q = urlencode(query, encoding="utf-8", errors="surrogatepass").encode()
                with anyio.fail_after(10):
                    status, answer, sent = await asgi.call(q, [body], headers=raw)
                clean(status, answer, sent)
                assert handler.calls == [], (name, signing)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_with_forged_queries_are_4xx(
    endpoint: tuple[Asgi, Handler], method: str
) -> None:
    asgi, handler = endpoint
    for query, _ in SIGNING.values():
        q = urlencode({**query, "echostr": "abc"}, errors="surrogatepass").encode()
        status, answer, sent = await asgi.call(q, [b"{}"], method=method)
        clean(status, answer, sent)
    assert handler.calls == []


async def test_an_oversized_body_is_413_and_left_unread(endpoint: tuple[Asgi, Handler]) -> None:
    asgi, handler = endpoint
    declared = [(b"content-length", str(10 * MAX_BODY).encode())]
    status, _, _ = await asgi.call(b"", [b"{" * 1024] * 100, headers=declared)
    assert status == 413
    assert asgi.received <= 1, "the body was read although its length was too large"
    status, _, _ = await asgi.call(b"", [b" " * 1024] * 100)
    assert status == 413
    assert asgi.received <= MAX_BODY // 1024 + 2
    assert handler.calls == []


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_a_stalled_body_ends_at_the_body_timeout(provider: str) -> None:
    # Nothing follows the first bytes, ever: the timeout ends it however short
    # it is (the endpoint's 0.5 s made each case wait half a second).
    asgi, handler = make_endpoint(provider, body_timeout=0.05)
    with anyio.fail_after(10):
        status, _, _ = await asgi.call(b"", [b'{"encrypt": "', None])
    assert status == 408
    assert handler.calls == []
