"""
Incremental sync by snapshot diff (WeCom, DingTalk legacy) against the sandbox:
created / updated / deleted found, the state advanced only after the changes
were consumed, foreign and corrupt states refused, and the state's size.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.sandbox import Sandbox, generate
from wecal.sync import ChangeKind, TokenPage, TokenSync, decode_snapshot, encode_snapshot

from .sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    FAST_RETRY,
    WECOM_CORP_ID,
    client_on,
)

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 6, 3, 2, tzinfo=UTC)


async def consume(sync: wecal.SyncStream, local: dict[str, wecal.Event]) -> list[wecal.Change]:
    """Apply a sync to ``local`` the way the docs say; return the changes."""
    changes = []
    async for change in sync:
        changes.append(change)
        if change.kind is ChangeKind.RESET:
            local.clear()
        elif change.kind is ChangeKind.DELETED:
            local.pop(change.event_id, None)
        else:
            assert change.event is not None
            local[change.event_id] = change.event
    return changes


def new_event(calendar_id: str, summary: str = "") -> wecal.Event:
    """A one-hour WeCom event to create in ``calendar_id``."""
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id="",
        calendar_id=calendar_id,
        start=T0,
        end=T0 + timedelta(hours=1),
        summary=summary,
    )


def live_timed_ids(sandbox: Sandbox, cal: str) -> list[str]:
    """Timed, not yet cancelled schedules of ``cal`` (the generated data has others)."""
    return sorted(
        s["schedule_id"]
        for s in sandbox.wecom_ground_truth(cal)
        if s.get("status") != 1 and not s.get("is_whole_day")
    )


def shifted(event: wecal.Event, hours: int) -> wecal.Event:
    """``event`` moved by ``hours`` (a timed event)."""
    delta = timedelta(hours=hours)
    return attrs.evolve(event, start=event.start + delta, end=event.end + delta)


def kinds(changes: list[wecal.Change]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in changes:
        out.setdefault(str(c.kind), set()).add(c.event_id)
    return out


async def test_wecom_snapshot_sync(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=5, wecom_calendars=2, schedules_per_calendar=30)
    cal, other_cal = summary.wecom_calendars[:2]
    local: dict[str, wecal.Event] = {}
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        sync = wecom.sync_events(cal, page_size=7)
        first = await consume(sync, local)
        truth = {s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)}
        assert first[0].kind is ChangeKind.RESET
        assert sync.resynced
        assert kinds(first[1:]) == {"created": truth}
        state = sync.state

        # Nothing changed: nothing reported, the same state.
        again = wecom.sync_events(cal, state=state)
        assert [c async for c in again] == []
        assert not again.resynced
        assert decode_snapshot(again.state, _scope(cal)) == decode_snapshot(state, _scope(cal))

        # Writes through the API, a write "by a user", a schedule that vanished.
        made = await wecom.create_event(new_event(cal, "新会议"))
        ids = [i for i in live_timed_ids(sandbox, cal) if i != made.id]  # the ones before
        await wecom.update_event(shifted(local[ids[0]], 2))
        await wecom.delete_event(ids[1])  # WeCom keeps it, cancelled: an update
        sandbox.wecom_schedules[ids[2]]["summary"] = "edited in the app"
        del sandbox.wecom_schedules[ids[3]]
        await wecom.create_event(new_event(other_cal))

        sync = wecom.sync_events(cal, state=state)
        changes = await consume(sync, local)
        assert kinds(changes) == {
            "created": {made.id},
            "updated": {ids[0], ids[1], ids[2]},
            "deleted": {ids[3]},
        }
        assert local[ids[1]].status is wecal.EventStatus.CANCELLED
        assert local[ids[2]].summary == "edited in the app"
        # The local copy is the calendar as the provider has it now.
        assert local == {e.id: e async for e in wecom.list_events(cal)}


def _scope(cal: str) -> dict[str, Any]:
    # What WeComClient.sync_events binds a state to (client_on's corp and base URL).
    return {
        "provider": "wecom",
        "app": WECOM_CORP_ID,
        "base_url": "http://sandbox",
        "calendar_id": cal,
    }


async def test_state_advances_only_after_every_change_was_consumed(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=6, wecom_calendars=1, schedules_per_calendar=12)
    cal = summary.wecom_calendars[0]
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        sync = wecom.sync_events(cal)
        local: dict[str, wecal.Event] = {}
        await consume(sync, local)
        state = sync.state
        for sid in list(sandbox.wecom_schedules)[:3]:
            sandbox.wecom_schedules[sid]["description"] = "changed"

        async with wecom.sync_events(cal, state=state) as crashed:
            async for change in crashed:
                assert change.kind is ChangeKind.UPDATED
                break  # the app crashes after one change
        with pytest.raises(wecal.ValidationError, match="consumed"):
            _ = crashed.state
        with pytest.raises(wecal.ValidationError, match="once"):
            crashed.__aiter__()

        # The next sync, from the saved (old) state, repeats all three.
        retry = wecom.sync_events(cal, state=state)
        assert len(await consume(retry, local)) == 3
        assert [c async for c in wecom.sync_events(cal, state=retry.state)] == []


async def test_foreign_or_corrupt_state_is_refused(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=7, wecom_calendars=2, schedules_per_calendar=3)
    a, b = summary.wecom_calendars[:2]
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        sync = wecom.sync_events(a)
        await consume(sync, {})
        with pytest.raises(wecal.ValidationError, match="another calendar"):
            wecom.sync_events(b, state=sync.state)
        for bad in ["", "s1.", "s1.!!!!", "x" + sync.state, sync.state[:-9], "t1.e30"]:
            with pytest.raises(wecal.ValidationError):
                wecom.sync_events(a, state=bad)


async def test_dingtalk_legacy_snapshot_sync(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=8, wecom_calendars=0, dingtalk_users=1, events_per_user=25)
    user = summary.dingtalk_users[0]
    window = {"start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2025, 1, 1, tzinfo=UTC)}
    local: dict[str, wecal.Event] = {}
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as ding:
        sync = ding.sync_events(user_id=user, **window, page_size=10)
        first = await consume(sync, local)
        listed = {e.id async for e in ding.list_events(user_id=user, **window)}
        assert kinds(first[1:]) == {"created": listed}
        events = sandbox.dingtalk_events[user]
        changed, gone = sorted(listed)[:2]
        events[changed]["summary"] = "改了"
        del events[gone]
        new_id = sandbox.add_dingtalk_event(
            user,
            {
                "summary": "new",
                "start": {"date_time": "2024-06-03T10:00:00+0800", "time_zone": "Asia/Shanghai"},
                "end": {"date_time": "2024-06-03T11:00:00+0800", "time_zone": "Asia/Shanghai"},
                "status": "confirmed",
            },
        )
        sync2 = ding.sync_events(user_id=user, **window, state=sync.state)
        changes = await consume(sync2, local)
        assert kinds(changes) == {"created": {new_id}, "updated": {changed}, "deleted": {gone}}
        assert local == {e.id: e async for e in ding.list_events(user_id=user, **window)}
        # Another window is another query.
        with pytest.raises(wecal.ValidationError):
            ding.sync_events(user_id=user, start=window["start"], state=sync2.state)


def test_snapshot_state_size() -> None:
    # 10 000 WeCom schedule ids (29 random hex digits + "AAA", as WeCom's).
    prints = {secrets.token_hex(15)[:29] + "AAA": secrets.token_bytes(8) for _ in range(10_000)}
    state = encode_snapshot({"calendar_id": "c"}, prints)
    print(f"snapshot state for 10k events: {len(state)} bytes")
    assert decode_snapshot(state, {"calendar_id": "c"}) == prints
    assert len(state) < 360_000  # 34 bytes an event (wecal/sync.py says 340 KB)


@given(st.text(max_size=80) | st.builds(lambda b: "s1." + b, st.text(max_size=80)))
def test_fuzzed_states_are_validation_errors(state: str) -> None:
    outcome: object
    try:
        outcome = decode_snapshot(state, {"calendar_id": "c"})
    except wecal.ValidationError as exc:
        outcome = str(exc)
    assert isinstance(outcome, dict) or str(outcome).startswith("sync state ")


# -- the sync-token engine (DingTalk v1.0), driven by a scripted provider -----------


def _ev(eid: str, *, cancelled: bool = False) -> wecal.Event:
    return wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id=eid,
        start=T0,
        end=T0 + timedelta(hours=1),
        status=wecal.EventStatus.CANCELLED if cancelled else wecal.EventStatus.CONFIRMED,
    )


class ScriptedProvider:
    """Answers like /events: pages per sync token; refuses tokens in ``expired``."""

    def __init__(self) -> None:
        self.pages: dict[str | None, list[TokenPage]] = {}
        self.expired: set[str] = set()
        self.calls: list[tuple[str | None, str | None]] = []

    async def fetch(self, sync_token: str | None, next_token: str | None) -> TokenPage:
        self.calls.append((sync_token, next_token))
        if sync_token in self.expired:
            raise wecal.InvalidRequestError("syncToken expired", provider="dingtalk", code="x")
        pages = self.pages[sync_token]
        return pages[int(next_token or 0)]

    def engine(self, scope: str = "u1") -> TokenSync:
        return TokenSync(
            self.fetch,
            scope={"user_id": scope},
            rejected=lambda exc: isinstance(exc, wecal.InvalidRequestError),
            is_deleted=lambda e: e.status is wecal.EventStatus.CANCELLED,
        )


async def test_token_sync_full_then_incremental_then_expired() -> None:
    p = ScriptedProvider()
    p.pages[None] = [
        ([_ev("a"), _ev("b")], "1", None),
        ([_ev("c"), _ev("gone", cancelled=True)], None, "tok1"),
    ]
    p.pages["tok1"] = [([_ev("a"), _ev("b", cancelled=True)], None, "tok2")]
    local: dict[str, wecal.Event] = {}
    first = p.engine().stream(None)
    assert kinds(await consume(first, local)) == {"reset": {""}, "created": {"a", "b", "c"}}
    second = p.engine().stream(first.state)
    assert kinds(await consume(second, local)) == {"updated": {"a"}, "deleted": {"b"}}
    assert set(local) == {"a", "c"}
    assert not second.resynced
    # The provider forgets tok2: a full resync, reported, not raised.
    p.expired.add("tok2")
    third = p.engine().stream(second.state)
    resync = await consume(third, local)
    assert resync[0].kind is ChangeKind.RESET
    assert third.resynced
    assert set(local) == {"a", "b", "c"}  # the full listing (page tokens kept per sync)
    assert p.calls[-3:] == [("tok2", None), (None, None), (None, "1")]
    with pytest.raises(wecal.ValidationError, match="another calendar"):
        p.engine(scope="u2").stream(third.state)


async def test_token_sync_other_errors_and_a_missing_token_are_raised() -> None:
    p = ScriptedProvider()
    p.pages[None] = [([_ev("a")], None, None)]  # no syncToken at the end
    with pytest.raises(wecal.ResponseFormatError, match="syncToken"):
        await consume(p.engine().stream(None), {})

    async def down(_s: str | None, _n: str | None) -> TokenPage:
        raise wecal.TransportError("connection refused")

    engine = TokenSync(down, scope={}, rejected=lambda e: True, is_deleted=lambda e: False)
    with pytest.raises(wecal.TransportError):
        await consume(engine.stream(engine.encode("tok")), {})


# -- DingTalk v1.0: syncToken against the sandbox ------------------------------------


def v1_body(summary: str, hour: int, **extra: Any) -> dict[str, Any]:
    """A v1.0 create body: a one-hour meeting on 2024-06-03 at ``hour`` (Shanghai)."""
    zone = "Asia/Shanghai"
    return {
        "summary": summary,
        "start": {"dateTime": f"2024-06-03T{hour:02d}:00:00+08:00", "timeZone": zone},
        "end": {"dateTime": f"2024-06-03T{hour + 1:02d}:00:00+08:00", "timeZone": zone},
        **extra,
    }


def ding_v1_on(sandbox: Sandbox, **settings: Any) -> wecal.DingTalkClient:
    defaults: dict[str, Any] = {
        "base_url": "http://sandbox",
        "transport": httpx.ASGITransport(app=sandbox.app),
        "token_store": wecal.MemoryTokenStore(),
        "retry": FAST_RETRY,
    }
    return wecal.DingTalkClient(DINGTALK_APP_KEY, DINGTALK_APP_SECRET, **{**defaults, **settings})


async def live_events(ding: wecal.DingTalkClient, user: str) -> dict[str, wecal.Event]:
    """What the user's calendar lists now, cancelled events left out (sync deletes them)."""
    return {
        e.id: e
        async for e in ding.list_events(user_id=user)
        if e.status is not wecal.EventStatus.CANCELLED
    }


async def test_dingtalk_v1_sync_token(sandbox: Sandbox) -> None:
    v1 = sandbox.dingtalk_v1
    user, guest = v1.add_user("张伟"), v1.add_user("王芳")
    first_ids = [v1.add_event(user, v1_body(f"会议 {h}", h)) for h in range(9, 14)]
    invited = v1.add_event(guest, v1_body("王芳的会", 15, attendees=[{"id": user}]))
    local: dict[str, wecal.Event] = {}
    async with ding_v1_on(sandbox) as ding:
        sync = ding.sync_events(user_id=user, page_size=2)
        first = await consume(sync, local)
        assert first[0].kind is ChangeKind.RESET
        assert kinds(first[1:]) == {"created": {*first_ids, invited}}
        assert local == await live_events(ding, user)

        made = await ding.create_event(
            wecal.Event(
                provider=wecal.Provider.DINGTALK,
                id="",
                start=T0,
                end=T0 + timedelta(hours=1),
                summary="新会议",
            ),
            user_id=user,
        )
        await ding.update_event(shifted(local[first_ids[0]], 2), user_id=user)
        await ding.delete_event(first_ids[1], user_id=user)
        # A deletion "by a user" in the app (the organizer's cancels it for all).
        sandbox.notifications.user_delete_dingtalk_event(guest, invited)

        second = ding.sync_events(user_id=user, state=sync.state)
        changes = await consume(second, local)
        assert not second.resynced
        # A sync token cannot tell new from changed: both come as UPDATED.
        assert kinds(changes) == {
            "updated": {made.id, first_ids[0]},
            "deleted": {first_ids[1], invited},
        }
        assert local == await live_events(ding, user)
        assert [c async for c in ding.sync_events(user_id=user, state=second.state)] == []

        # DingTalk refuses a token it does not know: a full resync, reported.
        engine = TokenSync(
            lambda *_: None,  # type: ignore[arg-type,return-value]
            scope={
                "provider": "dingtalk-v1",
                "app": DINGTALK_APP_KEY,
                "base_url": "http://sandbox",
                "user_id": user,
                "calendar_id": "primary",
            },
            rejected=lambda _: True,
            is_deleted=lambda _: False,
        )
        third = ding.sync_events(user_id=user, state=engine.encode("not-a-token"))
        resync = await consume(third, local)
        assert resync[0].kind is ChangeKind.RESET
        assert third.resynced
        assert local == await live_events(ding, user)
        with pytest.raises(wecal.ValidationError, match="another calendar"):
            ding.sync_events(user_id=guest, state=third.state)
