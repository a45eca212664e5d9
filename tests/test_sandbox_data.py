"""The seeded data generator, and recurrence properties of the emulator."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    WECOM_CORP_ID,
    WECOM_SECRET,
    new_sandbox,
)
from wecal.sandbox import Sandbox, generate

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANCHOR = datetime(2024, 6, 1, tzinfo=SHANGHAI)


def populated(seed: int = 0, **sizes: Any) -> Sandbox:
    sb = new_sandbox()
    generate(sb, seed=seed, anchor=ANCHOR, **sizes)
    return sb


def test_generation_is_deterministic() -> None:
    a, b, c = populated(1), populated(1), populated(2)
    for x, y in ((a, b),):
        assert list(x.wecom_schedules.values()) == list(y.wecom_schedules.values())
        assert x.dingtalk_events == y.dingtalk_events
    assert list(a.wecom_schedules.values()) != list(c.wecom_schedules.values())


def test_sizes_are_honoured() -> None:
    sb = new_sandbox()
    summary = generate(
        sb,
        wecom_calendars=3,
        schedules_per_calendar=7,
        dingtalk_users=4,
        events_per_user=5,
        anchor=ANCHOR,
    )
    assert len(summary.wecom_calendars) == len(sb.wecom_calendars) == 3
    assert len(summary.wecom_schedules) == len(sb.wecom_schedules) == 21
    assert len(summary.dingtalk_users) == 4
    assert all(len(sb.dingtalk_events[u]) == 5 for u in summary.dingtalk_users)


def test_wecom_mix_covers_every_shape() -> None:
    sb = populated(schedules_per_calendar=40, max_attendees=300)
    rows = list(sb.wecom_schedules.values())
    rems = [r["reminders"] for r in rows]
    assert {m["repeat_type"] for m in rems if m["is_repeat"]} == {0, 1, 2, 5, 7}
    assert any(m["is_custom_repeat"] and m["repeat_day_of_week"] for m in rems)
    assert any(m["is_custom_repeat"] and m["repeat_day_of_month"] for m in rems)
    assert any(m["is_repeat"] and m["repeat_until"] for m in rems)
    assert any(m["is_repeat"] and not m["repeat_until"] for m in rems)
    assert any(m["exclude_time_list"] for m in rems)
    assert {r["status"] for r in rows} == {0, 1}
    assert {m["timezone"] for m in rems} >= {8, -5, 0}
    assert max(len(r["attendees"]) for r in rows) == 300
    assert {a["response_status"] for r in rows for a in r["attendees"]} == {0, 1, 2, 3, 4}
    assert any(m["remind_time_diffs"] for m in rems)
    assert any(
        m["is_remind"] and m["remind_before_event_secs"] and not m["remind_time_diffs"]
        for m in rems
    )
    text = "".join(r["summary"] + r["description"] + r["location"] for r in rows)
    assert "会" in text
    assert any(ord(ch) > 0xFFFF for ch in text)  # emoji
    assert all(len(r["admins"]) <= 3 for r in rows)
    assert all(r["end_time"] >= r["start_time"] for r in rows)


def test_whole_day_schedules_span_local_midnights() -> None:
    sb = populated(schedules_per_calendar=40)
    whole = [r for r in sb.wecom_schedules.values() if r["is_whole_day"]]
    assert len(whole) >= 3
    spans = set()
    for r in whole:
        tz = timezone(timedelta(hours=r["reminders"]["timezone"]))
        start = datetime.fromtimestamp(r["start_time"], tz)
        end = datetime.fromtimestamp(r["end_time"], tz)
        assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)
        spans.add((end - start).days)
    assert spans >= {1, 3}


def test_exclusions_are_real_occurrences() -> None:
    sb = populated(schedules_per_calendar=20)
    checked = 0
    for r in sb.wecom_schedules.values():
        rem = r["reminders"]
        # Plain weekly / workday series: occurrences are whole days apart, same
        # local time (fixed offsets, no DST) — checkable without dateutil.
        if rem["exclude_time_list"] and not rem["is_custom_repeat"]:
            for x in rem["exclude_time_list"]:
                delta = x["start_time"] - r["start_time"]
                assert delta > 0
                assert delta % 86400 == 0
                if rem["repeat_type"] == 1:
                    assert delta % (7 * 86400) == 0
                checked += 1
    assert checked >= 4


def test_calendars_are_valid() -> None:
    sb = populated(wecom_calendars=4)
    for cal in sb.wecom_calendars.values():
        shared = {s["userid"] for s in cal["shares"]}
        assert set(cal["admins"]) <= shared
        assert len(cal["admins"]) <= 3
        assert {s["permission"] for s in cal["shares"]} <= {1, 3}
        assert cal["color"].startswith("#")
    assert {c["is_public"] for c in sb.wecom_calendars.values()} == {0, 1}


def test_dingtalk_mix_and_quirky_recurrence_forms() -> None:
    sb = populated(dingtalk_users=2, events_per_user=30)
    user = next(iter(sb.dingtalk_users))
    items = list(sb.dingtalk_events[user].values())
    assert any("date" in i["start"] for i in items)
    assert any("date_time" in i["start"] for i in items)
    assert {i["status"] for i in items} == {"confirmed", "cancelled"}
    assert {i["organizer"]["self"] for i in items} == {True, False}
    assert {i["response_status"] for i in items} >= {"accepted", "declined", "needsAction"}
    assert any(i["start"].get("time_zone") == "America/New_York" for i in items)
    for i in items:
        if "date_time" in i["start"]:
            # The seed's offset style: +0800 / -0400, no colon.
            assert i["start"]["date_time"][-5] in "+-"
            assert ":" not in i["start"]["date_time"][-5:]

    transport = httpx.ASGITransport(app=sb.app)

    async def wire() -> list[Any]:
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            r = await http.get(
                "/gettoken", params={"appkey": DINGTALK_APP_KEY, "appsecret": DINGTALK_APP_SECRET}
            )
            data = (
                await http.post(
                    "/topapi/calendar/list",
                    params={"access_token": r.json()["access_token"]},
                    json={"user_id": user, "max_results": 2500},
                )
            ).json()
        return [i["recurrence"] for i in data["result"]["items"] if "recurrence" in i]

    forms = anyio.run(wire)
    assert any(isinstance(f, list) and f[0].startswith("RRULE:FREQ=") for f in forms)
    assert any(isinstance(f, dict) and f["string"][0].startswith("RRULE:FREQ=") for f in forms)
    assert any(isinstance(f, list) and not f[0].startswith(("RRULE:", "FREQ=")) for f in forms)
    # The seed's own quirk: bare rule split at its commas inside {"string": [...]}.
    assert {"string": ["YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8", "9"]} in forms


# ---------------------------------------------------------------- properties


@given(
    freq=st.sampled_from(["DAILY", "WEEKLY"]),
    interval=st.integers(1, 4),
    count=st.integers(1, 30),
    first_day=st.integers(0, 60),
    hour=st.integers(0, 23),
    window=st.tuples(st.integers(-5, 120), st.integers(0, 60)),
)
def test_dingtalk_expansion_matches_hand_arithmetic(
    freq: str, interval: int, count: int, first_day: int, hour: int, window: tuple[int, int]
) -> None:
    sb = new_sandbox()
    sb.add_dingtalk_user("u1", "张伟")
    start = datetime(2024, 1, 1, hour, 30, tzinfo=SHANGHAI) + timedelta(days=first_day)
    fmt = "%Y-%m-%dT%H:%M:%S%z"
    ev_id = sb.add_dingtalk_event(
        "u1",
        {
            "summary": "s",
            "start": {"date_time": start.strftime(fmt), "time_zone": "Asia/Shanghai"},
            "end": {
                "date_time": (start + timedelta(hours=1)).strftime(fmt),
                "time_zone": "Asia/Shanghai",
            },
            "recurrence": [f"RRULE:FREQ={freq};INTERVAL={interval};COUNT={count}"],
        },
    )
    lo = datetime(2024, 1, 1, tzinfo=SHANGHAI) + timedelta(days=window[0])
    hi = lo + timedelta(days=window[1])
    step = timedelta(days=interval * (7 if freq == "WEEKLY" else 1))
    # Asia/Shanghai has no DST: occurrence k starts at start + k*step.
    expected = [
        start + k * step
        for k in range(count)
        if start + k * step < hi and start + k * step + timedelta(hours=1) > lo
    ]
    got = sb.dingtalk_ground_truth("u1", start=lo, end=hi, expand=True)
    # The seed's id shape: minutes from the series' start plus one, then the unique_id.
    assert [g["id"] for g in got] == [
        f"{(e - start) // timedelta(minutes=1) + 1}{ev_id}" for e in expected
    ]
    assert all(g["unique_id"] == ev_id for g in got)
    assert [int(g["recurrence_id"]) for g in got] == [int(e.timestamp()) * 1000 for e in expected]
    masters = sb.dingtalk_ground_truth("u1", start=lo, end=hi)
    assert [m["id"] for m in masters] == ([ev_id] if expected else [])


@pytest.mark.anyio
# 360 combinations, each example a sandbox and three requests: a sample of 50.
@settings(max_examples=50)
@given(
    repeat_type=st.sampled_from([0, 1]),
    interval=st.integers(1, 3),
    k=st.integers(1, 20),
    off=st.sampled_from([0, 1, 3600]),
)
async def test_wecom_op_start_time_must_be_an_occurrence(
    repeat_type: int, interval: int, k: int, off: int
) -> None:
    sb = new_sandbox()
    transport = httpx.ASGITransport(app=sb.app)
    start = int(datetime(2024, 6, 3, 10, tzinfo=SHANGHAI).timestamp())
    period = 86400 * (7 if repeat_type == 1 else 1) * interval
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
        r = await http.get(
            "/cgi-bin/gettoken", params={"corpid": WECOM_CORP_ID, "corpsecret": WECOM_SECRET}
        )
        q = {"access_token": r.json()["access_token"]}
        cal = (
            await http.post(
                "/cgi-bin/oa/calendar/add",
                params=q,
                json={"calendar": {"summary": "c", "color": "#000000"}},
            )
        ).json()
        reminders = {
            "is_repeat": 1,
            "repeat_type": repeat_type,
            "is_custom_repeat": 1,
            "repeat_interval": interval,
        }
        sid = (
            await http.post(
                "/cgi-bin/oa/schedule/add",
                params=q,
                json={
                    "schedule": {
                        "cal_id": cal["cal_id"],
                        "start_time": start,
                        "end_time": start + 600,
                        "reminders": reminders,
                    }
                },
            )
        ).json()["schedule_id"]
        op_start = start + k * period + off
        r = await http.post(
            "/cgi-bin/oa/schedule/del",
            params=q,
            json={"schedule_id": sid, "op_mode": 1, "op_start_time": op_start},
        )
    assert r.json()["errcode"] == (0 if off == 0 else 90482)
    excluded = sb.wecom_schedules[sid]["reminders"]["exclude_time_list"]
    assert excluded == ([{"start_time": op_start}] if off == 0 else [])


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-06-03T09:00:00+0800",
        "2024-06-03T09:00:00+08:00",
        "2024-01-31T23:59:59-0330",
        "2024-06-03T09:00:00Z",
        "2024-02-29T00:00:00+0000",
        "2024-6-3T9:00:00+0800",  # what only strptime reads
        "2024-13-01T00:00:00+0800",
        "2023-02-29T00:00:00+0800",
        "2024-06-03T24:00:00+0800",
        "2024-06-03T09:00:00",
        "2024-06-03T09:00:00.5+0800",
        "２０２４-06-03T09:00:00+0800",
    ],
)
def test_the_legacy_emulator_reads_a_date_time_as_strptime_does(stamp: str) -> None:
    """The stored ``date_time`` read fast: the same instant, offset or error as strptime's."""
    from wecal.providers.dingtalk_legacy._emulator_recur import ding_moment

    try:
        expected = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError as refused:
        with pytest.raises(ValueError, match=f"^{re.escape(str(refused))}$"):
            ding_moment({"date_time": stamp})
        return
    got, all_day = ding_moment({"date_time": stamp})
    assert (got, got.utcoffset(), all_day) == (expected, expected.utcoffset(), False)
