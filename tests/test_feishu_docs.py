"""docs/feishu.md's example, run against the sandbox's Feishu emulator as written."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

import wecal
from tests.test_readme import load
from wecal.providers.feishu._emulator import CREDENTIALS, feishu
from wecal.sandbox import Fault, Sandbox

pytestmark = pytest.mark.anyio

SH = ZoneInfo("Asia/Shanghai")


def _times(start: datetime, end: datetime) -> dict[str, object]:
    return {
        "start_time": {"timestamp": str(int(start.timestamp())), "timezone": "Asia/Shanghai"},
        "end_time": {"timestamp": str(int(end.timestamp())), "timezone": "Asia/Shanghai"},
    }


async def test_team_agenda(sandbox: Sandbox) -> None:
    fs = feishu(sandbox)
    zhang = fs.add_user("ou_zhang", "张三")
    li = fs.add_user("ou_li", "李四")
    nine = datetime(2024, 6, 3, 9, 30, tzinfo=SH)
    fs.add_event(zhang, {**_times(nine, nine + timedelta(hours=1)), "summary": "周会",
                         "recurrence": "FREQ=DAILY;COUNT=3"})  # fmt: skip
    fs.add_event(zhang, {**_times(nine + timedelta(days=1), nine + timedelta(days=1, hours=1)),
                         "summary": "明天的会"})  # fmt: skip
    fs.add_event(li, {"start_time": {"date": "2024-06-03"}, "end_time": {"date": "2024-06-04"},
                      "summary": "团建"})  # fmt: skip
    team_agenda = load("team_agenda")["team_agenda"]
    async with wecal.FeishuClient(
        *CREDENTIALS,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=wecal.RetryConfig(max_attempts=2, backoff_base=0.001),
    ) as client:
        sandbox.faults.script("feishu.events.instance_view", [Fault.busy()])  # retried
        agenda = await team_agenda(client, ["ou_zhang", "ou_li"], date(2024, 6, 3))
    assert agenda == {"ou_zhang": ["09:30 周会"], "ou_li": ["全天 团建"]}
