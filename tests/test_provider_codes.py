"""
More provider codes read the way DESIGN.md "Errors: who said no" asks:

- not found whatever the code: WeCom 40058 on a write addressed by an id
  among other fields (``calendar/update``, ``schedule/update``, the attendee
  calls) when that id is unknown — and still an invalid request when the id
  exists and a field is bad; DingTalk legacy 33012 (无效的USERID);
- legacy errcode 88 with sub-code 90002 (a QPS ban) is a retried
  ``RateLimitError``, however the envelope carries its sub-code (its own
  field, or only inside ``errmsg`` as ``ding talk error[subcode=…]``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import httpx
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, ok, wecom_error
from tests.sandbox_fixtures import client_on
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.sandbox import Fault, Sandbox, generate

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 6, 1, tzinfo=UTC)
T1 = datetime(2024, 7, 1, tzinfo=UTC)


# -- WeCom 40058 on writes keyed by an id -----------------------------------------


async def test_wecom_calendar_update_of_an_unknown_calendar_is_not_found(
    sandbox: Sandbox,
) -> None:
    summary = generate(sandbox, seed=3, wecom_calendars=1, schedules_per_calendar=2)
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        (cal,) = await wecom.get_calendars([summary.wecom_calendars[0]])
        ghost = wecal.Calendar(
            provider=wecal.Provider.WECOM, id="wcjgewNOSUCHCAL", summary="x", color="#FF3030"
        )
        with pytest.raises(wecal.NotFoundError) as info:
            await wecom.update_calendar(ghost)
        assert info.value.code == 40058
        assert info.value.missing == ("wcjgewNOSUCHCAL",)
        # A known calendar updates as before.
        renamed = await wecom.update_calendar(attrs.evolve(cal, summary="改名"))
        assert renamed.summary == "改名"


async def test_wecom_40058_on_update_of_an_existing_calendar_stays_invalid_request() -> None:
    from wecal.providers.wecom._errors import WECOM

    fake = FakeProvider(WECOM)
    fake.script("/cgi-bin/oa/calendar/update", wecom_error(40058, "invalid parameter: color"))

    async def known(request: httpx.Request) -> httpx.Response:
        calendar = {"cal_id": "wcjgewKNOWN", "summary": "s", "color": "#FF3030", "shares": []}
        return ok({"errcode": 0, "calendar_list": [calendar]})

    fake.route("/cgi-bin/oa/calendar/get", known)
    async with wecal.WeComClient(
        "ww-test-corp", fake.secret, transport=fake.transport(), base_url="http://fake"
    ) as wecom:
        cal = wecal.Calendar(
            provider=wecal.Provider.WECOM, id="wcjgewKNOWN", summary="s", color="#FF3030"
        )
        with pytest.raises(wecal.InvalidRequestError) as info:
            await wecom.update_calendar(cal)
    assert type(info.value) is wecal.InvalidRequestError
    assert info.value.code == 40058


async def test_wecom_attendee_change_on_an_unknown_schedule_is_not_found(
    sandbox: Sandbox,
) -> None:
    generate(sandbox, seed=3, wecom_calendars=1, schedules_per_calendar=2)
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        for change in (wecom.add_attendees, wecom.remove_attendees):
            with pytest.raises(wecal.NotFoundError) as info:
                await change("NOSUCHSCHEDULE", ["zhangsan"])
            assert info.value.code == 40058


# -- DingTalk legacy 33012 --------------------------------------------------------


async def test_dingtalk_legacy_33012_is_not_found(sandbox: Sandbox) -> None:
    sandbox.faults.script("dingtalk.calendar.list", [Fault.error(33012, "无效的USERID")])
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as ding:
        with pytest.raises(wecal.NotFoundError) as info:
            [e async for e in ding.list_events(user_id="nobody", start=T0, end=T1)]
    assert info.value.code == 33012


@pytest.mark.parametrize("code", [33012, "33012"])
async def test_dingtalk_33012_inside_an_88_envelope_is_not_found(code: object) -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script(
        "/x", httpx.Response(200, json={"errcode": 88, "sub_code": code, "sub_msg": "无效的USERID"})
    )
    with pytest.raises(wecal.NotFoundError):
        await make_core(fake).call("x", "POST", "/x")


# -- errcode 88 / sub-code 90002 ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"errcode": 88, "sub_code": "90002", "sub_msg": "调用太频繁"},
        {"errcode": 88, "sub_code": 90002},
        {"errcode": "88", "subCode": "90002", "subMsg": "qps"},
        # Only the message says it (the seed's "ding talk error" with its details).
        {"errcode": 88, "errmsg": "ding talk error[subcode=90002,submsg=请求总次数超过了 300 次]"},
        {"errcode": 88, "errmsg": "ding talk error[subcode=isp.90002,submsg=limit]"},
    ],
)
async def test_88_with_sub_code_90002_is_a_retried_rate_limit(body: dict[str, object]) -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/x", httpx.Response(200, json=body), ok({"errcode": 0, "v": 1}))
    core = make_core(fake, clock=FakeClock())
    assert await core.call("x", "POST", "/x") == {"errcode": 0, "v": 1}
    assert core.stats.rate_limited == 1
    assert core.stats.retries == 1
    fake.script("/x", *[httpx.Response(200, json=body)] * 8)
    with pytest.raises(wecal.RateLimitError) as info:
        await core.call("x", "POST", "/x")
    assert info.value.code == 88
    assert info.value.sub_code is not None
    assert info.value.sub_code.endswith("90002")


async def test_88_sub_message_comes_from_errmsg_when_the_fields_are_absent() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script(
        "/x",
        httpx.Response(
            200, json={"errcode": 88, "errmsg": "ding talk error[subcode=60011,submsg=没有权限]"}
        ),
    )
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await make_core(fake).call("x", "POST", "/x")
    assert info.value.sub_code == "60011"
    assert "没有权限" in str(info.value)
