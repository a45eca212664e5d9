"""
Legacy DingTalk pages read through the wire Structs
(``providers/dingtalk_legacy/_wire.py``) give what the dict readers give: the
same events (and ``raw``), or the same ResponseFormatError with the same path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.providers._wire import RawJSON
from wecal.providers.dingtalk_legacy._convert import (
    item_to_event,
    items_from_wire,
    page_from_response,
)
from wecal.providers.dingtalk_legacy._wire import decode_item_page

DATA = Path(__file__).parent / "data" / "dingtalk_legacy"
USERS = (None, "u1")


def by_dicts(content: bytes, user_id: str | None) -> Any:
    try:
        items, _ = page_from_response(json.loads(content))
        return [
            item_to_event(x, path=f"$.result.items[{i}]", calendar_id="c", user_id=user_id)
            for i, x in enumerate(items)
        ]
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def by_wire(content: bytes, user_id: str | None) -> Any:
    page = decode_item_page(content)
    if page is None:
        return None
    try:
        return items_from_wire(page, calendar_id="c", user_id=user_id)
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def assert_same(content: bytes) -> bool:
    took = False
    for user_id in USERS:
        expected, got = by_dicts(content, user_id), by_wire(content, user_id)
        if got is None:
            continue
        took = True
        assert got == expected
        if isinstance(expected, list):
            items = json.loads(content)["result"]["items"]
            for event, item in zip(got, items, strict=True):
                assert event.raw == item
    return took


stamp = st.one_of(
    st.none(),
    st.sampled_from(["", "2025-12-24T03:46:00+0800", "2025-12-24T03:46:00Z", "x"]),
    st.fixed_dictionaries(
        {},
        optional={
            "date_time": st.sampled_from(["2025-12-24T03:46:00+0800", "2025-12-24T03:46:00", ""]),
            "date": st.sampled_from(["2025-12-24", "", "24/12"]),
            "time_zone": st.sampled_from(["Asia/Shanghai", "UTC", "Mars/Base", ""]),
        },
    ),
)
bound = st.fixed_dictionaries(
    {},
    optional={
        "date_time": st.sampled_from(
            ["2026-01-04T08:00:00+0800", "2026-01-04T09:00:00+08:00", "2026-01-04T07:00:00",
             "2026-01-03T08:00:00Z", "", "soon"]
        ),
        "date": st.sampled_from(["2026-01-04", "2026-01-05", "2026-01-03", ""]),
        "time_zone": st.sampled_from(["Asia/Shanghai", "America/New_York", "Mars/Base", ""]),
    },
)  # fmt: skip
item = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["e1", "e1_20260104T000000Z", "e2_20260104"]),
        "start": bound,
        "end": bound,
    },
    optional={
        "unique_id": st.sampled_from(["u", "", None]),
        "summary": st.one_of(st.text(max_size=4), st.none()),
        "organizer": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "self": st.sampled_from([True, False, None]),
                    "userid": st.sampled_from(["o1", "", None]),
                    "display_name": st.sampled_from(["张伟", None]),
                },
            ),
        ),
        "status": st.sampled_from(["confirmed", "Cancelled", "tentative", "", "gone", None]),
        "response_status": st.sampled_from(
            ["accepted", "needsAction", "needs_action", "declined", "", "maybe", None]
        ),
        "recurrence_id": st.sampled_from(
            [1767484800000, "1767484800000", "", None, -1, "2026-01-04T00:00:00Z"]
        ),
        "recurrence": st.sampled_from(
            [None, "", [], {"string": []}, {"string": ["RRULE:FREQ=WEEKLY"]},
             "FREQ=DAILY;COUNT=3", ["YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8", "9"],
             "FREQ=NEVER"]
        ),
        "created": stamp,
        "updated": stamp,
        "extra": st.just({"a": [1, None]}),
    },
)  # fmt: skip


@given(st.lists(item, min_size=1, max_size=3), st.sampled_from([None, "tok"]))
def test_wire_path_agrees_with_the_dict_readers(items: list[dict[str, Any]], token: Any) -> None:
    body = {"errcode": 0, "result": {"items": items, "next_page_token": token}}
    assert assert_same(json.dumps(body, ensure_ascii=False).encode())


valid_item = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["e1", "e1_20260104T000000Z"]),
        "start": st.sampled_from([
            {"date_time": "2026-01-04T08:00:00+0800", "time_zone": "Asia/Shanghai"},
            {"date": "2026-01-04"},
            {"date_time": "2026-01-04T08:00:00Z"},
        ]),
    },
    optional={
        "unique_id": st.sampled_from(["u", ""]),
        "summary": st.one_of(st.text(max_size=4), st.none()),
        "description": st.text(max_size=4),
        "location": st.sampled_from(["", "会议室"]),
        "organizer": st.fixed_dictionaries(
            {},
            optional={
                "self": st.sampled_from([True, False]),
                "userid": st.sampled_from(["o1", ""]),
                "display_name": st.sampled_from(["张伟", ""]),
            },
        ),
        "status": st.sampled_from(["confirmed", "Cancelled", "tentative", ""]),
        "response_status": st.sampled_from(["accepted", "needsAction", "declined", ""]),
        "recurrence": st.sampled_from(
            [None, "", {"string": ["RRULE:FREQ=WEEKLY"]}, "FREQ=DAILY;COUNT=3"]
        ),
        "created": st.sampled_from(
            [None, "2025-12-24T03:46:00+0800",
             {"date_time": "2025-12-24T03:46:00+0800", "time_zone": "Asia/Shanghai"},
             {"date": "2025-12-24", "time_zone": "UTC"}]
        ),
    },
).map(lambda x: {**x, "end": _end_for(x["start"])})  # fmt: skip


def _end_for(start: dict[str, str]) -> dict[str, str]:
    if "date" in start:
        return {"date": "2026-01-05"}
    return {**start, "date_time": start["date_time"].replace("T08", "T09")}


@given(st.lists(valid_item, min_size=1, max_size=3), st.sampled_from(USERS))
def test_valid_pages_are_read_by_the_wire_path(
    items: list[dict[str, Any]], user_id: str | None
) -> None:
    content = json.dumps({"errcode": 0, "result": {"items": items}}, ensure_ascii=False).encode()
    page = decode_item_page(content)
    assert page is not None
    events = items_from_wire(page, calendar_id="c", user_id=user_id)
    assert all(isinstance(e.raw, RawJSON) for e in events)
    assert assert_same(content)


def test_the_golden_page_and_its_wrapper() -> None:
    content = (DATA / "calendar_list.json").read_bytes()
    assert assert_same(content) or decode_item_page(content) is None
    typical = {
        "id": "e1",
        "start": {"date_time": "2026-01-04T08:00:00+0800", "time_zone": "Asia/Shanghai"},
        "end": {"date_time": "2026-01-04T09:00:00+0800", "time_zone": "Asia/Shanghai"},
        "created": {"date_time": "2025-12-24T03:46:00+0800", "time_zone": "Asia/Shanghai"},
        "recurrence": {"string": ["RRULE:FREQ=WEEKLY"]},
        "response_status": "accepted",
    }
    content = json.dumps({"errcode": 0, "result": {"items": [typical]}}).encode()
    page = decode_item_page(content)
    assert page is not None
    events = items_from_wire(page, calendar_id="c", user_id="u1")
    assert isinstance(events[0].raw, RawJSON)
    assert assert_same(content)
    wrapped = {"errcode": 0, "result": {"items": {"calendar_item": [typical]}}}
    assert decode_item_page(json.dumps(wrapped).encode()) is None  # the dict readers unwrap it


def test_error_answers_take_the_dict_readers() -> None:
    for content in (
        b'{"errcode": 41, "errmsg": "x"}',
        b'{"errcode": 0}',
        b'{"errcode": 0, "punish": "deny", "result": {}}',
        b'{"errcode": 0, "result": {"items": [{"id": 1}]}}',
    ):
        assert decode_item_page(content) is None


def test_a_long_rule_block_is_read_but_not_kept() -> None:
    from wecal.providers.dingtalk_legacy import _convert

    rule = "RRULE:FREQ=DAILY;INTERVAL=1" + " " * 2000
    item = {
        "id": "e1", "recurrence": [rule],
        "start": {"date_time": "2026-01-04T08:00:00+0800", "time_zone": "Asia/Shanghai"},
        "end": {"date_time": "2026-01-04T09:00:00+0800", "time_zone": "Asia/Shanghai"},
    }  # fmt: skip
    content = json.dumps({"errcode": 0, "result": {"items": [item]}}).encode()
    before = _convert._wire_rule.cache_info().currsize
    page = decode_item_page(content)
    assert page is not None
    (event,) = items_from_wire(page)
    assert event.recurrence is not None
    assert _convert._wire_rule.cache_info().currsize == before
