"""
The transport's answers to a server asking too much, and to a wrong setup:

- ``Retry-After`` (seconds or an HTTP date) and provider block times are
  capped by ``RetryConfig(max_retry_after=…)`` (default 5 min), even with
  ``deadline=None``: a longer wait is raised at once as ``RateLimitError``
  with ``retry_after``, never slept.
- text that is not valid Unicode (a lone surrogate, as bytes that are not
  UTF-8 become in ``sys.argv``) is a ``ValidationError`` before anything is
  sent, in the library, and one line (exit 2) in the CLI;
- a base URL that is wrong — its host does not resolve, or what answers is
  not the provider (an HTML 404 at the token path, a base URL with a path) —
  is a ``ConfigurationError``, tried once, not a ``NotFoundError`` nor a
  "temporary" ``TransportError``.
"""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, ok, wecom_error
from tests.sandbox_fixtures import client_on
from tests.test_cli_scenarios import wecal as run_wecal
from wecal._http import HttpCore
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.wecom._errors import WECOM
from wecal.sandbox import Sandbox, generate

pytestmark = pytest.mark.anyio

NO_DEADLINE = wecal.RetryConfig(max_attempts=4, deadline=None)


def _429(retry_after: str, status: int = 429) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"retry-after": retry_after},
        json={"code": "Throttled", "message": "slow down", "requestid": "r1"},
    )


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("seconds", [86_400, 301, 10**9])
async def test_a_long_retry_after_is_raised_not_slept(status: int, seconds: int) -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", _429(str(seconds), status), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == seconds
    assert info.value.http_status == status
    assert "max_retry_after" in str(info.value)
    assert clock.sleeps == []
    assert len(fake.business_requests()) == 1


async def test_retry_after_as_an_http_date() -> None:
    fake = FakeProvider(DINGTALK_V1)
    later = email.utils.formatdate(time.time() + 7200, usegmt=True)
    fake.script("/x", _429(later))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after is not None
    assert 7000 < info.value.retry_after <= 7200
    assert clock.sleeps == []


async def test_a_short_retry_after_is_waited_out() -> None:
    fake = FakeProvider(DINGTALK_V1)
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.script("/x", _429("12"), _429(soon), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=NO_DEADLINE)
    assert await core.call("x", "GET", "/x") == {"v": 1}
    assert clock.sleeps[0] == 12
    assert 25 < clock.sleeps[1] <= 30


async def test_the_cap_is_configurable_and_can_be_lifted() -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", _429("600"), ok({"v": 1}))
    clock = FakeClock()
    core = make_core(
        fake, clock=clock, retry=wecal.RetryConfig(deadline=None, max_retry_after=None)
    )
    assert await core.call("x", "GET", "/x") == {"v": 1}
    assert clock.sleeps == [600]

    fake.script("/x", _429("20"))
    core = make_core(fake, clock=FakeClock(), retry=wecal.RetryConfig(max_retry_after=15))
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == 20


async def test_a_provider_block_over_the_cap_is_raised_for_every_task() -> None:
    # WeCom 45009 blocks the app for 60 s; with max_retry_after=30 nobody sleeps it.
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(45009, "api freq out of limit"), ok({"errcode": 0}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=wecal.RetryConfig(deadline=None, max_retry_after=30))
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.retry_after == 60
    assert info.value.code == 45009
    # The next call of the same client meets the client-wide pause: raised too.
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.retry_after == 60
    assert clock.sleeps == []


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_max_retry_after_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(wecal.ValidationError, match="max_retry_after"):
        wecal.RetryConfig(max_retry_after=bad)  # type: ignore[arg-type]


# -- text that is not valid Unicode -------------------------------------------------

BAD = "cal\udcff"  # what the bytes b"cal\xff" become in sys.argv or os.fsdecode


def _calls(sandbox: Sandbox) -> list[str | None]:
    return [r.api for r in sandbox.requests if not (r.api or "").endswith(("gettoken", "Token"))]


async def test_surrogates_are_validation_errors_before_anything_is_sent(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=1, wecom_calendars=1, schedules_per_calendar=2)
    cal = summary.wecom_calendars[0]
    t0 = datetime(2024, 6, 3, tzinfo=UTC)
    attempts: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    async with (
        client_on(sandbox, wecal.WeComClient) as wecom,
        client_on(sandbox, wecal.DingTalkClient) as ding,
        client_on(sandbox, wecal.DingTalkLegacyClient) as legacy,
    ):
        event = wecal.Event(
            provider=wecal.Provider.WECOM, id="", start=t0, end=t0 + timedelta(hours=1)
        )
        attempts = [
            ("calendar_id", lambda: _first(wecom.list_events(BAD))),
            ("ids[0]", lambda: wecom.get_events([BAD])),
            ("calendar_id", lambda: _first(wecom.sync_events(BAD))),
            (
                "summary",
                lambda: wecom.create_event(attrs.evolve(event, summary=BAD), calendar_id=cal),
            ),
            ("user_id", lambda: _first(ding.list_events(user_id=BAD))),
            ("event_id", lambda: ding.get_event(BAD, user_id="u1")),
            ("userid", lambda: ding.resolve_union_id(BAD)),
            ("user_id", lambda: _first(legacy.list_events(user_id=BAD))),
            ("calendar_id", lambda: _first(legacy.list_events(BAD, user_id="u1"))),
        ]
        for what, attempt in attempts:
            with pytest.raises(wecal.ValidationError, match="not valid Unicode") as info:
                await attempt()
            assert what in str(info.value)
            assert "\\udcff" in str(info.value)  # shown escaped: printable anywhere
            str(info.value).encode("utf-8")
    assert _calls(sandbox) == []


async def _first(stream: AsyncIterable[object]) -> object:
    async for item in stream:
        return item
    return None


@pytest.mark.parametrize("field", ["corp_id", "corp_secret"])
def test_credentials_that_are_not_text_are_refused_without_showing_them(field: str) -> None:
    secret = "s3cr3t\udcff-value"
    args = {"corp_id": "ww1", "corp_secret": "secret-value-1"} | {field: secret}
    with pytest.raises(wecal.ValidationError, match=field) as info:
        wecal.WeComClient(args["corp_id"], args["corp_secret"])
    assert "s3cr3t" not in str(info.value)


def test_a_base_url_that_is_not_text_is_refused() -> None:
    with pytest.raises(wecal.ValidationError, match="base_url"):
        wecal.WeComClient("ww1", "secret-value-1", base_url="http://h\udcff.example")


def test_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    wecal_bin = Path(sys.executable).with_name("wecal")
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[1]),
        "WECAL_WECOM_CORP_ID": "ww1",
        "WECAL_WECOM_SECRET": "secret-value-1",
    }
    # The argument as raw bytes, as a shell passes a name that is not UTF-8.
    args = [
        os.fsencode(str(wecal_bin)),
        b"events",
        b"list",
        b"--provider",
        b"wecom",
        b"--calendar",
        b"cal\xff",
        b"--base-url",
        b"http://127.0.0.1:9",
    ]
    done = subprocess.run(args, env=env, capture_output=True, timeout=120, check=False)
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    assert done.returncode == 2
    assert len(lines) == 1
    assert "--calendar" in lines[0]
    assert "cal\\udcff" in lines[0]
    assert "Traceback" not in done.stderr.decode("utf-8", "replace")


# -- a base URL that is wrong ------------------------------------------------------------


class Counting(httpx.AsyncHTTPTransport):
    """A real HTTP transport that counts the requests it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return await super().handle_async_request(request)


async def test_a_host_that_does_not_resolve_is_a_configuration_error_not_retried() -> None:
    # ".invalid" never resolves (RFC 2606).
    transport = Counting()
    clock = FakeClock()
    core = HttpCore(
        WECOM,
        "ww1",
        "secret-value-1",
        base_url="http://wecal-test.invalid",
        transport=transport,
        token_store=wecal.MemoryTokenStore(),
        clock=clock,
        sleep=clock.sleep,
    )
    with pytest.raises(wecal.ConfigurationError) as info:
        await core.call("schedule/get", "POST", "/cgi-bin/oa/schedule/get", json={})
    assert transport.sent == 1  # one try: retrying cannot make a name resolve
    assert clock.sleeps == []
    assert "wecal-test.invalid" in str(info.value)
    assert "does not resolve" in str(info.value)
    assert not isinstance(info.value, wecal.TransportError)  # not "temporary, rerun later"
    await core.aclose()


async def not_the_provider(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A web server that is not a provider: an HTML 404 for every path."""
    if scope["type"] != "http":
        return
    page = b"<html><body><h1>404 Not Found</h1></body></html>"
    headers = [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(page))]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": page})


@pytest.mark.parametrize(
    "cls", [wecal.WeComClient, wecal.DingTalkLegacyClient, wecal.DingTalkClient]
)
async def test_a_server_that_is_not_the_provider_is_a_configuration_error(
    cls: type[wecal.WeComClient | wecal.DingTalkLegacyClient | wecal.DingTalkClient],
) -> None:
    client = cls(
        "appkey-1",
        "secret-value-1",
        base_url="http://not-a-provider",
        transport=httpx.ASGITransport(app=not_the_provider),
        token_store=wecal.MemoryTokenStore(),
    )
    async with client:
        call = (
            client.get_events(["s1"])
            if isinstance(client, wecal.WeComClient)
            else _first(client.list_events(user_id="u1"))
        )
        with pytest.raises(wecal.ConfigurationError) as info:
            await call
    assert not isinstance(info.value, wecal.NotFoundError)
    assert "HTTP 404 (text/html)" in str(info.value)
    assert "base URL looks wrong" in str(info.value)


async def test_a_base_url_with_a_path_says_so(sandbox: Sandbox) -> None:
    async with client_on(sandbox, wecal.WeComClient, base_url="http://sandbox/cgi-bin") as wecom:
        with pytest.raises(wecal.ConfigurationError) as info:
            await wecom.get_events(["s1"])
    assert "'/cgi-bin'" in str(info.value)
    assert "try 'http://sandbox'" in str(info.value)
    # The right base URL works.
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        assert await wecom.get_events(["nope"], missing="skip") == []


def test_the_cli_does_not_advise_rerunning_for_an_unresolvable_host(tmp_path: Path) -> None:
    # In this process (the same command, without an interpreter's start).
    done = run_wecal(
        "events", "list", "--provider", "wecom", "--calendar", "cal1",
        "--base-url", "http://wecal-test.invalid",
        cwd=tmp_path,
        env={"WECAL_WECOM_CORP_ID": "ww1", "WECAL_WECOM_SECRET": "secret-value-1"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "ConfigurationError" in done.stderr
    assert "does not resolve" in done.stderr
    assert "later" not in done.stderr
    assert "Traceback" not in done.stderr
