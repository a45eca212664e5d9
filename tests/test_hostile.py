"""
Hostile servers, shared clients, cancellation (issue 13): every behaviour ends
in bounded requests, bytes and time with a WecalError, on asyncio and trio.

Bounds are asserted by counting (requests the server saw, bytes it sent);
seconds only as a generous upper bound where a timing behaviour is the point.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import wecal
from tests._mock import no_secret_in_logs
from tests.hostile import (
    CORP_ID,
    DING_KEY,
    DING_LIST,
    DING_SECRET,
    GET,
    LIST,
    SECRET,
    Hostile,
    ding_client,
    served,
    wecom_client,
)
from tests.test_no_secrets import all_text
from wecal._tokens import StoredToken
from wecal.errors import _register_secret, redact
from wecal.paging import NO_PROGRESS_PAGES

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 6, 1, tzinfo=UTC)
T1 = datetime(2024, 7, 1, tzinfo=UTC)
TOKEN = "/cgi-bin/gettoken"


def resumes_at(cursor: str | None) -> dict[str, Any]:
    """The position and count a cursor names (decoded here, independently)."""
    assert cursor is not None
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


async def collect(listing: wecal.Paginator[wecal.Event], into: list[str]) -> None:
    """Iterate ``listing``, appending each event's id to ``into``."""
    async for event in listing:
        into.append(event.id)


# -- never loop, never grow without bound ----------------------------------


async def test_server_ignoring_offset_with_every_event_filtered_out() -> None:
    server = Hostile("ignore_offset", page=5)
    got: list[str] = []
    async with wecom_client(server) as wecom:
        with pytest.raises(wecal.ResponseFormatError, match="no progress") as info:
            await collect(wecom.list_events("cal", start=T0, end=T1, page_size=5), got)
    assert got == []
    # The first page is new; then NO_PROGRESS_PAGES pages of the same ids.
    assert server.requests[LIST] == 1 + NO_PROGRESS_PAGES
    assert resumes_at(info.value.cursor)["p"] == 5 * NO_PROGRESS_PAGES


async def test_server_inserting_one_item_per_page_and_ignoring_offset() -> None:
    server = Hostile("insert_front", items=20)
    got: list[str] = []
    async with wecom_client(server) as wecom:
        with pytest.raises(wecal.ResponseFormatError, match="no progress") as info:
            await collect(wecom.list_events("cal", page_size=5), got)
    assert server.requests[LIST] == 1 + NO_PROGRESS_PAGES
    assert len(got) == len(set(got)), "an item was yielded twice"
    assert info.value.cursor is not None


@pytest.mark.parametrize("mode", ["fresh_token_empty", "fresh_token_same"])
async def test_fresh_page_token_with_every_empty_or_identical_page(mode: str) -> None:
    server = Hostile(mode)
    got: list[str] = []
    async with ding_client(server) as ding:
        with pytest.raises(wecal.ResponseFormatError, match="no progress") as info:
            await collect(ding.list_events(user_id="u1"), got)
    first_is_progress = mode == "fresh_token_same"
    assert server.requests[DING_LIST] == NO_PROGRESS_PAGES + first_is_progress
    assert got == (["e1", "e2"] if first_is_progress else [])
    assert info.value.cursor is not None


async def test_page_tokens_do_not_grow_without_bound() -> None:
    server = Hostile("long_page_token")
    got: list[str] = []
    async with ding_client(server) as ding:
        with pytest.raises(wecal.ResponseFormatError, match="page token") as info:
            await collect(ding.list_events(user_id="u1"), got)
    assert server.requests[DING_LIST] == 1
    assert got == []
    assert len(info.value.cursor or "") < 200


@pytest.mark.parametrize(("mode", "requests"), [("trickle", (1, 1)), ("trickle_token", (1, 0))])
async def test_trickled_answer_is_bounded_by_the_deadline(
    mode: str, requests: tuple[int, int]
) -> None:
    # 36 bytes at one per 0.4 s would take 14 s; httpx's per-read timeout
    # never fires. The retry deadline bounds the whole request — and the
    # wait for a token whose answer trickles.
    server = Hostile(mode, interval=0.4)
    with served(server) as url:
        began = time.monotonic()
        async with wecom_client(
            url, timeout=1, retry=wecal.RetryConfig(max_attempts=3, deadline=1.5)
        ) as wecom:
            with pytest.raises(wecal.TransportError, match="deadline"):
                await wecom.get_events(["s000"])
        elapsed = time.monotonic() - began
    # Not retried past the deadline; with a trickled token, nothing else sent.
    assert (server.requests[TOKEN], server.requests[GET]) == requests
    assert server.streamed < 36
    assert elapsed < 10  # generous: a 1.5 s deadline (26 s before the fix)


async def test_endless_body_stops_at_max_response_bytes() -> None:
    server = Hostile("endless")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    with served(server) as url:
        async with wecom_client(url, max_response_bytes=1_000_000) as wecom:
            with pytest.raises(wecal.ResponseFormatError, match="max_response_bytes"):
                await wecom.get_events(["s000"])
    assert server.requests["/cgi-bin/oa/schedule/get"] == 1  # not retried
    # Read up to the limit; the server got a little further into the socket buffers.
    assert server.streamed < 64_000_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000


async def test_declared_huge_body_is_not_read() -> None:
    server = Hostile("declared_huge")
    with served(server) as url:
        async with wecom_client(url, max_response_bytes=1_000_000) as wecom:
            with pytest.raises(wecal.ResponseFormatError, match="max_response_bytes"):
                await wecom.get_events(["s000"])
    assert server.requests["/cgi-bin/oa/schedule/get"] == 1


def test_max_response_bytes_must_be_a_positive_int() -> None:
    for bad in (0, -1, 1.5, True, "64MB"):
        with pytest.raises(wecal.ValidationError, match="max_response_bytes"):
            wecal.WeComClient(CORP_ID, SECRET, max_response_bytes=bad)


@pytest.mark.parametrize(
    "mode",
    ["deep_json", "deep_field", "errcode_superscript", "errcode_digits", "errcode_digits_str"],
)
async def test_hostile_json_is_a_response_format_error(mode: str) -> None:
    server = Hostile(mode)
    async with wecom_client(server) as wecom:
        with pytest.raises(wecal.ResponseFormatError):
            async for _ in wecom.list_events("cal"):
                pass
    assert server.requests[LIST] <= 2  # max_attempts


# -- one task's trouble stays its own --------------------------------------


async def test_callers_sharing_a_failed_token_fetch_get_their_own_error() -> None:
    server = Hostile("token_fail", delay=0.05)
    errors: dict[str, wecal.WecalError] = {}
    async with wecom_client(server) as wecom:

        async def listing(cal: str) -> None:
            try:
                async for _ in wecom.list_events(cal):
                    pass
            except wecal.WecalError as exc:
                errors[cal] = exc

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(listing, f"cal{i}")
        assert server.requests[TOKEN] == 1  # one fetch, shared
        assert len({id(e) for e in errors.values()}) == 5
        for cal, exc in errors.items():
            assert isinstance(exc, wecal.ProviderError)
            assert exc.code == 40013
            # Each cursor belongs to its own listing: resuming with it is accepted.
            wecom.list_events(cal).by_page(cursor=exc.cursor)
            for other in errors:
                if other != cal:
                    with pytest.raises(wecal.ValidationError, match="another listing"):
                        wecom.list_events(other).by_page(cursor=exc.cursor)


async def test_waiter_retries_when_the_fetch_it_waited_for_was_cancelled() -> None:
    server = Hostile("token_plan", delay=0.2)
    server.token_plan = ["fail", "slow"]
    async with wecom_client(server) as wecom:
        with pytest.raises(wecal.ProviderError, match="40013"):
            await wecom.get_events(["s000"])  # a failed fetch is on record
        result: dict[str, Any] = {}

        async def first(scope: anyio.CancelScope) -> None:
            with scope:
                await wecom.get_events(["s000"])

        async def second() -> None:
            try:
                result["events"] = await wecom.get_events(["s000"])
            except wecal.WecalError as exc:
                result["error"] = exc

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(first, scope)
            await anyio.wait_all_tasks_blocked()  # the first caller's fetch is under way
            assert server.requests[TOKEN] == 2
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()  # the second one waits for it
            scope.cancel()
    assert "error" not in result, result.get("error")
    assert [e.id for e in result["events"]] == ["s000"]
    assert server.requests[TOKEN] == 3  # failed, cancelled, fetched again by the waiter


@pytest.mark.parametrize("mode", ["token_long", "token_int"])
async def test_unusable_token_is_not_cached(mode: str) -> None:
    server = Hostile(mode)
    store = wecal.MemoryTokenStore()
    async with wecom_client(server, token_store=store) as wecom:
        for _ in range(2):
            with pytest.raises(wecal.ResponseFormatError, match="token"):
                await wecom.get_events(["s000"])
    assert server.requests[TOKEN] == 2  # fetched again: nothing was cached
    assert repr(store) == "MemoryTokenStore(<0 tokens>)"
    assert server.requests["/cgi-bin/oa/schedule/get"] == 0


class RaisingStore(wecal.MemoryTokenStore):
    async def get(self, key: str) -> StoredToken | None:
        raise KeyError(f"redis down, key {key}")


class WrongTypeStore(wecal.MemoryTokenStore):
    async def get(self, key: str) -> StoredToken | None:
        return "a token"  # type: ignore[return-value]


class HangingStore(wecal.MemoryTokenStore):
    async def get(self, key: str) -> StoredToken | None:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("store", "match"),
    [
        (RaisingStore(), "failed: KeyError"),
        (WrongTypeStore(), "returned str"),
        (HangingStore(), "did not answer within 0.2s"),
    ],
)
async def test_broken_token_store_gives_a_wecal_error(
    store: wecal.MemoryTokenStore, match: str
) -> None:
    server = Hostile("slow")
    async with wecom_client(server, token_store=store) as wecom:
        wecom._http.tokens.store_timeout = 0.2
        with anyio.fail_after(10), pytest.raises(wecal.WecalError, match=match) as info:
            await wecom.get_events(["s000"])
    assert type(info.value) is wecal.WecalError
    assert info.value.__cause__ is None
    assert SECRET not in str(info.value)
    assert server.requests["/cgi-bin/oa/schedule/get"] == 0


class Signalling(httpx.AsyncHTTPTransport):
    """A real HTTP transport that sets ``sent`` when the ``n``-th listing request goes out."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.sent = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == LIST:
            self.n -= 1
            if self.n == 0:
                self.sent.set()
        return await super().handle_async_request(request)


async def test_aclose_during_a_listing_ends_it_with_client_closed() -> None:
    server = Hostile("slow", items=20, delay=0.3)
    got: list[str] = []
    transport = Signalling(2)
    with served(server) as url:
        wecom = wecom_client(url, transport=transport)
        errors: list[BaseException] = []

        async def listing() -> None:
            try:
                async for event in wecom.list_events("cal", page_size=5):
                    got.append(event.id)
            except wecal.WecalError as exc:
                errors.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(listing)
                await transport.sent.wait()  # the second page is in flight
                await wecom.aclose()
        assert [type(e) for e in errors] == [wecal.ClientClosedError]
        assert resumes_at(errors[0].cursor)["p"] == 5
        assert got == [f"s{i:03d}" for i in range(5)]
        assert wecom._http._client is None  # no new httpx client behind the user's back
        assert transport.n == 0  # the second page was the last request sent
        assert server.requests[LIST] <= 2
    gc.collect()  # an unclosed socket would warn here (warnings are errors)


async def test_cancellation_storm_leaves_the_pool_usable() -> None:
    # httpcore's pool keeps a slot forever when a request is cancelled just
    # after the pool gave it a new connection (encode/httpcore#1093); with
    # max_connections=2 two such slots hang every later request. Listings are
    # cancelled at 0 to 4 ms, while tokens, connections and pages are in flight.
    server = Hostile("slow", items=4, delay=0.02)
    with served(server) as url:
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(limits=limits, timeout=5) as http:
            wecom = wecom_client(url, http_client=http)

            async def listing() -> None:
                async for _ in wecom.list_events("cal", page_size=1):
                    pass

            for round_ in range(120):
                with anyio.move_on_after(0.0005 * (round_ % 9)):
                    async with anyio.create_task_group() as tg:
                        for _ in range(4):
                            tg.start_soon(listing)
            # No slot is held by a connection that never connected.
            pool = http._transport._pool  # type: ignore[attr-defined]
            assert not [c for c in pool.connections if "CONNECTING" in repr(c)], pool.connections
            with anyio.fail_after(10):  # hung > 15 s before
                ids = [event.id async for event in wecom.list_events("cal", page_size=1)]
            assert ids == [f"s{i:03d}" for i in range(4)]
            await wecom.aclose()


async def test_paginator_left_early_leaves_nothing_to_finalize() -> None:
    server = Hostile("slow", items=10)
    async with wecom_client(server) as wecom:
        for _ in range(3):
            async for _event in wecom.list_events("cal", page_size=2):
                break
        gc.collect()  # an unfinalized async generator warns here (warnings are errors)
        await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize("second", ["asyncio", "trio"])
@pytest.mark.parametrize("first", ["asyncio", "trio"])
def test_one_client_in_two_event_loops_is_a_clear_error(first: str, second: str) -> None:
    server = Hostile("slow")
    wecom = wecom_client(server)

    async def use() -> None:
        await wecom.get_events(["s000"])

    anyio.run(use, backend=first)
    with pytest.raises(wecal.WecalError, match="another event loop"):
        anyio.run(use, backend=second)
    anyio.run(wecom.aclose, backend=second)


# -- secrets stay secret ----------------------------------------------------


def leaked(
    secrets: list[str], *errors: BaseException, records: list[logging.LogRecord] = ()
) -> list[str]:
    """The secrets in what a user could see of ``errors`` (text, attributes) and ``records``."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [f"{all_text(e)}\n{vars(e)}" for e in errors] + [formatter.format(r) for r in records]
    return [secret for secret in secrets for text in texts if secret in text]


def test_base_url_credentials_are_refused_and_masked() -> None:
    with pytest.raises(wecal.ValidationError, match="credentials") as info:
        wecal.WeComClient(CORP_ID, SECRET, base_url="https://admin:pw-Zq81kd@qyapi.example.com/")
    assert "pw-Zq81kd" not in str(info.value) + repr(info.value)
    assert "admin" not in str(info.value)


async def test_server_echoing_secrets_reaches_no_error_and_no_log_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = Hostile("echo")
    with served(server) as url:
        async with wecom_client(url) as wecom:
            with pytest.raises(wecal.ProviderError) as info:
                await wecom.get_events(["s000"])
            listing: list[str] = []
            with pytest.raises(wecal.ProviderError) as during_listing:
                await collect(wecom.list_events("cal", page_size=5), listing)
    assert server.tokens, "the server issued tokens"
    errors = (info.value, during_listing.value)
    assert not leaked([SECRET, *server.tokens], *errors, records=caplog.records)
    for exc in errors:
        assert exc.request_id is not None
        assert "***" in exc.request_id  # echoed, then masked
    # httpcore's child loggers logged the echoed header (DEBUG), masked.
    echoed = [r for r in caplog.records if "x-echo-token" in r.getMessage()]
    assert echoed
    assert {r.name for r in echoed} == {"httpcore.http11"}


async def test_v1_server_echoing_the_header_token_in_code_message_and_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = Hostile("echo")
    with served(server) as url:
        async with wecal.DingTalkClient(
            DING_KEY, DING_SECRET, base_url=url, token_store=wecal.MemoryTokenStore()
        ) as ding:
            with pytest.raises(wecal.ProviderError) as info:
                await ding.get_calendars(user_id="union-1")
    assert server.tokens
    assert not leaked([DING_SECRET, *server.tokens], info.value, records=caplog.records)
    assert info.value.http_status == 400
    assert any("x-echo-token" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--calendar", "cal", "-o", "out.jsonl", "--checkpoint", "out.ckpt"],
        ["events", "list", "--calendar", "cal"],
    ],
)
def test_cli_against_a_server_echoing_secrets(tmp_path: Path, command: list[str]) -> None:
    server = Hostile("echo")
    with served(server) as url:
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("wecal")),
                *command,
                "--provider",
                "wecom",
                "--base-url",
                url,
            ],
            cwd=tmp_path,
            env={**os.environ, "WECAL_WECOM_CORP_ID": CORP_ID, "WECAL_WECOM_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode != 0  # the echoed error ends it
    assert "60020" in done.stderr + done.stdout
    files = {p.name: p.read_text(errors="replace") for p in tmp_path.iterdir() if p.is_file()}
    if command[0] == "export":
        assert "s000" in files["out.jsonl"]  # the first page was written
        assert "out.ckpt" in files
    secrets = [SECRET, *server.tokens]
    assert server.tokens
    for name, text in {"stdout": done.stdout, "stderr": done.stderr, **files}.items():
        assert not [s for s in secrets if s in text], f"secret in {name}: {text[:500]}"


def test_proxy_password_is_masked_like_a_secret() -> None:
    wecal.WeComClient(CORP_ID, SECRET, proxy="http://me:proxy-pw-Hk29xq@proxy.example:3128")
    text = str(wecal.TransportError("CONNECT via http://me:proxy-pw-Hk29xq@proxy.example failed"))
    assert "proxy-pw-Hk29xq" not in text
    assert "***" in text


def test_app_secret_stays_masked_after_many_tokens() -> None:
    wecal.WeComClient(CORP_ID, "app-secret-Qm4Zt81-long-lived")
    for i in range(500):  # a long-running process: a token every two hours per app
        _register_secret(f"rotated-token-{i:04d}", kind="token")
    text = redact("echo app-secret-Qm4Zt81-long-lived and rotated-token-0499")
    assert text == "echo *** and ***"
