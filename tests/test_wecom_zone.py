"""
WeCom stores fixed offsets: a write comes back in the caller's IANA zone when
that zone says the stored offset (all year, for a series), else in the offset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

import wecal
from wecal.sandbox import Sandbox

from .sandbox_fixtures import WECOM_CORP_ID, WECOM_SECRET

pytestmark = pytest.mark.anyio

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
async def wecom(sandbox: Sandbox) -> AsyncIterator[wecal.WeComClient]:
    async with wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
    ) as client:
        yield client


@pytest.fixture
def calendar(sandbox: Sandbox) -> str:
    return sandbox.add_wecom_calendar({"summary": "zones"})


def _event(start: datetime, timezone: str | None, **more: object) -> wecal.Event:
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id="",
        summary="zone",
        start=start,
        end=start + timedelta(hours=1),
        timezone=timezone,
        **more,  # type: ignore[arg-type]
    )


async def test_an_iana_zone_with_the_stored_offset_is_kept(
    sandbox: Sandbox, wecom: wecal.WeComClient, calendar: str
) -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=SHANGHAI)
    created = await wecom.create_event(_event(start, "Asia/Shanghai"), calendar_id=calendar)
    assert created.timezone == "Asia/Shanghai"
    assert created.start == start
    assert isinstance(created.start, datetime)
    assert created.start.tzinfo == SHANGHAI
    assert created.end == datetime(2024, 6, 3, 11, tzinfo=SHANGHAI)
    stored = sandbox.wecom_schedules[created.id]
    assert stored["reminders"]["timezone"] == 8  # what WeCom keeps: the offset
    assert stored["start_time"] == int(datetime(2024, 6, 3, 2, tzinfo=UTC).timestamp())
    # Read back later, WeCom says the offset (documented next to create_event).
    assert (await wecom.get_event(created.id)).timezone == "+08:00"


async def test_the_start_zone_counts_when_the_event_names_none(
    wecom: wecal.WeComClient, calendar: str
) -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=SHANGHAI)
    created = await wecom.create_event(_event(start, None), calendar_id=calendar)
    assert created.timezone == "Asia/Shanghai"


async def test_a_series_in_a_zone_with_daylight_saving_keeps_the_offset(
    wecom: wecal.WeComClient, calendar: str
) -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=NEW_YORK)  # EDT, -04:00
    weekly = wecal.Recurrence(rrule="FREQ=WEEKLY;UNTIL=20250101T000000Z")
    series = await wecom.create_event(
        _event(start, "America/New_York", recurrence=weekly), calendar_id=calendar
    )
    # WeCom repeats at -04:00 all year; New York says -05:00 in winter.
    assert series.timezone == "-04:00"
    assert series.start == start
    # A single event on a day New York is at -04:00 keeps the zone.
    single = await wecom.create_event(_event(start, "America/New_York"), calendar_id=calendar)
    assert single.timezone == "America/New_York"


async def test_update_keeps_the_zone_too(wecom: wecal.WeComClient, calendar: str) -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=SHANGHAI)
    created = await wecom.create_event(_event(start, "Asia/Shanghai"), calendar_id=calendar)
    fetched = await wecom.get_event(created.id)
    assert fetched.timezone == "+08:00"
    moved = attrs.evolve(fetched, start=start + timedelta(hours=1), end=start + timedelta(hours=2))
    assert (await wecom.update_event(moved)).timezone == "+08:00"  # the caller said the offset
    named = attrs.evolve(moved, timezone="Asia/Shanghai")
    updated = await wecom.update_event(named)
    assert updated.timezone == "Asia/Shanghai"
    assert updated.start == datetime(2024, 6, 3, 11, tzinfo=SHANGHAI)


async def test_all_day_events_keep_the_zone_and_their_dates(
    wecom: wecal.WeComClient, calendar: str
) -> None:
    day = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="",
        start=date(2024, 6, 3),
        end=date(2024, 6, 4),
        timezone="Asia/Shanghai",
    )
    created = await wecom.create_event(day, calendar_id=calendar)
    assert (created.start, created.end, created.timezone) == (
        date(2024, 6, 3),
        date(2024, 6, 4),
        "Asia/Shanghai",
    )
