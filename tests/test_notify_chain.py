"""
The whole chain over real sockets: a write to the sandbox → a signed, encrypted
callback POSTed to the app's endpoint → verified and parsed → a sync of the
calendar it names → the changed event, with duplicated, reordered and
failed-then-retried deliveries; the app's local copy ends equal to the
sandbox's state. Also the sandbox's notification sender on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anyio
import attrs
import httpx
import pytest

import wecal
from wecal.notifications import (
    DingTalkCallback,
    Notification,
    NotificationKind,
    WeComCallback,
    asgi_endpoint,
)
from wecal.sandbox import NotifyFault, Sandbox, generate, serve

from .sandbox_fixtures import (
    DINGTALK_APP_KEY,
    FAST_RETRY,
    WECOM_CORP_ID,
    WECOM_SECRET,
)
from .test_sync import (
    consume,
    ding_v1_on,
    live_events,
    live_timed_ids,
    new_event,
    shifted,
    v1_body,
)

pytestmark = pytest.mark.anyio

TOKEN = "chain-test-token"
AES_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
T0 = datetime(2024, 6, 3, 2, tzinfo=UTC)


class Inbox:
    """The app's notification handler: runs in the endpoint server's thread."""

    def __init__(self, *, fail_times: int = 0) -> None:
        self.notes: list[Notification] = []
        self.fail_times = fail_times

    async def __call__(self, note: Notification) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("handler down")
        self.notes.append(note)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def endpoint_url(inbox: Inbox) -> Iterator[str]:
    app = asgi_endpoint(WeComCallback(TOKEN, AES_KEY, WECOM_CORP_ID), inbox)
    with serve(app) as url:
        yield url + "/wecom/callback"


@pytest.fixture
def notifying(sandbox: Sandbox, endpoint_url: str) -> Iterator[Sandbox]:
    sandbox.notifications.subscribe_wecom(endpoint_url, TOKEN, AES_KEY)
    try:
        yield sandbox
    finally:
        sandbox.notifications.close()


def wecom_on(url: str) -> wecal.WeComClient:
    return wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url=url,
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
    )


async def drain(sandbox: Sandbox) -> None:
    await anyio.to_thread.run_sync(sandbox.notifications.drain)


async def test_chain_wecom_write_notify_verify_sync(notifying: Sandbox, inbox: Inbox) -> None:
    sandbox = notifying
    summary = generate(sandbox, seed=11, wecom_calendars=2, schedules_per_calendar=15)
    cal, other = summary.wecom_calendars[:2]
    ids = live_timed_ids(sandbox, cal)
    states: dict[str, str] = {}
    local: dict[str, dict[str, wecal.Event]] = {}

    async def on_notifications(wecom: wecal.WeComClient) -> list[wecal.Change]:
        """The app's loop: each notification triggers a sync of its calendar."""
        seen: list[wecal.Change] = []
        for note in list(inbox.notes):
            if note.calendar_id is None:
                continue
            sync = wecom.sync_events(note.calendar_id, state=states.get(note.calendar_id))
            seen += await consume(sync, local.setdefault(note.calendar_id, {}))
            states[note.calendar_id] = sync.state
        inbox.notes.clear()
        return seen

    with serve(sandbox) as sandbox_url:
        async with wecom_on(sandbox_url) as wecom:
            # The app starts from a full sync of both calendars.
            for c in (cal, other):
                inbox.notes.append(
                    Notification(
                        provider=wecal.Provider.WECOM,
                        kind=NotificationKind.UPDATED,
                        calendar_id=c,
                    )
                )
            await on_notifications(wecom)
            assert set(local[cal]) == {s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)}

            sandbox.notifications.script(
                [NotifyFault.DUPLICATE, NotifyFault.REORDER, None, NotifyFault.FAIL_FIRST]
            )
            created = await wecom.create_event(new_event(cal, "新会议"))
            moved = local[cal][ids[0]]
            await wecom.update_event(shifted(moved, 3))
            await wecom.delete_event(ids[1])
            sandbox.notifications.user_update_wecom_schedule(ids[2], summary="会议改名")
            await drain(sandbox)

            kinds = [(n.kind, n.event_id) for n in inbox.notes]
            assert kinds.count((NotificationKind.CREATED, created.id)) == 2  # duplicated
            # Reordered: the update's callback came after the delete's.
            assert kinds.index((NotificationKind.UPDATED, ids[0])) > kinds.index(
                (NotificationKind.DELETED, ids[1])
            )
            failed_then_retried = [
                d for d in sandbox.notifications.deliveries if d.statuses[0] == 403
            ]
            assert len(failed_then_retried) == 1
            assert failed_then_retried[0].statuses == [403, 200]
            assert failed_then_retried[0].message["ScheduleId"] == ids[2]

            changes = await on_notifications(wecom)
            by_kind = {(c.kind, c.event_id) for c in changes}
            assert by_kind == {
                (wecal.ChangeKind.CREATED, created.id),
                (wecal.ChangeKind.UPDATED, ids[0]),
                (wecal.ChangeKind.UPDATED, ids[1]),  # cancelled, still listed
                (wecal.ChangeKind.UPDATED, ids[2]),
            }
            assert local[cal][ids[0]].start == moved.start + timedelta(hours=3)
            assert local[cal][ids[2]].summary == "会议改名"

            # A schedule removed outright, a response "by a user": one more round.
            attendee = next(s for s in sandbox.wecom_ground_truth(cal) if s["attendees"])
            sandbox.notifications.user_respond_wecom_schedule(
                attendee["schedule_id"], attendee["attendees"][0]["userid"], 4
            )
            with sandbox.lock:
                del sandbox.wecom_schedules[ids[3]]
            sandbox.notifications.wecom_event("delete_schedule", cal, ids[3])
            await drain(sandbox)
            assert {n.kind for n in inbox.notes} == {
                NotificationKind.RESPONDED,
                NotificationKind.DELETED,
            }
            await on_notifications(wecom)

            # The local copy is the sandbox's state, event for event.
            truth = {s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)}
            assert set(local[cal]) == truth
            assert local[cal] == {e.id: e async for e in wecom.list_events(cal)}
            assert local[other] == {e.id: e async for e in wecom.list_events(other)}


async def test_sandbox_sends_one_callback_per_api_write(notifying: Sandbox, inbox: Inbox) -> None:
    sandbox = notifying
    summary = generate(sandbox, seed=12, wecom_calendars=1, schedules_per_calendar=2)
    cal = summary.wecom_calendars[0]
    sid = sandbox.wecom_ground_truth(cal)[0]["schedule_id"]
    with serve(sandbox) as url:
        async with wecom_on(url) as wecom:
            await wecom.add_attendees(sid, ["lisi"])
            await wecom.remove_attendees(sid, ["lisi"])
            (calendar,) = await wecom.get_calendars([cal])
            await wecom.update_calendar(attrs.evolve(calendar, summary="改"))
            await wecom.delete_calendar(cal)
            await drain(sandbox)
    assert [(n.kind, n.event_id) for n in inbox.notes] == [
        (NotificationKind.UPDATED, sid),
        (NotificationKind.UPDATED, sid),
        (NotificationKind.CALENDAR_UPDATED, None),
        (NotificationKind.CALENDAR_DELETED, None),
    ]
    assert {n.calendar_id for n in inbox.notes} == {cal}
    assert all(d.delivered for d in sandbox.notifications.deliveries)


async def test_a_failing_handler_gets_the_delivery_again(sandbox: Sandbox) -> None:
    inbox = Inbox(fail_times=2)
    app = asgi_endpoint(WeComCallback(TOKEN, AES_KEY, WECOM_CORP_ID), inbox)
    with serve(app) as url:
        sandbox.notifications.subscribe_wecom(url + "/", TOKEN, AES_KEY)
        try:
            generate(sandbox, seed=13, wecom_calendars=1, schedules_per_calendar=1)
            cal = next(iter(sandbox.wecom_calendars))
            sid = next(iter(sandbox.wecom_schedules))
            sandbox.notifications.user_delete_wecom_schedule(sid)
            await drain(sandbox)
        finally:
            sandbox.notifications.close()
    (delivery,) = sandbox.notifications.deliveries
    assert delivery.statuses == [500, 500, 200]
    assert [(n.kind, n.calendar_id, n.event_id) for n in inbox.notes] == [
        (NotificationKind.DELETED, cal, sid)
    ]


async def test_unreachable_receiver_is_retried_then_given_up(sandbox: Sandbox) -> None:
    with serve(asgi_endpoint(WeComCallback(TOKEN, AES_KEY, WECOM_CORP_ID), Inbox())) as url:
        pass  # the server is gone: its port refuses connections
    sandbox.notifications.subscribe_wecom(url + "/", TOKEN, AES_KEY)
    sandbox.notifications.attempts = 2
    try:
        generate(sandbox, seed=14, wecom_calendars=1, schedules_per_calendar=1)
        sandbox.notifications.user_delete_wecom_schedule(next(iter(sandbox.wecom_schedules)))
        await drain(sandbox)
    finally:
        sandbox.notifications.close()
    (delivery,) = sandbox.notifications.deliveries
    assert delivery.statuses == [0, 0]
    assert not delivery.delivered


def test_no_subscription_no_delivery_thread(sandbox: Sandbox) -> None:
    generate(sandbox, seed=15, wecom_calendars=1, schedules_per_calendar=1)
    sandbox.notifications.user_delete_wecom_schedule(next(iter(sandbox.wecom_schedules)))
    assert sandbox.notifications.deliveries == []
    assert sandbox.notifications._thread is None
    assert sandbox.wecom_schedules[next(iter(sandbox.wecom_schedules))]["status"] == 1
    _ = httpx  # the sandbox sends with httpx: imported here for the type only


async def test_chain_dingtalk_v1_write_notify_verify_sync(sandbox: Sandbox) -> None:
    inbox = Inbox()
    ding_cb = DingTalkCallback(TOKEN, AES_KEY, DINGTALK_APP_KEY)
    v1 = sandbox.dingtalk_v1
    user, guest = v1.add_user("张伟"), v1.add_user("王芳")
    ids = [v1.add_event(user, v1_body(f"周会 {h}", h)) for h in (9, 10, 11)]
    invited = v1.add_event(guest, v1_body("评审", 14, attendees=[{"id": user}]))
    states: dict[str, str] = {}
    local: dict[str, dict[str, wecal.Event]] = {}

    async def on_notifications(ding: wecal.DingTalkClient, users: set[str]) -> None:
        """Each notification syncs the calendars of the users it names that we follow."""
        for note in list(inbox.notes):
            for union_id in users & set(note.user_ids):
                sync = ding.sync_events(user_id=union_id, state=states.get(union_id))
                await consume(sync, local.setdefault(union_id, {}))
                states[union_id] = sync.state
        inbox.notes.clear()

    with serve(asgi_endpoint(ding_cb, inbox)) as endpoint, serve(sandbox) as sandbox_url:
        sandbox.notifications.subscribe_dingtalk(endpoint + "/", TOKEN, AES_KEY)
        try:
            async with ding_v1_on(sandbox, base_url=sandbox_url, transport=None) as ding:
                for union_id in (user, guest):  # the first full sync
                    inbox.notes.append(
                        Notification(
                            provider=wecal.Provider.DINGTALK,
                            kind=NotificationKind.UPDATED,
                            user_ids=(union_id,),
                        )
                    )
                await on_notifications(ding, {user, guest})
                assert set(local[user]) == {*ids, invited}

                sandbox.notifications.script(
                    [NotifyFault.REORDER, NotifyFault.DUPLICATE, NotifyFault.FAIL_FIRST]
                )
                created = await ding.create_event(
                    attrs.evolve(new_event("primary", "新会议"), provider=wecal.Provider.DINGTALK),
                    user_id=user,
                )
                moved = shifted(local[user][ids[0]], 1)
                await ding.update_event(moved, user_id=user)
                sandbox.notifications.user_delete_dingtalk_event(guest, invited)
                await ding.delete_event(ids[1], user_id=user)
                await drain(sandbox)

                notes = [(n.kind, n.event_id) for n in inbox.notes]
                assert notes.count((NotificationKind.UPDATED, ids[0])) == 2  # duplicated
                assert notes.index((NotificationKind.CREATED, created.id)) > notes.index(
                    (NotificationKind.UPDATED, ids[0])
                )  # reordered
                retried = [d for d in sandbox.notifications.deliveries if d.statuses[0] == 403]
                assert [d.message["calendarEventId"] for d in retried] == [invited]
                assert retried[0].statuses == [403, 200]
                assert all(guest in n.user_ids for n in inbox.notes if n.event_id == invited)

                await on_notifications(ding, {user, guest})
                assert created.id in local[user]
                assert invited not in local[user]
                assert invited not in local[guest]
                assert ids[1] not in local[user]
                assert local[user][ids[0]].start == moved.start
                for union_id in (user, guest):
                    assert local[union_id] == await live_events(ding, union_id)
                    truth = sandbox.dingtalk_v1.ground_truth(union_id)
                    live = {e["id"] for e in truth if e.get("status") != "cancelled"}
                    assert set(local[union_id]) == live
        finally:
            sandbox.notifications.close()
