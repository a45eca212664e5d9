"""
One meaning of a time: a date is 00:00 of that day and a time without an
offset a wall-clock time, in one zone — the clients' ``date_zone`` (default
Asia/Shanghai), ``--tz`` on the command line (the same default). The same
window selects the same events from the library, ``wecal export`` and
``wecal events list``.

The events straddle the window's edges so that reading it in any other zone
(UTC, say, as ``wecal export`` once did) selects other ones; what each window
holds is worked out by hand below, not by wecal.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

import wecal
from wecal.sandbox import Sandbox

from .sandbox_fixtures import WECOM_CORP_ID, WECOM_SECRET
from .test_cli_scenarios import ENV
from .test_cli_scenarios import wecal as run_wecal

#: summary → (start, end) in UTC. Shanghai is UTC+8.
EVENTS = {
    # 2024-06-03 01:00–02:00 in Shanghai; 2024-06-02 in UTC.
    "first-hour-shanghai": (
        datetime(2024, 6, 2, 17, tzinfo=UTC),
        datetime(2024, 6, 2, 18, tzinfo=UTC),
    ),
    # 2024-06-03 10:00 in Shanghai, 02:00 in UTC: inside any reading of the day.
    "mid-morning": (datetime(2024, 6, 3, 2, tzinfo=UTC), datetime(2024, 6, 3, 3, tzinfo=UTC)),
    # 2024-06-04 17:00 Shanghai.
    "evening-4th": (datetime(2024, 6, 4, 9, tzinfo=UTC), datetime(2024, 6, 4, 10, tzinfo=UTC)),
    # 2024-06-05 01:00–02:00 in Shanghai; 2024-06-04 in UTC.
    "after-midnight-5th": (
        datetime(2024, 6, 4, 17, tzinfo=UTC),
        datetime(2024, 6, 4, 18, tzinfo=UTC),
    ),
    # 2024-06-03 08:30–09:15 Shanghai: across 09:00.
    "across-nine": (
        datetime(2024, 6, 3, 0, 30, tzinfo=UTC),
        datetime(2024, 6, 3, 1, 15, tzinfo=UTC),
    ),
}

#: (--start, --end, --tz or None) → the summaries that window holds.
WINDOWS = {
    # Dates, in Shanghai: [06-03 00:00+08, 06-05 00:00+08) = [06-02 16:00Z, 06-04 16:00Z).
    ("2024-06-03", "2024-06-05", None): {
        "first-hour-shanghai", "mid-morning", "evening-4th", "across-nine",
    },
    # Naive times, in Shanghai: [06-03 09:00+08, 06-05 01:30+08) = [06-03 01:00Z, 06-04 17:30Z).
    ("2024-06-03T09:00", "2024-06-05T01:30", None): {
        "mid-morning", "evening-4th", "after-midnight-5th", "across-nine",
    },
    # The same dates in UTC: [06-03 00:00Z, 06-05 00:00Z).
    ("2024-06-03", "2024-06-05", "UTC"): {
        "mid-morning", "evening-4th", "after-midnight-5th", "across-nine",
    },
}  # fmt: skip


@pytest.fixture
def calendar(sandbox: Sandbox) -> str:
    cal = sandbox.add_wecom_calendar({"summary": "edges"})
    for summary, (start, end) in EVENTS.items():
        sandbox.add_wecom_schedule(
            {
                "cal_id": cal,
                "summary": summary,
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
            }
        )
    return cal


def _library_bound(text: str, zone: str) -> date | datetime:
    """What a library caller passes for ``text``: a date, or the time made aware in ``zone``."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize("window", list(WINDOWS), ids=lambda w: " ".join(filter(None, w)))
def test_the_same_window_selects_the_same_events_everywhere(
    sandbox: Sandbox,
    sandbox_url: str,
    calendar: str,
    tmp_path: Path,
    window: tuple[str, str, str | None],
) -> None:
    start, end, tz = window
    expected = WINDOWS[window]
    zone = tz or "Asia/Shanghai"

    async def library() -> set[str]:
        async with wecal.WeComClient(
            WECOM_CORP_ID,
            WECOM_SECRET,
            base_url="http://sandbox",
            transport=httpx.ASGITransport(app=sandbox.app),
            date_zone=zone,
        ) as wecom:
            listed = wecom.list_events(
                calendar,
                start=_library_bound(start, zone),
                end=_library_bound(end, zone),
                expand=True,
            )
            return {event.summary async for event in listed}

    assert anyio.run(library) == expected

    tz_args = ["--tz", tz] if tz else []
    where = ["--provider", "wecom", "--base-url", sandbox_url, "--calendar", calendar]
    common = [*where, "--start", start, "--end", end, *tz_args]
    done = run_wecal("export", *common, "--expand", "-o", "out.jsonl", "-q", cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {row["summary"] for row in rows} == expected

    done = run_wecal("events", "list", *common, cwd=tmp_path, env={**ENV, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    shown = [
        line.split("│")[3].strip() for line in done.stdout.splitlines() if line.startswith("│")
    ]
    assert set(shown) == expected
    assert len(shown) == len(expected)


def test_help_texts_say_the_one_rule(tmp_path: Path) -> None:
    for command in (["export"], ["events", "list"]):
        text = " ".join(run_wecal(*command, "--help", cwd=tmp_path).stdout.split())
        assert "an ISO date (00:00 in --tz) or datetime (in --tz without an offset)" in text
        assert "[default: Asia/Shanghai]" in text


def test_parse_when_reads_dates_and_naive_times_in_shanghai_by_default() -> None:
    from wecal.export import parse_when

    assert parse_when("2024-06-03") == datetime(2024, 6, 2, 16, tzinfo=UTC)
    assert parse_when("2024-06-03T09:00") == datetime(2024, 6, 3, 1, tzinfo=UTC)
    assert parse_when("2024-06-03T09:00Z") == datetime(2024, 6, 3, 9, tzinfo=UTC)
    assert parse_when("2024-06-03", default_tz=UTC) == datetime(2024, 6, 3, tzinfo=UTC)
    assert parse_when("2024-06-03").utcoffset() == timedelta(hours=8)
