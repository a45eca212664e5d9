"""
End to end over a real socket: both clients against the sandbox served by
uvicorn on loopback, checking the sandbox's state after every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import attrs
import pytest
from dateutil import rrule

import wecal
from tests._mock import note_sandbox_tokens
from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    WECOM_CORP_ID,
    WECOM_SECRET,
)
from wecal.sandbox import Sandbox, generate

pytestmark = pytest.mark.anyio

PLUS8 = timezone(timedelta(hours=8))
RETRY = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.01, deadline=5.0)


@pytest.fixture
def url(sandbox: Sandbox, sandbox_url: str) -> Iterator[str]:
    yield sandbox_url
    note_sandbox_tokens(sandbox)


async def test_wecom_calendar_lifecycle_over_loopback(sandbox: Sandbox, url: str) -> None:
    monday = datetime(2024, 6, 3, 10, tzinfo=PLUS8)  # 1717380000
    async with wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url=url,
        token_store=wecal.MemoryTokenStore(),
        retry=RETRY,
    ) as client:
        # 1. Create a calendar.
        cal = await client.create_calendar(
            wecal.Calendar(provider="wecom", id="", summary="项目 Apollo 🚀", color="#32CD32")
        )
        assert sandbox.wecom_calendars[cal.id]["summary"] == "项目 Apollo 🚀"

        # 2. Schedules: one-off, recurring (weekly, 4 times), whole-day, plus 9 fillers.
        one_off = wecal.Event(
            provider="wecom",
            id="",
            summary="评审",
            start=monday + timedelta(hours=5),
            end=monday + timedelta(hours=6),
            attendees=[wecal.Attendee(id="zhangwei"), wecal.Attendee(id="lina")],
        )
        weekly = wecal.Event(
            provider="wecom",
            id="",
            summary="周会",
            start=monday,
            end=monday + timedelta(hours=1),
            recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;UNTIL=20240624T020000Z"),
        )
        whole_day = wecal.Event(
            provider="wecom", id="", summary="团建", start=date(2024, 6, 7), end=date(2024, 6, 8)
        )
        made = {}
        for event in (one_off, weekly, whole_day):
            made[event.summary] = await client.create_event(event, calendar_id=cal.id)
        for i in range(9):
            filler = attrs.evolve(
                one_off,
                summary=f"filler {i}",
                start=monday + timedelta(days=30 + i),
                end=monday + timedelta(days=30 + i, hours=1),
            )
            await client.create_event(filler, calendar_id=cal.id)
        assert len(sandbox.wecom_ground_truth(cal.id)) == 12
        stored = sandbox.wecom_schedules[made["周会"].id]
        assert stored["reminders"]["is_repeat"] == 1
        assert stored["reminders"]["repeat_type"] == 1
        assert stored["reminders"]["repeat_until"] == 1717380000 + 21 * 86400
        assert sandbox.wecom_schedules[made["团建"].id]["is_whole_day"] == 1

        # 3. List with paging smaller than the count.
        pages = [p async for p in client.list_events(cal.id, page_size=5).by_page()]
        assert [len(p.items) for p in pages] == [5, 5, 2]
        truth = [s["schedule_id"] for s in sandbox.wecom_ground_truth(cal.id)]
        assert [e.id for p in pages for e in p.items] == truth

        # Expanded in June: the series' four Mondays (by dateutil), the one-off, the day.
        lo, hi = datetime(2024, 6, 1, tzinfo=PLUS8), datetime(2024, 7, 1, tzinfo=PLUS8)
        june = [e async for e in client.list_events(cal.id, start=lo, end=hi, expand=True)]
        mondays = list(rrule.rrule(rrule.WEEKLY, dtstart=monday, until=monday + timedelta(21)))
        series = sorted(e.start for e in june if e.series_id == made["周会"].id)
        assert series == mondays
        assert {e.summary for e in june} == {"周会", "评审", "团建"}

        # 4. get_events, in the order asked.
        asked = [made["团建"].id, made["评审"].id, made["周会"].id]
        assert [e.id for e in await client.get_events(asked)] == asked

        # 5. Update one occurrence (the second Monday), moved to 14:00.
        second = next(e for e in june if e.series_id and e.start == mondays[1])
        moved = attrs.evolve(
            second, start=mondays[1] + timedelta(hours=4), end=mondays[1] + timedelta(hours=5)
        )
        single = await client.update_event(moved)
        assert sandbox.wecom_schedules[made["周会"].id]["reminders"]["exclude_time_list"] == [
            {"start_time": int(mondays[1].timestamp())}
        ]
        assert sandbox.wecom_schedules[single.id]["start_time"] == int(moved.start.timestamp())
        assert sandbox.wecom_schedules[single.id]["reminders"]["is_repeat"] == 0
        again = [e async for e in client.list_events(cal.id, start=lo, end=hi, expand=True)]
        assert sorted(e.start for e in again if e.summary == "周会") == [
            mondays[0],
            mondays[1] + timedelta(hours=4),
            mondays[2],
            mondays[3],
        ]

        # 6. Delete: the one-off, then the calendar.
        await client.delete_event(made["评审"])
        assert sandbox.wecom_schedules[made["评审"].id]["status"] == 1
        (cancelled,) = await client.get_events([made["评审"].id])
        assert cancelled.status is wecal.EventStatus.CANCELLED
        await client.delete_calendar(cal)
        assert cal.id not in sandbox.wecom_calendars
        assert sandbox.wecom_ground_truth(cal.id) == []
    assert all(r.status == 200 for r in sandbox.requests)


async def test_dingtalk_listing_over_loopback(sandbox: Sandbox, url: str) -> None:
    summary = generate(sandbox, wecom_calendars=0, dingtalk_users=2, events_per_user=30)
    lo, hi = datetime(2024, 5, 20, tzinfo=UTC), datetime(2024, 7, 20, tzinfo=UTC)
    async with wecal.DingTalkLegacyClient(
        DINGTALK_APP_KEY,
        DINGTALK_APP_SECRET,
        base_url=url,
        token_store=wecal.MemoryTokenStore(),
        retry=RETRY,
    ) as client:
        for user in summary.dingtalk_users:
            everything = [e.raw["id"] async for e in client.list_events(user_id=user, page_size=7)]
            assert everything == [i["id"] for i in sandbox.dingtalk_ground_truth(user)]
            expanded = [
                e.raw["id"]
                async for e in client.list_events(
                    user_id=user, start=lo, end=hi, expand=True, page_size=9
                )
            ]
            truth = sandbox.dingtalk_ground_truth(user, start=lo, end=hi, expand=True)
            assert expanded == [i["id"] for i in truth]
            assert len(truth) > 9  # more than one page
    tokens = [r for r in sandbox.requests if r.api == "dingtalk.gettoken"]
    assert len(tokens) == 1  # one token for the whole client
