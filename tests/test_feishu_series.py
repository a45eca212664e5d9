"""
Feishu series in the master listing (``expand=False``): a series' exceptions
(moved occurrences, cancelled ones) come as events of their own, on any page,
beside a master with no EXDATE. The listing must hold each occurrence once
after :func:`wecal.expand` of the masters, the exception's version winning
and a cancelled exception a removed occurrence.

The real client runs through ``httpx.ASGITransport`` against the sandbox's
Feishu emulator, whose listing order is shuffled (exceptions before or after
their master, pages apart). The expected occurrences come from
``dateutil.rrule`` and the exceptions the test stores, not from wecal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from dateutil.rrule import DAILY, WEEKLY, rrule
from hypothesis import given, settings
from hypothesis import strategies as st

import wecal
from tests.sandbox_fixtures import FAST_RETRY, NOW
from wecal.providers.feishu._emulator import CREDENTIALS, feishu
from wecal.sandbox import FakeClock, Fault, Sandbox

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 6, 3, 10, tzinfo=SH)
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

Key = datetime | date
Occurrences = dict[Key, list[tuple[Key, str]]]


def make_client(sb: Sandbox) -> wecal.FeishuClient:
    return wecal.FeishuClient(
        *CREDENTIALS,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sb.app),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
        rate_limit=False,
    )


def _times(start: Key, end: Key) -> dict[str, Any]:
    if isinstance(start, datetime):
        assert isinstance(end, datetime)
        return {
            "start_time": {"timestamp": str(int(start.timestamp())), "timezone": "Asia/Shanghai"},
            "end_time": {"timestamp": str(int(end.timestamp())), "timezone": "Asia/Shanghai"},
        }
    # All-day: Feishu answers the end date exclusive (reference §4; see _convert).
    return {"start_time": {"date": start.isoformat()}, "end_time": {"date": end.isoformat()}}


def _key(moment: Key) -> Key:
    return moment.astimezone(UTC) if isinstance(moment, datetime) else moment


def _original_seconds(moment: Key) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(
        (datetime(moment.year, moment.month, moment.day, tzinfo=UTC) - EPOCH).total_seconds()
    )


def build(
    sb: Sandbox, *, all_day: bool, freq: str, count: int, changes: list[str], singles: int
) -> tuple[Occurrences, set[Key]]:
    """Store a series, its exceptions and single events; the expected (live, cancelled)."""
    fs = feishu(sb)
    cal = fs.bot_calendar()
    step = {"DAILY": DAILY, "WEEKLY": WEEKLY}[freq]
    if all_day:
        starts: list[Key] = [
            d.date() for d in rrule(step, dtstart=datetime(2024, 6, 3), count=count)
        ]
        length: Any = timedelta(days=1)
        move: Any = timedelta(days=1)
    else:
        starts = list(rrule(step, dtstart=T0, count=count))
        length, move = HOUR, 3 * HOUR
    first: Any = starts[0]
    master = fs.add_event(
        cal,
        {
            **_times(first, first + length),
            "summary": "base",
            "recurrence": f"FREQ={freq};COUNT={count}",
        },
    )
    uid = master.removesuffix("_0")
    live: Occurrences = defaultdict(list)
    cancelled: set[Key] = set()
    original: Any
    for k, original in enumerate(starts):
        change = changes[k % len(changes)]
        exception = {
            "event_id": f"{uid}_{_original_seconds(original)}",
            "is_exception": True,
            "recurring_event_id": master,
        }
        if change == "keep":
            live[_key(original)].append((_key(original), "base"))
        elif change == "move":
            moved = original + move
            fs.add_event(
                cal, {**exception, **_times(moved, moved + length), "summary": f"moved {k}"}
            )
            live[_key(original)].append((_key(moved), f"moved {k}"))
        else:
            fs.add_event(
                cal,
                {**exception, **_times(original, original + length), "status": "cancelled"},
            )
            cancelled.add(_key(original))
    for k in range(singles):
        fs.add_event(cal, {**_times(T0 + k * HOUR, T0 + k * HOUR + HOUR), "summary": "single"})
    return dict(live), cancelled


def normalize(events: list[wecal.Event]) -> tuple[Occurrences, set[Key], int]:
    """Masters expanded with wecal.expand, exceptions beside them: (live, cancelled, singles)."""
    live: Occurrences = defaultdict(list)
    cancelled: set[Key] = set()
    singles = 0
    for event in events:
        if event.recurrence is not None:
            for occ in wecal.expand(event, *FAR):
                assert occ.recurrence_id is not None
                live[_key(occ.recurrence_id)].append((_key(occ.start), occ.summary))
        elif event.series_id is not None:
            assert event.recurrence_id is not None
            if event.status is wecal.EventStatus.CANCELLED:
                cancelled.add(_key(event.recurrence_id))
            else:
                live[_key(event.recurrence_id)].append((_key(event.start), event.summary))
        else:
            singles += 1
    return dict(live), cancelled, singles


@settings(max_examples=25, deadline=None)
@given(
    all_day=st.booleans(),
    freq=st.sampled_from(("DAILY", "WEEKLY")),
    count=st.integers(2, 9),
    changes=st.lists(st.sampled_from(("keep", "move", "cancel")), min_size=1, max_size=9),
    singles=st.integers(0, 110),
    shuffle=st.none() | st.integers(0, 2**16),
    backend=st.sampled_from(("asyncio", "trio")),
)
def test_master_listing_holds_each_occurrence_once(
    all_day: bool,
    freq: str,
    count: int,
    changes: list[str],
    singles: int,
    shuffle: int | None,
    backend: str,
) -> None:
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    live, cancelled = build(
        sb, all_day=all_day, freq=freq, count=count, changes=changes, singles=singles
    )
    feishu(sb).list_shuffle = shuffle

    async def run() -> list[wecal.Event]:
        async with make_client(sb) as client:
            return [e async for e in client.list_events(page_size=50)]

    events = anyio.run(run, backend=backend)
    assert normalize(events) == (live, cancelled, singles)


async def test_a_cursor_resumes_with_what_was_held(anyio_backend: str) -> None:
    """From every page's cursor, a fresh client (nothing in memory) ends at the same result."""
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    changes = ["move", "cancel", "keep"]
    live, cancelled = build(sb, all_day=False, freq="DAILY", count=9, changes=changes, singles=140)
    feishu(sb).list_shuffle = 7
    async with make_client(sb) as client:
        pages = [page async for page in client.list_events(page_size=50).by_page()]
    assert len(pages) == 3  # 147 events, 50 a page
    assert normalize([e for p in pages for e in p.items]) == (live, cancelled, 140)
    held = 0
    for k, page in enumerate(pages[:-1]):
        assert page.cursor is not None
        async with make_client(sb) as fresh:
            rest = [
                e
                async for later in fresh.list_events(page_size=50).by_page(cursor=page.cursor)
                for e in later.items
            ]
        before = [e for p in pages[: k + 1] for e in p.items]
        assert normalize(before + rest) == (live, cancelled, 140)
        held += sum(r.api == "feishu.events.get" for r in sb.requests)
    assert held  # a master held before a cursor was read again by id


async def test_a_window_keeps_a_series_only_where_it_still_occurs(anyio_backend: str) -> None:
    """Every occurrence in the window moved out of it: the master no longer overlaps."""
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    build(sb, all_day=False, freq="DAILY", count=3, changes=["move"], singles=0)
    async with make_client(sb) as client:
        # The occurrences are at 10:00 on 3, 4, 5 June; all moved to 13:00.
        window = [
            e
            async for e in client.list_events(start=T0 - HOUR, end=T0 + timedelta(days=3, hours=-1))
        ]
    assert sorted((e.start, e.summary) for e in window) == [
        (T0 + timedelta(days=k, hours=3), f"moved {k}") for k in range(3)
    ]


async def test_a_room_calendar_is_expanded_from_its_masters(anyio_backend: str) -> None:
    """
    Feishu's occurrence view serves primary and shared calendars only: for a
    room (resource) calendar the client lists masters from the window's start
    and expands them, each occurrence once, with the ids the view would give.
    """
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    fs = feishu(sb)
    room = fs.add_user("omm_room", "会议室 A")
    fs.calendars[room]["type"] = "resource"
    master = fs.add_event(
        room, {**_times(T0, T0 + HOUR), "summary": "例会", "recurrence": "FREQ=DAILY;COUNT=5"}
    )
    uid = master.removesuffix("_0")
    days = [T0 + timedelta(days=k) for k in range(5)]
    fs.add_event(room, {**_times(days[2] + HOUR, days[2] + 2 * HOUR), "summary": "例会（改）",
                        "event_id": f"{uid}_{int(days[2].timestamp())}",
                        "recurring_event_id": master, "is_exception": True})  # fmt: skip
    fs.add_event(room, {**_times(days[3], days[3] + HOUR), "status": "cancelled",
                        "event_id": f"{uid}_{int(days[3].timestamp())}",
                        "recurring_event_id": master, "is_exception": True})  # fmt: skip
    single = fs.add_event(room, {**_times(T0 + 2 * HOUR, T0 + 3 * HOUR), "summary": "面试"})
    fs.add_event(room, {**_times(T0 - 9 * HOUR, T0 - 8 * HOUR), "summary": "before"})
    # The view refuses the calendar (the code Feishu gives is not documented: any refusal).
    sb.faults.script("feishu.events.instance_view", [Fault.error(191004)])
    async with make_client(sb) as client:
        events = [
            e
            async for e in client.list_events(
                room, start=T0 - HOUR, end=T0 + timedelta(days=7), expand=True
            )
        ]
    expected = {
        f"{master}_{d.astimezone(UTC):%Y%m%dT%H%M%SZ}": (d + (HOUR if k == 2 else 0 * HOUR))
        for k, d in enumerate(days)
        if k != 3
    }
    expected[single] = T0 + 2 * HOUR
    assert {e.id: e.start for e in events} == expected
    assert len(events) == len(expected)
    assert sum(r.api == "feishu.calendars.get" for r in sb.requests) == 1


async def test_a_refused_view_of_another_calendar_is_raised(anyio_backend: str) -> None:
    sb = Sandbox(seed=5, clock=FakeClock(NOW))
    sb.faults.script("feishu.events.instance_view", [Fault.error(191004)])
    async with make_client(sb) as client:
        with pytest.raises(wecal.InvalidRequestError):
            _ = [e async for e in client.list_events(start=T0, end=T0 + HOUR, expand=True)]
