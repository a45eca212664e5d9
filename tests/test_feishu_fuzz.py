"""
Malformed Feishu payloads through the real client: stored events mutated in the
emulator (so it serves them), and whole answers replaced by mutated JSON or
raw bytes. Only ``WecalError`` subclasses come out, never a hang, never the
secret or a token.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

import wecal
from tests.sandbox_fixtures import NOW
from tests.test_clients_fuzz import BACKENDS, ONCE, check, mutated, outcome
from wecal.providers.feishu._emulator import CREDENTIALS, feishu, populate
from wecal.sandbox import FakeClock, Sandbox


def _sandbox() -> tuple[Sandbox, str, dict[str, dict[str, Any]]]:
    sb = Sandbox(seed=9, clock=FakeClock(NOW))
    (cal,) = populate(sb, seed=9, sources=1, size=8)
    return sb, cal, copy.deepcopy(feishu(sb).events[cal])


def _client(sb: Sandbox, transport: httpx.AsyncBaseTransport) -> wecal.FeishuClient:
    return wecal.FeishuClient(
        *CREDENTIALS,
        base_url="http://sandbox",
        transport=transport,
        token_store=wecal.MemoryTokenStore(),
        retry=ONCE,
        rate_limit=False,
    )


@BACKENDS
@settings(max_examples=60)
@given(data=st.data())
def test_malformed_stored_events(backend: str, data: st.DataObject) -> None:
    sb, cal, pristine = _sandbox()
    events = feishu(sb).events[cal]
    victim = data.draw(st.sampled_from(sorted(pristine)))
    # What the emulator itself reads to list and expand is spared: mutating it
    # fuzzes the emulator, not the client.
    keep = ("event_id", "start_time", "end_time", "recurrence", "status")
    events[victim] = data.draw(mutated(pristine[victim], keep=keep))
    expand = data.draw(st.booleans())
    lo = sb.clock() - 8 * 86_400

    async def run() -> None:
        start = datetime.fromtimestamp(lo, UTC)
        async with _client(sb, httpx.ASGITransport(app=sb.app, raise_app_exceptions=False)) as c:
            pager = c.list_events(cal, start=start, end=start + timedelta(days=30), expand=expand)
            assert all(isinstance(e, wecal.Event) for e in [e async for e in pager])
            await c.get_event(victim, calendar_id=cal)
            [ch async for ch in c.sync_events(cal)]

    exc = anyio.run(outcome, run, backend=backend)
    check(exc, [CREDENTIALS[1], *feishu(sb)._tokens])


@BACKENDS
@settings(max_examples=60)
@given(data=st.data())
def test_malformed_answers_and_bytes(backend: str, data: st.DataObject) -> None:
    sb, cal, _ = _sandbox()
    inner = httpx.ASGITransport(app=sb.app, raise_app_exceptions=False)
    target = data.draw(st.sampled_from(["instance_view", "/events", "primary", "token"]))
    raw = data.draw(st.booleans())

    class Mangling(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            answer = await inner.handle_async_request(request)
            body = await answer.aread()
            if target not in request.url.path:
                return httpx.Response(answer.status_code, headers=answer.headers, content=body)
            if raw:
                content = data.draw(st.binary(max_size=64))
            else:
                content = json.dumps(data.draw(mutated(json.loads(body)))).encode()
            headers = {"content-type": "application/json"}
            return httpx.Response(answer.status_code, headers=headers, content=content)

    async def run() -> None:
        start = datetime.fromtimestamp(sb.clock(), UTC)
        async with _client(sb, Mangling()) as c:
            await c.get_primary_calendar()
            [
                e
                async for e in c.list_events(
                    cal, start=start, end=start + timedelta(days=9), expand=True
                )
            ]
            [e async for e in c.list_events(cal, page_size=50)]

    exc = anyio.run(outcome, run, backend=backend)
    check(exc, [CREDENTIALS[1], *feishu(sb)._tokens])
