"""The README's examples run against the sandbox, as written."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import wecal
from wecal.sandbox import Fault, Sandbox, generate

from .sandbox_fixtures import DINGTALK_APP_KEY, DINGTALK_APP_SECRET, WECOM_CORP_ID, WECOM_SECRET

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.S)
EXAMPLES = dict(BLOCK.findall(README))

pytestmark = pytest.mark.anyio


def load(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(EXAMPLES[name], f"README.md:{name}", "exec"), namespace)
    return namespace


def test_examples_are_found() -> None:
    assert set(EXAMPLES) == {
        "quick_start",
        "web_handler",
        "bulk_export",
        "sandbox_client",
        "chat_bot",
        "notify_endpoint",
        "sync_loop",
        "meeting_moved",
        "dingtalk_bot",
    }


def test_quick_start_round_trips_an_event() -> None:
    example = load("quick_start")
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


def test_the_sandbox_notification_methods_named_are_on_sandbox_notifications() -> None:
    """The prose names methods a newcomer calls on ``sandbox.notifications``."""
    section = README.split("`wecal.sandbox` sends these notifications too:")[1]
    section = section.split("## The sandbox")[0]
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
    summary = generate(sandbox, seed=2, wecom_calendars=1, schedules_per_calendar=40)
    upcoming = load("web_handler")["upcoming"]
    async with _wecom(sandbox) as wecom:
        body = await upcoming(wecom, summary.wecom_calendars[0], days=7)
    assert json.loads(json.dumps(body)) == body
    now = datetime.now(UTC)
    for item in body:
        event = wecal.from_dict(item)
        end = event.end if isinstance(event.end, datetime) else None
        if end is not None:
            assert end > now - timedelta(minutes=1)
        assert event.recurrence is None  # expanded: occurrences, not rules


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


async def test_notify_endpoint_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import fastapi  # noqa: F401
    except ImportError:
        # FastAPI is not a test dependency: its FastAPI class is a Starlette
        # subclass whose mount() is Starlette's, so run the example on that.
        import types

        from starlette.applications import Starlette

        monkeypatch.setitem(sys.modules, "fastapi", types.SimpleNamespace(FastAPI=Starlette))
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


def test_examples_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """Every example, as a user pastes it, passes ``mypy --strict`` (no error, no note)."""
    from mypy import api

    files = []
    for name, code in EXAMPLES.items():
        path = tmp_path / f"readme_{name}.py"
        path.write_text(code, encoding="utf-8")
        files.append(str(path))
    stubs = tmp_path / "stubs"
    try:
        import fastapi  # noqa: F401
    except ImportError:
        # FastAPI is not a test dependency; its FastAPI class is a Starlette.
        (stubs / "fastapi").mkdir(parents=True)
        (stubs / "fastapi" / "__init__.pyi").write_text(
            "from starlette.applications import Starlette\n\nclass FastAPI(Starlette): ...\n"
        )
    root = Path(__file__).parents[1]
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {stubs}\n")
    out, err, status = api.run(
        [
            "--strict",
            "--config-file",
            str(config),
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
    example = load("dingtalk_bot")
    book_meeting, free_at = example["book_meeting"], example["free_at"]
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
        assert refused == "1 人那时没空，换个时间吧。"
        assert [e["summary"] for e in v1.ground_truth(me)] == []
        reply = await book_meeting(ding, "zhangsan", ["lisi"], "评审", three)
        (booked,) = v1.ground_truth(me)
        assert booked["summary"] == "评审"
        assert {a["id"] for a in booked["attendees"]} >= {guest}
        assert reply.startswith("已预约 15:00「评审」 ")
        assert booked["onlineMeetingInfo"]["url"] in reply
        assert await free_at(ding, "zhangsan", 15, three.date()) == "15 点你有安排。"
        assert await free_at(ding, "zhangsan", 16, three.date()) == "16 点你有空。"
        sandbox.faults.script("dingtalk.v1.schedule.query", [Fault.busy()])
        assert await free_at(ding, "zhangsan", 15, three.date()) == "暂时无法读取日历，请稍后再试。"


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
