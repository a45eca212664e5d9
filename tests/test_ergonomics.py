"""
What a user reads while things run: a progress line, an ETA that follows the
rates seen, a retry at INFO, what Ctrl-C leaves, which path is unwritable.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import httpx
import pytest

import wecal
from wecal.export import Progress
from wecal.sandbox import Fault, Sandbox, generate

from .sandbox_fixtures import WECOM_CORP_ID, WECOM_SECRET
from .test_cli_scenarios import wecal as run_wecal


def test_progress_reads_as_one_line() -> None:
    progress = Progress(events=1200, pages=14, done_sources=2, failed_sources=1, total_sources=9)
    assert str(progress) == "1,200 events in 14 pages; sources: 2 of 9 done, 1 failed"
    resumed = Progress(events=5, pages=1, done_sources=4, skipped_sources=3, total_sources=4)
    assert str(resumed) == "5 events in 1 page; sources: 4 of 4 done (3 done before this run)"


def _two_speeds() -> Progress:
    """Two fast sources done (100 events in 1 s each), two slow ones at 10 events/s."""
    return Progress(
        total_sources=4,
        per_source={"fast1": 100, "fast2": 100, "slow1": 20, "slow2": 20},
        finished={"fast1", "fast2"},
        started_at={"fast1": 0.0, "fast2": 0.0, "slow1": 0.0, "slow2": 0.0},
        ended_at={"fast1": 1.0, "fast2": 1.0},
    )


def test_the_eta_follows_each_source_s_own_rate() -> None:
    progress = _two_speeds()
    # The slow sources have 80 of a typical 100 events left, at 10 events/s.
    assert progress.remaining_seconds(2.0, now=2.0) == pytest.approx(8.0)
    # Counted in sources at the overall rate, it would say (4 - 2.4) * 2 / 2.4 s.
    assert progress._remaining_by_share(4, 100.0, 2.0) == pytest.approx(4 / 3)


def test_the_eta_settles_as_the_run_goes_on() -> None:
    progress = _two_speeds()
    estimates = []
    for second in (2, 4, 6, 8):
        progress.per_source["slow1"] = progress.per_source["slow2"] = 10 * second
        left = progress.remaining_seconds(float(second), now=float(second))
        assert left is not None
        estimates.append(second + left)  # the predicted end
    assert estimates == pytest.approx([10.0, 10.0, 10.0, 10.0])


def test_the_eta_follows_a_source_that_sped_up_at_its_new_pace() -> None:
    """10 events/s for 10 s, then 100 events/s (its provider's other sources done)."""
    progress = Progress(
        total_sources=2,
        per_source={"done": 1000},
        finished={"done"},
        started_at={"done": 0.0, "s": 0.0},
        ended_at={"done": 2.0},
    )
    count = 0
    for second in range(1, 16):
        count += 10 if second <= 10 else 100
        progress.per_source["s"] = count
        progress._page_read("s", count, float(second))
    # 600 of a typical 1,000 read; the last 5 s at 100 events/s: 4 s left
    # (at its average so far, 40 events/s, it would say 10 s).
    assert progress.remaining_seconds(15.0, now=15.0) == pytest.approx(4.0)
    # Slowed down again (10 events/s for 5 s): the estimate follows.
    for second in range(16, 21):
        count += 10
        progress.per_source["s"] = count
        progress._page_read("s", count, float(second))
    assert progress.remaining_seconds(20.0, now=20.0) == pytest.approx((1000 - 650) / 10)
    # Nothing read for the last 5 s: its average so far (650 events in 26 s).
    assert progress.remaining_seconds(26.0, now=26.0) == pytest.approx((1000 - 650) / 25)


def test_a_source_keeps_a_bounded_number_of_rate_marks() -> None:
    progress = Progress(started_at={"s": 0.0})
    for page in range(10_000):  # a page of 10 events every millisecond for 10 s
        progress._page_read("s", 10 * (page + 1), (page + 1) / 1000)
    assert len(progress._marks["s"]) <= 52  # 0.1 s apart over the last 5 s, and the baseline
    assert progress._rate("s", 100_000, 10.0) == pytest.approx(10_000, rel=0.02)


def test_sources_sharing_a_rate_limit_are_timed_together() -> None:
    """
    b and c share one app's 100 events/s (50 each now); b has 100 events left,
    c 500. When b is done, c reads at 100/s: 2 s, then 400 events in 4 s.
    """
    progress = Progress(
        total_sources=3,
        per_source={"a": 1000, "b": 900, "c": 500},
        finished={"a"},
        started_at={"a": 0.0, "b": 0.0, "c": 10.0},
        ended_at={"a": 5.0},
    )
    for second in range(3, 21):  # b: 50 events/s (100 at 2 s); c: 50/s from 10 s on
        progress._page_read("b", 900 - 50 * (20 - second), float(second))
        if second > 10:
            progress._page_read("c", 50 * (second - 10), float(second))
    assert progress.remaining_seconds(20.0, now=20.0) == pytest.approx(
        10.0
    )  # apart: c's 500 at 50/s
    progress.groups = {"b": "dingtalk", "c": "dingtalk"}
    assert progress.remaining_seconds(20.0, now=20.0) == pytest.approx(6.0)


def test_sources_not_started_add_a_typical_source_per_slot() -> None:
    progress = _two_speeds()
    progress.total_sources = 6  # two more, queued behind the two running ones
    assert progress.remaining_seconds(2.0, now=2.0) == pytest.approx(8.0 + 2 * 1.0 / 2)


def test_no_eta_before_a_source_finished() -> None:
    progress = Progress(total_sources=3, per_source={"a": 10}, started_at={"a": 0.0})
    assert progress.remaining_seconds(1.0, now=1.0) is None


@pytest.mark.anyio
async def test_a_retry_is_one_info_line_saying_what_why_and_when(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    summary = generate(sandbox, seed=1, wecom_calendars=1, schedules_per_calendar=3)
    sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.busy()])
    caplog.set_level(logging.INFO, logger="wecal")
    async with wecal.WeComClient(
        WECOM_CORP_ID,
        WECOM_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=wecal.RetryConfig(max_attempts=3, backoff_base=0.01, backoff_max=0.01),
    ) as wecom:
        events = [e async for e in wecom.list_events(summary.wecom_calendars[0])]
    assert len(events) == 3
    lines = [r for r in caplog.records if r.name == "wecal" and r.levelno >= logging.INFO]
    assert len(lines) == 1
    text = lines[0].getMessage()
    # When (full jitter under a 0.01 s ceiling), which attempt, what and why.
    assert re.match(r"retrying in 0\.0[01]s \(attempt 1 of 3 failed\): ", text), text
    assert "ProviderError: wecom error -1: POST /cgi-bin/oa/schedule/get_by_calendar: " in text
    assert "system busy" in text
    assert WECOM_SECRET not in text
    assert "access_token=" not in text or "access_token=***" in text


def test_interrupted_exports_say_how_to_go_on() -> None:
    from wecal.cli import _resume_hint

    assert _resume_hint("a.jsonl", Path("a.ckpt")) == (
        "the export can be resumed: rerun the same command (a.ckpt records what was written)"
    )
    assert _resume_hint("a.jsonl", None) == (
        "a.jsonl is incomplete and cannot be resumed: this run had no --checkpoint, so a "
        "rerun starts over (with --checkpoint PATH, a stopped run resumes where it stopped)"
    )


@pytest.mark.skipif(sys.platform != "linux", reason="/sys refuses new files on Linux only")
def test_an_unwritable_checkpoint_is_named_as_the_checkpoint(tmp_path: Path) -> None:
    done = run_wecal(
        "export", "--sandbox", "--sandbox-size", "2", "-o", "out.jsonl",
        "--checkpoint", "/sys/wecal-test.ckpt", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("wecal: error: cannot write /sys/wecal-test.ckpt")
    assert "check the checkpoint path (/sys/wecal-test.ckpt)" in done.stderr
    assert "output path" not in done.stderr
    assert done.stderr.count("\n") == 1
