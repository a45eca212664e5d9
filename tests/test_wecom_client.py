"""
``wecal.WeComClient`` against the sandbox, in-process (``httpx.ASGITransport``).

Listing and paging, the client-side window (checked against the sandbox's
ground truth expanded here with dateutil, not with ``wecal.expand``),
``get_events`` batching, read-modify-write updates, ``op_mode`` edits,
attendees, calendar CRUD with partial share failures, and the argument and
lifecycle errors that must be raised before any request goes out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import attrs
import httpx
import pytest
from dateutil import rrule
from hypothesis import given
from hypothesis import strategies as st

import wecal
from tests._mock import CORP_ID, CORP_SECRET, FakeProvider, note_sandbox_tokens
from tests.sandbox_fixtures import FAST_RETRY, client_on, new_sandbox
from wecal.providers.wecom._convert import calendar_to_wecom
from wecal.providers.wecom._errors import WECOM
from wecal.sandbox import RecordedRequest, Sandbox, generate

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "wecom"
PLUS8 = timezone(timedelta(hours=8))
FAST = FAST_RETRY

ClientFactory = Callable[..., wecal.WeComClient]


def make_client(sb: Sandbox, **kw: Any) -> wecal.WeComClient:
    """A client on ``sb`` in-process, with its own token store and fast retries."""
    return client_on(sb, wecal.WeComClient, **kw)


@pytest.fixture
def wecom(sandbox: Sandbox) -> Iterator[ClientFactory]:
    """Clients on the test's sandbox; its tokens count as secrets for the log check."""
    yield lambda **kw: make_client(sandbox, **kw)
    note_sandbox_tokens(sandbox)


def calls(sb: Sandbox, api: str) -> list[RecordedRequest]:
    return [r for r in sb.requests if r.api == f"wecom.{api}"]


def business(sb: Sandbox) -> list[RecordedRequest]:
    return [r for r in sb.requests if r.api is not None and not r.api.endswith("gettoken")]


# -- an independent ground truth: the sandbox's raw schedules, expanded with dateutil ------

_FREQ = {0: rrule.DAILY, 1: rrule.WEEKLY, 2: rrule.MONTHLY, 5: rrule.YEARLY, 7: rrule.WEEKLY}
_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)


def occurrence_starts(
    s: Mapping[str, Any], lo: datetime, hi: datetime, limit: int | None = None
) -> list[datetime]:
    """
    Starts of the schedule's occurrences that overlap ``[lo, hi)``, from the
    WeCom fields as DESIGN.md maps them (0 daily, 1 weekly, 2 monthly, 5
    yearly, 7 workdays; custom interval / weekdays / month days; inclusive
    repeat_until; exclude_time_list by instant). ``limit`` stops early.
    """
    rem = s["reminders"]
    tz = timezone(timedelta(hours=rem.get("timezone", 8)))
    start = datetime.fromtimestamp(s["start_time"], tz)
    length = timedelta(seconds=s["end_time"] - s["start_time"])
    if not rem.get("is_repeat"):
        return [start] if start < hi and start + length > lo else []
    kw: dict[str, Any] = {"dtstart": start}
    kind = rem["repeat_type"]
    if kind == 7:
        kw["byweekday"] = _DAYS[:5]
    if rem.get("is_custom_repeat"):
        kw["interval"] = rem.get("repeat_interval") or 1
        if kind == 1 and rem.get("repeat_day_of_week"):
            kw["byweekday"] = [_DAYS[d - 1] for d in rem["repeat_day_of_week"]]
        if kind == 2 and rem.get("repeat_day_of_month"):
            kw["bymonthday"] = rem["repeat_day_of_month"]
    if rem.get("repeat_until"):
        kw["until"] = datetime.fromtimestamp(rem["repeat_until"], tz)
    excluded = {x["start_time"] for x in rem.get("exclude_time_list") or []}
    # start + length > lo  ⇔  start > lo - length; lazily, so an open end is fine.
    found = []
    for d in rrule.rrule(_FREQ[kind], **kw).xafter(lo - length):
        if d >= hi or (limit is not None and len(found) >= limit):
            break
        if int(d.timestamp()) not in excluded:
            found.append(d)
    return found


def expected_ids(
    sb: Sandbox, cal_id: str, lo: datetime, hi: datetime, *, expand: bool
) -> list[tuple[str, datetime]]:
    """(event id, start instant) a windowed listing must yield, in listing order."""
    out: list[tuple[str, datetime]] = []
    for s in sb.wecom_ground_truth(cal_id):
        starts = occurrence_starts(s, lo, hi, limit=None if expand else 1)
        if not starts:
            continue
        if not expand or not s["reminders"].get("is_repeat"):
            out.append((s["schedule_id"], datetime.fromtimestamp(s["start_time"], UTC)))
            continue
        for d in starts:
            rid = f"{d:%Y%m%d}" if s["is_whole_day"] else f"{d.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            out.append((f"{s['schedule_id']}_{rid}", d.astimezone(UTC)))
    return out


def instant(event: wecal.Event) -> datetime:
    """An event's start as a UTC instant (an all-day one at 00:00 in its offset)."""
    if isinstance(event.start, datetime):
        return event.start.astimezone(UTC)
    assert event.timezone is not None
    sign = -1 if event.timezone[0] == "-" else 1
    tz = timezone(sign * timedelta(hours=int(event.timezone[1:3])))
    return datetime.combine(event.start, datetime.min.time(), tz).astimezone(UTC)


# -- listing -------------------------------------------------------------------------


async def test_list_every_schedule_in_order_over_pages(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=37, max_attendees=4)
    cal_id = summary.wecom_calendars[0]
    truth = [s["schedule_id"] for s in sandbox.wecom_ground_truth(cal_id)]
    async with wecom() as client:
        pages = [page async for page in client.list_events(cal_id, page_size=10).by_page()]
    assert [len(p.items) for p in pages] == [10, 10, 10, 7]
    assert [e.id for p in pages for e in p.items] == truth
    assert pages[-1].cursor is not None  # offset paging learns of the end from an empty page
    sent = [(r.json["offset"], r.json["limit"]) for r in calls(sandbox, "schedule.get_by_calendar")]
    assert sent == [(0, 10), (10, 10), (20, 10), (30, 10), (37, 10)]


async def test_list_default_page_size_is_the_maximum(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=5, max_attendees=2)
    async with wecom() as client:
        events = [e async for e in client.list_events(summary.wecom_calendars[0])]
    assert len(events) == 5
    assert calls(sandbox, "schedule.get_by_calendar")[0].json["limit"] == 1000


WINDOWS = [
    (datetime(2024, 6, 1, tzinfo=PLUS8), datetime(2024, 6, 15, tzinfo=PLUS8)),
    (datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC)),
    (datetime(2024, 7, 3, 9, 30, tzinfo=PLUS8), datetime(2024, 7, 3, 10, 0, tzinfo=PLUS8)),
    (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize("expand", [False, True], ids=["masters", "expanded"])
@pytest.mark.parametrize("window", WINDOWS, ids=["2w", "6mo", "30min", "later"])
async def test_window_matches_dateutil_ground_truth(
    sandbox: Sandbox, wecom: ClientFactory, window: tuple[datetime, datetime], expand: bool
) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=60, max_attendees=3)
    cal_id = summary.wecom_calendars[0]
    lo, hi = window
    async with wecom() as client:
        events = [
            e
            async for e in client.list_events(cal_id, start=lo, end=hi, expand=expand, page_size=7)
        ]
    want = expected_ids(sandbox, cal_id, lo, hi, expand=expand)
    got = [(e.id, instant(e)) for e in events]
    # Within one page occurrences come per master; compare as sets plus no duplicates.
    assert sorted(got) == sorted(want)
    assert len({e.id for e in events}) == len(events)
    if expand:
        for e in events:
            if e.series_id is not None:
                assert e.recurrence is None
                assert e.recurrence_id is not None
                assert e.id.startswith(f"{e.series_id}_")


_SHARED: dict[str, Any] = {}


def shared_sandbox() -> tuple[Sandbox, str, wecal.MemoryTokenStore]:
    """One read-only generated sandbox for the property test (built once)."""
    if not _SHARED:
        sb = new_sandbox(seed=3)
        summary = generate(sb, seed=3, wecom_calendars=1, schedules_per_calendar=40)
        _SHARED.update(sb=sb, cal=summary.wecom_calendars[0], store=wecal.MemoryTokenStore())
    return _SHARED["sb"], _SHARED["cal"], _SHARED["store"]


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@given(
    offset=st.integers(min_value=-90 * 24 * 4, max_value=150 * 24 * 4),
    length=st.integers(min_value=1, max_value=40 * 24 * 4),
    expand=st.booleans(),
)
def test_any_window_matches_dateutil(backend: str, offset: int, length: int, expand: bool) -> None:
    """Windows on a 15-minute grid around the data (edges land on event bounds)."""
    sb, cal_id, store = shared_sandbox()
    lo = datetime(2024, 6, 1, tzinfo=PLUS8) + timedelta(minutes=15 * offset)
    hi = lo + timedelta(minutes=15 * length)

    async def run() -> list[tuple[str, datetime]]:
        async with make_client(sb, token_store=store) as client:
            pager = client.list_events(cal_id, start=lo, end=hi, expand=expand)
            return [(e.id, instant(e)) async for e in pager]

    got = anyio.run(run, backend=backend)
    note_sandbox_tokens(sb)
    assert sorted(got) == sorted(expected_ids(sb, cal_id, lo, hi, expand=expand))


async def test_one_sided_window(sandbox: Sandbox, wecom: ClientFactory) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=30, max_attendees=2)
    cal_id = summary.wecom_calendars[0]
    lo = datetime(2024, 7, 1, tzinfo=PLUS8)
    far = datetime(9000, 1, 1, tzinfo=UTC)
    early = datetime(1971, 1, 1, tzinfo=UTC)
    async with wecom() as client:
        after = {e.id async for e in client.list_events(cal_id, start=lo)}
        before = {e.id async for e in client.list_events(cal_id, end=lo)}
    assert after == {i for i, _ in expected_ids(sandbox, cal_id, lo, far, expand=False)}
    assert before == {i for i, _ in expected_ids(sandbox, cal_id, early, lo, expand=False)}


# -- get_events ----------------------------------------------------------------------


def bulk_sandbox(sb: Sandbox, n: int) -> tuple[str, list[str]]:
    """``n`` plain schedules in one calendar, added straight into the state."""
    cal_id = sb.add_wecom_calendar({"summary": "bulk", "color": "#FF3030"})
    base = 1_717_200_000
    ids = []
    for i in range(n):
        ids.append(
            sb.add_wecom_schedule(
                {
                    "cal_id": cal_id,
                    "summary": f"s{i}",
                    "start_time": base + 60 * i,
                    "end_time": base + 60 * i + 30,
                    "attendees": [],
                    "admins": [],
                    "reminders": {"timezone": 8},
                    "status": 0,
                    "is_whole_day": 0,
                }
            )
        )
    return cal_id, ids


async def test_get_events_batches_over_1000_and_keeps_order(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    _, ids = bulk_sandbox(sandbox, 2300)
    wanted = ids[::-1]  # an order the sandbox would not produce by itself
    async with wecom(rate_limit=False) as client:
        events = await client.get_events(wanted)
    assert [e.id for e in events] == wanted
    assert [e.summary for e in events[:2]] == ["s2299", "s2298"]
    sizes = sorted(len(r.json["schedule_id_list"]) for r in calls(sandbox, "schedule.get"))
    assert sizes == [300, 1000, 1000]


async def test_get_events_reports_unknown_ids(sandbox: Sandbox, wecom: ClientFactory) -> None:
    _, ids = bulk_sandbox(sandbox, 1500)
    wanted = ["ghost-a", *ids[:700], "ghost-b", *ids[700:], "ghost-c"]
    async with wecom(rate_limit=False) as client:
        with pytest.raises(wecal.NotFoundError) as info:
            await client.get_events(wanted)
        assert info.value.missing == ("ghost-a", "ghost-b", "ghost-c")
        assert [e.id for e in info.value.found] == ids
        assert "ghost-a" in str(info.value)
        skipped = await client.get_events(wanted, missing="skip")
    assert [e.id for e in skipped] == ids


async def test_get_events_duplicates_and_empty(sandbox: Sandbox, wecom: ClientFactory) -> None:
    _, ids = bulk_sandbox(sandbox, 3)
    async with wecom() as client:
        assert await client.get_events([]) == []
        events = await client.get_events([ids[1], ids[0], ids[1]])
        single = await client.get_event(ids[2])
        with pytest.raises(wecal.NotFoundError):
            await client.get_event("ghost")
        with pytest.raises(wecal.ValidationError, match=r"ids\[1\]"):
            await client.get_events([ids[0], 42])  # type: ignore[list-item]
    assert [e.id for e in events] == [ids[1], ids[0]]
    assert single.summary == "s2"


# -- writes --------------------------------------------------------------------------


def weekly_schedule(sb: Sandbox, cal_id: str) -> str:
    """A weekly series from Mon 2024-06-03 10:00 +08:00, 1 h, 3 attendees, 2 admins."""
    return sb.add_wecom_schedule(
        {
            "cal_id": cal_id,
            "summary": "周会 weekly",
            "description": "议程",
            "location": "第三会议室",
            "start_time": 1717380000,  # 2024-06-03 10:00 +08:00
            "end_time": 1717383600,
            "admins": ["zhangwei", "lina"],
            "attendees": [
                {"userid": "zhangwei", "response_status": 2},
                {"userid": "lina", "response_status": 4},
                {"userid": "wangfang", "response_status": 0},
            ],
            "reminders": {
                "is_remind": 1,
                "remind_time_diffs": [-900],
                "is_repeat": 1,
                "repeat_type": 1,
                "repeat_until": 0,
                "timezone": 8,
                "exclude_time_list": [],
            },
            "status": 0,
            "is_whole_day": 0,
        }
    )


def test_hand_computed_instants() -> None:
    """The hand-typed instants of this module agree with the calendar module."""
    import calendar

    assert calendar.timegm((2024, 6, 3, 2, 0, 0)) == 1717380000  # 10:00 +08:00, a Monday
    assert date(2024, 6, 3).weekday() == 0
    assert calendar.timegm((2024, 6, 17, 2, 0, 0)) == 1717380000 + 14 * 86400


async def test_create_event_one_off_recurring_and_whole_day(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    start = datetime(2024, 6, 3, 10, 0, tzinfo=PLUS8)
    one_off = wecal.Event(
        provider="wecom",
        id="",
        summary="评审 🚀",
        start=start,
        end=start + timedelta(hours=1),
        attendees=[wecal.Attendee(id="zhangwei")],
        reminders=[timedelta(minutes=-15)],
    )
    weekly = attrs.evolve(
        one_off, summary="weekly", recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;COUNT=4")
    )
    whole_day = wecal.Event(
        provider="wecom", id="", summary="团建", start=date(2024, 6, 8), end=date(2024, 6, 10)
    )
    async with wecom() as client:
        made = [await client.create_event(e, calendar_id=cal_id) for e in (one_off, whole_day)]
        with pytest.raises(wecal.UnsupportedError):
            await client.create_event(weekly, calendar_id=cal_id)  # COUNT: no WeCom field
        until = wecal.Recurrence(rrule="FREQ=WEEKLY;UNTIL=20240624T020000Z")
        made.append(
            await client.create_event(attrs.evolve(weekly, recurrence=until), calendar_id=cal_id)
        )
    stored = [sandbox.wecom_schedules[e.id] for e in made]
    assert [s["cal_id"] for s in stored] == [cal_id] * 3
    assert stored[0]["start_time"] == 1717380000
    assert stored[0]["end_time"] == 1717383600
    assert stored[0]["attendees"] == [{"userid": "zhangwei", "response_status": 0}]
    assert stored[0]["reminders"]["remind_time_diffs"] == [-900]
    # Whole day 8th–9th (exclusive end the 10th) at 00:00 +08:00.
    assert stored[1]["is_whole_day"] == 1
    assert stored[1]["start_time"] == int(datetime(2024, 6, 8, tzinfo=PLUS8).timestamp())
    assert stored[1]["end_time"] == int(datetime(2024, 6, 10, tzinfo=PLUS8).timestamp())
    assert stored[2]["reminders"]["is_repeat"] == 1
    assert stored[2]["reminders"]["repeat_type"] == 1
    assert stored[2]["reminders"]["repeat_until"] == 1717380000 + 21 * 86400
    # The returned events are what WeCom stored, read back.
    assert made[1].start == date(2024, 6, 8)
    assert made[1].end == date(2024, 6, 10)
    assert made[2].recurrence is not None
    adds = calls(sandbox, "schedule.add")
    assert len(adds) == 3  # the unsupported one never left the client


async def test_update_keeps_admins_and_skips_unchanged_attendees(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    async with wecom() as client:
        event = await client.get_event(sid)
        sandbox.clear_requests()
        updated = await client.update_event(attrs.evolve(event, summary="改了 changed"))
    (update,) = calls(sandbox, "schedule.update")
    assert update.json["skip_attendees"] == 1
    assert "attendees" not in update.json["schedule"]
    assert update.json["schedule"]["admins"] == ["zhangwei", "lina"]
    assert "cal_id" not in update.json["schedule"]
    stored = sandbox.wecom_schedules[sid]
    assert stored["summary"] == "改了 changed"
    assert stored["admins"] == ["zhangwei", "lina"]
    assert stored["description"] == "议程"
    assert stored["location"] == "第三会议室"
    assert stored["reminders"]["remind_time_diffs"] == [-900]
    assert stored["reminders"]["is_repeat"] == 1
    # Answers survive: attendees were not sent at all.
    assert {a["userid"]: a["response_status"] for a in stored["attendees"]} == {
        "zhangwei": 2,
        "lina": 4,
        "wangfang": 0,
    }
    assert updated.summary == "改了 changed"
    assert updated.id == sid


async def test_update_with_new_attendees_sends_them(sandbox: Sandbox, wecom: ClientFactory) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    async with wecom() as client:
        event = await client.get_event(sid)
        fewer = attrs.evolve(event, attendees=(*event.attendees[:2], wecal.Attendee(id="liumin")))
        sandbox.clear_requests()
        await client.update_event(fewer)
    (update,) = calls(sandbox, "schedule.update")
    assert "skip_attendees" not in update.json
    sent = [a["userid"] for a in update.json["schedule"]["attendees"]]
    assert sent == ["zhangwei", "lina", "liumin"]
    stored = {a["userid"]: a["response_status"] for a in sandbox.wecom_schedules[sid]["attendees"]}
    assert stored == {"zhangwei": 2, "lina": 4, "liumin": 0}


async def test_update_one_occurrence_op_mode_1(sandbox: Sandbox, wecom: ClientFactory) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    lo = datetime(2024, 6, 10, tzinfo=PLUS8)
    async with wecom() as client:
        occurrences = [
            e async for e in client.list_events(cal_id, start=lo, end=lo + timedelta(days=14),
                                                 expand=True)
        ]  # fmt: skip
        assert [e.start for e in occurrences] == [
            datetime(2024, 6, 10, 10, tzinfo=PLUS8),
            datetime(2024, 6, 17, 10, tzinfo=PLUS8),
        ]
        second = occurrences[1]
        moved = attrs.evolve(
            second,
            summary="挪到下午",
            start=datetime(2024, 6, 17, 15, tzinfo=PLUS8),
            end=datetime(2024, 6, 17, 16, tzinfo=PLUS8),
            recurrence=None,
        )
        sandbox.clear_requests()
        result = await client.update_event(moved)
    (update,) = calls(sandbox, "schedule.update")
    assert update.json["op_mode"] == 1
    assert update.json["op_start_time"] == 1717380000 + 14 * 86400
    assert update.json["schedule"]["schedule_id"] == sid
    assert result.id != sid
    assert result.summary == "挪到下午"
    assert result.start == datetime(2024, 6, 17, 15, tzinfo=PLUS8)
    assert result.recurrence is None
    master = sandbox.wecom_schedules[sid]
    assert master["reminders"]["exclude_time_list"] == [{"start_time": 1717380000 + 14 * 86400}]
    assert master["summary"] == "周会 weekly"
    assert sandbox.wecom_schedules[result.id]["cal_id"] == cal_id


async def test_update_following_op_mode_2(sandbox: Sandbox, wecom: ClientFactory) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    split_at = datetime(2024, 6, 24, 10, tzinfo=PLUS8)
    async with wecom() as client:
        master = await client.get_event(sid)
        later = attrs.evolve(
            master,
            summary="新的周会",
            start=split_at,
            end=split_at + timedelta(hours=1),
        )
        result = await client.update_event(later, occurrence=split_at, following=True)
    (update,) = calls(sandbox, "schedule.update")
    assert update.json["op_mode"] == 2
    assert update.json["op_start_time"] == int(split_at.timestamp())
    old = sandbox.wecom_schedules[sid]
    # The master now ends with the occurrence before the split (the 17th).
    assert old["reminders"]["repeat_until"] == 1717380000 + 14 * 86400
    assert result.id != sid
    assert result.summary == "新的周会"
    assert result.recurrence is not None
    assert sandbox.wecom_schedules[result.id]["start_time"] == int(split_at.timestamp())


async def test_update_rejects_moving_calendars(sandbox: Sandbox, wecom: ClientFactory) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    async with wecom() as client:
        event = await client.get_event(sid)
        with pytest.raises(wecal.ValidationError, match="cal_id"):
            await client.update_event(attrs.evolve(event, calendar_id="wcjgewOTHERAAA"))
        with pytest.raises(wecal.ValidationError, match="following"):
            await client.update_event(event, following=True)
    assert calls(sandbox, "schedule.update") == []


async def test_delete_event_whole_one_occurrence_and_following(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    a, b, c = (weekly_schedule(sandbox, cal_id) for _ in range(3))
    lo = datetime(2024, 6, 10, tzinfo=PLUS8)
    async with wecom() as client:
        occ = [
            e
            async for e in client.list_events(cal_id, start=lo, end=lo + timedelta(days=1),
                                              expand=True)
            if e.series_id == a
        ]  # fmt: skip
        await client.delete_event(occ[0])  # one occurrence of a
        await client.delete_event(b, occurrence=datetime(2024, 6, 17, 10, tzinfo=PLUS8),
                                  following=True)  # fmt: skip
        await client.delete_event(c)
    assert sandbox.wecom_schedules[a]["reminders"]["exclude_time_list"] == [
        {"start_time": 1717380000 + 7 * 86400}
    ]
    assert sandbox.wecom_schedules[a]["status"] == 0
    assert sandbox.wecom_schedules[b]["reminders"]["repeat_until"] == 1717380000 + 7 * 86400
    assert sandbox.wecom_schedules[c]["status"] == 1  # cancelled, still readable
    dels = [r.json for r in calls(sandbox, "schedule.del")]
    assert dels[0] == {"schedule_id": a, "op_mode": 1, "op_start_time": 1717380000 + 7 * 86400}
    assert dels[2] == {"schedule_id": c}


async def test_delete_plain_id_needs_an_aware_occurrence(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    async with wecom() as client:
        with pytest.raises(wecal.ValidationError):
            await client.delete_event("sid", occurrence=date(2024, 6, 3))
    assert business(sandbox) == []


async def test_add_and_remove_attendees(sandbox: Sandbox, wecom: ClientFactory) -> None:
    cal_id = sandbox.add_wecom_calendar({"summary": "c", "color": "#0000FF"})
    sid = weekly_schedule(sandbox, cal_id)
    async with wecom() as client:
        await client.add_attendees(sid, ["liumin", "zhangwei", "liumin"])
        event = await client.get_event(sid)
        await client.remove_attendees(event, ["lina"])
        with pytest.raises(wecal.ValidationError):
            await client.add_attendees(sid, [])
    stored = {a["userid"]: a["response_status"] for a in sandbox.wecom_schedules[sid]["attendees"]}
    assert stored == {"zhangwei": 2, "wangfang": 0, "liumin": 0}
    (add,) = calls(sandbox, "schedule.add_attendees")
    assert add.json == {
        "schedule_id": sid,
        "attendees": [{"userid": "liumin"}, {"userid": "zhangwei"}],
    }


# -- calendars -----------------------------------------------------------------------


def a_calendar(**kw: Any) -> wecal.Calendar:
    base: dict[str, Any] = {
        "provider": "wecom",
        "id": "",
        "summary": "研发部日历 📅",
        "color": "#1E90FF",
        "description": "desc",
        "admins": ["zhangwei"],
        "shares": [
            wecal.CalendarShare(user_id="zhangwei", permission=wecal.SharePermission.VIEW),
            wecal.CalendarShare(user_id="lina"),
        ],
    }
    base.update(kw)
    return wecal.Calendar(**base)


async def test_calendar_crud(sandbox: Sandbox, wecom: ClientFactory) -> None:
    async with wecom() as client:
        made = await client.create_calendar(a_calendar())
        assert made.id in sandbox.wecom_calendars
        assert made.summary == "研发部日历 📅"
        assert made.admins == ("zhangwei",)
        assert {s.user_id for s in made.shares} == {"zhangwei", "lina"}
        changed = await client.update_calendar(attrs.evolve(made, summary="改名", admins=()))
        assert changed.summary == "改名"
        assert sandbox.wecom_calendars[made.id]["summary"] == "改名"
        assert sandbox.wecom_calendars[made.id]["admins"] == []
        (got,) = await client.get_calendars([made.id])
        assert got == changed
        with pytest.raises(wecal.NotFoundError):
            await client.get_calendars([made.id, "wcjgewNOPEAAA"])
        await client.delete_calendar(made)
    assert made.id not in sandbox.wecom_calendars


async def test_update_calendar_takes_a_calendar_as_get_returned_it(
    sandbox: Sandbox, wecom: ClientFactory
) -> None:
    # The 97717 get example's calendar with its admins no longer among the
    # share members (a member removed after creation): "admins must be share
    # members" is a rule of calendar/add, not of update.
    body = json.loads((DATA / "calendar_get_admin_not_shared.json").read_text(encoding="utf-8"))
    stored = body["calendar_list"][0]
    async with wecom() as client:
        cal_id = sandbox.add_wecom_calendar(stored)
        (got,) = await client.get_calendars([cal_id])
        assert got.admins == ("admin1", "admin2")
        assert {s.user_id for s in got.shares} == {"userid3"}
        updated = await client.update_calendar(got)
        assert updated == got
        renamed = await client.update_calendar(attrs.evolve(got, summary="改名"))
    assert renamed.summary == "改名"
    assert sandbox.wecom_calendars[cal_id]["admins"] == ["admin1", "admin2"]
    # Creating one like it is still refused before anything is sent.
    with pytest.raises(wecal.UnsupportedError, match="share members"):
        calendar_to_wecom(attrs.evolve(got, id=""))


async def test_calendar_share_failures_warn_or_raise(
    sandbox: Sandbox, wecom: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.wecom_users.update({"zhangwei", "lina"})
    cal = a_calendar(shares=[*a_calendar().shares, wecal.CalendarShare(user_id="ghostuser")])
    async with wecom() as client:
        made = await client.create_calendar(cal)
        warnings = [r for r in caplog.records if r.name == "wecal" and r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "ghostuser" in warnings[0].getMessage()
        assert "60111" in warnings[0].getMessage()
        assert made.id in sandbox.wecom_calendars
        with pytest.raises(wecal.InvalidRequestError, match="ghostuser") as info:
            await client.update_calendar(attrs.evolve(cal, id=made.id), strict_shares=True)
        assert made.id in str(info.value)
        with pytest.raises(wecal.InvalidRequestError, match="ghostuser"):
            await client.create_calendar(cal, strict_shares=True)
    # Saved either way: two calendars exist, shared with the known members only.
    assert len(sandbox.wecom_calendars) == 2
    for stored in sandbox.wecom_calendars.values():
        assert {s["userid"] for s in stored["shares"]} == {"zhangwei", "lina"}


# -- errors before any request -------------------------------------------------------


UNSUPPORTED: list[dict[str, Any]] = [
    {"meeting_url": "https://meeting.example/x"},
    {"status": wecal.EventStatus.TENTATIVE},
    {"summary": "x" * 129},
    {"attendees": [wecal.Attendee(id="a", optional=True)]},
    {"reminders": [timedelta(minutes=-7)]},
    {"recurrence": wecal.Recurrence(rrule="FREQ=HOURLY")},
    {"timezone": "Asia/Kolkata"},
]


@pytest.mark.parametrize("change", UNSUPPORTED, ids=lambda c: next(iter(c)))
async def test_unsupported_is_raised_before_any_request(
    sandbox: Sandbox, wecom: ClientFactory, change: dict[str, Any]
) -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=PLUS8)
    event = wecal.Event(
        provider="wecom", id="", start=start, end=start + timedelta(hours=1), **change
    )
    async with wecom() as client:
        with pytest.raises(wecal.UnsupportedError):
            await client.create_event(event, calendar_id="wcjgewAAA")
        with pytest.raises(wecal.UnsupportedError):
            await client.create_calendar(a_calendar(color="blue"))
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calendar_id": "c", "user_id": "u"}, "user_id"),
        ({}, "calendar_id"),
        ({"calendar_id": "c", "page_size": 1001}, "maximum"),
        ({"calendar_id": "c", "page_size": 0}, "page_size"),
        ({"calendar_id": "c", "start": datetime(2024, 6, 1)}, "aware"),
        ({"calendar_id": "c", "expand": True, "start": datetime(2024, 6, 1, tzinfo=UTC)}, "expand"),
        (
            {
                "calendar_id": "c",
                "start": datetime(2024, 6, 2, tzinfo=UTC),
                "end": datetime(2024, 6, 1, tzinfo=UTC),
            },
            "before",
        ),
    ],
)
async def test_argument_errors(
    sandbox: Sandbox, wecom: ClientFactory, kwargs: dict[str, Any], match: str
) -> None:
    async with wecom() as client:
        with pytest.raises(wecal.ValidationError, match=match):
            client.list_events(**kwargs)
    assert sandbox.requests == []


async def test_closed_client(sandbox: Sandbox, wecom: ClientFactory) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=3, max_attendees=1)
    client = wecom()
    async with client:
        pager = client.list_events(summary.wecom_calendars[0])
    count = len(sandbox.requests)
    with pytest.raises(wecal.ClientClosedError):
        [e async for e in pager]
    with pytest.raises(wecal.ClientClosedError):
        await client.get_events(["x"])
    with pytest.raises(wecal.ClientClosedError):
        await client.delete_calendar("x")
    with pytest.raises(wecal.ClientClosedError):
        async with client:
            pass
    assert len(sandbox.requests) == count


# -- the seed examples through the whole client ---------------------------------------


@asynccontextmanager
async def seed_client(answers: Mapping[str, str]) -> AsyncIterator[wecal.WeComClient]:
    """A client whose API paths answer with the seed documents (then empty pages)."""
    fake = FakeProvider(WECOM)
    for path, name in answers.items():
        body = json.loads((DATA / name).read_text(encoding="utf-8"))
        fake.script(path, httpx.Response(200, json=body))
    fake.route(
        "/cgi-bin/oa/schedule/get_by_calendar",
        _empty_page,
    )
    async with wecal.WeComClient(
        CORP_ID, CORP_SECRET, base_url="http://wecom", transport=fake.transport(),
        token_store=wecal.MemoryTokenStore(), retry=FAST,
    ) as client:  # fmt: skip
        yield client


async def _empty_page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "schedule_list": []})


async def test_seed_get_by_calendar_through_the_client() -> None:
    async with seed_client(
        {"/cgi-bin/oa/schedule/get_by_calendar": "schedule_get_by_calendar.json"}
    ) as client:
        (event,) = [e async for e in client.list_events("string")]
    # By hand from the seed: every number 0, every string "string", timezone 0 = UTC.
    assert event.id == "string"
    assert event.calendar_id == "string"
    assert (event.summary, event.description, event.location) == ("string",) * 3
    assert event.start == event.end == datetime(1970, 1, 1, tzinfo=UTC)
    assert event.timezone == "+00:00"
    assert event.organizer == wecal.Person(id="string")
    assert event.attendees == (wecal.Attendee(id="string"),)
    assert event.recurrence is None
    assert event.reminders == ()
    assert event.status is wecal.EventStatus.CONFIRMED


async def test_seed_schedule_get_through_the_client() -> None:
    async with seed_client({"/cgi-bin/oa/schedule/get": "schedule_get.json"}) as client:
        event = await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    # 1571274600 = 2019-10-17 09:10 +08:00; whole day, the end 2019-10-20 21:50:10
    # names the last day → exclusive end the 21st.
    assert event.all_day
    assert (event.start, event.end) == (date(2019, 10, 17), date(2019, 10, 21))
    assert event.status is wecal.EventStatus.CANCELLED
    assert event.reminders == (timedelta(hours=-1),)
    assert event.recurrence is not None
    assert "BYDAY=MO,TU,WE,TH,FR" in event.recurrence.rrule
    assert event.recurrence.exdates == (date(2019, 10, 18),)


async def test_list_events_takes_date_bounds_in_the_client_date_zone(sandbox: Sandbox) -> None:
    summary = generate(sandbox, wecom_calendars=1, schedules_per_calendar=30, dingtalk_users=0)
    cal = summary.wecom_calendars[0]
    shanghai = ZoneInfo("Asia/Shanghai")
    lo, hi = date(2024, 6, 1), date(2024, 6, 15)

    async def ids(client: wecal.WeComClient, start: Any, end: Any) -> list[str]:
        return [e.id async for e in client.list_events(cal, start=start, end=end, expand=True)]

    async with client_on(sandbox, wecal.WeComClient) as client:
        by_date = await ids(client, lo, hi)
        by_time = await ids(
            client,
            datetime.combine(lo, time(), tzinfo=shanghai),
            datetime.combine(hi, time(), tzinfo=shanghai),
        )
    async with client_on(sandbox, wecal.WeComClient, date_zone="America/New_York") as client:
        in_new_york = await ids(client, lo, hi)
        new_york = ZoneInfo("America/New_York")
        by_ny_time = await ids(
            client,
            datetime.combine(lo, time(), tzinfo=new_york),
            datetime.combine(hi, time(), tzinfo=new_york),
        )
    assert by_date == by_time
    assert in_new_york == by_ny_time
    assert by_date  # the generator puts schedules in June 2024
