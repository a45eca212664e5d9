"""The HTTP core: tokens, retries, errors, pauses, idempotency, lifecycle."""

from __future__ import annotations

import json
import logging
import time

import anyio
import httpx
import pytest

import wecal
from tests._mock import (
    APP_KEY,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    DilatedClock,
    FakeClock,
    FakeProvider,
    make_core,
    no_secret_in_logs,
    ok,
    v1_error,
    wecom_error,
)
from wecal._client import BaseClient
from wecal._http import HttpCore
from wecal._ratelimit import RateLimitConfig
from wecal._retry import RetryConfig
from wecal._tokens import MemoryTokenStore
from wecal.providers._dialects import Dialect
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio

PATH = "/cgi-bin/oa/schedule/get"


async def test_wecom_call_puts_token_in_query_and_returns_body() -> None:
    fake = FakeProvider(WECOM)
    fake.script(PATH, ok({"errcode": 0, "schedule_list": [{"schedule_id": "s1"}]}))
    core = make_core(fake)
    body = await core.call("schedule/get", "POST", PATH, json={"schedule_id_list": ["s1"]})
    assert body["schedule_list"] == [{"schedule_id": "s1"}]
    [token_req] = [r for r in fake.requests if r.url.path == "/cgi-bin/gettoken"]
    assert token_req.url.params["corpid"] == CORP_ID
    assert token_req.url.params["corpsecret"] == CORP_SECRET
    [call] = fake.business_requests()
    assert call.url.params["access_token"] in fake.valid
    assert json.loads(call.content) == {"schedule_id_list": ["s1"]}
    await core.aclose()


async def test_dingtalk_v1_token_goes_in_header_not_query() -> None:
    fake = FakeProvider(DINGTALK_V1)
    core = make_core(fake)
    fake.script("/v1.0/calendar/users/u/calendars", ok({"calendars": []}))
    body = await core.call("calendars", "GET", "/v1.0/calendar/users/u/calendars")
    assert body == {"calendars": []}
    token_req = fake.requests[0]
    assert token_req.method == "POST"
    assert json.loads(token_req.content) == {"appKey": APP_KEY, "appSecret": APP_SECRET}
    [call] = fake.business_requests()
    assert call.headers["x-acs-dingtalk-access-token"] in fake.valid
    assert "access_token" not in call.url.params
    await core.aclose()


async def test_500_concurrent_calls_on_cold_client_fetch_one_token() -> None:
    fake = FakeProvider(WECOM, token_delay=0.01)  # the fetch takes a while: waiters pile up
    core = make_core(fake)
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(core.call, "schedule/get", "POST", PATH)
    assert fake.token_requests == 1
    assert len(fake.business_requests()) == 500
    assert time.perf_counter() - began < 5
    await core.aclose()


async def test_revoked_token_under_concurrency_causes_one_refresh() -> None:
    fake = FakeProvider(WECOM, delay=0.01)  # all 100 are in flight before any answer
    core = make_core(fake)
    await core.call("schedule/get", "POST", PATH)
    fake.revoke_all()
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(core.call, "schedule/get", "POST", PATH)
    assert fake.token_requests == 2
    # 1 first call + 100 refused + 100 replays
    assert len(fake.business_requests()) == 201
    await core.aclose()


@pytest.mark.parametrize(
    ("dialect", "refusal"),
    [
        (WECOM, wecom_error(40014, "invalid access_token")),
        (WECOM, wecom_error(42001, "access_token expired")),
        (WECOM, wecom_error(41001, "access_token missing")),
        (DINGTALK_LEGACY, wecom_error(40001, "不合法的access_token")),
        (DINGTALK_LEGACY, wecom_error(40014, "不合法的access_token")),
        (DINGTALK_LEGACY, wecom_error(42001, "access_token超时")),
        (DINGTALK_V1, v1_error(400, "InvalidAuthentication", "不合法的access_token")),
        (DINGTALK_V1, v1_error(401, "Unauthorized", "missing token")),
    ],
)
async def test_token_invalid_answer_refreshes_and_replays_once(
    dialect: Dialect, refusal: httpx.Response
) -> None:
    fake = FakeProvider(dialect)
    fake.script("/x", refusal)
    core = make_core(fake)
    assert await core.call("x", "GET", "/x", idempotent=False) == {"errcode": 0}
    assert fake.token_requests == 2
    assert len(fake.business_requests()) == 2
    first, second = fake.business_requests()
    assert first.url.params != second.url.params or first.headers != second.headers


async def test_token_refused_twice_is_authentication_error() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(40014), wecom_error(40014), ok())
    core = make_core(fake)
    with pytest.raises(wecal.AuthenticationError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.code == 40014
    assert fake.token_requests == 2
    assert len(fake.business_requests()) == 2


@pytest.mark.parametrize("dialect", [WECOM, DINGTALK_LEGACY, DINGTALK_V1])
async def test_bad_secret_at_token_fetch_is_authentication_error_without_retry(
    dialect: Dialect,
) -> None:
    fake = FakeProvider(dialect)
    core = make_core(fake, secret="not-the-secret-XYZ")
    with pytest.raises(wecal.AuthenticationError):
        await core.call("x", "GET", "/x")
    assert fake.token_requests == 1
    assert fake.business_requests() == []


async def test_failed_token_fetch_is_shared_by_waiters() -> None:
    fake = FakeProvider(WECOM, token_delay=0.01)
    core = make_core(fake, secret="wrong-secret-QQQ")
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await core.call("x", "GET", "/x")
        except wecal.AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert len(errors) == 50
    assert fake.token_requests == 1


async def test_two_apps_of_one_corp_sharing_a_store_do_not_collide() -> None:
    store = MemoryTokenStore()
    first, second = FakeProvider(WECOM), FakeProvider(WECOM, secret="other-app-secret-ABC")
    core_a = make_core(first, store=store)
    core_b = make_core(second, store=store)
    await core_a.call("x", "GET", "/x")
    await core_b.call("x", "GET", "/x")  # same corp id, other secret: its own token
    assert first.token_requests == 1
    assert second.token_requests == 1
    assert second.business_requests()[0].url.params["access_token"] in second.valid


async def test_same_app_sharing_a_store_fetches_once() -> None:
    store = MemoryTokenStore()
    fake = FakeProvider(WECOM)
    await make_core(fake, store=store).call("x", "GET", "/x")
    await make_core(fake, store=store).call("x", "GET", "/x")
    assert fake.token_requests == 1


TRANSIENT = [
    (WECOM, wecom_error(-1, "system busy")),
    (WECOM, wecom_error(6000, "data version conflict")),
    (WECOM, wecom_error(45033, "api concurrent out of limit")),
    (DINGTALK_LEGACY, wecom_error(-1, "系统繁忙")),
    (DINGTALK_LEGACY, wecom_error(90018, "qps")),
    (DINGTALK_LEGACY, wecom_error(90002, "global qps")),
    (DINGTALK_V1, v1_error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")),
    (DINGTALK_V1, v1_error(403, "Forbidden.AccessDenied.QpsLimitForApi")),
    (DINGTALK_V1, v1_error(429, "system.busy")),
    (DINGTALK_V1, v1_error(429, "systemBusy")),
    (DINGTALK_V1, v1_error(500, "systemError.busy")),
    (WECOM, httpx.Response(502, text="<html>bad gateway</html>")),
    (WECOM, httpx.Response(503, text="")),
    (DINGTALK_V1, httpx.Response(429, text="slow down")),
    (WECOM, httpx.ConnectError("connection refused")),
    (WECOM, httpx.ConnectTimeout("connect timed out")),
    (WECOM, httpx.ReadTimeout("read timed out")),
    (WECOM, httpx.RemoteProtocolError("peer closed connection")),
]


@pytest.mark.parametrize(("dialect", "answer"), TRANSIENT)
async def test_transient_failure_is_retried_then_succeeds(
    dialect: Dialect, answer: httpx.Response | Exception
) -> None:
    fake = FakeProvider(dialect)
    fake.script("/x", answer, answer, ok({"errcode": 0, "v": 1}))
    clock = FakeClock()
    core = make_core(fake, clock=clock, jitter=0.5)
    assert await core.call("x", "GET", "/x") == {"errcode": 0, "v": 1}
    assert len(fake.business_requests()) == 3
    assert len(clock.sleeps) == 2


PERMANENT = [
    (WECOM, wecom_error(40058, "invalid parameter"), wecal.InvalidRequestError),
    (WECOM, wecom_error(40003, "invalid userid"), wecal.NotFoundError),
    (WECOM, wecom_error(48002, "api forbidden"), wecal.PermissionDeniedError),
    (WECOM, wecom_error(60020, "not allow to access from your ip"), wecal.PermissionDeniedError),
    (WECOM, wecom_error(301002, "not allow operate another agent"), wecal.PermissionDeniedError),
    (WECOM, wecom_error(90485, "not a recurring schedule"), wecal.InvalidRequestError),
    (WECOM, wecom_error(40001, "invalid secret"), wecal.AuthenticationError),
    (WECOM, wecom_error(123456, "never heard of it"), wecal.ProviderError),
    (DINGTALK_LEGACY, wecom_error(88, "ding talk error"), wecal.PermissionDeniedError),
    (DINGTALK_LEGACY, wecom_error(90020, "monthly quota"), wecal.QuotaExceededError),
    (DINGTALK_LEGACY, wecom_error(856013, "start > end"), wecal.InvalidRequestError),
    (DINGTALK_V1, v1_error(400, "flowLimit"), wecal.QuotaExceededError),
    (
        DINGTALK_V1,
        v1_error(403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
        wecal.QuotaExceededError,
    ),
    (
        DINGTALK_V1,
        v1_error(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied"),
        wecal.PermissionDeniedError,
    ),
    (DINGTALK_V1, v1_error(400, "instanceNotExist"), wecal.NotFoundError),
    (DINGTALK_V1, v1_error(404, "somethingElse"), wecal.NotFoundError),
    (DINGTALK_V1, v1_error(400, "InvalidParameter.Whatever"), wecal.InvalidRequestError),
    (DINGTALK_V1, v1_error(409, "invalidRequest.duplicateClientToken"), wecal.InvalidRequestError),
]


@pytest.mark.parametrize(("dialect", "answer", "error"), PERMANENT)
async def test_permanent_code_raises_right_class_at_once(
    dialect: Dialect, answer: httpx.Response, error: type[wecal.ProviderError]
) -> None:
    fake = FakeProvider(dialect)
    fake.script("/x", answer, ok())
    core = make_core(fake, clock=FakeClock())
    with pytest.raises(error) as info:
        await core.call("x", "GET", "/x")
    assert type(info.value) is error
    assert len(fake.business_requests()) == 1
    assert info.value.provider == dialect.provider
    expected = json.loads(answer.content)
    assert info.value.code == expected.get("errcode", expected.get("code"))
    assert info.value.http_status == answer.status_code


async def test_v1_error_carries_request_id_and_message() -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", v1_error(400, "flowLimit", "current user can not create events exceed 100"))
    with pytest.raises(wecal.QuotaExceededError) as info:
        await make_core(fake).call("x", "POST", "/x")
    assert info.value.request_id == "req-1"
    assert "exceed 100" in str(info.value)


async def test_success_flag_beside_nonzero_errcode_trusts_errcode() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    # The seed's own example: success: true with errcode 15 "service-unavaliable".
    answer = httpx.Response(
        200,
        json={
            "result": {"items": []},
            "success": True,
            "errmsg": "service-unavaliable",
            "errcode": 15,
        },
    )
    fake.script("/topapi/calendar/list", answer, answer, answer, answer)
    core = make_core(fake, clock=FakeClock(), retry=RetryConfig(max_attempts=2))
    with pytest.raises(wecal.ProviderError) as info:
        await core.call("calendar/list", "POST", "/topapi/calendar/list")
    assert info.value.code == 15


async def test_attempts_are_bounded() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", *[wecom_error(-1)] * 10)
    core = make_core(fake, clock=FakeClock(), retry=RetryConfig(max_attempts=3))
    with pytest.raises(wecal.ProviderError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.code == -1
    assert len(fake.business_requests()) == 3


async def test_network_failure_after_retries_is_transport_error() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", *[httpx.ConnectError("refused")] * 5)
    core = make_core(fake, clock=FakeClock(), retry=RetryConfig(max_attempts=2))
    with pytest.raises(wecal.TransportError) as info:
        await core.call("x", "GET", "/x")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(fake.business_requests()) == 2


async def test_deadline_bounds_the_whole_call() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", *[wecom_error(-1)] * 50)
    clock = FakeClock()
    core = make_core(
        fake, clock=clock, jitter=1.0, retry=RetryConfig(max_attempts=50, deadline=5.0)
    )
    with pytest.raises(wecal.ProviderError):
        await core.call("x", "GET", "/x")
    # Full-ceiling waits 0.5 + 1 + 2 fit in 5 s; the next (4 s) would not.
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert sum(clock.sleeps) <= 5.0


async def test_block_longer_than_deadline_raises_rate_limit_with_retry_after() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(45009, "api freq out of limit"), ok())
    clock = FakeClock()
    core = make_core(fake, clock=clock, retry=RetryConfig(deadline=30.0))
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.retry_after == 60.0
    assert info.value.code == 45009
    assert clock.sleeps == []
    # The block stays in force for the next call of this client too.
    with pytest.raises(wecal.RateLimitError) as again:
        await core.call("y", "GET", "/y")
    assert again.value.retry_after == pytest.approx(60.0)
    assert len(fake.business_requests()) == 1


async def test_45009_pauses_every_task_of_the_client() -> None:
    clock = DilatedClock()
    fake = FakeProvider(WECOM)
    arrivals: list[tuple[str, float]] = []
    blocked = anyio.Event()
    blocked_at: list[float] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        arrivals.append((request.url.path, clock()))
        if not blocked.is_set():
            blocked_at.append(clock())
            blocked.set()
            return wecom_error(45009, "api freq out of limit")
        return ok()

    fake.route("/a", slow)
    fake.route("/b", slow)
    core = make_core(fake, clock=clock, retry=RetryConfig(deadline=120.0))
    await core.tokens.get()

    async def other_task() -> None:
        await blocked.wait()
        await core.call("b", "GET", "/b")  # never hit a limit itself

    async with anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        tg.start_soon(core.call, "a", "GET", "/a")
    [(first_path, _), *later] = arrivals
    assert first_path == "/a"
    assert {path for path, _ in later} == {"/a", "/b"}
    for _path, at in later:
        assert at >= blocked_at[0] + 59.0
    await core.aclose()


async def test_retry_after_header_is_honoured_for_429() -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script("/x", httpx.Response(429, headers={"Retry-After": "3"}, json={}), ok({}))
    clock = FakeClock()
    core = make_core(fake, clock=clock)
    await core.call("x", "GET", "/x")
    assert clock.sleeps == [3.0]


# -- idempotency: no blind replays of creates --------------------------------

AMBIGUOUS = [
    httpx.ReadTimeout("read timed out"),
    httpx.RemoteProtocolError("server disconnected"),
    httpx.WriteError("broken pipe"),
    httpx.Response(500, text="oops"),
    wecom_error(-1, "system busy"),
    httpx.Response(200, text='{"errcode": 0, "schedule_id": "tru'),
]


@pytest.mark.parametrize("answer", AMBIGUOUS)
async def test_create_is_not_replayed_after_ambiguous_failure(
    answer: httpx.Response | Exception,
) -> None:
    fake = FakeProvider(WECOM)
    fake.script("/cgi-bin/oa/schedule/add", answer, ok({"errcode": 0, "schedule_id": "s"}))
    core = make_core(fake, clock=FakeClock())
    with pytest.raises(wecal.WecalError):
        await core.call("schedule/add", "POST", "/cgi-bin/oa/schedule/add", idempotent=False)
    assert len(fake.business_requests()) == 1


@pytest.mark.parametrize("answer", AMBIGUOUS)
async def test_idempotent_call_is_replayed_after_ambiguous_failure(
    answer: httpx.Response | Exception,
) -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", answer, ok({"errcode": 0, "v": 2}))
    core = make_core(fake, clock=FakeClock())
    assert await core.call("x", "POST", "/x") == {"errcode": 0, "v": 2}


SAFE_FOR_CREATES = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("connect timeout"),
    httpx.PoolTimeout("no connection"),
    wecom_error(45033, "api concurrent out of limit"),
    wecom_error(6000, "conflict"),
]


@pytest.mark.parametrize("answer", SAFE_FOR_CREATES)
async def test_create_is_retried_when_the_request_surely_was_not_processed(
    answer: httpx.Response | Exception,
) -> None:
    fake = FakeProvider(WECOM)
    fake.script("/cgi-bin/oa/schedule/add", answer, ok({"errcode": 0, "schedule_id": "s"}))
    core = make_core(fake, clock=FakeClock())
    body = await core.call("schedule/add", "POST", "/cgi-bin/oa/schedule/add", idempotent=False)
    assert body["schedule_id"] == "s"
    assert len(fake.business_requests()) == 2


# -- bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"<html>gateway</html>", b'{"errcode": 0, "schedule_list": [', b"[1, 2]", b"\xff\xfe", b""],
)
async def test_unreadable_success_body_is_response_format_error(content: bytes) -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", *[httpx.Response(200, content=content)] * 4)
    core = make_core(fake, clock=FakeClock(), retry=RetryConfig(max_attempts=2))
    with pytest.raises(wecal.ResponseFormatError) as info:
        await core.call("x", "GET", "/x")
    assert info.value.path == "$"
    assert len(fake.business_requests()) == 2


async def test_mistyped_errcode_is_response_format_error_with_path() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", httpx.Response(200, json={"errcode": "busy", "errmsg": "?"}))
    with pytest.raises(wecal.ResponseFormatError) as info:
        await make_core(fake).call("x", "GET", "/x")
    assert info.value.path == "$.errcode"


async def test_string_errcode_zero_is_success() -> None:
    fake = FakeProvider(WECOM)
    fake.script("/x", httpx.Response(200, json={"errcode": "0", "v": 1}))
    assert (await make_core(fake).call("x", "GET", "/x"))["v"] == 1


async def test_wecom_hint_becomes_request_id() -> None:
    fake = FakeProvider(WECOM)
    message = "not allow to access from your ip, hint: [1699999999_12_ab], from ip: 1.2.3.4"
    fake.script("/x", wecom_error(60020, message))
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await make_core(fake).call("x", "GET", "/x")
    assert info.value.request_id == "1699999999_12_ab"


# -- lifecycle ---------------------------------------------------------------


class _Client(BaseClient):
    dialect = WECOM


async def test_client_is_async_context_manager_and_refuses_use_after_close() -> None:
    fake = FakeProvider(WECOM)
    async with _Client(CORP_ID, CORP_SECRET, transport=fake.transport(), rate_limit=False,
                       token_store=MemoryTokenStore()) as client:  # fmt: skip
        assert await client._http.call("x", "GET", "/x") == {"errcode": 0}
    with pytest.raises(wecal.ClientClosedError):
        await client._http.call("x", "GET", "/x")
    with pytest.raises(wecal.ClientClosedError):
        async with client:
            pass
    assert CORP_SECRET not in repr(client)


async def test_injected_http_client_is_used_and_left_open() -> None:
    fake = FakeProvider(WECOM)
    async with httpx.AsyncClient(transport=fake.transport()) as http_client:
        client = _Client(
            CORP_ID, CORP_SECRET, http_client=http_client, token_store=MemoryTokenStore()
        )
        await client._http.call("x", "GET", "/x")
        await client.aclose()
        assert not http_client.is_closed
        assert fake.business_requests()[0].url.host == "qyapi.weixin.qq.com"


async def test_base_url_is_configurable() -> None:
    fake = FakeProvider(WECOM)
    core = HttpCore(
        WECOM,
        CORP_ID,
        CORP_SECRET,
        base_url="http://sandbox.local:8080/",
        transport=fake.transport(),
        token_store=MemoryTokenStore(),
    )
    await core.call("x", "GET", "/x")
    assert all(str(r.url).startswith("http://sandbox.local:8080/") for r in fake.requests)
    await core.aclose()


@pytest.mark.parametrize("bad", ["ftp://x", "qyapi.weixin.qq.com", "/relative"])
def test_bad_base_url_is_rejected(bad: str) -> None:
    with pytest.raises(wecal.ValidationError):
        HttpCore(WECOM, CORP_ID, CORP_SECRET, base_url=bad)


def test_empty_credentials_are_rejected() -> None:
    with pytest.raises(wecal.ValidationError):
        HttpCore(WECOM, CORP_ID, "")
    with pytest.raises(wecal.ValidationError):
        HttpCore(WECOM, "", CORP_SECRET)


async def test_rate_limit_spaces_calls_per_api() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    clock = FakeClock()
    core = make_core(fake, clock=clock, rate_limit=RateLimitConfig(rate=20))  # type: ignore[arg-type]
    await core.tokens.get()
    for _ in range(5):
        await core.call("calendar/list", "POST", "/x")
    # 20 QPS: 50 ms apart after the first; the token call used another API name.
    assert clock.sleeps == pytest.approx([0.05] * 4)


async def test_httpx_request_log_line_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    fake = FakeProvider(WECOM)
    core = make_core(fake)
    await core.call("x", "GET", "/x")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("corpsecret=***" in line for line in lines)
    assert any("access_token=***" in line for line in lines)
    assert not any(CORP_SECRET in line for line in lines)


async def test_debug_log_names_method_path_attempt_and_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wecal")
    fake = FakeProvider(WECOM)
    fake.script("/x", wecom_error(-1))
    await make_core(fake, clock=FakeClock()).call("x", "GET", "/x")
    lines = [r.getMessage() for r in caplog.records if r.name == "wecal"]
    assert any("GET /x api=x attempt=1 status=200 code=-1" in line for line in lines)
    assert any("GET /x api=x attempt=2 status=200 code=0" in line for line in lines)
