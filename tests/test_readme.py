"""The README's examples run against the sandbox, as written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import wecal
from wecal.providers.feishu._emulator import CREDENTIALS as FEISHU_CREDENTIALS
from wecal.providers.feishu._emulator import feishu as feishu_state
from wecal.sandbox import Fault, Sandbox, generate

from .sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    FAST_RETRY,
    WECOM_CORP_ID,
    WECOM_SECRET,
    client_on,
)

ROOT = Path(__file__).parents[1]
#: The README and every page of docs/: their examples run as written.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.S)
#: Any Python block, and the line before it (an example's tag or a sketch's).
ANY_BLOCK = re.compile(r"([^\n]*)\n```python\n", re.S)


def _collect() -> tuple[dict[str, str], dict[str, list[str]]]:
    examples: dict[str, str] = {}
    where: dict[str, list[str]] = {}
    for page in PAGES:
        for name, code in BLOCK.findall(page.read_text(encoding="utf-8")):
            examples[name] = code
            where.setdefault(name, []).append(page.relative_to(ROOT).as_posix())
    return examples, where


EXAMPLES, WHERE = _collect()
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.anyio
DAY = timedelta(days=1)


def load(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(EXAMPLES[name], f"{WHERE[name][0]}:{name}", "exec"), namespace)
    return namespace


def test_examples_are_found() -> None:
    assert WHERE == {
        "quick_start": ["README.md"],
        "web_handler": ["README.md"],
        "bulk_export": ["README.md"],
        "dingtalk_bot": ["README.md"],
        "notify_endpoint": ["README.md"],
        "page_by_page": ["docs/clients.md"],
        "free_at": ["docs/dingtalk.md"],
        "team_agenda": ["docs/feishu.md"],
        "chat_bot": ["docs/dingtalk-legacy.md"],
        "resume_listing": ["docs/errors.md"],
        "retry_write": ["docs/errors.md"],
        "model_round_trip": ["docs/model.md"],
        "edit_event": ["docs/model.md"],
        "expand_series": ["docs/recurrence.md"],
        "sandbox_client": ["docs/sandbox.md"],
        "sandbox_in_tests": ["docs/sandbox.md"],
        "sync_loop": ["docs/sync.md"],
        "meeting_moved": ["docs/sync.md"],
        "wecom_reschedule": ["docs/wecom.md"],
        "workers_app": ["docs/workers.md"],  # run by tests/test_workers_recipe.py
    }


def test_every_python_block_is_an_example_or_a_marked_sketch() -> None:
    """A block a reader may paste either runs (tagged ``example``) or says it does not."""
    unmarked = [
        f"{page.relative_to(ROOT)}: {before!r}"
        for page in PAGES
        for before in ANY_BLOCK.findall(page.read_text(encoding="utf-8"))
        if not before.startswith(("<!-- example: ", "<!-- sketch -->"))
    ]
    assert unmarked == []


def test_the_readme_is_a_guide_of_at_most_250_lines() -> None:
    assert README.count("\n") <= 250
    quick_start = EXAMPLES["quick_start"]
    assert len([line for line in quick_start.splitlines() if line.strip()]) <= 25


def test_quick_start_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    example = load("quick_start")  # the script: it starts the sandbox and runs main()
    printed = capsys.readouterr().out.splitlines()
    box, demo = example["box"], example["demo"]
    calendar, user = demo.wecom_calendars[0], demo.dingtalk_v1_users[0]
    created = [line.split()[1] for line in printed if line.startswith("created ")]
    listed = [line for line in printed if not line.startswith("created ")]
    records = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    assert len(created) == 2
    # Every event of the calendar and of the user, as the sandbox holds them, new ones included.
    wecom_ids = {s["schedule_id"] for s in box.wecom_ground_truth(calendar)}
    ding_ids = {e["id"] for e in box.dingtalk_v1.ground_truth(user)}
    assert created[0] in wecom_ids
    assert created[1] in ding_ids
    assert len(records) == len(listed) == len(wecom_ids) + len(ding_ids)
    assert {(r["provider"], r["id"]) for r in records} == {
        *(("wecom", i) for i in wecom_ids),
        *(("dingtalk", i) for i in ding_ids),
    }
    assert {r["id"] for r in records if r["summary"] == "你好"} >= set(created)
    assert [line.split()[0] for line in listed] == [r["provider"] for r in records]
    # An all-day event shows its day, not an instant in some zone (DingTalk's are in UTC).
    all_day = [(line, r) for line, r in zip(listed, records, strict=True) if len(r["start"]) == 10]
    assert all_day
    assert all(line == f"{r['provider']} {r['start']} {r['summary']}" for line, r in all_day)


def test_model_round_trips_an_event() -> None:
    example = load("model_round_trip")
    event, data = example["event"], example["data"]
    # The plain-JSON form, spelled out independently of to_dict.
    assert json.loads(json.dumps(data)) == data
    assert (data["provider"], data["start"], data["end"]) == (
        "wecom",
        "2024-06-03T10:00:00+08:00",
        "2024-06-03T11:00:00+08:00",
    )
    assert data["reminders"] == [-900]
    assert wecal.from_dict(data) == event
    assert event.start.tzinfo == ZoneInfo("Asia/Shanghai")


def test_edit_event_makes_a_validated_copy() -> None:
    postponed = load("edit_event")["postponed"]
    tz = ZoneInfo("Asia/Shanghai")
    event = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="e1",
        summary="周会",
        start=datetime(2024, 6, 3, 10, tzinfo=tz),
        end=datetime(2024, 6, 3, 11, tzinfo=tz),
    )
    later = postponed(event, 2)
    assert (later.id, later.summary) == ("e1", "周会")
    assert (later.start, later.end) == (
        datetime(2024, 6, 5, 10, tzinfo=tz),
        datetime(2024, 6, 5, 11, tzinfo=tz),
    )
    assert later.description == "(postponed 2 days)"
    assert event.start == datetime(2024, 6, 3, 10, tzinfo=tz)  # the original is unchanged


def test_expand_series_asserts_its_own_result() -> None:
    example = load("expand_series")  # the example asserts June's instants itself
    assert len(example["june"]) == 6


def test_the_sandbox_notification_methods_named_are_on_sandbox_notifications() -> None:
    """The prose names methods a newcomer calls on ``sandbox.notifications``."""
    page = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    section = page.split("`wecal.sandbox` sends these notifications too:")[1]
    named = set(
        re.findall(r"`(?:sandbox\.notifications\.)?((?:user|subscribe)_\w+|script)\b", section)
    )
    assert len(named) == 9  # subscribe ×2, user_* ×6, script
    notifications = Sandbox().notifications
    assert {name for name in named if not callable(getattr(notifications, name, None))} == set()


def _wecom(sandbox: Sandbox) -> wecal.WeComClient:
    return wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
    )


async def test_web_handler(sandbox: Sandbox) -> None:
    """The next week of a Feishu user's calendar, series expanded (real time: the handler's now)."""
    state = feishu_state(sandbox)
    calendar = state.add_user("ou_web", "王五")
    now = datetime.now(UTC).replace(microsecond=0)
    hour = timedelta(hours=1)

    def times(start: datetime) -> dict[str, Any]:
        return {
            "start_time": {"timestamp": str(int(start.timestamp())), "timezone": "Asia/Shanghai"},
            "end_time": {"timestamp": str(int((start + hour).timestamp())), "timezone": "UTC"},
        }

    # A daily series begun three days ago, one meeting tomorrow, one in ten days.
    state.add_event(calendar, {**times(now - 3 * DAY + hour), "summary": "站会",
                               "recurrence": "FREQ=DAILY"})  # fmt: skip
    state.add_event(calendar, {**times(now + DAY), "summary": "评审"})
    state.add_event(calendar, {**times(now + 10 * DAY), "summary": "later"})
    upcoming = load("web_handler")["upcoming"]
    async with wecal.FeishuClient(
        *FEISHU_CREDENTIALS, base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app), token_store=wecal.MemoryTokenStore(),
    ) as feishu:  # fmt: skip
        body = await upcoming(feishu, "ou_web", days=7)
    assert json.loads(json.dumps(body)) == body
    events = sorted((wecal.from_dict(item) for item in body), key=lambda e: e.start_datetime)
    assert all(e.recurrence is None for e in events)  # expanded: occurrences, not rules
    # The series at now-3d+1h, daily: its occurrences from now-2d+1h overlap [now, now+7d)
    # when they end after now: now+1h, +1d+1h, ..., +6d+1h (seven); and tomorrow's meeting.
    expected = sorted([(now + k * DAY + hour, "站会") for k in range(7)] + [(now + DAY, "评审")])
    assert [(e.start_datetime, e.summary) for e in events] == expected


async def test_bulk_export(sandbox: Sandbox, tmp_path: Path) -> None:
    summary = generate(sandbox, seed=3, wecom_calendars=3, schedules_per_calendar=30)
    sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.busy(), Fault.truncated()])
    export_calendars = load("bulk_export")["export_calendars"]
    out = tmp_path / "events.jsonl"
    async with _wecom(sandbox) as wecom:
        count = await export_calendars(wecom, list(summary.wecom_calendars), out)
    expected = {
        s["schedule_id"] for c in summary.wecom_calendars for s in sandbox.wecom_ground_truth(c)
    }
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert count == len(ids) == len(expected)
    assert set(ids) == expected
    assert (tmp_path / "events.ckpt").exists()


async def test_chat_bot_reply(sandbox: Sandbox) -> None:
    sandbox.add_dingtalk_user("u100", "张三")
    sandbox.add_dingtalk_event(
        "u100",
        {
            "id": "e1",
            "summary": "周会",
            "start": {"date_time": "2024-06-03T10:00:00+0800", "time_zone": "Asia/Shanghai"},
            "end": {"date_time": "2024-06-03T11:00:00+0800", "time_zone": "Asia/Shanghai"},
            "status": "confirmed",
            "organizer": {"self": True, "display_name": "张三", "userid": "u100"},
        },
    )
    today_reply = load("chat_bot")["today_reply"]
    transport = httpx.ASGITransport(app=sandbox.app)
    async with wecal.DingTalkLegacyClient(
        DINGTALK_APP_KEY,
        DINGTALK_APP_SECRET,
        base_url="http://sandbox",
        transport=transport,
        token_store=wecal.MemoryTokenStore(),
        retry=wecal.RetryConfig(max_attempts=1),
    ) as ding:
        now = datetime(2024, 6, 3, 8, 30, tzinfo=UTC)
        assert await today_reply(ding, "u100", now) == "10:00 周会"
        assert await today_reply(ding, "u100", now + timedelta(days=1)) == "今天没有日程。"
        sandbox.faults.script("*calendar*list*", [Fault.busy()])
        assert await today_reply(ding, "u100", now) == "暂时无法读取日历，请稍后再试。"


async def test_notify_endpoint_mounted() -> None:
    from wecal.notifications import WeComCallback

    key, token, corp = "k" * 43, "readme-token", "ww_readme"
    example = load("notify_endpoint")
    app = example["create_app"](token, key, corp)
    body, query = WeComCallback(token, key, corp).seal(
        b"<xml><MsgType>event</MsgType><Event>delete_schedule</Event>"
        b"<CalId>cal</CalId><ScheduleId>sch</ScheduleId></xml>"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        r = await http.post("/callbacks/wecom/", params=query, content=body)
        assert r.status_code == 200
        r = await http.post("/callbacks/wecom/", params={**query, "nonce": "x"}, content=body)
        assert r.status_code == 403
    [note] = example["received"]
    assert (note.kind, note.calendar_id, note.event_id) == ("deleted", "cal", "sch")


async def test_sync_loop(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=4, wecom_calendars=1, schedules_per_calendar=20)
    cal = summary.wecom_calendars[0]
    sync_calendar = load("sync_loop")["sync_calendar"]
    local: dict[str, wecal.Event] = {}
    async with _wecom(sandbox) as wecom:
        state = await sync_calendar(wecom, cal, local, None)
        gone, edited = sorted(local)[:2]
        del sandbox.wecom_schedules[gone]
        sandbox.wecom_schedules[edited]["summary"] = "新标题"
        state = await sync_calendar(wecom, cal, local, state)
        assert local == {e.id: e async for e in wecom.list_events(cal)}
        assert gone not in local
        assert local[edited].summary == "新标题"
        assert await sync_calendar(wecom, cal, local, state) == state


async def test_meeting_moved(sandbox: Sandbox) -> None:
    from wecal.notifications import Notification, NotificationKind

    summary = generate(sandbox, seed=9, wecom_calendars=1, schedules_per_calendar=5)
    cal = summary.wecom_calendars[0]
    timed = next(s for s in sandbox.wecom_ground_truth(cal) if not s["is_whole_day"])
    sid, start = timed["schedule_id"], timed["start_time"]
    watcher_cls = load("meeting_moved")["MeetingWatcher"]

    def note(kind: NotificationKind) -> Notification:
        return Notification(provider=wecal.Provider.WECOM, kind=kind, calendar_id=cal, event_id=sid)

    async with _wecom(sandbox) as wecom:
        watcher = watcher_cls(wecom, cal)
        assert await watcher.on_notification(note(NotificationKind.UPDATED)) == []  # first copy
        duration = timed["end_time"] - start
        moved = {"start_time": start + 7200, "end_time": start + 7200 + duration}
        sandbox.wecom_schedules[sid].update(moved)
        shanghai = timedelta(hours=8)
        old = datetime.fromtimestamp(start, UTC) + shanghai
        new = old + timedelta(hours=2)
        expected = f"会议改期：{timed['summary']} {old:%m月%d日 %H:%M} → {new:%m月%d日 %H:%M}"
        assert await watcher.on_notification(note(NotificationKind.UPDATED)) == [expected]
        # A duplicated notification: nothing new to say.
        assert await watcher.on_notification(note(NotificationKind.UPDATED)) == []
        del sandbox.wecom_schedules[sid]
        assert await watcher.on_notification(note(NotificationKind.DELETED)) == [
            f"会议取消：{timed['summary']}"
        ]


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
def test_examples_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """Every example, as a user pastes it, passes ``mypy --strict`` (no error, no note)."""
    from mypy import api

    files = []
    for name, code in EXAMPLES.items():
        path = tmp_path / f"readme_{name}.py"
        path.write_text(code, encoding="utf-8")
        files.append(str(path))
    root = Path(__file__).parents[1]
    out, err, status = api.run(
        [
            "--strict",
            "--cache-dir",
            str(root / ".mypy_cache"),
            "--no-error-summary",
            *files,
        ]
    )
    assert (status, out, err) == (0, "", "")


async def test_dingtalk_bot(sandbox: Sandbox) -> None:
    v1 = sandbox.dingtalk_v1
    me = v1.add_user("张三", userid="zhangsan")
    guest = v1.add_user("李四", userid="lisi")
    busy_guest = v1.add_user("王五", userid="wangwu")
    three = datetime(2024, 6, 3, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    v1.add_event(
        busy_guest,
        {
            "summary": "外出",
            "start": {"dateTime": three.isoformat(), "timeZone": "Asia/Shanghai"},
            "end": {
                "dateTime": (three + timedelta(hours=2)).isoformat(),
                "timeZone": "Asia/Shanghai",
            },
        },
    )
    book_meeting = load("dingtalk_bot")["book_meeting"]
    free_at = load("free_at")["free_at"]
    async with wecal.DingTalkClient(
        DINGTALK_APP_KEY,
        DINGTALK_APP_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=wecal.RetryConfig(max_attempts=1),
    ) as ding:
        assert await free_at(ding, "zhangsan", 15, three.date()) == "15 点你有空。"
        refused = await book_meeting(ding, "zhangsan", ["lisi", "wangwu"], "评审", three)
        assert refused == "有人那时没空，换个时间吧。"
        assert [e["summary"] for e in v1.ground_truth(me)] == []
        reply = await book_meeting(ding, "zhangsan", ["lisi"], "评审", three)
        (booked,) = v1.ground_truth(me)
        assert booked["summary"] == "评审"
        assert {a["id"] for a in booked["attendees"]} >= {guest}
        assert reply.startswith("已预约「评审」 ")
        assert booked["onlineMeetingInfo"]["url"] in reply
        assert await free_at(ding, "zhangsan", 15, three.date()) == "15 点你有安排。"
        assert await free_at(ding, "zhangsan", 16, three.date()) == "16 点你有空。"
        sandbox.faults.script("dingtalk.v1.schedule.query", [Fault.busy()])
        assert await free_at(ding, "zhangsan", 15, three.date()) == "暂时无法读取日历，请稍后再试。"
        sandbox.faults.script("dingtalk.v1.schedule.query", [Fault.busy()])
        busy = await book_meeting(ding, "zhangsan", ["lisi"], "评审", three + timedelta(hours=3))
        assert busy == "暂时无法预约，请稍后再试。"


async def test_sandbox_client_against_the_served_demo() -> None:
    """The README's sandbox example, against the demo ``wecal sandbox`` serves."""
    from wecal.sandbox import serve
    from wecal.sandbox._demo import DemoSettings, build

    demo = build(DemoSettings(sources=1, size=8))
    calendar = demo.sources["wecom"][0]
    expected = [s["summary"] for s in demo.sandbox.wecom_ground_truth(calendar)][:5]
    first_summaries = load("sandbox_client")["first_summaries"]
    with serve(demo.sandbox) as url:
        assert await first_summaries(url, calendar) == expected


async def test_page_by_page_saves_where_it_is(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=5, wecom_calendars=1, schedules_per_calendar=120)
    cal = summary.wecom_calendars[0]
    read_calendar = load("page_by_page")["read_calendar"]
    expected = [s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)]
    saved: dict[str, str | None] = {}
    async with _wecom(sandbox) as wecom:
        sandbox.faults.script("wecom.schedule.get_by_calendar", [None, None, Fault.error(40058)])
        with pytest.raises(wecal.NotFoundError):
            await read_calendar(wecom, cal, saved)
        first_part = saved[cal]
        assert first_part is not None  # two pages of 50 were read and saved
        rest = await read_calendar(wecom, cal, saved)
        assert await read_calendar(wecom, cal, saved) == []  # complete: nothing more
    assert [e.id for e in rest] == expected[100:]


async def test_resume_listing_resumes_after_errors(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=6, wecom_calendars=1, schedules_per_calendar=30)
    cal = summary.wecom_calendars[0]
    all_events = load("resume_listing")["all_events"]
    expected = {s["schedule_id"] for s in sandbox.wecom_ground_truth(cal)}
    async with wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=wecal.RetryConfig(max_attempts=1),
    ) as wecom:
        sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.busy(), Fault.busy()])
        events = await all_events(wecom, cal)
        assert {e.id for e in events} == expected
        assert len(events) == len(expected)


async def test_retry_write_creates_once(sandbox: Sandbox) -> None:
    book = load("retry_write")["book"]
    organizer = sandbox.dingtalk_v1.add_user("Alice 王")
    start = datetime(2024, 6, 3, 10, tzinfo=UTC)
    event = wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="",
        summary="评审",
        start=start,
        end=start + timedelta(hours=1),
    )
    # Applied, and every answer lost: the retries end not knowing.
    sandbox.faults.script("dingtalk.v1.events.create", [Fault.applied_error()] * 4)
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        made = await book(ding, event, organizer)
    stored = [e for e in sandbox.dingtalk_v1.events.values() if e["summary"] == "评审"]
    assert [e["id"] for e in stored] == [made.id]


async def test_wecom_reschedule(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=7, wecom_calendars=1, schedules_per_calendar=10)
    cal = summary.wecom_calendars[0]
    timed = next(
        s
        for s in sandbox.wecom_ground_truth(cal)
        if not s["is_whole_day"] and not s["reminders"]["is_repeat"]
    )
    push_back = load("wecom_reschedule")["push_back"]
    async with _wecom(sandbox) as wecom:
        moved = await push_back(wecom, timed["schedule_id"], 2)
    stored = sandbox.wecom_schedules[timed["schedule_id"]]
    assert (stored["start_time"], stored["end_time"]) == (
        timed["start_time"] + 7200,
        timed["end_time"] + 7200,
    )
    assert stored["summary"] == f"{timed['summary']}（改期）"
    assert moved.id == timed["schedule_id"]


async def test_sandbox_in_tests_example() -> None:
    await load("sandbox_in_tests")["survives_a_busy_provider"]()
