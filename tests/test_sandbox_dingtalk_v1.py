"""The DingTalk v1.0 emulator, driven through plain httpx clients (in-process and loopback)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from dateutil import rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    NOW,
    ding_token,
    new_sandbox,
)
from wecal.providers.dingtalk._emulator import handle
from wecal.sandbox import (
    DEFAULT_DINGTALK_APP_KEY,
    DEFAULT_DINGTALK_APP_SECRET,
    FakeClock,
    Fault,
    Sandbox,
    describe,
    generate,
    serve,
)

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "sandbox_dingtalk_v1"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def sandbox() -> Sandbox:
    return new_sandbox()


class V1:
    """A tiny hand-written v1.0 caller: token header, JSON in, (status, JSON) out."""

    def __init__(self, http: httpx.AsyncClient, token: str, user: str) -> None:
        self.http, self.token, self.user = http, token, user

    @property
    def events(self) -> str:
        return f"/v1.0/calendar/users/{self.user}/calendars/primary/events"

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        r = await self.http.request(
            method,
            path,
            json=json_body,
            params=params,
            headers={"x-acs-dingtalk-access-token": self.token, **(headers or {})},
        )
        if not r.content:
            return r.status_code, None
        if r.headers["content-type"].startswith("application/json"):
            return r.status_code, r.json()
        return r.status_code, r.text

    async def create(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        status, data = await self.call("POST", self.events, json_body=body, headers=headers)
        assert status == 200, data
        assert isinstance(data, dict)
        return data

    async def get(self, event_id: str) -> tuple[int, Any]:
        return await self.call("GET", f"{self.events}/{event_id}")

    async def pages(self, view: bool = False, **params: Any) -> tuple[list[dict[str, Any]], Any]:
        """Every item over all pages, and the last page's syncToken."""
        path = self.events + ("view" if view else "")
        items: list[dict[str, Any]] = []
        query = dict(params)
        for _ in range(1000):  # bounded
            status, data = await self.call("GET", path, params=query)
            assert status == 200, data
            items += data["events"]
            if not data.get("nextToken"):
                return items, data.get("syncToken")
            query = {**params, "nextToken": data["nextToken"]}
        raise AssertionError("paging did not end")


async def v1_token(http: httpx.AsyncClient) -> str:
    r = await http.post(
        "/v1.0/oauth2/accessToken",
        json={"appKey": DINGTALK_APP_KEY, "appSecret": DINGTALK_APP_SECRET},
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["accessToken"]
    return token


@asynccontextmanager
async def v1_api(sb: Sandbox, user: str, base_url: str | None = None) -> AsyncIterator[V1]:
    if base_url is None:
        transport = httpx.ASGITransport(app=sb.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            yield V1(http, await v1_token(http), user)
    else:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            yield V1(http, await v1_token(http), user)


def timed(start: str, end: str, zone: str = "Asia/Shanghai", **extra: Any) -> dict[str, Any]:
    return {
        "summary": "周会 weekly sync 🎉",
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        **extra,
    }


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def shape_errors(ours: Any, doc: Any, path: str = "$") -> list[str]:
    """Where ``ours`` has a field of the doc's example with another JSON type."""
    if isinstance(doc, dict) and isinstance(ours, dict):
        return [
            e
            for k in doc.keys() & ours.keys()
            for e in shape_errors(ours[k], doc[k], f"{path}.{k}")
        ]
    if isinstance(doc, list) and isinstance(ours, list):
        return [e for o in ours for e in shape_errors(o, doc[0], f"{path}[]")] if doc else []
    return (
        []
        if type(ours) is type(doc)
        else [f"{path}: {type(ours).__name__} vs {type(doc).__name__}"]
    )


# ---------------------------------------------------------------- tokens and auth


async def test_token_endpoint_and_interchangeable_legacy_token(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        r = await api.http.post(
            "/v1.0/oauth2/accessToken", json={"appKey": DINGTALK_APP_KEY, "appSecret": "nope"}
        )
        assert r.status_code == 400
        assert r.json()["code"] == "invalidClientIdOrSecret"
        assert set(r.json()) == {"code", "message", "requestid"}
        ok = await api.http.post(
            "/v1.0/oauth2/accessToken",
            json={"appKey": DINGTALK_APP_KEY, "appSecret": DINGTALK_APP_SECRET},
        )
        assert ok.json() == {"accessToken": api.token, "expireIn": 7200}  # renewed, same token
        legacy = await ding_token(api.http)
        assert legacy == api.token
        sandbox.dingtalk_v1.token_quirk = "zero"
        zero = await api.http.post(
            "/v1.0/oauth2/accessToken",
            json={"appKey": DINGTALK_APP_KEY, "appSecret": DINGTALK_APP_SECRET},
        )
        assert zero.json()["expireIn"] == 0
        sandbox.dingtalk_v1.token_quirk = "missing"
        missing = await api.http.post(
            "/v1.0/oauth2/accessToken",
            json={"appKey": DINGTALK_APP_KEY, "appSecret": DINGTALK_APP_SECRET},
        )
        assert "expireIn" not in missing.json()
    assert DINGTALK_APP_SECRET not in repr(sandbox.requests)
    assert sandbox.requests[0].json == {"appKey": DINGTALK_APP_KEY, "appSecret": "REDACTED"}


async def test_auth_errors(sandbox: Sandbox) -> None:
    clock = sandbox.clock
    assert isinstance(clock, FakeClock)
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        r = await api.http.get(api.events)
        assert (r.status_code, r.json()["code"]) == (401, "Unauthorized")
        bad = V1(api.http, "garbage", user)
        status, data = await bad.call("GET", api.events)
        assert (status, data["code"], data["message"]) == (
            400, "InvalidAuthentication", "不合法的access_token",
        )  # fmt: skip
        assert (await api.call("GET", api.events))[0] == 200
        clock.advance(7200)
        status, data = await api.call("GET", api.events)
        assert (status, data["code"]) == (400, "InvalidAuthentication")
        assert "过期" in data["message"]
        api.token = await v1_token(api.http)
        sandbox.faults.script("dingtalk.v1.events.list", [Fault.revoke_token(42001)])
        assert (await api.call("GET", api.events))[0] == 401
        assert (await api.call("GET", api.events))[0] == 401  # stays revoked
    assert sandbox.requests[-1].code == "Unauthorized"


async def test_missing_scope_is_403_with_the_scope_named(sandbox: Sandbox) -> None:
    doc = fixture("permission_denied_403.json")
    user = sandbox.dingtalk_v1.add_user("张伟")
    sandbox.dingtalk_v1.deny_scope("Calendar.Event.Write")
    async with v1_api(sandbox, user) as api:
        status, data = await api.call(
            "POST",
            api.events,
            json_body=timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00"),
        )
        assert status == 403
        assert set(data) == set(doc)
        assert data["code"] == doc["code"]
        assert data["accessdenieddetail"] == {"requiredScopes": ["Calendar.Event.Write"]}
        assert (await api.call("GET", api.events))[0] == 200  # reading is still granted
    assert sandbox.dingtalk_v1.events == {}


# ---------------------------------------------------------------- the reference's examples


async def test_doc_create_example_quirks_included(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("tony")
    request, response = fixture("create_event_request.json"), fixture("create_event_response.json")
    async with v1_api(sandbox, user) as api:
        created = await api.create(request)
        assert shape_errors(created, response) == []
        assert set(response) - set(created) == set()
        # isAllDay false: the dateTime counts, the stray dates are ignored.
        assert created["start"] == {
            "dateTime": "2021-09-20T10:15:30+08:00",
            "timeZone": "Asia/Shanghai",
        }
        assert created["isAllDay"] is False
        assert created["reminders"] == [{"method": "dingtalk", "minutes": "15"}]
        assert created["attendees"][0]["id"] == "iiiP35sJxxx"
        assert created["attendees"][0]["responseStatus"] == "needsAction"
        assert created["organizer"] == {
            "id": user, "displayName": "tony", "responseStatus": "accepted", "self": True,
        }  # fmt: skip
        assert created["onlineMeetingInfo"]["url"].startswith("dingtalk://")
        status, got = await api.get(created["id"])
        assert (status, got) == (200, created)
        # range.type endDate wins over the numberOfOccurrences sent beside it:
        # daily from 2021-09-20 through 2021-12-31 10:15:30+08.
        view, _ = await api.pages(
            view=True, timeMin="2021-09-01T00:00:00.000Z", timeMax="2022-03-01T00:00:00.000Z"
        )
        days = (date(2021, 12, 31) - date(2021, 9, 20)).days + 1
        assert len(view) == days
    assert sandbox.dingtalk_v1.events[created["id"]]["summary"] == "test event"


async def test_doc_list_example_shape(sandbox: Sandbox) -> None:
    doc = fixture("list_events_response.json")
    state = sandbox.dingtalk_v1
    user = state.add_user("jack")
    other = state.add_user("tony")
    state.add_event(
        other,
        {
            **timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00"),
            "attendees": [{"id": user, "isOptional": False}],
            "location": {"displayName": "room 1-2-3"},
            "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}},
            "onlineMeetingInfo": {"type": "dingtalk"},
            "categories": [{"displayName": "双周会"}],
        },
    )
    async with v1_api(sandbox, user) as api:
        status, page = await api.call("GET", api.events, params={"maxResults": 1})
        assert status == 200
        assert set(page) == {"events", "syncToken"}
        assert shape_errors(page, doc) == []
        [item] = page["events"]
        assert {k for k in doc["events"][0] if k not in ("originStart", "seriesMasterId",
                "extendedProperties", "meetingRooms")} <= set(item)  # fmt: skip
        assert item["organizer"]["self"] is False
        assert [a["self"] for a in item["attendees"]] == [True]
        status, view = await api.call(
            "GET",
            api.events + "view",
            params={"timeMin": "2024-06-04T00:00:00.000Z", "timeMax": "2024-06-05T00:00:00.000Z"},
        )
        assert shape_errors(view, doc) == []
        [occ] = view["events"]
        assert occ["seriesMasterId"] == item["id"]
        assert occ["originStart"] == {"dateTime": "2024-06-04T02:00:00Z"}
        assert occ["start"]["dateTime"] == "2024-06-04T10:00:00+08:00"
        assert "recurrence" not in occ
        assert occ["id"] != item["id"]


async def test_doc_free_busy_example_at_both_paths(sandbox: Sandbox) -> None:
    request, response = (
        fixture("query_schedule_request.json"),
        fixture("query_schedule_response.json"),
    )
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        for path in ("querySchedule", "getSchedule"):  # the doc's HTTP example uses getSchedule
            status, data = await api.call(
                "POST", f"/v1.0/calendar/users/{user}/{path}", json_body=request
            )
            assert status == 200, data
            assert shape_errors(data, response) == []
            assert data["scheduleInformation"] == [
                {"userId": "iiiP35sJaxxx", "error": "用户不存在", "scheduleItems": []}
            ]


# ---------------------------------------------------------------- writes and state


async def test_create_get_patch_delete_state_after_each_step(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    guest = state.add_user("王芳")
    body = timed(
        "2024-06-03T10:00:00+08:00",
        "2024-06-03T11:00:00+08:00",
        description="议程：回顾 ⚠️",
        attendees=[{"id": guest, "isOptional": True}],
        reminders=[{"method": "dingtalk", "minutes": 5}],
        location={"displayName": "第三会议室"},
    )
    async with v1_api(sandbox, user) as api:
        created = await api.create(body)
        eid = created["id"]
        assert state.events[eid]["summary"] == body["summary"]
        assert eid in state.calendars[user]
        assert eid in state.calendars[guest]
        assert created["attendees"] == [
            {"id": guest, "displayName": "王芳", "responseStatus": "needsAction",
             "isOptional": True, "self": False}
        ]  # fmt: skip
        assert (
            created["createTime"]
            == created["updateTime"]
            == datetime.fromtimestamp(NOW, SHANGHAI).isoformat()
        )

        # PUT is partial: only what is sent changes; the body repeats the id.
        status, data = await api.call("PUT", f"{api.events}/{eid}", json_body={"summary": "改期"})
        assert (status, data["code"]) == (400, "invalidParameter")
        status, patched = await api.call(
            "PUT", f"{api.events}/{eid}", json_body={"id": eid, "summary": "改期 📅"}
        )
        assert status == 200, patched
        assert patched["summary"] == "改期 📅"
        assert {k: v for k, v in patched.items() if k not in ("summary", "updateTime")} == {
            k: v for k, v in created.items() if k not in ("summary", "updateTime")
        }
        assert state.events[eid]["summary"] == "改期 📅"
        status, moved = await api.call(
            "PUT",
            f"{api.events}/{eid}",
            json_body={"id": eid, "start": {"date": "2024-06-05"}, "end": {"date": "2024-06-06"},
                       "isAllDay": True},
        )  # fmt: skip
        assert status == 200, moved
        assert (moved["start"], moved["end"], moved["isAllDay"]) == (
            {"date": "2024-06-05"}, {"date": "2024-06-06"}, True,
        )  # fmt: skip
        assert (await api.get(eid))[1]["start"] == {"date": "2024-06-05"}

        # Only the organizer may modify.
        guest_api = V1(api.http, api.token, guest)
        status, data = await guest_api.call(
            "PUT", f"{guest_api.events}/{eid}", json_body={"id": eid, "summary": "x"}
        )
        assert (status, data["code"]) == (400, "permissionDeny")

        # The organizer deletes: gone for them, cancelled for the guest.
        status, data = await api.call("DELETE", f"{api.events}/{eid}")
        assert (status, data) == (200, None)
        status, data = await api.get(eid)
        assert (status, data["code"]) == (400, "instanceNotExist")
        assert (await api.pages())[0] == []
        tombstones, _ = await api.pages(showDeleted="true")
        assert [(t["id"], t["status"]) for t in tombstones] == [(eid, "cancelled")]
        status, seen = await guest_api.get(eid)
        assert (status, seen["status"]) == (200, "cancelled")
        status, data = await api.get("nope")
        assert (status, data["code"]) == (404, "itemNotFound")


async def test_attendee_delete_respond_and_attendee_changes(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user, guest = state.add_user("张伟"), state.add_user("王芳")
    async with v1_api(sandbox, user) as api:
        eid = (await api.create(timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00")))[
            "id"
        ]
        path = f"{api.events}/{eid}/attendees"
        outsiders = [{"id": f"iiiPouter{n:04d}", "isOptional": n % 2 == 0} for n in range(501)]
        status, data = await api.call("POST", path, json_body={"attendeesToAdd": outsiders})
        assert (status, data["code"]) == (400, "exceedMaxReceiverSize")
        status, _ = await api.call(
            "POST", path, json_body={"attendeesToAdd": [{"id": guest}, *outsiders[:3]]}
        )
        assert status == 200
        assert [p["id"] for p in state.events[eid]["attendees"]] == [
            guest,
            *(o["id"] for o in outsiders[:3]),
        ]
        assert eid in state.calendars[guest]
        guest_api = V1(api.http, api.token, guest)
        status, data = await guest_api.call(
            "POST", f"{guest_api.events}/{eid}/respond", json_body={"responseStatus": "tentative"}
        )
        assert status == 200, data
        assert state.events[eid]["attendees"][0]["responseStatus"] == "tentative"
        status, data = await guest_api.call(
            "POST", f"{guest_api.events}/{eid}/respond", json_body={"responseStatus": "maybe"}
        )
        assert (status, data["code"]) == (400, "invalidParameter")
        status, page = await api.call("GET", path, params={"maxResults": 2})
        assert [p["id"] for p in page["attendees"]] == [guest, outsiders[0]["id"]]
        status, rest = await api.call(
            "GET", path, params={"maxResults": 2, "nextToken": page["nextToken"]}
        )
        assert [p["id"] for p in rest["attendees"]] == [o["id"] for o in outsiders[1:3]]
        assert "nextToken" not in rest
        status, _ = await api.call(
            "POST", path + "/batchRemove", json_body={"attendeesToRemove": [{"id": guest}]}
        )
        assert status == 200
        assert guest not in {p["id"] for p in state.events[eid]["attendees"]}
        assert (await guest_api.get(eid))[1]["code"] == "instanceNotExist"
        # An attendee's delete removes it from their own calendar only.
        await api.call("POST", path, json_body={"attendeesToAdd": [{"id": guest}]})
        assert (await guest_api.call("DELETE", f"{guest_api.events}/{eid}"))[0] == 200
        assert (await guest_api.get(eid))[1]["code"] == "instanceNotExist"
        assert (await api.get(eid))[1]["status"] == "confirmed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"summary": "长" * 2049}, "summary"),
        ({"summary": ""}, "summary"),
        ({"description": "d" * 5001}, "description"),
        ({"end": None}, "end time not set"),
        ({"start": {"dateTime": "2024-06-03T10:00:00+08:00"}}, "timeZone"),
        ({"end": {"dateTime": "2024-06-03T11:00:00+08:00", "timeZone": "UTC"}}, "timeZone"),
        ({"isAllDay": True, "start": {"date": "2024-06-03"}, "end": {"date": "2024-06-03"}}, "T+1"),
        ({"recurrence": {"pattern": {"type": "daily", "interval": 0}}}, "[1, 365]"),
        ({"recurrence": {"pattern": {"type": "daily", "interval": 366}}}, "[1, 365]"),
        ({"recurrence": {"pattern": {"type": "daily"},
                         "range": {"type": "numbered", "numberOfOccurrences": 0}}}, "[1, 99]"),
        ({"recurrence": {"pattern": {"type": "daily"},
                         "range": {"type": "numbered", "numberOfOccurrences": 100}}}, "[1, 99]"),
        ({"recurrence": {"pattern": {"type": "hourly"}}}, "pattern.type"),
        ({"recurrence": {"pattern": {"type": "weekly"}}}, "daysOfWeek"),
        ({"recurrence": {"pattern": {"type": "relativeMonthly", "daysOfWeek": "monday",
                                     "index": "fifth"}}}, "index"),
        ({"attendees": [{"id": f"u{n}"} for n in range(501)]}, "500"),
    ],
)  # fmt: skip
async def test_server_side_limits(sandbox: Sandbox, change: dict[str, Any], message: str) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    body = {**timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00"), **change}
    body = {k: v for k, v in body.items() if v is not None}
    async with v1_api(sandbox, user) as api:
        status, data = await api.call("POST", api.events, json_body=body)
    assert status == 400
    assert message in data["message"]
    assert sandbox.dingtalk_v1.events == {}


async def test_limits_at_the_edge_are_accepted(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    body = timed(
        "2024-06-03T10:00:00+08:00",
        "2024-06-03T11:00:00+08:00",
        summary="長" * 2048,
        description="d" * 5000,
        attendees=[{"id": f"iiiPouter{n:04d}"} for n in range(500)],
        recurrence={"pattern": {"type": "daily", "interval": 365},
                    "range": {"type": "numbered", "numberOfOccurrences": 99}},
    )  # fmt: skip
    async with v1_api(sandbox, user) as api:
        created = await api.create(body)
        _status, got = await api.call(
            "GET", f"{api.events}/{created['id']}", params={"maxAttendees": 500}
        )
        assert len(got["attendees"]) == 500
        _status, listed = await api.call("GET", api.events)
        assert len(listed["events"][0]["attendees"]) == 100  # maxAttendees ≤ 100 in lists


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"maxResults": "101"}, "invalidParameter"),
        ({"maxResults": "0"}, "invalidParameter"),
        ({"timeMin": "2024-01-01T00:00:00.000Z", "timeMax": "2025-01-02T00:00:00.000Z"},
         "invalidParameter"),
        ({"timeMin": "2024-06-01T00:00:00 08:00"}, "InvalidParameter.ParsedISO8601TimestampError"),
        ({"timeMin": "2024-06-01T00:00:00"}, "InvalidParameter.ParsedISO8601TimestampError"),
        ({"nextToken": "garbage"}, "invalidParameter"),
        ({"syncToken": "garbage"}, "invalidParameter"),
        ({"showDeleted": "maybe"}, "invalidParameter"),
    ],
)  # fmt: skip
async def test_listing_argument_errors(sandbox: Sandbox, params: dict[str, str], code: str) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        status, data = await api.call("GET", api.events, params=params)
    assert (status, data["code"]) == (400, code)
    assert set(data) == {"code", "message", "requestid"}


async def test_unknown_user_and_calendar_are_404(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, "iiiPnobody") as api:
        status, data = await api.call("GET", api.events)
        assert (status, data["code"]) == (404, "itemNotFound")
        status, data = await api.call("GET", f"/v1.0/calendar/users/{user}/calendars/other/events")
        assert (status, data["code"]) == (404, "itemNotFound")


# ---------------------------------------------------------------- paging and sync


@pytest.fixture
def seeded() -> tuple[Sandbox, str]:
    sb = new_sandbox(seed=3)
    summary = generate(
        sb, wecom_calendars=0, dingtalk_users=0, dingtalk_v1_users=2, events_per_user=40,
        max_attendees=120,
    )  # fmt: skip
    return sb, summary.dingtalk_v1_users[0]


WINDOW = {"timeMin": "2024-05-01T00:00:00.000Z", "timeMax": "2024-09-01T00:00:00.000Z"}


@pytest.mark.parametrize("view", [False, True])
@pytest.mark.parametrize("size", [1, 7, 100])
async def test_paging_never_loses_or_repeats(
    seeded: tuple[Sandbox, str], view: bool, size: int
) -> None:
    sb, user = seeded
    lo, hi = (datetime.fromisoformat(WINDOW[k]) for k in ("timeMin", "timeMax"))
    truth = [e["id"] for e in sb.dingtalk_v1.ground_truth(user, start=lo, end=hi, view=view)]
    assert len(truth) > 40 if view else len(truth) > 10
    async with v1_api(sb, user) as api:
        items, sync = await api.pages(view=view, maxResults=size, **WINDOW)
    ids = [e["id"] for e in items]
    assert ids == truth
    assert len(set(ids)) == len(ids)
    assert sync is None  # a timeMax was sent


async def test_paging_with_inserts_between_pages(seeded: tuple[Sandbox, str]) -> None:
    sb, user = seeded
    before = [e["id"] for e in sb.dingtalk_v1.ground_truth(user, view=True, **_window())]
    sb.faults.script("dingtalk.v1.events.view", [None, Fault.offset_drift(), Fault.offset_drift()])
    async with v1_api(sb, user) as api:
        items, _ = await api.pages(view=True, maxResults=5, **WINDOW)
    ids = [e["id"] for e in items]
    assert len(set(ids)) == len(ids)
    assert [i for i in ids if i in before] == before
    after = [e["id"] for e in sb.dingtalk_v1.ground_truth(user, view=True, **_window())]
    assert len(after) == len(before) + 2  # the drift really inserted events


def _window() -> dict[str, datetime]:
    return {"start": datetime.fromisoformat(WINDOW["timeMin"]),
            "end": datetime.fromisoformat(WINDOW["timeMax"])}  # fmt: skip


async def test_sync_token_returns_changes_then_nothing(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        ids = [
            (await api.create(timed(f"2024-06-{d:02d}T10:00:00+08:00",
                                    f"2024-06-{d:02d}T11:00:00+08:00")))["id"]
            for d in range(3, 9)
        ]  # fmt: skip
        items, sync = await api.pages(maxResults=4)
        assert [i["id"] for i in items] == ids
        assert sync
        unchanged, again = await api.pages(syncToken=sync)
        assert (unchanged, bool(again)) == ([], True)
        new = await api.create(timed("2024-06-20T10:00:00+08:00", "2024-06-20T11:00:00+08:00"))
        await api.call("PUT", f"{api.events}/{ids[0]}", json_body={"id": ids[0], "summary": "新"})
        await api.call("DELETE", f"{api.events}/{ids[1]}")
        changed, sync2 = await api.pages(syncToken=sync, maxResults=2)
        assert {(c["id"], c["status"]) for c in changed} == {
            (new["id"], "confirmed"), (ids[0], "confirmed"), (ids[1], "cancelled"),
        }  # fmt: skip
        assert (await api.pages(syncToken=sync2))[0] == []
        state.expire_sync_tokens()
        status, data = await api.call("GET", api.events, params={"syncToken": sync2})
        assert (status, data["code"]) == (400, "invalidParameter")
        assert "full sync" in data["message"]
        full, sync3 = await api.pages()
        assert len(full) == 6  # 7 created, one deleted
        assert (await api.pages(syncToken=sync3))[0] == []
        status, page = await api.call("GET", api.events, params={"timeMax": "2025-01-01T00:00:00Z"})
        assert "syncToken" not in page
        other = state.add_user("王芳")
        status, data = await api.call(
            "GET",
            f"/v1.0/calendar/users/{other}/calendars/primary/events",
            params={"syncToken": sync2},
        )
        assert (status, data["code"]) == (400, "invalidParameter")


async def test_events_window_bounds_the_start(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        early = await api.create(timed("2024-06-03T09:00:00+08:00", "2024-06-03T12:00:00+08:00"))
        inside = await api.create(timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00"))
        at_end = await api.create(timed("2024-06-03T11:00:00+08:00", "2024-06-03T12:00:00+08:00"))
        window = {"timeMin": "2024-06-03T02:00:00.000Z", "timeMax": "2024-06-03T03:00:00.000Z"}
        listed, _ = await api.pages(**window)
        viewed, _ = await api.pages(view=True, **window)
    assert [e["id"] for e in listed] == [inside["id"]]
    # eventsview: end >= timeMin and start < timeMax.
    assert [e["id"] for e in viewed] == [early["id"], inside["id"]]
    assert at_end["id"] not in {e["id"] for e in viewed}


# ---------------------------------------------------------------- recurrence


def expected_starts(event: dict[str, Any], lo: datetime, hi: datetime) -> list[datetime]:
    """The occurrence starts of a stored series, by dateutil, written out here."""
    pattern, rng = event["recurrence"]["pattern"], event["recurrence"]["range"]
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    all_day = "date" in event["start"]
    if all_day:
        first = datetime.combine(date.fromisoformat(event["start"]["date"]), time(0), UTC)
    else:
        zone = ZoneInfo(event["start"]["timeZone"])
        first = datetime.fromisoformat(event["start"]["dateTime"]).astimezone(zone)
    kw: dict[str, Any] = {"dtstart": first, "interval": pattern.get("interval", 1),
                          "wkst": names.index(pattern.get("firstDayOfWeek", "sunday"))}  # fmt: skip
    days = [names.index(d) for d in pattern.get("daysOfWeek", "").split(",") if d]
    freqs = {"daily": rrule.DAILY, "weekly": rrule.WEEKLY, "absoluteMonthly": rrule.MONTHLY,
             "relativeMonthly": rrule.MONTHLY, "absoluteYearly": rrule.YEARLY}  # fmt: skip
    freq = freqs[pattern["type"]]
    if pattern["type"] == "weekly":
        kw["byweekday"] = days
    if pattern["type"] == "absoluteMonthly":
        kw["bymonthday"] = pattern["dayOfMonth"]
    if pattern["type"] == "relativeMonthly":
        n = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}[pattern["index"]]
        # Graph: the n-th of the allowed days, counted in the month.
        kw["byweekday"], kw["bysetpos"] = days, n
    if pattern["type"] == "absoluteYearly":
        kw["bymonth"], kw["bymonthday"] = first.month, first.day
    if rng["type"] == "numbered":
        kw["count"] = rng["numberOfOccurrences"]
    if rng["type"] == "endDate":
        kw["until"] = datetime.fromisoformat(rng["endDate"].replace("Z", "+00:00"))
    rule = rrule.rrule(freq, **kw)
    # RFC 5545: the start is the first occurrence, counted, even off the pattern.
    if rule.after(first, inc=True) != first:
        rules = rrule.rruleset()
        rules.rdate(first)
        if "count" not in kw:
            rules.rrule(rule)
        elif kw["count"] > 1:
            rules.rrule(rrule.rrule(freq, **{**kw, "count": kw["count"] - 1}))
        return _between(rules, first, event, lo, hi)
    return _between(rule, first, event, lo, hi)


def _between(
    rule: rrule.rrulebase, first: datetime, event: dict[str, Any], lo: datetime, hi: datetime
) -> list[datetime]:
    if "date" in event["start"]:
        duration = timedelta(days=(date.fromisoformat(event["end"]["date"]) -
                                   date.fromisoformat(event["start"]["date"])).days)  # fmt: skip
    else:
        duration = datetime.fromisoformat(event["end"]["dateTime"]) - first
    return [s for s in rule.between(lo - duration - timedelta(days=1), hi, inc=True)
            if s + duration >= lo and s < hi]  # fmt: skip


async def test_eventsview_expands_every_pattern_type(seeded: tuple[Sandbox, str]) -> None:
    sb, user = seeded
    state = sb.dingtalk_v1
    lo, hi = _window()["start"], _window()["end"]
    series = [e for e in state.events.values() if "recurrence" in e and e["status"] == "confirmed"
              and user in {e["organizer"]["id"], *(p["id"] for p in e["attendees"])}]  # fmt: skip
    kinds = {e["recurrence"]["pattern"]["type"] for e in series}
    assert kinds == {"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly"}
    async with v1_api(sb, user) as api:
        items, _ = await api.pages(view=True, **WINDOW)
    for master in series:
        got = [
            datetime.fromisoformat(i["originStart"]["dateTime"].replace("Z", "+00:00"))
            for i in items
            if i.get("seriesMasterId") == master["id"]
        ]
        want = [s.astimezone(UTC) for s in expected_starts(master, lo, hi)]
        assert got == want, master["recurrence"]
        for i in items:
            if i.get("seriesMasterId") == master["id"] and "dateTime" in i["start"]:
                local = datetime.fromisoformat(i["start"]["dateTime"])
                assert local.astimezone(UTC) == datetime.fromisoformat(
                    i["originStart"]["dateTime"].replace("Z", "+00:00")
                )


async def test_occurrence_get_delete_and_dst(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    body = timed(
        "2024-03-04T09:00:00-05:00",
        "2024-03-04T10:00:00-05:00",
        zone="America/New_York",
        recurrence={"pattern": {"type": "weekly", "daysOfWeek": "monday"},
                    "range": {"type": "numbered", "numberOfOccurrences": 3}},
    )  # fmt: skip
    async with v1_api(sandbox, user) as api:
        master = await api.create(body)
        items, _ = await api.pages(
            view=True, timeMin="2024-03-01T00:00:00Z", timeMax="2024-04-01T00:00:00Z"
        )
        # 09:00 local on both sides of the 10 March DST change.
        assert [i["start"]["dateTime"] for i in items] == [
            "2024-03-04T09:00:00-05:00", "2024-03-11T09:00:00-04:00", "2024-03-18T09:00:00-04:00",
        ]  # fmt: skip
        status, one = await api.get(items[1]["id"])
        assert (status, one) == (200, items[1])
        assert (await api.call("DELETE", f"{api.events}/{items[1]['id']}"))[0] == 200
        after, _ = await api.pages(
            view=True, timeMin="2024-03-01T00:00:00Z", timeMax="2024-04-01T00:00:00Z"
        )
        assert [i["id"] for i in after] == [items[0]["id"], items[2]["id"]]
        assert (await api.get(items[1]["id"]))[1]["code"] == "instanceNotExist"
        assert (await api.get(master["id"] + "_123"))[1]["code"] == "instanceNotExist"


async def test_start_off_pattern_is_the_first_occurrence(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    # 2024-06-05 is a Wednesday; the pattern says Mondays. RFC 5545 (and
    # wecal.expand): the start is the first occurrence and counts toward the two.
    body = timed(
        "2024-06-05T10:00:00+08:00",
        "2024-06-05T11:00:00+08:00",
        recurrence={"pattern": {"type": "weekly", "daysOfWeek": "monday"},
                    "range": {"type": "numbered", "numberOfOccurrences": 2}},
    )  # fmt: skip
    async with v1_api(sandbox, user) as api:
        await api.create(body)
        items, _ = await api.pages(
            view=True, timeMin="2024-06-01T00:00:00Z", timeMax="2024-07-01T00:00:00Z"
        )
    assert [i["start"]["dateTime"][:10] for i in items] == ["2024-06-05", "2024-06-10"]


# ---------------------------------------------------------------- idempotency and faults


async def test_client_token_replays_and_mismatches(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    body = timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00")
    async with v1_api(sandbox, user) as api:
        first = await api.create(body, **{"x-client-token": "t-1"})
        again = await api.create(body, **{"x-client-token": "t-1"})
        assert again == first
        assert len(state.events) == 1
        status, data = await api.call(
            "POST",
            api.events,
            json_body={**body, "summary": "其他"},
            headers={"x-client-token": "t-1"},
        )
        assert (status, data["code"]) == (400, "IdempotentParameterMismatch")
        other = await api.create(body, **{"x-client-token": "t-2"})
        assert other["id"] != first["id"]
        assert len(state.events) == 2
        # A day later the token is forgotten: the same write applies again.
        clock = sandbox.clock
        assert isinstance(clock, FakeClock)
        clock.advance(86_401)
        api.token = await v1_token(api.http)
        third = await api.create(body, **{"x-client-token": "t-1"})
        assert third["id"] not in (first["id"], other["id"])


async def test_applied_then_503_is_applied_once_and_replayed(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    body = timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00")
    sandbox.faults.script("dingtalk.v1.events.create", [Fault.applied_error(503)])
    async with v1_api(sandbox, user) as api:
        r = await api.http.post(
            api.events, json=body,
            headers={"x-acs-dingtalk-access-token": api.token, "x-client-token": "w-1"},
        )  # fmt: skip
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")
        assert len(state.events) == 1  # it was applied
        retried = await api.create(body, **{"x-client-token": "w-1"})
        assert list(state.events) == [retried["id"]]
        # Without a token, the retry writes a second event.
        sandbox.faults.script("dingtalk.v1.events.create", [Fault.applied_error(502)])
        r = await api.http.post(api.events, json=body,
                                headers={"x-acs-dingtalk-access-token": api.token})  # fmt: skip
        assert r.status_code == 502
        assert len(state.events) == 2
        eid = retried["id"]
        sandbox.faults.script("dingtalk.v1.events.patch", [Fault.applied_error()])
        patch = {"id": eid, "summary": "改 ✏️"}
        r = await api.http.put(
            f"{api.events}/{eid}", json=patch,
            headers={"x-acs-dingtalk-access-token": api.token, "x-client-token": "w-2"},
        )  # fmt: skip
        assert r.status_code == 503
        assert state.events[eid]["summary"] == "改 ✏️"
        stamp = state.events[eid]["updateTime"]
        status, data = await api.call("PUT", f"{api.events}/{eid}", json_body=patch,
                                      headers={"x-client-token": "w-2"})  # fmt: skip
        assert (status, data["summary"]) == (200, "改 ✏️")
        assert state.events[eid]["updateTime"] == stamp
    assert [r.fault for r in sandbox.requests if r.fault] == ["applied_error"] * 3


async def test_duplicate_while_processing(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    state.apply_delay = 0.2
    body = timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00")
    results: list[tuple[int, Any]] = []
    async with v1_api(sandbox, user) as api:

        async def write() -> None:
            results.append(await api.call("POST", api.events, json_body=body,
                                          headers={"x-client-token": "slow"}))  # fmt: skip

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            await anyio.sleep(0.05)
            status, data = await api.call(
                "POST", api.events, json_body=body, headers={"x-client-token": "slow"}
            )
            assert (status, data["code"]) == (400, "idempotencyProcessing")
        state.apply_delay = 0
        assert results[0][0] == 200
        replay = await api.create(body, **{"x-client-token": "slow"})
        assert replay == results[0][1]
    assert len(state.events) == 1


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.busy(), 429, "system.busy"),
        (Fault.rate_limited(), 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
        (Fault.qps_403(), 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
        (Fault.error_code(403, "Forbidden.AccessDenied.ApiCountLimitForOrg"), 403,
         "Forbidden.AccessDenied.ApiCountLimitForOrg"),
        (Fault.error(90018), 500, "systemError"),
    ],
)  # fmt: skip
async def test_error_faults_answer_v1_bodies(
    sandbox: Sandbox, fault: Fault, status: int, code: str
) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    sandbox.faults.script("dingtalk.v1.events.list", [fault])
    async with v1_api(sandbox, user) as api:
        got, data = await api.call("GET", api.events)
        assert (got, data["code"]) == (status, code)
        assert set(data) == {"code", "message", "requestid"}
        assert (await api.call("GET", api.events))[0] == 200
    assert sandbox.requests[-2].code == code


async def test_quota_and_flow_limit(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    state.daily_create_limit = 2
    body = timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00")
    async with v1_api(sandbox, user) as api:
        await api.create(body)
        await api.create(body)
        status, data = await api.call("POST", api.events, json_body=body)
        assert (status, data["code"]) == (400, "flowLimit")
        clock = sandbox.clock
        assert isinstance(clock, FakeClock)
        clock.advance(86_400)  # a new day in Asia/Shanghai
        api.token = await v1_token(api.http)
        await api.create(body)
        state.monthly_quota = state._calls + 1
        assert (await api.call("GET", api.events))[0] == 200
        status, data = await api.call("GET", api.events)
        assert (status, data["code"]) == (403, "Forbidden.AccessDenied.ApiCountLimitForOrg")
        assert (await api.http.post(  # the token endpoint is exempt
            "/v1.0/oauth2/accessToken",
            json={"appKey": DINGTALK_APP_KEY, "appSecret": DINGTALK_APP_SECRET},
        )).status_code == 200  # fmt: skip
    assert len(state.events) == 3


# ---------------------------------------------------------------- free/busy, calendars, users


async def test_free_busy(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    me, colleague = state.add_user("张伟"), state.add_user("王芳")
    mine = state.add_event(me, timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00",
                                     attendees=[{"id": colleague}]))  # fmt: skip
    declined = [{"id": me, "responseStatus": "declined"}]
    state.add_event(colleague, timed("2024-06-03T14:00:00+08:00", "2024-06-03T15:00:00+08:00",
                                     attendees=declined))  # fmt: skip
    state.add_event(me, {**timed("2024-06-03T16:00:00+08:00", "2024-06-03T17:00:00+08:00"),
                         "status": "cancelled"})  # fmt: skip
    state.add_event(me, {"summary": "团建 🍲", "start": {"date": "2024-06-04"},
                         "end": {"date": "2024-06-05"}, "isAllDay": True})  # fmt: skip
    query = {"userIds": [me, colleague, "iiiPnobody"], "startTime": "2024-06-03T00:00:00.000Z",
             "endTime": "2024-06-05T00:00:00.000Z"}  # fmt: skip
    async with v1_api(sandbox, me) as api:
        status, data = await api.call(
            "POST", f"/v1.0/calendar/users/{me}/querySchedule", json_body=query
        )
        assert status == 200, data
        info = {i["userId"]: i for i in data["scheduleInformation"]}
        assert [(i["status"], i["start"]) for i in info[me]["scheduleItems"]] == [
            ("BUSY", {"dateTime": "2024-06-03T10:00:00+08:00", "timeZone": "Asia/Shanghai"}),
            ("BUSY", {"date": "2024-06-04"}),
        ]
        assert [
            (i["status"], i["start"]["dateTime"]) for i in info[colleague]["scheduleItems"]
        ] == [
            ("TENTATIVE", "2024-06-03T10:00:00+08:00"),  # invited, needs action
            ("BUSY", "2024-06-03T14:00:00+08:00"),
        ]
        assert info["iiiPnobody"]["error"] == "用户不存在"
        status, data = await api.call(
            "POST", f"/v1.0/calendar/users/{me}/querySchedule",
            json_body={**query, "userIds": [f"u{n}" for n in range(21)]},
        )  # fmt: skip
        assert (status, data["code"]) == (400, "paramIllegal")
    assert mine in state.calendars[colleague]


async def test_calendars_and_user_lookups(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟", userid="manager4220")
    async with v1_api(sandbox, user) as api:
        status, data = await api.call("GET", f"/v1.0/calendar/users/{user}/calendars")
        assert status == 200
        [cal] = data["response"]["calendars"]
        assert (cal["id"], cal["type"], cal["summary"]) == ("primary", "primary", "张伟的日历")
        r = await api.http.post(
            "/topapi/v2/user/get",
            params={"access_token": api.token},
            json={"userid": "manager4220"},
        )
        assert r.json()["errcode"] == 0
        assert r.json()["result"]["unionid"] == user == state.union_id_of("manager4220")
        r = await api.http.post(
            "/topapi/user/getbyunionid", params={"access_token": api.token}, json={"unionid": user}
        )
        assert r.json()["result"]["userid"] == "manager4220"
        r = await api.http.post(
            "/topapi/v2/user/get", params={"access_token": api.token}, json={"userid": "ghost"}
        )
        assert (r.status_code, r.json()["errcode"]) == (200, 60121)
        r = await api.http.post(
            "/topapi/v2/user/get", params={"access_token": "x"}, json={"userid": "ghost"}
        )
        assert r.json()["errcode"] == 40014
    assert [q.api for q in sandbox.requests][-4:] == [
        "dingtalk.user.get", "dingtalk.user.getbyunionid", "dingtalk.user.get", "dingtalk.user.get",
    ]  # fmt: skip


def test_demo_data_has_v1_users_and_every_shape() -> None:
    sb = new_sandbox()
    summary = generate(sb, wecom_calendars=0, dingtalk_users=0, events_per_user=20)
    state = sb.dingtalk_v1
    assert len(summary.dingtalk_v1_users) == 2
    assert len(summary.dingtalk_v1_events) == 40
    assert all(state.users[u]["userid"] for u in summary.dingtalk_v1_users)
    events = [state.events[e] for e in summary.dingtalk_v1_events]
    patterns = {e["recurrence"]["pattern"]["type"] for e in events if "recurrence" in e}
    assert patterns == {"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly"}
    assert any(e["isAllDay"] for e in events)
    assert any(e["status"] == "cancelled" for e in events)
    assert max(len(e["attendees"]) for e in events) >= 300
    assert any(any("\u4e00" <= c <= "\u9fff" for c in e["summary"]) for e in events)
    assert any(any(ord(c) > 0xFFFF for c in e["summary"]) for e in events)  # emoji
    assert any(e["start"].get("timeZone") == "America/New_York" for e in events)
    # Attendees are outside the sandbox's users: each event is in one calendar.
    for union_id in summary.dingtalk_v1_users:
        assert all(
            state.events[e]["organizer"]["id"] == union_id for e in state.calendars[union_id]
        )
    again = new_sandbox()
    assert generate(again, wecom_calendars=0, dingtalk_users=0, events_per_user=20) == summary


# ---------------------------------------------------------------- over loopback


@pytest.mark.anyio
async def test_over_loopback(seeded: tuple[Sandbox, str]) -> None:
    sb, user = seeded
    with serve(sb) as url:
        async with v1_api(sb, user, url) as api:
            items, _ = await api.pages(view=True, maxResults=9, **WINDOW)
            truth = sb.dingtalk_v1.ground_truth(user, view=True, **_window())
            assert [i["id"] for i in items] == [t["id"] for t in truth]
            created = await api.create(
                timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00"),
                **{"x-client-token": "loop"},
            )
            sb.faults.script("dingtalk.v1.events.get", [Fault.dropped(), Fault.truncated()])
            with pytest.raises(httpx.RemoteProtocolError):
                await api.get(created["id"])
            cut = await api.http.get(
                f"{api.events}/{created['id']}", headers={"x-acs-dingtalk-access-token": api.token}
            )
            with pytest.raises(json.JSONDecodeError):
                json.loads(cut.content)
            assert (await api.get(created["id"]))[1] == created
            log = (await api.http.get("/_sandbox/requests")).json()
    assert api.token not in json.dumps(log)
    assert DINGTALK_APP_SECRET not in json.dumps(log)
    assert [row["fault"] for row in log if row["fault"]] == ["dropped", "truncated"]


def test_describe_names_credentials_and_union_ids() -> None:
    sb = new_sandbox()
    summary = generate(sb, wecom_calendars=1, dingtalk_users=1, events_per_user=2)
    text = describe(summary)
    for union_id in summary.dingtalk_v1_users:
        assert union_id in text
    assert DEFAULT_DINGTALK_APP_KEY in text
    assert DEFAULT_DINGTALK_APP_SECRET not in text


async def test_transport_faults_and_revocation_countdown(sandbox: Sandbox) -> None:
    user = sandbox.dingtalk_v1.add_user("张伟")
    async with v1_api(sandbox, user) as api:
        sandbox.faults.script(
            "dingtalk.v1.events.*", [Fault.server_error(502), Fault.latency(0.05), None]
        )
        r = await api.http.get(api.events, headers={"x-acs-dingtalk-access-token": api.token})
        assert (r.status_code, r.headers["content-type"][:9]) == (502, "text/html")
        assert (await api.call("GET", api.events))[0] == 200
        sandbox.faults.revoke_tokens_after(1)
        assert (await api.call("GET", api.events))[0] == 200
        status, data = await api.call("GET", api.events)
        assert (status, data["code"]) == (400, "InvalidAuthentication")
        api.token = await v1_token(api.http)  # the token endpoint is not counted, and works
        assert (await api.call("GET", api.events))[0] == 200
    faults = [(r.api, r.fault) for r in sandbox.requests if r.fault]
    assert faults == [
        ("dingtalk.v1.events.list", "server_error"),
        ("dingtalk.v1.events.list", "latency"),
    ]


async def test_rated_faults_are_seeded_and_writes_stay_single(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    sandbox.faults.rate(Fault.applied_error(), p=0.5, seed=11, target="dingtalk.v1.events.create")
    statuses = []
    async with v1_api(sandbox, user) as api:
        for n in range(12):
            body = timed("2024-06-03T10:00:00+08:00", "2024-06-03T11:00:00+08:00", summary=f"#{n}")
            token = {"x-client-token": f"rated-{n}"}
            for _ in range(20):  # retry with the same token until an answer gets through
                status, _data = await api.call("POST", api.events, json_body=body, headers=token)
                statuses.append(status)
                if status == 200:
                    break
    assert 503 in statuses
    assert sorted(e["summary"] for e in state.events.values()) == sorted(f"#{n}" for n in range(12))


_DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@st.composite
def series_bodies(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly", "absoluteMonthly", "relativeMonthly",
                                 "absoluteYearly"]))  # fmt: skip
    pattern: dict[str, Any] = {"type": kind, "interval": draw(st.integers(1, 4))}
    if kind in ("weekly", "relativeMonthly"):
        days = draw(st.lists(st.sampled_from(_DAY_NAMES), min_size=1, max_size=3, unique=True))
        pattern["daysOfWeek"] = ",".join(days)
        pattern["firstDayOfWeek"] = draw(st.sampled_from(_DAY_NAMES))
    if kind == "absoluteMonthly":
        pattern["dayOfMonth"] = draw(st.integers(1, 31))
    if kind == "relativeMonthly":
        pattern["index"] = draw(st.sampled_from(["first", "second", "third", "fourth", "last"]))
    rng = draw(st.sampled_from(["noEnd", "numbered", "endDate"]))
    range_: dict[str, Any] = {"type": rng}
    if rng == "numbered":
        range_["numberOfOccurrences"] = draw(st.integers(1, 99))
    day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    if rng == "endDate":
        end = datetime.combine(day + timedelta(days=draw(st.integers(0, 500))), time(12), UTC)
        range_["endDate"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    zone = draw(st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/Berlin"]))
    start = datetime.combine(day, time(draw(st.integers(0, 23)), 30), ZoneInfo(zone))
    body: dict[str, Any] = {
        "summary": "循环 🔁",
        "recurrence": {"pattern": pattern, "range": range_},
        "start": {"dateTime": start.isoformat(), "timeZone": zone},
        "end": {"dateTime": (start + timedelta(minutes=45)).isoformat(), "timeZone": zone},
    }
    if draw(st.booleans()):
        body["start"], body["end"] = (
            {"date": day.isoformat()},
            {"date": (day + timedelta(days=1)).isoformat()},
        )
    return body


@settings(max_examples=150)
@given(series_bodies(), st.integers(0, 600))
def test_expansion_matches_dateutil_for_any_series(body: dict[str, Any], offset: int) -> None:
    sb = new_sandbox()
    state = sb.dingtalk_v1
    user = state.add_user("张伟")
    event_id = state.add_event(user, body)
    lo = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=offset)
    hi = lo + timedelta(days=120)
    got = [
        datetime.fromisoformat(i["originStart"]["dateTime"].replace("Z", "+00:00"))
        for i in state.ground_truth(user, start=lo, end=hi, view=True)
    ]
    want = [s.astimezone(UTC) for s in expected_starts(state.events[event_id], lo, hi)]
    assert got == want


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 500) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_VALID = timed(
    "2024-06-03T10:00:00+08:00",
    "2024-06-03T11:00:00+08:00",
    recurrence={"pattern": {"type": "relativeMonthly", "daysOfWeek": "monday", "index": "last"},
                "range": {"type": "endDate", "endDate": "2024-12-31"}},
    attendees=[{"id": "iiiPouter0001", "isOptional": False}],
    reminders=[{"method": "dingtalk", "minutes": 5}],
    location={"displayName": "第三会议室"},
)  # fmt: skip
_PATHS = [
    ("summary",), ("description",), ("start",), ("start", "dateTime"), ("start", "timeZone"),
    ("end",), ("end", "date"), ("isAllDay",), ("recurrence",), ("recurrence", "pattern"),
    ("recurrence", "pattern", "type"), ("recurrence", "pattern", "daysOfWeek"),
    ("recurrence", "pattern", "index"), ("recurrence", "pattern", "interval"),
    ("recurrence", "pattern", "dayOfMonth"), ("recurrence", "pattern", "firstDayOfWeek"),
    ("recurrence", "range"), ("recurrence", "range", "type"), ("recurrence", "range", "endDate"),
    ("recurrence", "range", "numberOfOccurrences"), ("attendees",), ("reminders",),
    ("location",), ("onlineMeetingInfo",), ("id",),
]  # fmt: skip


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _JSON), min_size=1, max_size=4), st.booleans())
def test_malformed_writes_get_a_400_never_a_crash(
    changes: list[tuple[tuple[str, ...], Any]], patch: bool
) -> None:
    sb = new_sandbox()
    state = sb.dingtalk_v1
    user = state.add_user("张伟")
    existing = state.add_event(user, _VALID)
    body = json.loads(json.dumps(_VALID))
    for path, value in changes:
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    method, path = "POST", f"/v1.0/calendar/users/{user}/calendars/primary/events"
    if patch:
        method, path = "PUT", f"{path}/{existing}"
        body.setdefault("id", existing)
    token = sb.issue_token("dingtalk", next(iter(sb._apps)))
    headers = {"x-acs-dingtalk-access-token": token}
    status, data = anyio.run(handle, sb, method, path, {}, headers, json.dumps(body).encode())
    assert status in (200, 400), data
    if status == 400:
        assert set(data) == {"code", "message", "requestid"}
    else:
        assert data["id"] in state.events
        json.dumps(data)  # the answer is plain JSON


_QUERY_KEYS = ["timeMin", "timeMax", "maxResults", "maxAttendees", "nextToken", "syncToken",
               "showDeleted", "seriesMasterId"]  # fmt: skip


@settings(max_examples=150)
@given(
    st.dictionaries(st.sampled_from(_QUERY_KEYS), st.text(max_size=30), max_size=4),
    st.sampled_from(["events", "eventsview"]),
)
def test_malformed_listing_queries_get_a_400_never_a_crash(
    query: dict[str, str], kind: str
) -> None:
    sb = new_sandbox()
    user = sb.dingtalk_v1.add_user("张伟")
    sb.dingtalk_v1.add_event(user, _VALID)
    token = sb.issue_token("dingtalk", next(iter(sb._apps)))
    path = f"/v1.0/calendar/users/{user}/calendars/primary/{kind}"
    status, data = anyio.run(
        handle, sb, "GET", path, query, {"x-acs-dingtalk-access-token": token}, b""
    )
    assert status in (200, 400), data
    assert ("events" in data) if status == 200 else (set(data) == {"code", "message", "requestid"})


async def test_strict_times_want_utc_with_milliseconds(sandbox: Sandbox) -> None:
    state = sandbox.dingtalk_v1
    user = state.add_user("张伟")
    state.strict_times = True
    async with v1_api(sandbox, user) as api:
        ok = {"timeMin": "2024-06-01T00:00:00.000Z", "timeMax": "2024-07-01T00:00:00.000Z"}
        assert (await api.call("GET", api.events, params=ok))[0] == 200
        for bad in ("2024-06-01T00:00:00Z", "2024-06-01T08:00:00.000+08:00"):
            status, data = await api.call("GET", api.events, params={**ok, "timeMin": bad})
            assert (status, data["code"]) == (400, "InvalidParameter.ParsedISO8601TimestampError")
        status, data = await api.call(
            "POST",
            f"/v1.0/calendar/users/{user}/querySchedule",
            json_body={"userIds": [user], "startTime": "2024-06-01T00:00:00+08:00",
                       "endTime": "2024-06-02T00:00:00.000Z"},
        )  # fmt: skip
        assert (status, data["code"]) == (400, "InvalidParameter.ParsedISO8601TimestampError")
        state.strict_times = False
        status, _ = await api.call(
            "GET", api.events, params={**ok, "timeMin": "2024-06-01T00:00:00Z"}
        )
        assert status == 200
