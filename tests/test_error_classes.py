"""
The right error class for what happened (DESIGN.md "Errors: who said no").

- the caller's own mistake is a ``ValidationError`` and nothing is sent;
- bad credentials at a token endpoint are an ``AuthenticationError``;
- legacy DingTalk's errcode 88 is an envelope: its ``sub_code`` decides
  (a stale token is refreshed and the call replayed once, a QPS limit is
  retried) and is exposed as ``.sub_code``;
- an unknown calendar, schedule or user is a ``NotFoundError`` whatever code
  the provider uses;
- every error of one client names one provider.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, ok, wecom_error
from tests.sandbox_fixtures import client_on
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM
from wecal.sandbox import Sandbox, generate

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data"
T0 = datetime(2024, 6, 1, tzinfo=UTC)
T1 = datetime(2024, 7, 1, tzinfo=UTC)


# -- bad credentials at the token endpoint ------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "code"),
    [
        (WECOM, 40013),  # 不合法的CorpID
        (WECOM, 40001),  # 不合法的secret参数
        (WECOM, 40091),  # secret不合法
        (DINGTALK_LEGACY, 40096),  # 不合法的appKey或appSecret
        (DINGTALK_LEGACY, 40089),  # 不合法的corpid或corpsecret
        (DINGTALK_LEGACY, 40001),  # Secret wrong when fetching
        (DINGTALK_LEGACY, 33001),  # invalid corp id
    ],
)
async def test_bad_credentials_at_the_token_endpoint_are_authentication_errors(
    dialect: Any, code: int
) -> None:
    fake = FakeProvider(dialect)
    fake.token_answers.extend([wecom_error(code, "bad credentials")] * 3)
    core = make_core(fake, clock=FakeClock())
    with pytest.raises(wecal.AuthenticationError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.code == code
    assert fake.token_requests == 1  # not retried: retrying cannot fix a secret
    assert fake.business_requests() == []


# -- errcode 88: an envelope ---------------------------------------------------------


def _env(sub_code: str | int, sub_msg: str = "") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "errcode": 88,
            "errmsg": f"ding talk error[subcode={sub_code},submsg={sub_msg}]",
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "request_id": "r88",
        },
    )


async def test_88_with_the_documented_sub_code_example() -> None:
    body = json.loads((DATA / "dingtalk_legacy" / "error_88_sub_code.json").read_text("utf-8"))
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/x", httpx.Response(200, json=body))
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await make_core(fake).call("x", "POST", "/x")
    assert (info.value.code, info.value.sub_code) == (88, "60011")
    assert body["sub_msg"] in str(info.value)
    assert "88/60011" in str(info.value)
    assert "sub_code='60011'" in repr(info.value)
    assert info.value.request_id == "5imjny7u9xwa"


@pytest.mark.parametrize("sub_code", ["40014", 40014, "40000", "42001"])
async def test_88_stale_token_is_refreshed_and_replayed_once(sub_code: str | int) -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/x", _env(sub_code, "不合法的access_token"), ok({"errcode": 0, "v": 1}))
    core = make_core(fake)
    assert await core.call("x", "POST", "/x") == {"errcode": 0, "v": 1}
    assert fake.token_requests == 2
    assert core.stats.token_refreshes == 1
    # A token refused again after the refresh is an AuthenticationError.
    fake.script("/x", _env(sub_code), _env(sub_code), _env(sub_code))
    with pytest.raises(wecal.AuthenticationError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.sub_code == str(sub_code)


@pytest.mark.parametrize("sub_code", ["90018", "90002"])
async def test_88_qps_limit_is_a_retried_rate_limit(sub_code: str) -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/x", _env(sub_code, "qps"), ok({"errcode": 0}))
    clock = FakeClock()
    core = make_core(fake, clock=clock)
    assert await core.call("x", "POST", "/x") == {"errcode": 0}
    assert core.stats.rate_limited == 1
    fake.script("/x", *[_env(sub_code, "qps")] * 10)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.sub_code == sub_code


@pytest.mark.parametrize(
    ("sub_code", "error"),
    [
        ("60121", wecal.NotFoundError),
        ("40096", wecal.AuthenticationError),
        ("isv.something-new", wecal.PermissionDeniedError),  # unlisted: 88's own rule
    ],
)
async def test_88_sub_codes_map_by_their_table(sub_code: str, error: type[Exception]) -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/x", _env(sub_code, "why"))
    with pytest.raises(error) as info:
        await make_core(fake).call("x", "POST", "/x")
    assert type(info.value) is error
    assert info.value.sub_code == sub_code  # type: ignore[attr-defined]


async def test_an_errcode_other_than_88_has_no_sub_code() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(48002, "api forbidden"))
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await make_core(fake).call("x", "POST", "/x")
    assert info.value.sub_code is None


# -- not found, whatever the code ----------------------------------------------------


async def test_unknown_wecom_calendar_is_not_found_on_every_call(sandbox: Sandbox) -> None:
    async with client_on(sandbox, wecal.WeComClient) as client:
        with pytest.raises(wecal.NotFoundError) as info:
            [e async for e in client.list_events("ghost-calendar")]
        assert info.value.code == 40058
        with pytest.raises(wecal.NotFoundError):
            await client.delete_calendar("ghost-calendar")
        with pytest.raises(wecal.NotFoundError):
            await client.get_calendars(["ghost-calendar"])
        with pytest.raises(wecal.NotFoundError):
            await client.delete_event("ghost-schedule")
        with pytest.raises(wecal.NotFoundError):
            await client.get_event("ghost-schedule")


async def test_unknown_dingtalk_user_is_not_found(sandbox: Sandbox) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=1, wecom_calendars=0)
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as client:
        with pytest.raises(wecal.NotFoundError) as info:
            [e async for e in client.list_events(user_id="nobody-here")]
    assert info.value.code == 60121
    assert info.value.provider == "dingtalk-legacy"


@pytest.mark.parametrize(
    ("dialect", "answer"),
    [
        (WECOM, httpx.Response(404, text="<html>404</html>")),
        (DINGTALK_LEGACY, httpx.Response(404, json={"message": "no such path"})),
        (DINGTALK_V1, httpx.Response(404, json={"code": "whatever", "message": "gone"})),
        (DINGTALK_V1, httpx.Response(400, json={"code": "resource.notFound", "message": "x"})),
        (DINGTALK_V1, httpx.Response(400, json={"code": "calendarNotExist", "message": "x"})),
    ],
)
async def test_http_404_and_not_found_codes_are_not_found(
    dialect: Any, answer: httpx.Response
) -> None:
    fake = FakeProvider(dialect)
    fake.script("/x", answer)
    with pytest.raises(wecal.NotFoundError):
        await make_core(fake).call("x", "GET", "/x")


# -- the caller's own mistakes -------------------------------------------------------


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent, but {request.method} {request.url.path} was")


def _wecom() -> wecal.WeComClient:
    return wecal.WeComClient(
        "corp", "secret-0123", base_url="http://x", transport=httpx.MockTransport(_refuse)
    )


def _legacy() -> wecal.DingTalkLegacyClient:
    return wecal.DingTalkLegacyClient(
        "key", "secret-0123", base_url="http://x", transport=httpx.MockTransport(_refuse)
    )


async def _drain(paginator: Any) -> None:
    [e async for e in paginator]


def _event() -> wecal.Event:
    return wecal.Event(provider=wecal.Provider.WECOM, id="e1", start=T0, end=T1)


Local = Callable[[], Any]

LOCAL_MISTAKES: list[tuple[str, Local]] = [
    ("RetryConfig(deadline='x')", lambda: wecal.RetryConfig(deadline="x")),  # type: ignore[arg-type]
    ("RetryConfig(max_attempts=True)", lambda: wecal.RetryConfig(max_attempts=True)),
    ("RateLimitConfig(rate='x')", lambda: wecal.RateLimitConfig(rate="x")),  # type: ignore[arg-type]
    ("empty secret", lambda: wecal.WeComClient("corp", "")),
    ("empty app id", lambda: wecal.DingTalkLegacyClient("", "s")),
    ("base_url not http", lambda: wecal.WeComClient("c", "s", base_url="ftp://x")),
    ("base_url not a str", lambda: wecal.WeComClient("c", "s", base_url=3)),  # type: ignore[arg-type]
    ("retry not a RetryConfig", lambda: wecal.WeComClient("c", "s", retry=3)),  # type: ignore[arg-type]
    ("rate_limit=3", lambda: wecal.WeComClient("c", "s", rate_limit=3)),  # type: ignore[arg-type]
    ("timeout='x'", lambda: wecal.WeComClient("c", "s", timeout="x")),  # type: ignore[arg-type]
    ("unknown setting", lambda: wecal.WeComClient("c", "s", bogus=1)),  # type: ignore[call-arg]
    ("timeout=0", lambda: wecal.WeComClient("c", "s", timeout=0)),
    ("timeout=-1", lambda: wecal.WeComClient("c", "s", timeout=-1.0)),
    ("timeout=nan", lambda: wecal.WeComClient("c", "s", timeout=float("nan"))),
    ("unknown date_zone", lambda: wecal.WeComClient("c", "s", date_zone="Mars/Olympus")),
    ("expand(non-event)", lambda: wecal.expand("x", T0, T1)),  # type: ignore[arg-type]
    ("expand(naive window)", lambda: wecal.expand(_event(), T0.replace(tzinfo=None), T1)),
    ("to_dict(non-event)", lambda: wecal.to_dict("x")),  # type: ignore[arg-type]
    ("Event(provider='x')", lambda: wecal.Event(provider="x", id="e", start=T0, end=T1)),
    ("Attendee(response='x')", lambda: wecal.Attendee(id="a", response="x")),
    ("wecom list user_id", lambda: _drain(_wecom().list_events("c", user_id="u"))),
    ("wecom list no calendar", lambda: _drain(_wecom().list_events(""))),
    ("wecom page_size=0", lambda: _drain(_wecom().list_events("c", page_size=0))),
    ("wecom page_size too big", lambda: _drain(_wecom().list_events("c", page_size=5000))),
    ("wecom naive start", lambda: _drain(_wecom().list_events("c", start=T0.replace(tzinfo=None)))),
    ("wecom end before start", lambda: _drain(_wecom().list_events("c", start=T1, end=T0))),
    ("wecom expand no window", lambda: _drain(_wecom().list_events("c", expand=True))),
    ("wecom get_events(None)", lambda: _wecom().get_events(None)),  # type: ignore[arg-type]
    ("wecom get_events('abc')", lambda: _wecom().get_events("abc")),
    ("wecom get_events([1])", lambda: _wecom().get_events([1])),  # type: ignore[list-item]
    ("wecom get_calendars(5)", lambda: _wecom().get_calendars(5)),  # type: ignore[arg-type]
    ("wecom create_event(str)", lambda: _wecom().create_event("x")),  # type: ignore[arg-type]
    ("wecom update_event(None)", lambda: _wecom().update_event(None)),  # type: ignore[arg-type]
    ("wecom delete_event(3)", lambda: _wecom().delete_event(3)),  # type: ignore[arg-type]
    ("wecom add_attendees([])", lambda: _wecom().add_attendees("s", [])),
    ("wecom update_calendar(str)", lambda: _wecom().update_calendar("x")),  # type: ignore[arg-type]
    ("legacy list no user", lambda: _drain(_legacy().list_events())),
    ("legacy page_size", lambda: _drain(_legacy().list_events(user_id="u", page_size=9999))),
    ("garbage cursor", lambda: _drain(_legacy().list_events(user_id="u").by_page(cursor="!!"))),
    (
        "cursor of another listing",
        lambda: _drain(_legacy().list_events(user_id="v").by_page(cursor=_cursor_of_wecom())),
    ),
]


def _cursor_of_wecom() -> str:
    # The paginator's own encoding of "offset 3 of this listing".
    return _wecom().list_events("c")._encode(3, 0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "call"), LOCAL_MISTAKES, ids=[n for n, _ in LOCAL_MISTAKES])
async def test_local_mistakes_are_validation_errors_and_nothing_is_sent(
    name: str, call: Local
) -> None:
    async def run() -> None:
        result = call()
        if isinstance(result, Awaitable):
            await result

    with pytest.raises(wecal.ValidationError) as info:
        await run()
    assert not isinstance(info.value, wecal.ProviderError), name
    assert isinstance(info.value, ValueError)  # ValidationError is one


@pytest.mark.parametrize(
    ("client", "args", "name"),
    [
        (wecal.WeComClient, (None, "s"), "corp_id"),
        (wecal.WeComClient, ("c", ""), "corp_secret"),
        (wecal.DingTalkLegacyClient, ("", "s"), "app_key"),
        (wecal.DingTalkClient, ("k", b"secret-bytes"), "app_secret"),
    ],
)
def test_a_missing_credential_names_the_clients_parameter(
    client: type[wecal.WeComClient], args: tuple[object, object], name: str
) -> None:
    """An unset environment variable passed as a credential: the message says which."""
    with pytest.raises(wecal.ValidationError) as info:
        client(*args)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{client.__name__}: {name} must be a non-empty string")
    assert "secret-bytes" not in message


# -- one provider name per client ----------------------------------------------------


async def test_a_legacy_client_names_one_provider(sandbox: Sandbox) -> None:
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as client:
        sandbox.dingtalk_users.clear()
        with pytest.raises(wecal.ProviderError) as info:
            [e async for e in client.list_events(user_id="nobody")]
    assert info.value.provider == "dingtalk-legacy"
    with pytest.raises(wecal.ClientClosedError, match="dingtalk-legacy"):
        [e async for e in client.list_events(user_id="nobody")]


async def test_the_v1_client_names_dingtalk_even_on_its_oapi_calls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/gettoken":
            return httpx.Response(200, json={"errcode": 0, "access_token": "t", "expires_in": 7200})
        return httpx.Response(200, json={"errcode": 60121, "errmsg": "找不到该用户"})

    async with wecal.DingTalkClient(
        "key",
        "secret-0123",
        base_url="http://sandbox",
        transport=httpx.MockTransport(handler),
        token_store=wecal.MemoryTokenStore(),
    ) as client:
        with pytest.raises(wecal.NotFoundError) as info:
            await client.resolve_union_id("ghost")
    assert info.value.provider == "dingtalk"
