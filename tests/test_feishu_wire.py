"""
Feishu listing pages read through the wire Structs (``decode_event_page`` and
``events_from_page``) give what the dict readers give: the same events (and
``raw``), or the same ResponseFormatError with the same path. The dict
readers (``list_page`` + ``event_from_feishu``) are the reference; the
property tests feed both the same bytes, valid and broken.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from hypothesis import given
from hypothesis import strategies as st

import wecal
from tests.test_models_trusted import assert_as_validated
from wecal.providers._wire import RawJSON
from wecal.providers.feishu._convert import (
    _fast_event,
    event_from_feishu,
    events_from_page,
    list_page,
)
from wecal.providers.feishu._emulator import CREDENTIALS, populate
from wecal.providers.feishu._wire import EventPage, decode_event_page
from wecal.sandbox import Sandbox

DATA = Path(__file__).parent / "data" / "feishu"
CAL = "feishu.cn_c1@group.calendar.feishu.cn"


def by_dicts(content: bytes) -> Any:
    """The reference: json.loads and the dict readers, or the error they raise."""
    try:
        items, _, _, _ = list_page(json.loads(content)["data"])
        return [
            event_from_feishu(item, path=f"$.data.items[{i}]", calendar_id=CAL)
            for i, item in enumerate(items)
        ]
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def by_wire(content: bytes) -> Any:
    page = decode_event_page(content)
    if page is None:
        return None  # the client takes the dict readers: nothing to compare
    try:
        return events_from_page(page, calendar_id=CAL)
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def assert_same(content: bytes) -> bool:
    """True when the wire path took the page (and agreed with the reference)."""
    expected = by_dicts(content)
    got = by_wire(content)
    if got is None:
        return False
    assert got == expected
    if isinstance(expected, list):
        items = json.loads(content)["data"]["items"] or []
        for event, item in zip(got, items, strict=True):
            assert event.raw == item
            assert dict(event.raw) == item
    return True


def page_of(items: list[Any], **data: Any) -> bytes:
    body = {"code": 0, "msg": "success", "data": {"items": items, "has_more": False, **data}}
    return json.dumps(body, ensure_ascii=False).encode()


digits = st.integers(0, 17_000_000_000)
stamps = st.one_of(
    digits.map(str), digits, st.just(" 1700000000"), st.just("1_000"), st.just("١٢"),
    st.just(""), st.none(), st.just(-5), st.just(1.5), st.just("99999999999999"),
)  # fmt: skip
days = st.sampled_from(["2024-06-01", "2024-06-03", "20240603", "2024-13-01", "", None])
zones = st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Berlin", "Mars/Base", "", None])
time_info = st.fixed_dictionaries(
    {}, optional={"timestamp": stamps, "date": days, "timezone": zones}
)
ids = st.sampled_from(
    ["u1_0", "u1_1717380000", "u1_00", "u1_x", "u1", "", "u1_99999999999999999999", "u2_0"]
)
event = st.fixed_dictionaries(
    {},
    optional={
        "event_id": ids,
        "start_time": time_info,
        "end_time": time_info,
        "summary": st.one_of(st.text(max_size=4), st.none(), st.just(3)),
        "status": st.sampled_from(["confirmed", "cancelled", "tentative", "gone", "", None]),
        "recurrence": st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;COUNT=3", "nope", "", None]),
        "recurring_event_id": st.sampled_from(["u1_0", "", None]),
        "create_time": stamps,
        "reminders": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries({"minutes": st.sampled_from([5, "15", -30, 99999, "x"])}),
                max_size=2,
            ),
        ),
        "location": st.one_of(
            st.none(), st.fixed_dictionaries({}, optional={"name": st.text(max_size=3)})
        ),
        "vchat": st.one_of(
            st.none(), st.fixed_dictionaries({"meeting_url": st.sampled_from(["vc.x/j/1", ""])})
        ),
        "event_organizer": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {}, optional={"user_id": st.just("ou_1"), "display_name": st.just("张三")}
            ),
        ),
        "attendees": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries(
                    {"type": st.just("user"), "user_id": st.sampled_from(["ou_1", ""])},
                    optional={"rsvp_status": st.sampled_from(["accept", "maybe"])},
                ),
                max_size=2,
            ),
        ),
        "organizer_calendar_id": st.sampled_from(["c9", "", None]),
        "unknown": st.one_of(st.integers(), st.just([{"a": [1]}])),
    },
)


@given(st.lists(event, max_size=3))
def test_wire_path_agrees_with_the_dict_readers(items: list[dict[str, Any]]) -> None:
    assert_same(page_of(items))


timed = st.builds(
    lambda start, length, zone: {
        "start_time": {"timestamp": str(start), "timezone": zone},
        "end_time": {"timestamp": str(start + length), "timezone": zone},
    },
    st.integers(0, 4_000_000_000),
    st.integers(0, 86_400 * 3),
    st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York"]),
)


all_day = st.builds(
    lambda first, length: {
        "start_time": {"date": first.isoformat(), "timezone": "UTC"},
        "end_time": {"date": (first + timedelta(days=length)).isoformat(), "timezone": "UTC"},
        "recurrence": "FREQ=WEEKLY",
    },
    st.dates(date(1971, 1, 1), date(2400, 1, 1)),
    st.integers(0, 3),
)


@given(st.lists(st.one_of(timed, all_day), min_size=1, max_size=4), st.booleans())
def test_well_formed_pages_take_the_fast_path(items: list[dict[str, Any]], series: bool) -> None:
    for k, item in enumerate(items):
        start = item["start_time"]
        original = start.get("timestamp") or str(
            (date.fromisoformat(start.get("date", "1970-01-01")) - date(1970, 1, 1)).days * 86400
        )
        item["event_id"] = f"u{k}_{original if series and k else 0}"
        item["status"] = "confirmed"
    page = decode_event_page(page_of(items))
    assert page is not None
    fast = [_fast_event(wire, raw, CAL) for wire, raw in page]  # no fallback
    assert fast == by_dicts(page_of(items))


def test_the_golden_pages() -> None:
    for name in ("list_events_page.json", "instances_page.json"):
        content = (DATA / name).read_bytes()
        assert assert_same(content), name


def test_the_sandbox_demo_page_takes_the_fast_path() -> None:
    async def capture() -> bytes:
        sandbox = Sandbox(seed=1)
        (cal,) = populate(sandbox, seed=1, sources=1, size=200)
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            r = await http.post(
                "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": CREDENTIALS[0], "app_secret": CREDENTIALS[1]},
            )
            r = await http.get(
                f"/open-apis/calendar/v4/calendars/{cal}/events",
                params={"anchor_time": "0", "page_size": "200"},
                headers={"Authorization": f"Bearer {r.json()['tenant_access_token']}"},
            )
        return r.content

    content = anyio.run(capture)
    page = decode_event_page(content)
    assert isinstance(page, EventPage)
    assert (len(page), page.has_more) == (200, False)
    fast = [_fast_event(wire, raw, CAL) for wire, raw in page]
    assert all(isinstance(e.raw, RawJSON) for e in fast)
    assert fast == by_dicts(content)
    # The trusted constructor's bargain (tests/test_models_trusted.py).
    assert any(e.all_day for e in fast)
    assert any(e.recurrence for e in fast)
    assert any(e.series_id for e in fast)
    for event in fast:
        assert_as_validated(event)
    assert assert_same(content)


def test_error_answers_and_hostile_bodies_take_the_dict_readers() -> None:
    for content in (
        b'{"code": 190002, "msg": "invalid parameters"}',
        b'{"code": 0}',
        b'{"code": 0, "data": {"items": [1]}}',
        b'{"code": 0, "data": {"items": [{"event_id": "\\ud800_0"}]}}',
        b"[]",
        b"not json",
    ):
        assert decode_event_page(content) is None, content
