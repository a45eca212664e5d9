"""
Converters build models through a trusted path; users' models stay validated.

The provider converters check every field with strict readers and then build
``Event`` / ``Attendee`` / ``Person`` without attrs' converters, validators
and ``__attrs_post_init__`` (``wecal.models._trusted_constructor``, issue 11).
These tests hold that bargain from both sides:

- every event a converter builds — from the providers' own documented
  examples and from a generated sandbox (recurring, all-day, cancelled,
  foreign zones, a 300-attendee meeting) — passes the model's validation when
  re-run, equals (and hashes like) a copy built by the validating
  ``__init__``, and has exactly the types that ``__init__`` would have stored;
- a model built by hand is still refused when it is invalid.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import wecal
from wecal.providers.dingtalk._convert import event_from_dingtalk
from wecal.providers.dingtalk._convert import page_from_response as v1_page
from wecal.providers.dingtalk_legacy._convert import item_to_event, page_from_response
from wecal.providers.wecom._convert import schedule_to_event, wecom_schedule_page
from wecal.sandbox import generate

from .sandbox_fixtures import DINGTALK_APP_KEY, DINGTALK_APP_SECRET, client_on, new_sandbox

DATA = Path(__file__).parent / "data"
CN = timezone(timedelta(hours=8))


def _validated_copy(model: Any) -> Any:
    """The same fields through the validating ``__init__`` (nested models too)."""
    cls = type(model)
    values = {}
    for field in attrs.fields(cls):
        value = getattr(model, field.name)
        if attrs.has(type(value)):
            value = _validated_copy(value)
        elif isinstance(value, tuple) and value and attrs.has(type(value[0])):
            value = tuple(_validated_copy(v) for v in value)
        values[field.name] = value
    return cls(**values)


def assert_as_validated(event: wecal.Event) -> None:
    """``event`` is what the validating constructor would have built."""
    copy = _validated_copy(event)
    assert event == copy
    assert hash(event) == hash(copy)
    attrs.validate(event)
    event.__attrs_post_init__()  # the checks the trusted path skipped, run now
    for field in attrs.fields(wecal.Event):
        # Equality alone would let "wecom" pass for Provider.WECOM (a StrEnum).
        assert type(getattr(event, field.name)) is type(getattr(copy, field.name)), field.name
    for mine, theirs in zip(event.attendees, copy.attendees, strict=True):
        assert type(mine.response) is wecal.ResponseStatus
        assert mine == theirs
    if event.organizer is not None:
        assert event.organizer == copy.organizer


def _load(*parts: str) -> Any:
    return json.loads(DATA.joinpath(*parts).read_text(encoding="utf-8"))


def test_seed_examples_convert_as_validated() -> None:
    events = []
    for name in ("schedule_get.json", "schedule_get_by_calendar.json"):
        items = wecom_schedule_page(_load("wecom", name))
        events += [schedule_to_event(item) for item in items]
    items, _ = page_from_response(_load("dingtalk_legacy", "calendar_list.json"))
    events += [item_to_event(item, user_id="123134568", calendar_id="f1") for item in items]
    for name in ("event_get.json", "all_day.json"):
        events.append(event_from_dingtalk(_load("dingtalk", name)))
    items, _ = v1_page(_load("dingtalk", "eventsview_page.json"))
    events += [event_from_dingtalk(item) for item in items]
    assert len(events) >= 6
    for event in events:
        assert_as_validated(event)


@pytest.mark.anyio
async def test_generated_pages_convert_as_validated() -> None:
    sb = new_sandbox()
    summary = generate(
        sb, seed=11, wecom_calendars=1, schedules_per_calendar=150, dingtalk_users=1,
        events_per_user=150, max_attendees=300, dingtalk_v1_users=1,
    )  # fmt: skip
    async with client_on(sb, wecal.WeComClient) as wecom:
        wecom_events = [e async for e in wecom.list_events(summary.wecom_calendars[0])]
    async with client_on(sb, wecal.DingTalkLegacyClient) as ding:
        ding_events = [e async for e in ding.list_events(user_id=summary.dingtalk_users[0])]
    async with wecal.DingTalkClient(
        DINGTALK_APP_KEY, DINGTALK_APP_SECRET, base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sb.app), token_store=wecal.MemoryTokenStore(),
    ) as v1:  # fmt: skip
        v1_events = [e async for e in v1.list_events(user_id=summary.dingtalk_v1_users[0])]
    assert len(wecom_events) == len(ding_events) == len(v1_events) == 150
    assert any(e.attendees for e in v1_events)
    assert any(e.recurrence for e in v1_events)
    # The data covers what the trusted path must get right.
    assert any(e.all_day for e in wecom_events)
    assert any(e.all_day for e in ding_events)
    assert any(e.recurrence for e in wecom_events)
    assert any(e.recurrence for e in ding_events)
    assert max(len(e.attendees) for e in wecom_events) == 300
    for event in wecom_events + ding_events + v1_events:
        assert_as_validated(event)


T0 = datetime(2024, 6, 3, 10, tzinfo=CN)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"start": datetime(2024, 6, 3, 10), "end": T0}, "naive datetime"),
        ({"start": T0, "end": T0 - timedelta(hours=1)}, "before start"),
        ({"start": T0, "end": date(2024, 6, 4)}, "two dates"),
        ({"start": T0, "end": T0, "all_day": True}, "all-day events use dates"),
        ({"start": T0, "end": T0, "timezone": "Mars/Olympus"}, "IANA zone"),
        ({"start": T0, "end": T0, "attendees": ["alice"]}, "expected an Attendee"),
        ({"start": T0, "end": T0, "reminders": [15]}, "expected a timedelta"),
        ({"start": "2024-06-03", "end": T0}, "expected an aware datetime or a date"),
    ],
)
def test_hand_built_invalid_event_is_still_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(wecal.ValidationError, match=says):
        wecal.Event(provider=wecal.Provider.WECOM, id="x", **fields)


def test_hand_built_models_still_convert_their_values() -> None:
    event = wecal.Event(
        provider="wecom", id="x", start=T0, end=T0, status="cancelled",
        attendees=[wecal.Attendee(id="a", response="declined")],
    )  # fmt: skip
    assert type(event.provider) is wecal.Provider
    assert event.status is wecal.EventStatus.CANCELLED
    assert event.attendees == (wecal.Attendee(id="a", response=wecal.ResponseStatus.DECLINED),)
    with pytest.raises(ValueError, match="maybe"):
        wecal.Attendee(id="a", response="maybe")
