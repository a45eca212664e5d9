"""
``wecal.FeishuClient`` end to end: the real client through ``httpx.ASGITransport``
against the sandbox's Feishu emulator, on asyncio and trio.

Expected values come from what the tests store in the emulator and from
calendar arithmetic done here, never from the client's own converters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wecal
from tests.sandbox_fixtures import FAST_RETRY, NOW
from tests.test_feishu_convert import feishu_events
from wecal.providers.feishu._emulator import CREDENTIALS, FeishuEmulator, feishu
from wecal.sandbox import FakeClock, Fault, Sandbox

pytestmark = pytest.mark.anyio

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 6, 3, 10, tzinfo=SH)  # a Monday, 02:00 UTC
HOUR = timedelta(hours=1)


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(seed=3, clock=FakeClock(NOW))


@pytest.fixture
def fs(sb: Sandbox) -> FeishuEmulator:
    return feishu(sb)


def make_client(sb: Sandbox, **settings: Any) -> wecal.FeishuClient:
    defaults: dict[str, Any] = {
        "base_url": "http://sandbox",
        "transport": httpx.ASGITransport(app=sb.app),
        "token_store": wecal.MemoryTokenStore(),
        "retry": FAST_RETRY,
        "rate_limit": False,
    }
    return wecal.FeishuClient(*CREDENTIALS, **{**defaults, **settings})


@pytest.fixture
async def client(sb: Sandbox) -> AsyncIterator[wecal.FeishuClient]:
    async with make_client(sb) as c:
        yield c


def timed(start: datetime, end: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "start_time": {"timestamp": str(int(start.timestamp())), "timezone": "Asia/Shanghai"},
        "end_time": {"timestamp": str(int(end.timestamp())), "timezone": "Asia/Shanghai"},
        **fields,
    }


def calls(sb: Sandbox, api: str) -> list[Any]:
    return [r for r in sb.requests if r.api == api]


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------


async def test_token_answer_is_flat_and_expire_is_what_is_left(sb: Sandbox) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sb.app), base_url="http://sandbox"
    ) as http:
        path = "/open-apis/auth/v3/tenant_access_token/internal"
        creds = {"app_id": CREDENTIALS[0], "app_secret": CREDENTIALS[1]}
        first = (await http.post(path, json=creds)).json()
        assert first["code"] == 0
        assert first["expire"] == 7200
        assert first["tenant_access_token"].startswith("t-")
        assert isinstance(sb.clock, FakeClock)
        sb.clock.advance(3600)  # an hour left: the same token, a shorter expire
        again = (await http.post(path, json=creds)).json()
        assert again["tenant_access_token"] == first["tenant_access_token"]
        assert again["expire"] == 3600
        sb.clock.advance(2400)  # 20 minutes left: a new token, and the old one still works
        fresh = (await http.post(path, json=creds)).json()
        assert fresh["tenant_access_token"] != first["tenant_access_token"]
        assert fresh["expire"] == 7200
        for token in (first["tenant_access_token"], fresh["tenant_access_token"]):
            r = await http.post(
                "/open-apis/calendar/v4/calendars/primary",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.json()["code"] == 0
        bad = await http.post(path, json={"app_id": CREDENTIALS[0], "app_secret": "nope"})
        assert (bad.status_code, bad.json()["code"]) == (200, 10014)
        missing = await http.post(path, json={})
        assert (missing.status_code, missing.json()["code"]) == (200, 10003)


async def test_bad_credentials_are_an_authentication_error(sb: Sandbox) -> None:
    async with make_client(sb) as good:
        await good.get_primary_calendar()
    async with wecal.FeishuClient(
        CREDENTIALS[0],
        "wrong-secret-0123456789",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sb.app),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
    ) as bad:
        with pytest.raises(wecal.AuthenticationError) as info:
            await bad.get_primary_calendar()
    assert info.value.code == 10014
    assert "wrong-secret" not in f"{info.value} {info.value!r}"


async def test_a_revoked_token_is_refreshed_and_the_call_replayed_once(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    await client.get_primary_calendar()
    fs.revoke_tokens()
    await client.get_primary_calendar()
    tokens = calls(sb, "feishu.auth.tenant_access_token")
    assert len(tokens) == 2
    primary = calls(sb, "feishu.calendars.primary")
    assert [(r.status, r.errcode) for r in primary] == [(200, None), (400, 99991663), (200, None)]


# --------------------------------------------------------------------------
# Listing: instance_view windows, masters, never the truncating window mode
# --------------------------------------------------------------------------


async def test_expand_lists_occurrences_with_design_ids(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    master = fs.add_event(
        cal, timed(T0, T0 + HOUR, summary="站会", recurrence="FREQ=DAILY;COUNT=5")
    )
    uid = master.removesuffix("_0")
    # The third occurrence moved an hour later; the fourth removed.
    third = T0 + timedelta(days=2)
    fs.add_event(
        cal,
        timed(
            third + HOUR,
            third + 2 * HOUR,
            event_id=f"{uid}_{int(third.timestamp())}",
            is_exception=True,
            recurring_event_id=master,
            summary="站会（改）",
        ),
    )
    fourth = T0 + timedelta(days=3)
    fs.add_event(
        cal,
        timed(
            fourth,
            fourth + HOUR,
            event_id=f"{uid}_{int(fourth.timestamp())}",
            is_exception=True,
            recurring_event_id=master,
            status="cancelled",
        ),
    )
    events = [
        e
        async for e in client.list_events(start=T0 - HOUR, end=T0 + timedelta(days=7), expand=True)
    ]
    expected_ids = [
        f"{master}_{(T0 + timedelta(days=k)).astimezone(UTC):%Y%m%dT%H%M%SZ}" for k in (0, 1, 2, 4)
    ]
    assert sorted(e.id for e in events) == sorted(expected_ids)
    moved = next(e for e in events if e.id == expected_ids[2])
    assert (moved.start, moved.summary, moved.series_id) == (third + HOUR, "站会（改）", master)
    assert moved.recurrence_id == third
    # The same ids wecal.expand gives for the master.
    stored = await client.get_event(master)
    assert stored.recurrence == wecal.Recurrence(rrule="FREQ=DAILY;COUNT=5")
    ours = {e.id for e in wecal.expand(stored, T0 - HOUR, T0 + timedelta(days=7))}
    assert {e.id for e in events} <= ours


async def test_long_windows_are_split_and_never_use_the_window_mode(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    fs.add_event(cal, timed(T0, T0 + HOUR, recurrence="FREQ=WEEKLY"))
    start = datetime(2024, 6, 1, tzinfo=UTC)
    end = start + timedelta(days=100)
    events = [e async for e in client.list_events(start=start, end=end, expand=True)]
    # The window ends 2024-09-09 00:00 UTC, before that Monday's 02:00 UTC:
    # Mondays from 2024-06-03 to 2024-09-02, 14 of them.
    mondays = [T0 + timedelta(weeks=k) for k in range(14)]
    assert [e.start for e in events] == mondays
    views = calls(sb, "feishu.events.instance_view")
    assert len(views) == 3  # 39 + 39 + 22 days
    for r in views:
        assert int(r.query["end_time"]) - int(r.query["start_time"]) < 40 * 86_400
    masters = [e async for e in client.list_events(start=start, end=end)]
    assert len(masters) == 1
    for r in calls(sb, "feishu.events.list"):
        assert "start_time" not in r.query
        assert "end_time" not in r.query


async def test_the_emulator_truncates_the_window_mode_silently(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    """What a client using start_time/end_time would get: 50 of 80, and no sign of more."""
    cal = fs.bot_calendar()
    for k in range(80):
        fs.add_event(cal, timed(T0 + k * HOUR, T0 + k * HOUR + HOUR))
    await client.get_primary_calendar()  # a token
    token = next(iter(fs._tokens))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sb.app), base_url="http://sandbox"
    ) as http:
        r = await http.get(
            f"/open-apis/calendar/v4/calendars/{cal}/events",
            params={
                "start_time": str(int(T0.timestamp())),
                "end_time": str(int((T0 + timedelta(days=10)).timestamp())),
                "page_size": "50",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    data = r.json()["data"]
    assert (len(data["items"]), data["has_more"], "page_token" in data) == (50, False, False)
    # The client, paging by anchor_time, gets all 80.
    listed = [e async for e in client.list_events(cal, page_size=50)]
    assert len(listed) == 80


async def test_a_window_feishu_finds_too_full_is_halved_and_deduplicated(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    start = datetime(2024, 6, 1, tzinfo=UTC)
    # Every 30 minutes, 40 minutes long: 1872 instances in 39 days (over 1000),
    # and occurrences straddle every split point.
    fs.add_event(
        cal,
        timed(
            start,
            start + timedelta(minutes=40),
            recurrence="FREQ=MINUTELY;INTERVAL=30",
        ),
    )
    end = start + timedelta(days=39)
    events = [e async for e in client.list_events(start=start, end=end, expand=True)]
    expected = [start + timedelta(minutes=30 * k) for k in range(39 * 48)]
    assert [e.start for e in events] == expected
    assert len({e.id for e in events}) == len(events)
    codes = [r.errcode or r.code for r in calls(sb, "feishu.events.instance_view")]
    assert 193104 in codes


async def test_a_refused_window_is_halved_on_193103(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    fs.add_event(cal, timed(T0, T0 + HOUR))
    sb.faults.script("feishu.events.instance_view", [Fault.error(193103)])
    events = [
        e
        async for e in client.list_events(start=T0 - HOUR, end=T0 + timedelta(days=3), expand=True)
    ]
    assert [e.start for e in events] == [T0]
    assert len(calls(sb, "feishu.events.instance_view")) == 3


async def test_masters_page_by_anchor_time_and_resume_from_a_cursor(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    ids = {fs.add_event(cal, timed(T0 + k * HOUR, T0 + k * HOUR + HOUR)) for k in range(120)}
    pages = client.list_events(page_size=50).by_page()
    first = await pages.__anext__()
    assert len(first.items) == 50
    assert first.cursor is not None
    rest = [
        e
        async for page in client.list_events(page_size=50).by_page(cursor=first.cursor)
        for e in page.items
    ]
    assert {e.id for e in first.items} | {e.id for e in rest} == ids
    listed = calls(sb, "feishu.events.list")
    assert all(r.query.get("anchor_time") == "0" for r in listed)


async def test_window_on_masters_keeps_overlapping_events(
    fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    inside = fs.add_event(cal, timed(T0, T0 + HOUR))
    fs.add_event(cal, timed(T0 + timedelta(days=5), T0 + timedelta(days=5) + HOUR))
    fs.add_event(cal, timed(T0 - timedelta(days=5), T0 - timedelta(days=5) + HOUR))
    day = fs.add_event(
        cal, {"start_time": {"date": "2024-06-03"}, "end_time": {"date": "2024-06-04"}}
    )
    listed = [e async for e in client.list_events(start=T0 - HOUR, end=T0 + 2 * HOUR)]
    assert {e.id for e in listed} == {inside, day}
    all_day = next(e for e in listed if e.id == day)
    assert (all_day.start, all_day.end, all_day.timezone) == (
        date(2024, 6, 3),
        date(2024, 6, 4),
        "UTC",
    )


async def test_calendars_leave_out_deleted_ones(
    fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    bot = fs.bot_calendar()
    kept = fs.add_user("ou_li", "李四")
    gone = fs.add_user("ou_wang", "王五")
    fs.calendars[gone]["is_deleted"] = True
    ids = {c.id for c in await client.get_calendars()}
    assert ids == {bot, kept}


async def test_user_calendars_need_sharing(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.add_user("ou_zhang", "张三")
    fs.add_event(cal, timed(T0, T0 + HOUR, summary="评审"))
    listed = [
        e
        async for e in client.list_events(user_id="ou_zhang", start=T0, end=T0 + HOUR, expand=True)
    ]
    assert [e.summary for e in listed] == ["评审"]
    assert listed[0].calendar_id == cal
    fs.share_user_calendars = False
    with pytest.raises(wecal.PermissionDeniedError) as info:
        [e async for e in client.list_events(cal, start=T0, end=T0 + HOUR, expand=True)]
    assert info.value.code == 191002
    # Free/busy still works.
    busy = await client.get_free_busy(["ou_zhang"], start=T0 - HOUR, end=T0 + 2 * HOUR)
    assert [(s.start, s.end) for s in busy["ou_zhang"]] == [(T0, T0 + HOUR)]


async def test_primary_calendars_are_batched_ten_users_a_call(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    users = [f"ou_{k:02d}" for k in range(12)]
    expected = {u: fs.add_user(u) for u in users}
    assert await client.get_primary_calendars(users) == expected
    assert sorted(len(r.json["user_ids"]) for r in calls(sb, "feishu.calendars.primarys")) == [
        2,
        10,
    ]
    with pytest.raises(wecal.NotFoundError) as info:
        await client.get_primary_calendars(["ou_ghost", users[0]])
    assert info.value.missing == ("ou_ghost",)


# --------------------------------------------------------------------------
# Sync
# --------------------------------------------------------------------------


async def test_sync_full_then_changes_then_reset(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    cal = fs.bot_calendar()
    keep = fs.add_event(cal, timed(T0, T0 + HOUR, summary="a"))
    drop = fs.add_event(cal, timed(T0 + HOUR, T0 + 2 * HOUR, summary="b"))
    first = client.sync_events()
    changes = [c async for c in first]
    assert [c.kind for c in changes] == [wecal.ChangeKind.RESET] + [wecal.ChangeKind.CREATED] * 2
    assert first.state is not None
    patched = await client.get_event(keep)
    await client.update_event(
        wecal.Event(
            provider=wecal.Provider.FEISHU,
            id=keep,
            summary="a2",
            start=patched.start,
            end=patched.end,
        )
    )
    await client.delete_event(drop)
    second = client.sync_events(state=first.state)
    got = {(c.kind, c.event_id, c.event.summary if c.event else None) async for c in second}
    assert got == {
        (wecal.ChangeKind.UPDATED, keep, "a2"),
        (wecal.ChangeKind.DELETED, drop, None),
    }
    # Incremental pulls bigger than a page continue by their newer sync_token.
    for k in range(120):
        fs.add_event(cal, timed(T0 + k * HOUR, T0 + k * HOUR + HOUR))
    third = client.sync_events(state=second.state, page_size=50)
    assert len([c async for c in third]) == 120
    assert any(
        "sync_token" in r.query and "page_token" not in r.query
        for r in calls(sb, "feishu.events.list")[-3:]
    )
    # A sync token Feishu no longer knows: a full listing, reported as a reset.
    fs._versions.clear()
    sb.faults.script("feishu.events.list", [Fault.error(190008)])
    fourth = client.sync_events(state=third.state)
    kinds = [c.kind async for c in fourth]
    assert kinds[0] is wecal.ChangeKind.RESET
    assert fourth.resynced


# --------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------


def _event(**changes: Any) -> wecal.Event:
    fields: dict[str, Any] = {
        "provider": wecal.Provider.FEISHU,
        "id": "",
        "summary": "周会",
        "start": T0,
        "end": T0 + HOUR,
        **changes,
    }
    return wecal.Event(**fields)


async def test_create_is_not_applied_twice_when_its_answer_is_lost(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    sb.faults.script("feishu.events.create", [Fault.applied_error(503)])
    created = await client.create_event(_event(reminders=(timedelta(minutes=-10),)))
    creates = calls(sb, "feishu.events.create")
    assert len(creates) == 2
    keys = {r.query["idempotency_key"] for r in creates}
    assert len(keys) == 1
    assert 32 <= len(keys.pop()) <= 128
    stored = [e for e in fs.events[fs.bot_calendar()].values()]
    assert [e["event_id"] for e in stored] == [created.id]
    assert created.reminders == (timedelta(minutes=-10),)
    assert created.start == T0


async def test_create_adds_attendees_in_batches_of_a_thousand(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    people = [wecal.Attendee(id=f"ou_{k}") for k in range(1500)]
    created = await client.create_event(_event(attendees=people))
    batches = [len(r.json["attendees"]) for r in calls(sb, "feishu.attendees.create")]
    assert batches == [1000, 500]
    stored = fs.attendees[(fs.bot_calendar(), created.id)]
    assert len(stored) == 1500
    # Feishu inlines 100 (has_more_attendee): the attendee list gives the rest.
    assert [a.id for a in created.attendees] == [f"ou_{k}" for k in range(1500)]
    assert [r.query["page_size"] for r in calls(sb, "feishu.attendees.list")] == ["100"] * 15
    await client.remove_attendees(created, ["ou_0", "ou_1"])
    assert len(fs.attendees[(fs.bot_calendar(), created.id)]) == 1498


async def test_all_day_written_inclusive_reads_back_exclusive(
    fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    created = await client.create_event(
        _event(start=date(2024, 6, 1), end=date(2024, 6, 3), summary="团建")
    )
    stored = fs.events[fs.bot_calendar()][created.id]
    assert stored["start_time"]["date"] == "2024-06-01"
    assert stored["end_time"]["date"] == "2024-06-03"  # stored exclusive
    assert (created.start, created.end) == (date(2024, 6, 1), date(2024, 6, 3))


async def test_occurrence_writes_and_reads_by_wecal_id(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    master = await client.create_event(_event(recurrence=wecal.Recurrence(rrule="FREQ=DAILY")))
    window = [
        e async for e in client.list_events(start=T0, end=T0 + timedelta(days=3), expand=True)
    ]
    second = window[1]
    assert second.id == f"{master.id}_{(T0 + timedelta(days=1)).astimezone(UTC):%Y%m%dT%H%M%SZ}"
    # Not stored on its own: found through instance_view.
    got = await client.get_event(second.id)
    assert (got.id, got.start) == (second.id, T0 + timedelta(days=1))
    # Deleting it makes a cancelled exception; the view leaves it out.
    await client.delete_event(second)
    again = [e async for e in client.list_events(start=T0, end=T0 + timedelta(days=3), expand=True)]
    assert [e.id for e in again] == [window[0].id, window[2].id]
    # Patching an occurrence with no exception is Feishu's refusal.
    with pytest.raises(wecal.InvalidRequestError):
        await client.update_event(window[2])


async def test_reply_delete_and_not_found(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    created = await client.create_event(_event())
    await client.respond_event(created, wecal.ResponseStatus.DECLINED)
    assert calls(sb, "feishu.events.reply")[-1].json == {"rsvp_status": "decline"}
    await client.delete_event(created.id)
    with pytest.raises(wecal.NotFoundError):
        await client.get_event(created.id)
    with pytest.raises(wecal.NotFoundError) as info:
        await client.get_event("nope_0")
    assert info.value.code == 193001


async def test_only_the_organizer_deletes(fs: FeishuEmulator, client: wecal.FeishuClient) -> None:
    cal = fs.add_user("ou_li", "李四")
    theirs = fs.add_event(cal, timed(T0, T0 + HOUR))
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await client.delete_event(theirs, calendar_id=cal)
    assert info.value.code == 193002


async def test_writes_refused_before_sending(sb: Sandbox, client: wecal.FeishuClient) -> None:
    with pytest.raises(wecal.UnsupportedError):
        await client.create_event(
            _event(recurrence=wecal.Recurrence(rrule="FREQ=DAILY", exdates=(T0,)))
        )
    with pytest.raises(wecal.ValidationError):
        await client.create_event(_event(), idempotency_key="short")
    with pytest.raises(wecal.ValidationError):
        client.list_events(page_size=10)
    with pytest.raises(wecal.ValidationError):
        client.list_events(expand=True)
    assert sb.requests == []


# --------------------------------------------------------------------------
# Limits and faults
# --------------------------------------------------------------------------


async def test_monthly_quota_is_not_retried(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    fs.monthly_quota = 2
    await client.get_primary_calendar()
    await client.get_primary_calendar()
    with pytest.raises(wecal.QuotaExceededError) as info:
        await client.get_primary_calendar()
    assert (info.value.code, info.value.http_status) == (99991403, 429)
    assert len(calls(sb, "feishu.calendars.primary")) == 3  # no retry


async def test_rate_limit_429_is_retried(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    sb.faults.script("feishu.calendars.primary", [Fault.rate_limited()])
    await client.get_primary_calendar()
    # An injected fault's code is recorded as ``code``, the emulator's own as ``errcode``.
    answered = [(r.status, r.errcode or r.code) for r in calls(sb, "feishu.calendars.primary")]
    assert answered == [(429, 99991400), (200, None)]


async def test_emulated_limits_answer_429_with_the_reset_header(
    sb: Sandbox, fs: FeishuEmulator
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sb.app), base_url="http://sandbox"
    ) as http:
        token = (
            await http.post(
                "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": CREDENTIALS[0], "app_secret": CREDENTIALS[1]},
            )
        ).json()["tenant_access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(50):
            ok = await http.post("/open-apis/calendar/v4/calendars/primary", headers=auth)
            assert ok.status_code == 200
        limited = await http.post("/open-apis/calendar/v4/calendars/primary", headers=auth)
        assert limited.status_code == 429
        assert limited.json()["code"] == 99991400
        assert limited.headers["x-ogw-ratelimit-reset"] == "1"
        assert limited.headers["x-tt-logid"]
        assert isinstance(sb.clock, FakeClock)
        sb.clock.advance(1)
        ok = await http.post("/open-apis/calendar/v4/calendars/primary", headers=auth)
        assert ok.status_code == 200


async def test_server_errors_and_busy_are_retried(
    sb: Sandbox, fs: FeishuEmulator, client: wecal.FeishuClient
) -> None:
    fs.add_event(fs.bot_calendar(), timed(T0, T0 + HOUR))
    sb.faults.script("feishu.events.instance_view", [Fault.busy(), Fault.server_error(502)])
    events = [e async for e in client.list_events(start=T0, end=T0 + HOUR, expand=True)]
    assert len(events) == 1


def test_brand_picks_the_host_and_refuses_others() -> None:
    lark = wecal.FeishuClient("cli_x", "secret-0123456789", brand="lark")
    assert "open.larksuite.com" in repr(lark)
    assert "open.feishu.cn" in repr(wecal.FeishuClient("cli_x", "secret-0123456789"))
    with pytest.raises(wecal.ValidationError):
        wecal.FeishuClient("cli_x", "secret-0123456789", brand="wechat")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Round trip through the emulator (hypothesis)
# --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(event=feishu_events())
def test_create_then_read_back_round_trips(event: wecal.Event) -> None:
    """What wecal writes, Feishu (emulated) stores and wecal reads back is the same event."""

    async def run() -> wecal.Event:
        box = Sandbox(seed=1, clock=FakeClock(NOW))
        async with make_client(box) as c:
            created = await c.create_event(event)
            return await c.get_event(created.id)

    back = anyio.run(run)
    assert attrs.evolve(back, id=event.id, calendar_id=None, organizer=None, created=None) == event


async def test_a_429_waits_what_x_ogw_ratelimit_reset_says(sb: Sandbox, fs: FeishuEmulator) -> None:
    """Feishu says when its window resets; past the deadline that is RateLimitError.retry_after."""
    short = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, deadline=0.3)
    async with make_client(sb, retry=short) as c:
        for _ in range(50):  # the emulator's clock stands still: one second's worth
            await c.get_primary_calendar()
        with pytest.raises(wecal.RateLimitError) as info:
            await c.get_primary_calendar()
    assert info.value.retry_after == 1.0  # x-ogw-ratelimit-reset: 1
    assert (info.value.code, info.value.http_status) == (99991400, 429)
    assert [r.status for r in calls(sb, "feishu.calendars.primary")][-1:] == [429]
    assert len(calls(sb, "feishu.calendars.primary")) == 51  # not retried inside 0.3 s


async def test_the_free_editions_monthly_quota_on_the_client_ledger(
    sb: Sandbox, fs: FeishuEmulator
) -> None:
    """RateLimitConfig(monthly_quota=…): past it, refused before anything is sent."""
    ledger = wecal.RateLimitConfig(monthly_quota=2, quota_scope="tenant-a")
    async with make_client(sb, rate_limit=ledger) as c:
        await c.get_primary_calendar()
        await c.get_primary_calendar()
        with pytest.raises(wecal.QuotaExceededError):
            await c.get_primary_calendar()
    assert len(calls(sb, "feishu.calendars.primary")) == 2  # the third was never sent
    assert len(calls(sb, "feishu.auth.tenant_access_token")) == 1  # tokens are not counted


async def test_the_sandbox_records_no_app_secret(sb: Sandbox, client: wecal.FeishuClient) -> None:
    await client.get_primary_calendar()
    (token,) = calls(sb, "feishu.auth.tenant_access_token")
    assert token.json == {"app_id": CREDENTIALS[0], "app_secret": "REDACTED"}


_VIEW_RULES = (
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
    "FREQ=MONTHLY;BYMONTHDAY=1,15",
    "FREQ=DAILY;COUNT=7",
    "FREQ=WEEKLY;UNTIL=20240801T000000Z",
)


@settings(max_examples=30, deadline=None)
@given(
    rule=st.sampled_from(_VIEW_RULES),
    zone=st.sampled_from(("Asia/Shanghai", "Europe/Berlin", "America/New_York")),
    offset=st.integers(0, 60 * 24 * 20),
    all_day=st.booleans(),
)
def test_instance_view_and_wecal_expand_name_occurrences_alike(
    rule: str, zone: str, offset: int, all_day: bool
) -> None:
    """DESIGN.md: one occurrence, one id, whether Feishu expanded it or wecal.expand did."""
    start = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(minutes=offset)
    if all_day:
        day = start.date()
        raw: dict[str, Any] = {
            "start_time": {"date": day.isoformat()},
            "end_time": {"date": (day + timedelta(days=1)).isoformat()},
        }
    else:
        tz = ZoneInfo(zone)
        raw = {
            "start_time": {"timestamp": str(int(start.timestamp())), "timezone": zone},
            "end_time": {"timestamp": str(int(start.timestamp()) + 3600), "timezone": zone},
        }
        del tz
    lo = datetime(2024, 6, 1, tzinfo=UTC)
    hi = lo + timedelta(days=35)

    async def run() -> tuple[list[str], list[str]]:
        box = Sandbox(seed=2, clock=FakeClock(NOW))
        fs = feishu(box)
        master = fs.add_event(fs.bot_calendar(), {**raw, "recurrence": rule})
        async with make_client(box) as c:
            viewed = [e.id async for e in c.list_events(start=lo, end=hi, expand=True)]
            stored = await c.get_event(master)
        return viewed, [e.id for e in wecal.expand(stored, lo, hi)]

    viewed, expanded = anyio.run(run)
    assert viewed == expanded
