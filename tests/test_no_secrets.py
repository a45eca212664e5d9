"""No secret in any error text, repr, traceback or log record, whatever fails."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

import wecal
from tests._mock import (
    APP_KEY,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    FakeClock,
    FakeProvider,
    make_core,
    no_secret_in_logs,
    secrets_used,
    v1_error,
    wecom_error,
)
from wecal._client import BaseClient
from wecal._http import HttpCore
from wecal._retry import RetryConfig
from wecal._tokens import MemoryTokenStore
from wecal.providers._dialects import Dialect
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio


def all_text(exc: BaseException) -> str:
    """Everything a user could see of an error: str, repr, full traceback, causes."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        parts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def assert_clean(text: str) -> None:
    for secret in secrets_used():
        assert secret not in text, f"{secret!r} leaked"


def echo_token(request: httpx.Request) -> Exception:
    """A network error whose message holds the full URL, token included."""
    return httpx.ReadError(f"connection reset while reading {request.url}")


FAILURES: list[tuple[Dialect, str]] = [
    (WECOM, "connect"),
    (WECOM, "read-echo"),
    (WECOM, "errcode-echo"),
    (WECOM, "bad-secret"),
    (WECOM, "non-json"),
    (WECOM, "45009"),
    (DINGTALK_LEGACY, "read-echo"),
    (DINGTALK_LEGACY, "bad-secret"),
    (DINGTALK_V1, "v1-echo"),
    (DINGTALK_V1, "bad-secret"),
    (DINGTALK_V1, "read-echo"),
]


@pytest.mark.parametrize(("dialect", "kind"), FAILURES)
async def test_errors_never_carry_a_secret(
    dialect: Dialect, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeProvider(dialect)
    core = make_core(fake, clock=FakeClock(), retry=RetryConfig(max_attempts=2, deadline=30))
    token = await core.tokens.get() if kind != "bad-secret" else ""

    async def echo(request: httpx.Request) -> httpx.Response:
        raise echo_token(request)

    if kind == "connect":
        fake.script("/x", *[httpx.ConnectError(f"cannot reach {CORP_SECRET} {token}")] * 2)
    elif kind == "read-echo":
        fake.route("/x", echo)
    elif kind == "errcode-echo":
        fake.script("/x", wecom_error(40058, f"bad access_token={token} and {token}"))
    elif kind == "v1-echo":
        fake.script("/x", v1_error(400, "InvalidParameter", f"token {token} is odd"))
    elif kind == "non-json":
        fake.script("/x", *[httpx.Response(200, text=f"<html>{token}</html>")] * 2)
    elif kind == "45009":
        fake.script("/x", wecom_error(45009, f"api freq out of limit {token}"))
    else:
        core = make_core(fake, secret=f"wrong-{CORP_SECRET}-{APP_SECRET}")
    with pytest.raises(wecal.WecalError) as info:
        await core.call("x", "GET", "/x", params={"q": "1"})
    assert_clean(all_text(info.value))
    assert_clean(repr(core))
    assert_clean("\n".join(r.getMessage() for r in caplog.records))
    assert_clean("\n".join(str(r.args) for r in caplog.records))


def test_client_and_core_reprs_hold_no_secret() -> None:
    class Client(BaseClient):
        dialect = DINGTALK_V1

    client = Client(APP_KEY, APP_SECRET, token_store=MemoryTokenStore())
    core = HttpCore(WECOM, CORP_ID, CORP_SECRET)
    assert_clean(repr(client) + repr(core) + repr(core.tokens) + repr(MemoryTokenStore()))
