"""The Starlette app: routes, plus a pure-ASGI layer for faults and recording."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import httpx

try:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # depends on the installed extras
    raise ImportError(
        "wecal.sandbox needs the 'sandbox' extra: pip install 'wecal[sandbox]'"
    ) from exc

from .._redact import secret_names
from ..providers._emulation._faults import Fault, FaultKind, qps_403_body
from ..providers._emulation._host import Emulator
from ..providers._emulation._json import json_bytes
from ..providers._registry import PROVIDERS
from ._record import RecordedRequest

if TYPE_CHECKING:
    from ._core import SandboxCore

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _emulators() -> tuple[Emulator, ...]:
    """The emulator module of every registered provider (each serves its own paths)."""
    return tuple(dict.fromkeys(e.load_emulator() for e in PROVIDERS.values()))


_EMULATORS = _emulators()


def _emulator_for(path: str, method: str) -> tuple[Emulator, str] | None:
    for module in _EMULATORS:
        api = module.api_name(path, method)
        if api is not None:
            return module, api
    return None


class _JsonAnswer(JSONResponse):
    """A JSON answer encoded by msgspec: UTF-8 Chinese as is, compact, at C speed."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def _json_bytes(data: Any) -> bytes:
    # Providers send UTF-8 Chinese as-is, not \u escapes.
    return json_bytes(data)


class _FaultLayer:
    """
    Outermost ASGI layer: buffers the request, records it, applies the fault
    chosen by ``sandbox.faults`` and passes the rest to the routes.
    """

    def __init__(self, app: ASGIApp, sandbox: SandboxCore) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _emulator_for(scope["path"], scope["method"])
        if found is None:
            await self.app(scope, receive, send)
            return
        emulator, api = found
        provider = emulator.PROVIDER
        sandbox = self.sandbox
        # When the request arrived (rates are measured on this), not when it ended.
        arrived = sandbox.clock()
        body = await _read_body(receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        token = emulator.request_token(query, headers)
        outcome: dict[str, Any] = {"status": None, "errcode": None, "code": None}

        def record(fault: Fault | None) -> None:
            try:
                payload: Any = json.loads(body) if body else None
            except ValueError:
                payload = body.decode("utf-8", "replace")
            # Every provider's secret names (each provider folder registers its own).
            secret = set(secret_names())
            app = sandbox.app_key_of(
                token, {**query, **(payload if isinstance(payload, dict) else {})}
            )
            if isinstance(payload, dict):
                payload = {k: "REDACTED" if k in secret else v for k, v in payload.items()}
            sandbox.record(
                RecordedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    query={k: "REDACTED" if k in secret else v for k, v in query.items()},
                    json=payload,
                    provider=provider,
                    api=api,
                    status=outcome["status"],
                    errcode=outcome["errcode"],
                    fault=None if fault is None else fault.kind.value,
                    at=arrived,
                    code=outcome["code"],
                    app=app,
                )
            )

        async def answer(
            status: int, data: bytes, content_type: str, extra: Mapping[str, str] | None = None
        ) -> None:
            outcome["status"] = status
            headers = [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(data)).encode()),
            ]
            headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        if api not in emulator.TOKEN_APIS:
            revoke_code = sandbox.faults._count_call()
            if revoke_code is not None:
                sandbox.revoke_all(revoke_code)
        fault = sandbox.faults._next(api, scope["path"])
        kind = None if fault is None else fault.kind
        try:
            if fault is not None and kind is FaultKind.LATENCY:
                await anyio.sleep(fault.seconds)
            elif fault is not None and kind is FaultKind.SERVER_ERROR:
                html = f"<html><body><h1>{fault.status} Server Error</h1></body></html>"
                await answer(fault.status, html.encode(), "text/html")
                return
            elif fault is not None and kind is FaultKind.QPS_403:
                data = qps_403_body(sandbox.request_hint())
                outcome["code"] = data["code"]
                await answer(403, _json_bytes(data), "application/json")
                return
            elif fault is not None and kind in _ERROR_KINDS:
                # Each emulator answers these in its API's shape.
                status, data, extra = emulator.fault_answer(sandbox, fault)
                outcome["errcode"] = data.get("errcode")
                outcome["code"] = data.get("code")
                await answer(status, _json_bytes(data), "application/json", extra)
                return
            elif fault is not None and kind is FaultKind.DROPPED:
                await _drop(send)
            elif fault is not None and kind is FaultKind.REVOKE_TOKEN and token:
                sandbox.revoke_token(token, fault.errcode or 40014)
            scope.setdefault("state", {})
            scope["state"]["sandbox_drift"] = kind is FaultKind.OFFSET_DRIFT
            # The fault itself, for an emulator that applies some kinds on its
            # own state (its own tokens, say).
            scope["state"]["sandbox_fault"] = fault
            scope["state"]["sandbox_outcome"] = outcome
            inner_send = _truncating(send) if kind is FaultKind.TRUNCATED else send
            if fault is not None and kind is FaultKind.APPLIED_ERROR:
                inner_send = _replacing(send, fault.status)

            async def tracking_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    outcome["status"] = message["status"]
                await inner_send(message)

            await self.app(scope, _replay(body), tracking_send)
        finally:
            record(fault)


_ERROR_KINDS = (FaultKind.BUSY, FaultKind.RATE_LIMITED, FaultKind.ERROR)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    for _ in range(100_000):  # bounded: ~6 GB at the usual 64 KiB chunks
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await anyio.sleep_forever()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _drop(send: Send) -> None:
    """
    Start a response and abort it. uvicorn then closes the socket mid-response
    (it cannot drop a connection before the headers without sending a 500);
    in-process, ``httpx.ASGITransport`` re-raises the exception itself — the
    same ``httpx.RemoteProtocolError`` a client sees over the network.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"1024"),
            ],
        }
    )
    raise httpx.RemoteProtocolError("Server disconnected without sending a complete response.")


def _truncating(send: Send) -> Send:
    """Buffer the response and send only the first half of its body."""
    start: Message | None = None
    parts: list[bytes] = []

    async def truncating_send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = dict(message)
            return
        parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(parts)
        cut = body[: max(1, len(body) // 2)] if len(body) > 1 else body
        assert start is not None  # ASGI sends the start first
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return truncating_send


def _replacing(send: Send, status: int) -> Send:
    """Let the request be handled (a write is applied), then answer HTTP ``status`` instead."""

    async def replacing_send(message: Message) -> None:
        if message["type"] == "http.response.start" or message.get("more_body", False):
            return
        html = f"<html><body><h1>{status} Server Error</h1></body></html>".encode()
        headers = [(b"content-type", b"text/html"), (b"content-length", str(len(html)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": html})

    return replacing_send


def create_app(sandbox: SandboxCore) -> Starlette:
    """
    The ASGI app serving ``sandbox``: every registered provider's emulator at
    its real paths (WeCom under ``/cgi-bin/...``, DingTalk legacy at
    ``/gettoken`` and ``/topapi/...``, DingTalk v1.0 under ``/v1.0/...``), and
    ``GET /_sandbox/requests`` (the request log as JSON).
    """

    def finish(request: Request, data: dict[str, Any]) -> Response:
        outcome = request.scope.get("state", {}).get("sandbox_outcome")
        if outcome is not None:
            outcome["errcode"] = data.get("errcode")
        return _JsonAnswer(data)

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    async def requests_log(request: Request) -> Response:
        with sandbox.lock:
            rows = [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": dict(r.query),
                    "json": r.json,
                    "provider": r.provider,
                    "api": r.api,
                    "status": r.status,
                    "errcode": r.errcode,
                    "fault": r.fault,
                    "at": r.at,
                    "code": r.code,
                    "app": r.app,
                }
                for r in sandbox.requests
            ]
        return JSONResponse(rows)

    routes = [
        *(route for module in _EMULATORS for route in module.routes(sandbox, finish, read_json)),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_FaultLayer, sandbox=sandbox)])
