"""
Snapshot-diff sync (WeCom, DingTalk legacy) while the calendar changes under it.

Both list by offset (DingTalk legacy's page token is an offset too): an event
deleted between two pages shifts the next page, so a live event is skipped.
A sync must never report a live event as DELETED: what the listing misses is
confirmed first (WeCom: by id; DingTalk legacy: by listing again until two
listings agree). The sandbox is driven between pages by a transport that
runs a mutation after the n-th listing request — deletes and inserts at
random places, for many seeds. A state is bound to the app (corp) and
``base_url`` too: another's is a ``ValidationError``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import wecal
from tests.sandbox_fixtures import FAST_RETRY, client_on
from wecal.sandbox import Sandbox, generate

pytestmark = pytest.mark.anyio

WECOM_LIST = "/cgi-bin/oa/schedule/get_by_calendar"
LEGACY_LIST = "/topapi/calendar/list"
WINDOW = {"start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2025, 1, 1, tzinfo=UTC)}


class BetweenPages(httpx.ASGITransport):
    """The sandbox in-process; ``mutate(n)`` runs after the n-th answer on ``path``."""

    def __init__(self, sandbox: Sandbox, path: str, mutate: Callable[[int], None]) -> None:
        super().__init__(app=sandbox.app)
        self.path = path
        self.mutate = mutate
        self.pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path == self.path:
            self.pages += 1
            self.mutate(self.pages)
        return response


async def consume(sync: wecal.SyncStream, local: dict[str, wecal.Event]) -> list[wecal.Change]:
    changes = []
    async for change in sync:
        changes.append(change)
        if change.kind is wecal.ChangeKind.RESET:
            local.clear()
        elif change.kind is wecal.ChangeKind.DELETED:
            local.pop(change.event_id, None)
        else:
            assert change.event is not None
            local[change.event_id] = change.event
    return changes


def deleted(changes: list[wecal.Change]) -> set[str]:
    return {c.event_id for c in changes if c.kind is wecal.ChangeKind.DELETED}


# -- WeCom ------------------------------------------------------------------------------


def wecom_mutation(
    sandbox: Sandbox, cal: str, rnd: random.Random, log: dict[str, set[str]]
) -> Callable[[int], None]:
    """Between pages 1..4 of the sync: delete 1-3 listed schedules, insert 0-2 new ones."""

    def mutate(page: int) -> None:
        if page > 4:
            return
        rows = sandbox.wecom_ground_truth(cal)
        for row in rnd.sample(rows, min(len(rows), rnd.randint(1, 3))):
            del sandbox.wecom_schedules[row["schedule_id"]]
            log["deleted"].add(row["schedule_id"])
        for _ in range(rnd.randint(0, 2)):
            start = int(rows[rnd.randrange(len(rows))]["start_time"]) if rows else 1_717_200_000
            sid = sandbox.add_wecom_schedule(
                {
                    "cal_id": cal,
                    "summary": f"插入 {page}",
                    "start_time": start,
                    "end_time": start + 1800,
                    "is_whole_day": 0,
                    "status": 0,
                }
            )
            log["inserted"].add(sid)

    return mutate


@pytest.mark.parametrize("seed", range(8))
async def test_wecom_sync_never_reports_a_live_schedule_deleted(
    sandbox: Sandbox, seed: int
) -> None:
    summary = generate(sandbox, seed=seed, wecom_calendars=1, schedules_per_calendar=40)
    cal = summary.wecom_calendars[0]
    local: dict[str, wecal.Event] = {}
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        first = wecom.sync_events(cal, page_size=7)
        await consume(first, local)
        state = first.state

    rnd = random.Random(seed)
    log: dict[str, set[str]] = {"deleted": set(), "inserted": set()}
    transport = BetweenPages(sandbox, WECOM_LIST, wecom_mutation(sandbox, cal, rnd, log))
    async with client_on(sandbox, wecal.WeComClient, transport=transport) as wecom:
        sync = wecom.sync_events(cal, state=state, page_size=7)
        changes = await consume(sync, local)
        live = {s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)}
        assert not deleted(changes) & live  # never a live one
        assert deleted(changes) <= log["deleted"]  # each really gone
        assert log["deleted"]  # (the mutations ran)
        # Nothing changes any more: the next sync brings local to the truth
        # (what was deleted after it was listed is reported now).
        transport.mutate = lambda page: None
        quiet = await consume(wecom.sync_events(cal, state=sync.state, page_size=7), local)
        assert not deleted(quiet) & live
        assert set(local) == live
        assert local == {e.id: e async for e in wecom.list_events(cal)}


# -- DingTalk legacy --------------------------------------------------------------------


def _item(summary: str, day: int) -> dict[str, Any]:
    start = datetime(2024, 6, day, 10, tzinfo=UTC)
    return {
        "summary": summary,
        "start": {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S%z"), "time_zone": "UTC"},
        "end": {
            "date_time": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "time_zone": "UTC",
        },
        "status": "confirmed",
    }


def legacy_mutation(
    sandbox: Sandbox,
    user: str,
    rnd: random.Random,
    log: dict[str, set[str]],
    pages: Callable[[int], bool],
) -> Callable[[int], None]:
    """On the listing requests ``pages`` selects: delete 1-3 events, insert 0-2."""

    def mutate(page: int) -> None:
        if not pages(page):
            return
        listed = [i["id"] for i in sandbox.dingtalk_ground_truth(user, **WINDOW)]
        events = sandbox.dingtalk_events[user]
        for eid in rnd.sample(listed, min(len(listed), rnd.randint(1, 3))):
            events.pop(eid, None)
            log["deleted"].add(eid)
        for _ in range(rnd.randint(0, 2)):
            new = sandbox.add_dingtalk_event(user, _item(f"插入 {page}", rnd.randint(1, 28)))
            log["inserted"].add(new)

    return mutate


@pytest.mark.parametrize("seed", range(6))
async def test_dingtalk_legacy_sync_never_reports_a_live_event_deleted(
    sandbox: Sandbox, seed: int
) -> None:
    summary = generate(sandbox, seed=seed, wecom_calendars=0, dingtalk_users=1, events_per_user=40)
    user = summary.dingtalk_users[0]
    local: dict[str, wecal.Event] = {}
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as ding:
        first = ding.sync_events(user_id=user, **WINDOW, page_size=6)
        await consume(first, local)
        state = first.state

    rnd = random.Random(seed)
    log: dict[str, set[str]] = {"deleted": set(), "inserted": set()}
    # Between the pages of the sync's own listing (its first four requests).
    mutate = legacy_mutation(sandbox, user, rnd, log, lambda page: page <= 4)
    transport = BetweenPages(sandbox, LEGACY_LIST, mutate)
    async with client_on(sandbox, wecal.DingTalkLegacyClient, transport=transport) as ding:
        sync = ding.sync_events(user_id=user, **WINDOW, state=state, page_size=6)
        changes = await consume(sync, local)
        live = {i["id"] for i in sandbox.dingtalk_ground_truth(user, **WINDOW)}
        assert not deleted(changes) & live
        assert deleted(changes) <= log["deleted"]
        assert log["deleted"]
        transport.mutate = lambda page: None
        quiet = await consume(ding.sync_events(user_id=user, **WINDOW, state=sync.state), local)
        assert not deleted(quiet) & live
        assert set(local) == live


async def test_dingtalk_legacy_sync_under_constant_churn_defers_deletions(
    sandbox: Sandbox,
) -> None:
    # Every listing sees changes: no two agree, so nothing missing is reported
    # deleted now; once the churn stops the next sync decides.
    summary = generate(sandbox, seed=11, wecom_calendars=0, dingtalk_users=1, events_per_user=30)
    user = summary.dingtalk_users[0]
    local: dict[str, wecal.Event] = {}
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as ding:
        first = ding.sync_events(user_id=user, **WINDOW, page_size=6)
        await consume(first, local)
    known = set(local)

    rnd = random.Random(11)
    log: dict[str, set[str]] = {"deleted": set(), "inserted": set()}
    transport = BetweenPages(
        sandbox, LEGACY_LIST, legacy_mutation(sandbox, user, rnd, log, lambda page: True)
    )
    async with client_on(sandbox, wecal.DingTalkLegacyClient, transport=transport) as ding:
        sync = ding.sync_events(user_id=user, **WINDOW, state=first.state, page_size=6)
        changes = await consume(sync, local)
        live = {i["id"] for i in sandbox.dingtalk_ground_truth(user, **WINDOW)}
        assert not deleted(changes) & live
        transport.mutate = lambda page: None
        later = await consume(ding.sync_events(user_id=user, **WINDOW, state=sync.state), local)
        assert not deleted(later) & live
        # Every event the first sync reported and that is gone now was reported deleted.
        assert (known - live) - log["inserted"] <= deleted(changes) | deleted(later)
        assert set(local) == live


# -- a state belongs to one app, one base URL -------------------------------------------


async def test_a_state_from_another_corp_or_base_url_is_refused(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=2, wecom_calendars=1, schedules_per_calendar=5)
    cal = summary.wecom_calendars[0]
    sandbox.add_wecom_app("ww_other_corp", "other-corp-secret-0123456789")
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        sync = wecom.sync_events(cal)
        await consume(sync, {})
        state = sync.state
        assert [c async for c in wecom.sync_events(cal, state=state)] == []  # its own: fine
    other = wecal.WeComClient(
        "ww_other_corp",
        "other-corp-secret-0123456789",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
    )
    async with other:
        with pytest.raises(wecal.ValidationError, match="another"):
            other.sync_events(cal, state=state)
    async with client_on(sandbox, wecal.WeComClient, base_url="http://elsewhere") as moved:
        with pytest.raises(wecal.ValidationError, match="another"):
            moved.sync_events(cal, state=state)


async def test_legacy_and_v1_states_are_bound_to_the_app(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=2, wecom_calendars=0, dingtalk_users=1, events_per_user=5)
    user = summary.dingtalk_users[0]
    sandbox.add_dingtalk_app("dingotherapp", "other-app-secret-0123456789")
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as ding:
        sync = ding.sync_events(user_id=user, **WINDOW)
        await consume(sync, {})
    other = wecal.DingTalkLegacyClient(
        "dingotherapp",
        "other-app-secret-0123456789",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
    )
    async with other:
        with pytest.raises(wecal.ValidationError, match="another"):
            other.sync_events(user_id=user, **WINDOW, state=sync.state)

    union = sandbox.dingtalk_v1.add_user("Alice 王")
    async with client_on(sandbox, wecal.DingTalkClient) as v1:
        token_sync = v1.sync_events(user_id=union)
        await consume(token_sync, {})
    other_v1 = wecal.DingTalkClient(
        "dingotherapp",
        "other-app-secret-0123456789",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
    )
    async with other_v1:
        with pytest.raises(wecal.ValidationError, match="another"):
            other_v1.sync_events(user_id=union, state=token_sync.state)
