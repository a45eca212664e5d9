"""
WeCom pages read through the wire Structs (``providers/wecom/_wire.py``) give
what the dict readers give: the same events (and ``raw``), or the same
ResponseFormatError with the same path. The dict readers are the reference;
the property test feeds both the same bytes, valid and broken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.providers._wire import RawJSON
from wecal.providers.wecom._convert import (
    schedule_to_event,
    schedules_from_wire,
    wecom_schedule_page,
)
from wecal.providers.wecom._wire import SchedulePage, decode_schedule_page
from wecal.sandbox import DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET, Sandbox, generate

DATA = Path(__file__).parent / "data"


def by_dicts(content: bytes) -> Any:
    """The reference: json.loads and the dict readers, or the error they raise."""
    try:
        items = wecom_schedule_page(json.loads(content))
        return [schedule_to_event(x, path=f"$.schedule_list[{i}]") for i, x in enumerate(items)]
    except wecal.ResponseFormatError as exc:
        return ("error", str(exc), exc.path)


def by_wire(content: bytes) -> Any:
    page = decode_schedule_page(content)
    if page is None:
        return None  # the client takes the dict readers: nothing to compare
    try:
        return schedules_from_wire(page)
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
        items = json.loads(content)["schedule_list"]
        for event, item in zip(got, items, strict=True):
            assert event.raw == item
            assert dict(event.raw) == item
    return True


digits = st.integers(0, 4_000_000_000)
times = st.one_of(
    digits, digits.map(str), st.just(" 1700000000"), st.just(-5), st.just(10**30),
    st.just(1.5), st.just(True), st.none(), st.just("soon"), st.just("١٢"),
)  # fmt: skip
codes = st.sampled_from([0, 1, 2, 3, 4, 5, "2", "x", None, True, 1.0, -1])
texts = st.one_of(st.text(max_size=5), st.none(), st.just(3), st.just("\u2028周"))
ids = st.one_of(st.sampled_from(["u1", "u2", "张三"]), st.just(""), st.none(), st.just(7))
attendee = st.one_of(
    st.fixed_dictionaries({"userid": ids}, optional={"response_status": codes}),
    st.just("u1"),
    st.just(None),
)
reminders = st.one_of(
    st.none(),
    st.just([]),
    st.fixed_dictionaries(
        {},
        optional={
            "is_remind": codes,
            "remind_time_diffs": st.lists(
                st.sampled_from([0, -300, -900, 7, "x", 32400]), max_size=3
            ),
            "remind_before_event_secs": st.sampled_from([0, 900, "900", -1, None]),
            "timezone": st.sampled_from([8, -5, 12, 13, "8", None, 8.0]),
            "is_repeat": codes,
            "repeat_type": st.sampled_from([0, 1, 2, 5, 7, 3, "1", None]),
            "is_custom_repeat": codes,
            "repeat_interval": st.sampled_from([0, 2, -1, "3"]),
            "repeat_day_of_week": st.lists(st.integers(0, 8), max_size=3),
            "repeat_until": st.sampled_from([0, 1900000000, -1, "x"]),
            "exclude_time_list": st.lists(
                st.fixed_dictionaries({}, optional={"start_time": times}), max_size=2
            ),
        },
    ),
)
schedule = st.fixed_dictionaries(
    {},
    optional={
        "schedule_id": ids,
        "start_time": times,
        "end_time": times,
        "is_whole_day": codes,
        "status": codes,
        "summary": texts,
        "description": texts,
        "location": texts,
        "cal_id": ids,
        "organizer": ids,
        "attendees": st.one_of(st.none(), st.just("x"), st.lists(attendee, max_size=3)),
        "reminders": reminders,
        "unknown": st.one_of(st.integers(), st.text(max_size=3), st.just([{"a": [1]}])),
    },
)


@given(st.lists(schedule, max_size=3), st.sampled_from([0, None, "0", 1]))
def test_wire_path_agrees_with_the_dict_readers(items: list[dict[str, Any]], code: Any) -> None:
    body: dict[str, Any] = {"errmsg": "ok", "schedule_list": items}
    if code is not None:
        body["errcode"] = code
    assert_same(json.dumps(body, ensure_ascii=False).encode())


# Well-typed schedules (what the Structs take), with values the converter
# may still refuse: unknown codes, times out of range, end before start.
typed_codes = st.sampled_from([0, 1, 2, 3, 4, 5, "1", "x", " 2", -1])
typed_schedule = st.fixed_dictionaries(
    {
        "schedule_id": st.sampled_from(["s1", "s2", "日程"]),
        "start_time": st.one_of(digits, digits.map(str), st.just(10**15)),
        "end_time": st.one_of(digits, digits.map(str), st.just("x")),
    },
    optional={
        "is_whole_day": typed_codes,
        "status": typed_codes,
        "summary": st.one_of(st.text(max_size=5), st.none()),
        "cal_id": st.sampled_from(["", "c1", None]),
        "organizer": st.sampled_from(["", "u1", None]),
        "attendees": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries(
                    {"userid": st.sampled_from(["u1", "u2", ""])},
                    optional={"response_status": st.one_of(typed_codes, st.none())},
                ),
                max_size=3,
            ),
        ),
        "reminders": reminders,
    },
)


@given(st.lists(typed_schedule, min_size=1, max_size=3))
def test_wire_path_takes_pages_of_the_expected_shape(items: list[dict[str, Any]]) -> None:
    content = json.dumps({"errcode": 0, "schedule_list": items}, ensure_ascii=False).encode()
    assert decode_schedule_page(content) is not None
    assert assert_same(content)


valid_reminders = st.fixed_dictionaries(
    {},
    optional={
        "is_remind": st.sampled_from([0, 1]),
        "remind_time_diffs": st.lists(st.sampled_from([0, -300, -900, -3600]), max_size=2),
        "timezone": st.integers(-12, 12),
        "is_repeat": st.sampled_from([0, 1]),
        "repeat_type": st.sampled_from([0, 1, 2, 5, 7]),
        "is_custom_repeat": st.sampled_from([0, 1]),
        "repeat_interval": st.integers(0, 3),
        "repeat_day_of_week": st.lists(st.integers(1, 7), max_size=2),
        "repeat_until": st.sampled_from([0, 1900000000]),
        "exclude_time_list": st.lists(
            st.fixed_dictionaries({"start_time": st.integers(0, 2**31)}), max_size=2
        ),
    },
)


@st.composite
def valid_schedule(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(
        st.one_of(
            st.integers(0, 3_000_000_000),
            st.integers(0, 30_000).map(lambda d: d * 86400 - 8 * 3600 + 86400),  # +08:00 midnights
        )
    )
    item: dict[str, Any] = {
        "schedule_id": draw(st.sampled_from(["s1", "s2", "日程"])),
        "start_time": draw(st.sampled_from([start, str(start)])),
        "end_time": start + draw(st.sampled_from([0, 1800, 86400, 86399])),
    }
    optional = {
        "is_whole_day": st.sampled_from([0, 1, "1", "0", None]),
        "status": st.sampled_from([0, 1, "1", None]),
        "summary": st.one_of(st.text(max_size=5), st.none()),
        "description": st.one_of(st.text(max_size=5), st.none()),
        "cal_id": st.sampled_from(["", "c1", None]),
        "organizer": st.sampled_from(["", "u1", None]),
        "attendees": st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries(
                    {"userid": st.sampled_from(["u1", "u2", "张三"])},
                    optional={"response_status": st.sampled_from([0, 1, 2, 3, 4, None])},
                ),
                max_size=3,
            ),
        ),
        "reminders": st.one_of(st.none(), valid_reminders),
        "unknown": st.one_of(st.integers(), st.just({"a": [1.5, None]})),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            item[key] = draw(values)
    return item


@given(st.lists(valid_schedule(), min_size=1, max_size=3))
def test_valid_pages_are_read_by_the_wire_path(items: list[dict[str, Any]]) -> None:
    content = json.dumps({"errcode": 0, "schedule_list": items}, ensure_ascii=False).encode()
    page = decode_schedule_page(content)
    assert page is not None
    events = schedules_from_wire(page)
    assert all(isinstance(e.raw, RawJSON) for e in events)  # no fallback to the dict readers
    assert assert_same(content)


BAD = {
    "schedule_id": [None, 3, ""],
    "start_time": [-(10**12), 10**14, "x", 1.5, True, None],
    "end_time": [0, 10**14, "1e3", None],
    "is_whole_day": [2, "2", -1, "x", True, 1.0],
    "status": [2, "5", "x", True],
    "summary": [3, ["a"]],
    "cal_id": [5],
    "organizer": [5, ["u"]],
    "attendees": ["x", [None], [{"userid": 5}], [{"userid": "u", "response_status": 9}],
                  [{"userid": "u", "response_status": "2"}], [{}]],
    "reminders": ["x", [], {"timezone": 13}, {"timezone": "8"}, {"is_remind": 1,
                  "remind_time_diffs": [7]}, {"is_repeat": 1, "repeat_type": 3},
                  {"is_remind": 2}, {"is_repeat": 1, "exclude_time_list": [{}]}],
}  # fmt: skip


@given(
    st.lists(valid_schedule(), min_size=1, max_size=3),
    st.data(),
)
def test_one_bad_field_gives_the_dict_readers_error(items: list[dict[str, Any]], data: Any) -> None:
    i = data.draw(st.integers(0, len(items) - 1))
    key = data.draw(st.sampled_from(sorted(BAD)))
    items[i][key] = data.draw(st.sampled_from(BAD[key]))
    assert_same(json.dumps({"errcode": 0, "schedule_list": items}, ensure_ascii=False).encode())


def test_whole_day_ends_both_ways() -> None:
    midnight = 1717344000  # 2024-06-03 00:00 +08:00
    for end in (midnight + 86400, midnight + 86399, midnight, midnight + 2 * 86400):
        item = {"schedule_id": "s", "start_time": midnight, "end_time": end, "is_whole_day": 1}
        content = json.dumps({"errcode": 0, "schedule_list": [item]}).encode()
        page = decode_schedule_page(content)
        assert page is not None
        assert isinstance(schedules_from_wire(page)[0].raw, RawJSON)
        assert assert_same(content)


def test_the_golden_and_real_pages() -> None:
    pages = [
        DATA / "wecom" / "schedule_get.json",
        DATA / "wecom" / "schedule_get_by_calendar.json",
        DATA / "real" / "wecom_get_by_calendar_97723.json",
        DATA / "real" / "wecom_schedule_get_97724.json",
    ]
    for path in pages:
        assert assert_same(path.read_bytes()), path


def test_error_answers_and_hostile_bodies_take_the_dict_readers() -> None:
    for content in (
        b'{"errcode": 40058, "errmsg": "invalid"}',
        b'{"errcode": 0, "punish": "deny", "schedule_list": []}',
        b'{"errcode": "0", "schedule_list": []}',
        b'{"errcode": 0, "schedule_list": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"errcode": ' + b"9" * 5000 + b"}",
        b'{"errcode": 0, "schedule_list": [{"schedule_id": "\\ud800", '
        b'"start_time": 1, "end_time": 2}]}',
        b"not json",
        b"[]",
    ):
        assert decode_schedule_page(content) is None


def test_a_long_integer_in_a_field_wecal_does_not_read() -> None:
    """msgspec skips it; json.loads refuses it: raw says so as a ResponseFormatError."""
    content = (
        b'{"errcode": 0, "schedule_list": [{"schedule_id": "s", "start_time": 1700000000, '
        b'"end_time": 1700003600, "x": ' + b"9" * 5000 + b"}]}"
    )
    page = decode_schedule_page(content)
    assert page is not None
    (event,) = schedules_from_wire(page)
    assert event.id == "s"
    with pytest.raises(wecal.ResponseFormatError, match="4300 digits"):
        event.raw.get("x")


def test_client_listing_decodes_into_the_wire_structs() -> None:
    async def main() -> tuple[list[wecal.Event], bytes]:
        sandbox = Sandbox(seed=5)
        summary = generate(sandbox, seed=5, wecom_calendars=1, schedules_per_calendar=300,
                           dingtalk_users=0, events_per_user=0, dingtalk_v1_users=0)  # fmt: skip
        cal_id = summary.wecom_calendars[0]
        transport = httpx.ASGITransport(app=sandbox.app)
        client = wecal.WeComClient(DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET,
                                   base_url="http://sandbox", transport=transport)  # fmt: skip
        async with client:
            events = [e async for e in client.list_events(cal_id)]
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            token = (await http.get("/cgi-bin/gettoken", params={
                "corpid": DEFAULT_WECOM_CORP_ID, "corpsecret": DEFAULT_WECOM_SECRET,
            })).json()["access_token"]  # fmt: skip
            r = await http.post("/cgi-bin/oa/schedule/get_by_calendar",
                                params={"access_token": token},
                                json={"cal_id": cal_id, "offset": 0, "limit": 1000})  # fmt: skip
        return events, r.content

    events, content = anyio.run(main)
    assert len(events) == 300
    assert all(isinstance(e.raw, RawJSON) for e in events)
    assert isinstance(decode_schedule_page(content), SchedulePage)
    assert events == by_dicts(content)
    assert assert_same(content)


def test_long_blocks_and_ids_are_read_but_not_kept() -> None:
    # Hostile pages must not pin their bytes in the caches: a real reminders
    # block is a few hundred bytes and a userid at most 64.
    from wecal.providers.wecom import _convert

    long_id = "u" * 5000
    item = {
        "schedule_id": "s1", "start_time": 1717380000, "end_time": 1717383600,
        "organizer": long_id,
        "attendees": [{"userid": long_id, "response_status": 1}],
        "reminders": {"is_repeat": 1, "repeat_type": 0, "timezone": 8, "note": "x" * 2000},
    }  # fmt: skip
    content = json.dumps({"errcode": 0, "schedule_list": [item]}).encode()
    caches = (_convert._reminders_block, _convert._attendee, _convert._cached_person)
    before = [cache.cache_info().currsize for cache in caches]
    assert assert_same(content)
    (event,) = by_wire(content)
    assert event.recurrence is not None
    assert event.attendees[0].id == long_id
    assert event.organizer is not None
    assert event.organizer.id == long_id
    assert [cache.cache_info().currsize for cache in caches] == before
