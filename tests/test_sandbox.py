"""The emulator's WeCom and DingTalk APIs, driven through plain httpx clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    NOW,
    WECOM_CORP_ID,
    WECOM_SECRET,
    ding_token,
    new_sandbox,
    wecom_token,
)
from wecal.sandbox import FakeClock, Sandbox

pytestmark = pytest.mark.anyio

CST = timezone(timedelta(hours=8))


@pytest.fixture
def sandbox() -> Sandbox:
    # The same as tests.sandbox_fixtures.sandbox, which conftest may not load.
    return new_sandbox()


def ts(*args: int, tz: timezone = CST) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp())  # type: ignore[misc]


@asynccontextmanager
async def client(sb: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sb.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http


class WeCom:
    """A tiny hand-written caller: token in the query, JSON in, JSON out."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.token = http, token

    async def __call__(self, op: str, body: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"/cgi-bin/oa/{op}", params={"access_token": self.token}, json=body
        )
        assert r.status_code == 200  # WeCom answers errors with HTTP 200
        data: dict[str, Any] = r.json()
        return data


@asynccontextmanager
async def wecom(sb: Sandbox) -> AsyncIterator[WeCom]:
    async with client(sb) as http:
        yield WeCom(http, await wecom_token(http))


async def new_calendar(api: WeCom, **extra: Any) -> str:
    body = {"calendar": {"summary": "研发部 📅", "color": "#FF3030", **extra}}
    data = await api("calendar/add", body)
    assert data["errcode"] == 0, data
    cal_id: str = data["cal_id"]
    return cal_id


WEEKLY = {"is_repeat": 1, "repeat_type": 1}


async def new_schedule(api: WeCom, cal_id: str, **fields: Any) -> str:
    schedule = {
        "cal_id": cal_id,
        "start_time": ts(2024, 6, 3, 10),
        "end_time": ts(2024, 6, 3, 11),
        "summary": "周会 weekly sync 🎉",
        **fields,
    }
    data = await api("schedule/add", {"schedule": schedule})
    assert data["errcode"] == 0, data
    sid: str = data["schedule_id"]
    return sid


async def get_one(api: WeCom, sid: str) -> dict[str, Any]:
    data = await api("schedule/get", {"schedule_id_list": [sid]})
    assert data["errcode"] == 0, data
    row: dict[str, Any] = data["schedule_list"][0]
    return row


# ---------------------------------------------------------------- WeCom tokens


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"corpid": WECOM_CORP_ID, "corpsecret": "wrong"}, 40001),
        ({"corpid": "ww_other", "corpsecret": WECOM_SECRET}, 40013),
        ({"corpsecret": WECOM_SECRET}, 41002),
        ({"corpid": WECOM_CORP_ID}, 41004),
    ],
)
async def test_wecom_gettoken_errors(
    sandbox: Sandbox, params: dict[str, str], errcode: int
) -> None:
    async with client(sandbox) as http:
        r = await http.get("/cgi-bin/gettoken", params=params)
    data = r.json()
    assert (r.status_code, data["errcode"]) == (200, errcode)
    assert "access_token" not in data
    assert WECOM_SECRET not in r.text
    assert (
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}" in data["errmsg"]
    )


async def test_wecom_token_lifecycle(sandbox: Sandbox) -> None:
    clock = sandbox.clock
    assert isinstance(clock, FakeClock)
    async with client(sandbox) as http:
        r = await http.get(
            "/cgi-bin/gettoken", params={"corpid": WECOM_CORP_ID, "corpsecret": WECOM_SECRET}
        )
        data = r.json()
        assert (data["errcode"], data["errmsg"], data["expires_in"]) == (0, "ok", 7200)
        api = WeCom(http, data["access_token"])
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 40058
        clock.advance(7199)
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 40058
        clock.advance(1)
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 42001
        assert (await WeCom(http, "garbage")("calendar/get", {}))["errcode"] == 40014
        assert (await WeCom(http, "")("calendar/get", {}))["errcode"] == 41001
        # A DingTalk token is no WeCom token.
        assert (await WeCom(http, await ding_token(http))("calendar/get", {}))["errcode"] == 40014
        # A fresh token works again; the old one stays expired.
        fresh = WeCom(http, await wecom_token(http))
        assert fresh.token != api.token
        assert (await fresh("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 40058


async def test_wecom_token_ttl_is_configurable() -> None:
    clock = FakeClock(NOW)
    sb = Sandbox(clock=clock, token_ttl=60)
    sb.add_wecom_app(WECOM_CORP_ID, WECOM_SECRET)
    async with wecom(sb) as api:
        clock.advance(60)
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 42001


async def test_revoke_tokens(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        sandbox.revoke_tokens()
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 40014
        sandbox.revoke_tokens(42001)  # already dead: keeps its first code
        assert (await api("calendar/get", {"cal_id_list": ["x"]}))["errcode"] == 40014


# ---------------------------------------------------------------- WeCom calendars


async def test_calendar_crud_with_overwrite(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(
            api,
            description="描述 ✅",
            admins=["zhangsan"],
            shares=[{"userid": "zhangsan", "permission": 1}, {"userid": "lisi", "permission": 3}],
            is_public=1,
            public_range={"userids": ["wangwu"], "partyids": [2]},
        )
        got = await api("calendar/get", {"cal_id_list": [cal_id]})
        assert got["calendar_list"] == [
            {
                "cal_id": cal_id,
                "admins": ["zhangsan"],
                "summary": "研发部 📅",
                "color": "#FF3030",
                "description": "描述 ✅",
                "shares": [
                    {"userid": "zhangsan", "permission": 1},
                    {"userid": "lisi", "permission": 3},
                ],
                "public_range": {"userids": ["wangwu"], "partyids": [2]},
                "is_public": 1,
                "is_corp_calendar": 0,
            }
        ]
        # Overwrite: omitted description, admins and shares are cleared;
        # skip_public_range keeps the range; is_public cannot change.
        upd = await api(
            "calendar/update",
            {
                "skip_public_range": 1,
                "calendar": {"cal_id": cal_id, "summary": "新标题", "color": "#0000FF"},
            },
        )
        assert (upd["errcode"], upd["fail_result"]) == (0, {"shares": []})
        cal = (await api("calendar/get", {"cal_id_list": [cal_id]}))["calendar_list"][0]
        assert (cal["summary"], cal["color"], cal["description"]) == ("新标题", "#0000FF", "")
        assert (cal["admins"], cal["shares"], cal["is_public"]) == ([], [], 1)
        assert cal["public_range"] == {"userids": ["wangwu"], "partyids": [2]}
        sid = await new_schedule(api, cal_id)
        assert (await api("calendar/del", {"cal_id": cal_id}))["errcode"] == 0
        assert (await api("calendar/get", {"cal_id_list": [cal_id]}))["errcode"] == 40058
        assert (await api("schedule/get", {"schedule_id_list": [sid]}))["errcode"] == 40058


async def test_calendar_partial_failure_for_unknown_members(sandbox: Sandbox) -> None:
    sandbox.wecom_users.update({"zhangsan", "lisi"})
    async with wecom(sandbox) as api:
        data = await api(
            "calendar/add",
            {
                "calendar": {
                    "summary": "s",
                    "color": "#123456",
                    "shares": [{"userid": "zhangsan"}, {"userid": "nobody"}],
                }
            },
        )
        assert data["errcode"] == 0
        assert [(f["userid"], f["errcode"]) for f in data["fail_result"]["shares"]] == [
            ("nobody", 60111)
        ]
        cal = sandbox.wecom_calendars[data["cal_id"]]
        assert cal["shares"] == [{"userid": "zhangsan", "permission": 1}]


@pytest.mark.parametrize(
    "calendar",
    [
        {"color": "#FF3030"},  # summary missing
        {"summary": "", "color": "#FF3030"},
        {"summary": "x" * 129, "color": "#FF3030"},
        {"summary": "s"},  # color missing
        {"summary": "s", "color": "red"},
        {"summary": "s", "color": "#FF3030", "admins": ["a"], "shares": []},  # admin not shared
        {"summary": "s", "color": "#FF3030", "admins": ["a", "b", "c", "d"]},
        {"summary": "s", "color": "#FF3030", "shares": [{"userid": "a", "permission": 2}]},
        {"summary": "s", "color": "#FF3030", "description": "d" * 513},
    ],
)
async def test_calendar_add_rejects_bad_fields(sandbox: Sandbox, calendar: dict[str, Any]) -> None:
    async with wecom(sandbox) as api:
        data = await api("calendar/add", {"calendar": calendar})
    assert data["errcode"] == 40058
    assert not sandbox.wecom_calendars


async def test_other_app_of_the_corp_is_refused(sandbox: Sandbox) -> None:
    sandbox.add_wecom_app(WECOM_CORP_ID, "second-app-secret")
    async with client(sandbox) as http:
        mine = WeCom(http, await wecom_token(http))
        cal_id = await new_calendar(mine)
        sid = await new_schedule(mine, cal_id)
        r = await http.get(
            "/cgi-bin/gettoken",
            params={"corpid": WECOM_CORP_ID, "corpsecret": "second-app-secret"},
        )
        other = WeCom(http, r.json()["access_token"])
        assert (await other("calendar/get", {"cal_id_list": [cal_id]}))["errcode"] == 301002
        assert (await other("schedule/get", {"schedule_id_list": [sid]}))["errcode"] == 301002
        body = {"cal_id": cal_id, "offset": 0, "limit": 10}
        assert (await other("schedule/get_by_calendar", body))["errcode"] == 301002


# ---------------------------------------------------------------- WeCom schedules


async def test_schedule_add_get_matches_the_documented_shape(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(
            api,
            cal_id,
            admins=["admin1"],
            attendees=[{"userid": "userid2"}],
            description="test_content",
            location="test_place",
            is_whole_day=0,
            reminders={
                "is_remind": 1,
                "remind_time_diffs": [-3600],
                **WEEKLY,
                "repeat_until": ts(2024, 7, 1),
            },
        )
        row = await get_one(api, sid)
    assert row == {
        "schedule_id": sid,
        "admins": ["admin1"],
        "attendees": [{"userid": "userid2", "response_status": 0}],
        "summary": "周会 weekly sync 🎉",
        "description": "test_content",
        "reminders": {
            "is_remind": 1,
            "is_repeat": 1,
            "remind_before_event_secs": 0,
            "remind_time_diffs": [-3600],
            "repeat_type": 1,
            "repeat_until": ts(2024, 7, 1),
            "is_custom_repeat": 0,
            "repeat_interval": 0,
            "repeat_day_of_week": [],
            "repeat_day_of_month": [],
            "timezone": 8,
            "exclude_time_list": [],
        },
        "location": "test_place",
        "cal_id": cal_id,
        "start_time": ts(2024, 6, 3, 10),
        "end_time": ts(2024, 6, 3, 11),
        "status": 0,
        "is_whole_day": 0,
    }


async def test_schedule_add_without_cal_id_uses_the_default_calendar(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        body = {"schedule": {"start_time": ts(2024, 6, 3), "end_time": ts(2024, 6, 4)}}
        assert (await api("schedule/add", body))["errcode"] == 40058  # no default yet
        cal_id = await new_calendar(api, set_as_default=1)
        data = await api("schedule/add", body)
        assert sandbox.wecom_schedules[data["schedule_id"]]["cal_id"] == cal_id


@pytest.mark.parametrize(
    "fields",
    [
        {"end_time": ts(2024, 6, 3, 9)},  # before start
        {"start_time": "10:00"},
        {"start_time": None},
        {"summary": "x" * 129},
        {"location": "x" * 129},
        {"description": "x" * 1001},
        {"admins": ["a", "b", "c", "d"]},
        {"attendees": [{"userid": f"u{i}"} for i in range(1001)]},
        {"attendees": [{"name": "no userid"}]},
        {"reminders": {"repeat_type": 3}},
        {"reminders": {"timezone": 13}},
        {"reminders": {"remind_before_event_secs": 60}},
        {"reminders": {"remind_time_diffs": [-700000]}},
        {"reminders": {"is_custom_repeat": 1, "repeat_day_of_week": [0]}},
        {"reminders": {**WEEKLY, "repeat_until": ts(2024, 6, 1)}},
        {"is_whole_day": 2},
    ],
)
async def test_schedule_add_rejects_bad_fields(sandbox: Sandbox, fields: dict[str, Any]) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        schedule = {"cal_id": cal_id, "start_time": ts(2024, 6, 3, 10),
                    "end_time": ts(2024, 6, 3, 11), **fields}  # fmt: skip
        schedule = {k: v for k, v in schedule.items() if v is not None}
        data = await api("schedule/add", {"schedule": schedule})
    assert data["errcode"] == 40058, data
    assert not sandbox.wecom_schedules


async def test_body_that_is_not_json_is_47001(sandbox: Sandbox) -> None:
    async with client(sandbox) as http:
        token = await wecom_token(http)
        r = await http.post(
            "/cgi-bin/oa/schedule/get", params={"access_token": token}, content=b"{not json"
        )
    assert r.json()["errcode"] == 47001


async def test_update_overwrites_and_skip_attendees_keeps_them(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(
            api, cal_id, location="会议室", attendees=[{"userid": "a"}, {"userid": "b"}]
        )
        sandbox.wecom_schedules[sid]["attendees"][0]["response_status"] = 2  # a accepted
        base = {
            "schedule_id": sid,
            "start_time": ts(2024, 6, 4, 10),
            "end_time": ts(2024, 6, 4, 12),
        }
        data = await api("schedule/update", {"skip_attendees": 1, "schedule": base})
        assert (data["errcode"], data["schedule_id"]) == (0, sid)
        row = await get_one(api, sid)
        assert (row["location"], row["summary"], row["start_time"]) == ("", "", ts(2024, 6, 4, 10))
        assert row["attendees"] == [
            {"userid": "a", "response_status": 2},
            {"userid": "b", "response_status": 0},
        ]
        # Without skip_attendees the list is replaced; answers of those who stay survive.
        body = {"schedule": {**base, "attendees": [{"userid": "a"}, {"userid": "c"}]}}
        assert (await api("schedule/update", body))["errcode"] == 0
        assert (await get_one(api, sid))["attendees"] == [
            {"userid": "a", "response_status": 2},
            {"userid": "c", "response_status": 0},
        ]
        assert (await api("schedule/update", {"schedule": base}))["errcode"] == 0
        assert (await get_one(api, sid))["attendees"] == []
        missing = {"schedule": {**base, "schedule_id": "nope"}}
        assert (await api("schedule/update", missing))["errcode"] == 40058


async def test_add_and_del_attendees_are_incremental(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id, attendees=[{"userid": "a"}])
        body = {"schedule_id": sid, "attendees": [{"userid": "a"}, {"userid": "b"}]}
        assert (await api("schedule/add_attendees", body))["errcode"] == 0
        assert [a["userid"] for a in (await get_one(api, sid))["attendees"]] == ["a", "b"]
        body = {"schedule_id": sid, "attendees": [{"userid": "a"}]}
        assert (await api("schedule/del_attendees", body))["errcode"] == 0
        assert [a["userid"] for a in (await get_one(api, sid))["attendees"]] == ["b"]
        many = {"schedule_id": sid, "attendees": [{"userid": f"u{i}"} for i in range(1000)]}
        assert (await api("schedule/add_attendees", many))["errcode"] == 40058  # 1001 in all


async def test_del_cancels_but_stays_readable(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id)
        assert (await api("schedule/del", {"schedule_id": sid}))["errcode"] == 0
        assert (await get_one(api, sid))["status"] == 1


# ---------------------------------------------------------------- op_mode


async def test_op_mode_1_update_splits_off_one_occurrence(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id, reminders=WEEKLY, attendees=[{"userid": "a"}])
        second = ts(2024, 6, 10, 10)  # a week after Monday 2024-06-03 10:00 +08
        new = {"schedule_id": sid, "start_time": ts(2024, 6, 10, 14),
               "end_time": ts(2024, 6, 10, 15), "summary": "改期 moved"}  # fmt: skip
        data = await api(
            "schedule/update",
            {"op_mode": 1, "op_start_time": second, "skip_attendees": 1, "schedule": new},
        )
        assert data["errcode"] == 0
        assert data["schedule_id"] != sid
        master = await get_one(api, sid)
        assert master["reminders"]["exclude_time_list"] == [{"start_time": second}]
        assert master["summary"] == "周会 weekly sync 🎉"
        single = await get_one(api, data["schedule_id"])
        assert single["reminders"]["is_repeat"] == 0
        assert (single["cal_id"], single["summary"]) == (cal_id, "改期 moved")
        assert single["attendees"] == [{"userid": "a", "response_status": 0}]
        # The excluded start is no occurrence any more.
        again = {"op_mode": 1, "op_start_time": second, "schedule": new}
        assert (await api("schedule/update", again))["errcode"] == 90482


async def test_op_mode_errors(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        plain = await new_schedule(api, cal_id)
        series = await new_schedule(api, cal_id, reminders=WEEKLY)
        body = {"start_time": ts(2024, 6, 10, 10), "end_time": ts(2024, 6, 10, 11)}
        on_plain = {"op_mode": 1, "op_start_time": ts(2024, 6, 3, 10),
                    "schedule": {"schedule_id": plain, **body}}  # fmt: skip
        assert (await api("schedule/update", on_plain))["errcode"] == 90485
        assert (await api("schedule/del", {"schedule_id": plain, "op_mode": 2,
                                           "op_start_time": ts(2024, 6, 3, 10)}))[
            "errcode"
        ] == 90485  # fmt: skip
        off_grid = {"op_mode": 1, "op_start_time": ts(2024, 6, 10, 10, 30),
                    "schedule": {"schedule_id": series, **body}}  # fmt: skip
        assert (await api("schedule/update", off_grid))["errcode"] == 90482
        repeat = {"op_mode": 1, "op_start_time": ts(2024, 6, 10, 10),
                  "schedule": {"schedule_id": series, **body, "reminders": WEEKLY}}  # fmt: skip
        assert (await api("schedule/update", repeat))["errcode"] == 90484
        bad_mode = {"op_mode": 3, "schedule": {"schedule_id": series, **body}}
        assert (await api("schedule/update", bad_mode))["errcode"] == 40058
        # Nothing changed on the failures.
        assert (await get_one(api, series))["reminders"]["exclude_time_list"] == []


async def test_op_mode_2_update_ends_the_series_and_starts_a_new_one(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id, reminders=WEEKLY)
        third = ts(2024, 6, 17, 10)
        new = {"schedule_id": sid, "start_time": ts(2024, 6, 17, 9),
               "end_time": ts(2024, 6, 17, 10), "reminders": WEEKLY}  # fmt: skip
        data = await api("schedule/update", {"op_mode": 2, "op_start_time": third, "schedule": new})
        assert data["errcode"] == 0
        assert data["schedule_id"] != sid
        until = (await get_one(api, sid))["reminders"]["repeat_until"]
        assert ts(2024, 6, 10, 10) <= until < third  # the 2nd occurrence is the last
        tail = await get_one(api, data["schedule_id"])
        assert (tail["start_time"], tail["reminders"]["is_repeat"]) == (ts(2024, 6, 17, 9), 1)
        # Mode 2 from the first occurrence is "modify all": no split.
        first = {"op_mode": 2, "op_start_time": ts(2024, 6, 3, 10),
                 "schedule": {**new, "summary": "all"}}  # fmt: skip
        data = await api("schedule/update", first)
        assert data["schedule_id"] == sid
        assert (await get_one(api, sid))["summary"] == "all"


async def test_del_with_op_modes(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id, reminders={"is_repeat": 1, "repeat_type": 0})
        day2, day5 = ts(2024, 6, 4, 10), ts(2024, 6, 7, 10)
        one = {"schedule_id": sid, "op_mode": 1, "op_start_time": day2}
        assert (await api("schedule/del", one))["errcode"] == 0
        rest = {"schedule_id": sid, "op_mode": 2, "op_start_time": day5}
        assert (await api("schedule/del", rest))["errcode"] == 0
        row = await get_one(api, sid)
        assert row["status"] == 0
        assert row["reminders"]["exclude_time_list"] == [{"start_time": day2}]
        assert row["reminders"]["repeat_until"] == ts(2024, 6, 6, 10)
        n_schedules = len(sandbox.wecom_schedules)
    assert n_schedules == 1  # del never creates schedules


# ---------------------------------------------------------------- listing


async def test_get_by_calendar_offset_paging_and_limits(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        starts = [ts(2024, 6, d, 9) for d in (5, 3, 9, 1, 7, 3, 2)]
        ids = [await new_schedule(api, cal_id, start_time=s, end_time=s + 600) for s in starts]
        seen: list[dict[str, Any]] = []
        for offset in range(0, 100, 3):  # bounded loop; stops on the empty page
            data = await api("schedule/get_by_calendar", {"cal_id": cal_id, "offset": offset,
                                                          "limit": 3})  # fmt: skip
            assert data["errcode"] == 0
            if not data["schedule_list"]:
                break
            seen.extend(data["schedule_list"])
        # Order: start_time, then creation (sequence); ties keep creation order.
        expected = sorted(range(7), key=lambda i: (starts[i], i))
        assert [r["schedule_id"] for r in seen] == [ids[i] for i in expected]
        assert [r["sequence"] for r in seen] == [i + 1 for i in expected]
        assert seen == sandbox.wecom_ground_truth(cal_id)
        default = await api("schedule/get_by_calendar", {"cal_id": cal_id})
        assert len(default["schedule_list"]) == 7
        for limit in (0, 1001, -1):
            body = {"cal_id": cal_id, "limit": limit}
            assert (await api("schedule/get_by_calendar", body))["errcode"] == 40058
        assert (await api("schedule/get_by_calendar", {"cal_id": "nope"}))["errcode"] == 40058
        assert (await api("schedule/get_by_calendar", {}))["errcode"] == 40058


async def test_get_limits_and_unknown_ids(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        cal_id = await new_calendar(api)
        sid = await new_schedule(api, cal_id)
        assert (await api("schedule/get", {"schedule_id_list": [sid] * 1001}))["errcode"] == 40058
        full = await api("schedule/get", {"schedule_id_list": [sid] * 1000})
        assert len(full["schedule_list"]) == 1000
        data = await api("schedule/get", {"schedule_id_list": [sid, "missing"]})
        assert data["errcode"] == 40058
        assert "schedule_id_list[1]" in data["errmsg"]
        assert (await api("schedule/get", {"schedule_id_list": []}))["errcode"] == 40058
        assert (await api("calendar/get", {"cal_id_list": [cal_id] * 1001}))["errcode"] == 40058


# ---------------------------------------------------------------- DingTalk


async def ding_list(http: httpx.AsyncClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.post("/topapi/calendar/list", params={"access_token": token}, json=body)
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data


def ding_user(sb: Sandbox) -> str:
    sb.add_dingtalk_user("123134568", "李四", folder_id="1k3io5atbqjbgh9927j8d94abh")
    return "123134568"


async def test_dingtalk_gettoken_is_renewed_not_replaced(sandbox: Sandbox) -> None:
    clock = sandbox.clock
    assert isinstance(clock, FakeClock)
    user = ding_user(sandbox)
    async with client(sandbox) as http:
        first = await ding_token(http)
        clock.advance(7000)
        assert await ding_token(http) == first  # same token, expiry renewed
        clock.advance(7000)
        assert (await ding_list(http, first, {"user_id": user}))["errcode"] == 0
        clock.advance(201)
        expired = await ding_list(http, first, {"user_id": user})
        assert (expired["errcode"], expired["errmsg"]) == (42001, "access_token超时")
        bad = await http.get("/gettoken", params={"appkey": DINGTALK_APP_KEY, "appsecret": "x"})
        assert bad.json()["errcode"] == 40001
        assert (await ding_list(http, "nope", {"user_id": user}))["errcode"] == 40014
        assert (await ding_list(http, "", {"user_id": user}))["errcode"] == 40014


@pytest.mark.parametrize(
    ("body", "errcode", "name"),
    [
        ({}, 40, "user_id"),
        ({"user_id": "999"}, 60121, ""),
        ({"user_id": "123134568", "max_results": 2501}, 41, "max_results"),
        ({"user_id": "123134568", "max_results": 0}, 41, "max_results"),
        ({"user_id": "123134568", "calendar_folder_id": "other"}, 41, "calendar_folder_id"),
        ({"user_id": "123134568", "time_min": {"date_time": "2019-03-01"}}, 41, "time_min"),
        ({"user_id": "123134568", "time_max": "2019-03-01T23:08:53+0800"}, 41, "time_max"),
        ({"user_id": "123134568", "page_token": "not-a-token"}, 41, "page_token"),
        ({"user_id": "123134568", "single_events": "maybe"}, 41, "single_events"),
    ],
)
async def test_dingtalk_argument_errors(
    sandbox: Sandbox, body: dict[str, Any], errcode: int, name: str
) -> None:
    ding_user(sandbox)
    async with client(sandbox) as http:
        data = await ding_list(http, await ding_token(http), body)
    assert data["errcode"] == errcode
    assert name in data["errmsg"]
    assert "result" not in data


def shanghai_event(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "summary": "日程标题(生日)",
        "start": {"date_time": start, "time_zone": "Asia/Shanghai"},
        "end": {"date_time": end, "time_zone": "Asia/Shanghai"},
        "status": "confirmed",
        "response_status": "needsAction",
        "organizer": {"self": True, "display_name": "李四", "userid": "123134568"},
        **extra,
    }


async def test_dingtalk_window_overlap_and_page_tokens(sandbox: Sandbox) -> None:
    user = ding_user(sandbox)
    ids = {
        "before": sandbox.add_dingtalk_event(
            user, shanghai_event("2024-06-01T08:00:00+0800", "2024-06-01T09:00:00+0800")
        ),
        "straddles": sandbox.add_dingtalk_event(
            user, shanghai_event("2024-06-01T09:30:00+0800", "2024-06-01T10:30:00+0800")
        ),
        "inside": sandbox.add_dingtalk_event(
            user, shanghai_event("2024-06-01T11:00:00+0800", "2024-06-01T12:00:00+0800")
        ),
        "all_day": sandbox.add_dingtalk_event(
            user,
            {
                **shanghai_event("", ""),
                "start": {"date": "2024-06-01"},
                "end": {"date": "2024-06-02"},
            },
        ),
        "at_end": sandbox.add_dingtalk_event(
            user, shanghai_event("2024-06-01T13:00:00+0800", "2024-06-01T14:00:00+0800")
        ),
    }
    window = {
        "user_id": user,
        "time_min": {"date_time": "2024-06-01T10:00:00+0800", "time_zone": "Asia/Shanghai"},
        "time_max": {"date_time": "2024-06-01T05:00:00Z"},  # 13:00 +08, exclusive
        "max_results": 1,
    }
    async with client(sandbox) as http:
        token = await ding_token(http)
        got: list[str] = []
        body = dict(window)
        for _ in range(10):  # bounded
            data = await ding_list(http, token, body)
            assert (data["errcode"], data["success"]) == (0, True)
            assert data["result"]["summary"] == "李四的日程"
            got += [item["id"] for item in data["result"]["items"]]
            if "next_page_token" not in data["result"]:
                break
            body = {**window, "page_token": data["result"]["next_page_token"]}
        # The all-day event starts at 00:00 +08, before the straddling one.
        assert got == [ids["all_day"], ids["straddles"], ids["inside"]]
        # A page token belongs to its query.
        first = await ding_list(http, token, window)
        other = {**window, "max_results": 2, "user_id": user, "single_events": True,
                 "page_token": first["result"]["next_page_token"]}  # fmt: skip
        assert (await ding_list(http, token, other))["errcode"] == 41


async def test_dingtalk_single_events_expands_in_the_window(sandbox: Sandbox) -> None:
    user = ding_user(sandbox)
    ev = shanghai_event(
        "2024-06-03T10:00:00+0800",
        "2024-06-03T11:00:00+0800",
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20240610T020000Z"],
    )
    sid = sandbox.add_dingtalk_event(user, ev)
    window = {
        "user_id": user,
        "time_min": {"date_time": "2024-06-01T00:00:00+0800"},
        "time_max": {"date_time": "2024-07-01T00:00:00+0800"},
    }
    async with client(sandbox) as http:
        token = await ding_token(http)
        expanded = await ding_list(http, token, {**window, "single_events": True})
        masters = await ding_list(http, token, window)
    items = expanded["result"]["items"]
    # Mondays of June 2024 at 10:00 +08 (02:00Z), without the excluded 10th.
    days = [3, 17, 24]
    # The seed's shape ("id":"1k3io5…" beside "unique_id":"k3io5…"): a number,
    # here the minutes from the series' start plus one, before the unique_id.
    assert [i["id"] for i in items] == [f"{(d - 3) * 24 * 60 + 1}{sid}" for d in days]
    assert [i["recurrence_id"] for i in items] == [
        str(int(datetime(2024, 6, d, 2, tzinfo=UTC).timestamp()) * 1000) for d in days
    ]
    assert [i["start"]["date_time"] for i in items] == [
        f"2024-06-{d:02d}T10:00:00+0800" for d in days
    ]
    assert all("recurrence" not in i and i["unique_id"] == sid for i in items)
    [master] = masters["result"]["items"]
    assert master["id"] == sid
    assert "recurrence_id" not in master
    assert master["recurrence"] in (
        {"string": ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20240610T020000Z"]},
        ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20240610T020000Z"],
        ["WEEKLY;BYDAY=MO", "EXDATE:20240610T020000Z"],
    )


# ---------------------------------------------------------------- request log


async def test_requests_are_recorded_without_secrets(sandbox: Sandbox) -> None:
    async with wecom(sandbox) as api:
        await api("calendar/get", {"cal_id_list": ["x"]})
        r = await api.http.get("/_sandbox/requests")
    log = sandbox.requests
    assert [(x.api, x.status, x.errcode) for x in log] == [
        ("wecom.gettoken", 200, 0),
        ("wecom.calendar.get", 200, 40058),
    ]
    assert log[0].query == {"corpid": WECOM_CORP_ID, "corpsecret": "REDACTED"}
    assert log[1].query == {"access_token": "REDACTED"}
    assert log[1].json == {"cal_id_list": ["x"]}
    assert (log[1].method, log[1].path, log[1].provider, log[1].fault) == (
        "POST", "/cgi-bin/oa/calendar/get", "wecom", None,
    )  # fmt: skip
    assert log[1].at == NOW
    assert WECOM_SECRET not in r.text
    assert api.token not in r.text
    assert [row["api"] for row in r.json()] == ["wecom.gettoken", "wecom.calendar.get"]
    assert api.token not in repr(log)
    assert WECOM_SECRET not in repr(sandbox)


async def test_arrivals_are_recorded_per_app_and_api(sandbox: Sandbox) -> None:
    other = "ww_other_corp"
    sandbox.add_wecom_app(other, "other-secret-0123456789")
    async with client(sandbox) as http:
        token = await wecom_token(http)
        for _ in range(3):
            await http.post("/cgi-bin/oa/calendar/get", params={"access_token": token}, json={})
            sandbox.clock.advance(0.5)  # type: ignore[attr-defined]
        r = await http.get(
            "/cgi-bin/gettoken", params={"corpid": other, "corpsecret": "other-secret-0123456789"}
        )
        assert r.json()["errcode"] == 0
        await http.post("/cgi-bin/oa/calendar/get", params={"access_token": "unknown"}, json={})
    apis = {r.api for r in sandbox.requests}
    calendar_api = next(a for a in apis if a and a.endswith("calendar.get"))
    assert sandbox.arrivals(api=calendar_api, app=WECOM_CORP_ID) == [NOW, NOW + 0.5, NOW + 1.0]
    assert len(sandbox.arrivals(app=other)) == 1  # its token request
    assert [r.app for r in sandbox.requests][-1] is None  # a token nobody was given
