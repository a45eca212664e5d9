"""Every fault kind, through a plain httpx client: in-process and over loopback uvicorn."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

from tests.sandbox_fixtures import (
    WECOM_CORP_ID,
    WECOM_SECRET,
    ding_token,
    new_sandbox,
)
from tests.sandbox_fixtures import (
    wecom_token as token,
)
from wecal.errors import ValidationError
from wecal.sandbox import Fault, Sandbox, generate, serve


@pytest.fixture
def sandbox() -> Sandbox:
    sb = new_sandbox()
    generate(
        sb,
        wecom_calendars=1,
        schedules_per_calendar=12,
        dingtalk_users=1,
        events_per_user=12,
        max_attendees=5,
    )
    return sb


@pytest.fixture
def sandbox_url(sandbox: Sandbox) -> Iterator[str]:
    with serve(sandbox) as url:
        yield url


@asynccontextmanager
async def http_for(sb: Sandbox, base_url: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    if base_url is None:
        transport = httpx.ASGITransport(app=sb.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            yield http
    else:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            yield http


def cal_id(sb: Sandbox) -> str:
    return next(iter(sb.wecom_calendars))


async def listing(
    http: httpx.AsyncClient, tok: str, sb: Sandbox, offset: int = 0, limit: int = 5
) -> httpx.Response:
    return await http.post(
        "/cgi-bin/oa/schedule/get_by_calendar",
        params={"access_token": tok},
        json={"cal_id": cal_id(sb), "offset": offset, "limit": limit},
    )


async def ding_list(http: httpx.AsyncClient, tok: str, sb: Sandbox) -> httpx.Response:
    user = next(iter(sb.dingtalk_users))
    return await http.post(
        "/topapi/calendar/list", params={"access_token": tok}, json={"user_id": user}
    )


# ---------------------------------------------------------------- in-process


@pytest.mark.anyio
async def test_latency_delays_the_normal_answer(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.latency(0.2)])
        began = time.monotonic()
        r = await listing(http, tok, sandbox)
        elapsed = time.monotonic() - began
        assert r.json()["errcode"] == 0
        assert elapsed >= 0.2
        began = time.monotonic()
        await listing(http, tok, sandbox)
        assert time.monotonic() - began < 0.2  # the script is used up
    assert sandbox.requests[-2].fault == "latency"


@pytest.mark.anyio
async def test_latency_can_be_cancelled_by_a_client_timeout(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.script("*", [Fault.latency(5)])
        with anyio.move_on_after(0.05) as scope:
            await listing(http, tok, sandbox)
    assert scope.cancelled_caught


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_error(sandbox: Sandbox, status: int) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.script("/cgi-bin/oa/schedule/get_by_calendar", [Fault.server_error(status)])
        r = await listing(http, tok, sandbox)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert (sandbox.requests[-1].status, sandbox.requests[-1].errcode) == (status, None)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "wecom_code", "ding_code"),
    [
        (Fault.busy(), -1, -1),
        (Fault.rate_limited(), 45009, 90018),
        (Fault.error(45033), 45033, 45033),
        (Fault.error(6000, "数据版本冲突"), 6000, 6000),
    ],
)
async def test_errcode_faults(
    sandbox: Sandbox, fault: Fault, wecom_code: int, ding_code: int
) -> None:
    async with http_for(sandbox) as http:
        tok, dtok = await token(http), await ding_token(http)
        sandbox.faults.script("wecom.*", [fault])
        sandbox.faults.script("dingtalk.calendar.list", [fault])
        r = await listing(http, tok, sandbox)
        d = await ding_list(http, dtok, sandbox)
        ok = await listing(http, tok, sandbox)
    assert (r.status_code, r.json()["errcode"]) == (200, wecom_code)
    assert (d.status_code, d.json()["errcode"]) == (200, ding_code)
    assert "schedule_list" not in r.json()
    assert "result" not in d.json()
    if fault.errmsg is not None:
        assert r.json()["errmsg"] == fault.errmsg
    assert ok.json()["errcode"] == 0
    assert [x.errcode for x in sandbox.requests[-3:]] == [wecom_code, ding_code, 0]


@pytest.mark.anyio
async def test_qps_403(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        dtok = await ding_token(http)
        sandbox.faults.script("dingtalk.calendar.list", [Fault.qps_403()])
        r = await ding_list(http, dtok, sandbox)
    assert r.status_code == 403
    assert r.json()["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"


@pytest.mark.anyio
async def test_revoke_token_fault(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.script("wecom.schedule.get_by_calendar", [None, Fault.revoke_token()])
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 0
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 40014
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 40014  # stays dead
        assert (await listing(http, await token(http), sandbox)).json()["errcode"] == 0
        dtok = await ding_token(http)
        sandbox.faults.script("dingtalk.*", [Fault.revoke_token(42001)])
        assert (await ding_list(http, dtok, sandbox)).json()["errcode"] == 42001
        fresh = await ding_token(http)
        assert fresh != dtok
        assert (await ding_list(http, fresh, sandbox)).json()["errcode"] == 0


@pytest.mark.anyio
async def test_revoke_tokens_after_n_calls(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.revoke_tokens_after(2)
        codes = [(await listing(http, tok, sandbox)).json()["errcode"] for _ in range(4)]
        assert codes == [0, 0, 40014, 40014]
        # Fetching a token is not counted, and a new token works.
        assert (await listing(http, await token(http), sandbox)).json()["errcode"] == 0
        sandbox.faults.revoke_tokens_after(0, errcode=42001)
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 40014  # already dead
        fresh = await token(http)
        assert (await listing(http, fresh, sandbox)).json()["errcode"] == 0
        sandbox.faults.revoke_tokens_after(0, errcode=42001)
        assert (await listing(http, fresh, sandbox)).json()["errcode"] == 42001


@pytest.mark.anyio
async def test_dropped_connection_in_process(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.dropped()])
        with pytest.raises(httpx.RemoteProtocolError):
            await listing(http, tok, sandbox)
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 0
    assert (sandbox.requests[-2].fault, sandbox.requests[-2].status) == ("dropped", None)


@pytest.mark.anyio
async def test_truncated_json(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        full = (await listing(http, tok, sandbox)).content
        sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.truncated()])
        cut = await listing(http, tok, sandbox)
    assert cut.status_code == 200
    assert cut.content == full[: len(full) // 2]
    assert int(cut.headers["content-length"]) == len(full) // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


@pytest.mark.anyio
async def test_truncated_write_still_happens(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        before = len(sandbox.wecom_schedules)
        sandbox.faults.script("wecom.schedule.add", [Fault.truncated()])
        r = await http.post(
            "/cgi-bin/oa/schedule/add",
            params={"access_token": tok},
            json={"schedule": {"cal_id": cal_id(sandbox), "start_time": 1, "end_time": 2}},
        )
    assert r.content.startswith(b'{"errcode":0')
    assert len(sandbox.wecom_schedules) == before + 1


@pytest.mark.anyio
async def test_offset_drift_repeats_an_item_across_pages(sandbox: Sandbox) -> None:
    async with http_for(sandbox) as http:
        tok = await token(http)
        page1 = (await listing(http, tok, sandbox, 0, 5)).json()["schedule_list"]
        sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.offset_drift()])
        page2 = (await listing(http, tok, sandbox, 5, 5)).json()["schedule_list"]
    assert page2[0]["schedule_id"] == page1[-1]["schedule_id"]
    truth = sandbox.wecom_ground_truth(cal_id(sandbox))
    assert len(truth) == 13
    assert truth[0]["summary"] == "插队日程 drift ⏩"


@pytest.mark.anyio
async def test_offset_drift_on_dingtalk_page_tokens(sandbox: Sandbox) -> None:
    user = next(iter(sandbox.dingtalk_users))
    async with http_for(sandbox) as http:
        dtok = await ding_token(http)
        body = {"user_id": user, "max_results": 4}
        first = (
            await http.post("/topapi/calendar/list", params={"access_token": dtok}, json=body)
        ).json()["result"]
        sandbox.faults.script("dingtalk.calendar.list", [Fault.offset_drift()])
        body["page_token"] = first["next_page_token"]
        second = (
            await http.post("/topapi/calendar/list", params={"access_token": dtok}, json=body)
        ).json()["result"]
    assert second["items"][0]["id"] == first["items"][-1]["id"]


@pytest.mark.anyio
async def test_rate_faults_are_seeded(sandbox: Sandbox) -> None:
    async def pattern(seed: int) -> list[int]:
        sandbox.faults.clear()
        sandbox.faults.rate(Fault.busy(), p=0.5, seed=seed, target="wecom.schedule.*")
        async with http_for(sandbox) as http:
            tok = await token(http)  # not a target: draws nothing
            return [(await listing(http, tok, sandbox)).json()["errcode"] for _ in range(24)]

    first, again, other = await pattern(3), await pattern(3), await pattern(4)
    assert first == again
    assert first != other
    assert set(first) == {0, -1}
    sandbox.faults.clear()
    sandbox.faults.rate(Fault.busy(), p=0.0)
    assert set(await pattern_with(sandbox, 5)) == {0}
    sandbox.faults.clear()
    sandbox.faults.rate(Fault.busy(), p=1.0, target="wecom.schedule.get_by_calendar")
    assert set(await pattern_with(sandbox, 5)) == {-1}


async def pattern_with(sb: Sandbox, n: int) -> list[int]:
    async with http_for(sb) as http:
        tok = await token(http)
        return [(await listing(http, tok, sb)).json()["errcode"] for _ in range(n)]


@pytest.mark.anyio
async def test_scripts_win_over_rates_and_count_down(sandbox: Sandbox) -> None:
    sandbox.faults.rate(Fault.busy(), p=1.0, target="wecom.schedule.get_by_calendar")
    sandbox.faults.script("wecom.schedule.get_by_calendar", [None, Fault.rate_limited()])
    assert sandbox.faults.pending == 2
    codes = await pattern_with(sandbox, 3)
    assert codes == [0, 45009, -1]
    assert sandbox.faults.pending == 0


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValidationError):
        Fault.latency(-1)
    with pytest.raises(ValidationError):
        Fault.server_error(404)
    with pytest.raises(ValidationError):
        new_sandbox().faults.rate(Fault.busy(), p=1.5)
    with pytest.raises(ValidationError):
        new_sandbox().faults.revoke_tokens_after(-1)


# ---------------------------------------------------------------- over loopback


@pytest.mark.anyio
async def test_loopback_happy_path_and_faults(sandbox: Sandbox, sandbox_url: str) -> None:
    assert sandbox_url.startswith("http://127.0.0.1:")
    async with http_for(sandbox, sandbox_url) as http:
        tok = await token(http)
        ok = await listing(http, tok, sandbox, 0, 1000)
        assert [r["schedule_id"] for r in ok.json()["schedule_list"]] == [
            r["schedule_id"] for r in sandbox.wecom_ground_truth(cal_id(sandbox))
        ]
        sandbox.faults.script(
            "wecom.schedule.get_by_calendar",
            [
                Fault.dropped(),
                Fault.truncated(),
                Fault.latency(0.1),
                Fault.server_error(502),
                Fault.busy(),
                Fault.offset_drift(),
            ],
        )
        with pytest.raises(httpx.RemoteProtocolError):
            await listing(http, tok, sandbox)
        cut = await listing(http, tok, sandbox)
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.content)
        began = time.monotonic()
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 0
        assert time.monotonic() - began >= 0.1
        assert (await listing(http, tok, sandbox)).status_code == 502
        assert (await listing(http, tok, sandbox)).json()["errcode"] == -1
        page = (await listing(http, tok, sandbox, 0, 1)).json()["schedule_list"]
        assert page[0]["summary"] == "插队日程 drift ⏩"
        sandbox.faults.revoke_tokens_after(0)
        assert (await listing(http, tok, sandbox)).json()["errcode"] == 40014
        log = (await http.get("/_sandbox/requests")).json()
    assert [row["fault"] for row in log[2:8]] == [
        "dropped",
        "truncated",
        "latency",
        "server_error",
        "busy",
        "offset_drift",
    ]
    assert log[2]["status"] is None


def test_serve_stops_cleanly_and_frees_the_port() -> None:
    sb = new_sandbox()

    def servers() -> list[threading.Thread]:
        # By name, not by count: idle worker threads of earlier tests (anyio's
        # to_thread pool) may exit at any moment and change the count.
        return [t for t in threading.enumerate() if t.name == "wecal-sandbox"]

    assert servers() == []
    with serve(sb) as url:
        r = httpx.get(
            f"{url}/cgi-bin/gettoken",
            params={"corpid": WECOM_CORP_ID, "corpsecret": WECOM_SECRET},
        )
        assert r.json()["errcode"] == 0
        assert len(servers()) == 1
    assert servers() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/cgi-bin/gettoken", timeout=2)
