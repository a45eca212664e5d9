"""
What an export costs, before and during: ``wecal export --max-calls`` in one
process and ``--dry-run``'s estimate, run as a user runs them (a process of
their own, forked with wecal already imported: :mod:`tests._procs`) against
the sandbox over loopback, whose request log is the count.

The expected records are a one-process export of the same sources without a
budget (compared sorted); the expected calls are the sandbox's own count of
that run, never the code's.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests import _procs
from wecal.providers._registry import PROVIDERS
from wecal.sandbox import serve
from wecal.sandbox._demo import Demo, DemoSettings, build, credentials

ROOT = Path(__file__).resolve().parent.parent
PAGE = 10
SIZE = 45  # events per source: 5 pages of 10, the last short
TOKEN_APIS = ("token", "gettoken", "accessToken", "oauth2")


def _is_listing(api: str | None) -> bool:
    return api is not None and not any(t.lower() in api.lower() for t in TOKEN_APIS)


class Site:
    """The sandbox over loopback, and the ``wecal`` commands a user runs against it."""

    def __init__(self, demo: Demo, base_url: str, tmp: Path) -> None:
        self.demo = demo
        self.base_url = base_url
        self.tmp = tmp
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for name, (app_id, secret) in credentials().items():
            entry = PROVIDERS[name]
            self.env[entry.app_id.env] = app_id
            self.env[entry.secret.env] = secret

    def args(self, provider: str, page: int | None = PAGE) -> list[str]:
        kind = PROVIDERS[provider].source_kind
        ids = [arg for i in self.demo.sources[provider] for arg in (f"--{kind}", i)]
        size = ["--page-size", str(page)] if page is not None else []
        return ["--provider", provider, "--base-url", self.base_url, *size, *ids]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _procs.run("wecal", *args, env=self.env)

    def listing_calls(self) -> int:
        return sum(1 for r in self.demo.sandbox.requests if _is_listing(r.api))

    def calls(self) -> int:
        return len(self.demo.sandbox.requests)

    def clear(self) -> None:
        self.demo.sandbox.requests.clear()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    demo = build(DemoSettings(seed=7, sources=3, size=SIZE))
    with serve(demo.sandbox) as url:
        yield Site(demo, url, tmp_path)


def _lines(path: Path) -> list[str]:
    return sorted(path.read_bytes().decode().splitlines())


#: The default run checks one provider; CI's slow run checks every one.
PROVIDERS_UNDER_TEST = [
    "wecom",
    pytest.param("dingtalk-legacy", marks=pytest.mark.slow),
    pytest.param("dingtalk", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_max_calls_stops_within_the_budget_and_the_reruns_finish_exactly(
    site: Site, tmp_path: Path, provider: str
) -> None:
    whole = tmp_path / "whole.jsonl"
    site.clear()
    done = site.run("export", *site.args(provider), "-o", str(whole), "-q")
    assert done.returncode == 0, done.stderr
    expected, unbudgeted = _lines(whole), site.listing_calls()
    assert len(expected) == 3 * SIZE

    out, checkpoint = tmp_path / "out.jsonl", tmp_path / "cp.json"
    # Two runs: the first stops mid-listing (sources are read at once), the rerun ends it.
    budget, spent, runs = unbudgeted // 2 + 1, 0, 0
    command = ["export", *site.args(provider), "-o", str(out), "--checkpoint", str(checkpoint),
               "--max-calls", str(budget), "-q"]  # fmt: skip
    while True:
        site.clear()
        run = site.run(*command)
        runs += 1
        calls = site.listing_calls()
        assert 0 < calls <= budget, (calls, run.stderr)
        spent += calls
        if run.returncode == 0:
            break
        assert run.returncode == 1, run.stderr
        assert "stopped at the budget" in run.stderr
        assert "Rerun the same command" in run.stderr
        # Stopped at a commit point: every line written is whole, none twice.
        partial = out.read_bytes().decode()
        assert partial.endswith("\n")
        assert len(set(partial.splitlines())) == len(partial.splitlines())
        assert set(partial.splitlines()) <= set(expected)
        assert runs < 20
    assert runs == 2  # the first run spent all of its budget
    assert spent == unbudgeted  # no page asked twice across the reruns
    assert _lines(out) == expected


def test_max_calls_without_a_checkpoint_is_refused(site: Site, tmp_path: Path) -> None:
    site.clear()
    run = site.run("export", *site.args("wecom"), "-o", str(tmp_path / "o.jsonl"),
                   "--max-calls", "3")  # fmt: skip
    assert run.returncode == 2
    assert "--max-calls needs --checkpoint" in run.stderr
    assert site.calls() == 0


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_the_dry_run_sizes_each_source_from_one_page_within_ten_percent_of_the_run(
    site: Site, tmp_path: Path, provider: str
) -> None:
    out = tmp_path / "out.jsonl"
    site.clear()
    dry = site.run("export", *site.args(provider), "--dry-run", "--json", "-o", str(out))
    assert dry.returncode == 0, dry.stderr
    assert site.listing_calls() == 3  # one first page per source, nothing more
    assert not out.exists()
    plan = json.loads(dry.stdout)
    assert plan["units"] == 3
    assert [row["exact"] for row in plan["sources"]] == [True] * 3
    assert sum(row["events"] for row in plan["sources"]) == 3 * SIZE

    site.clear()
    done = site.run("export", *site.args(provider), "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    made = site.calls()  # the token too: the sandbox counts every request
    assert abs(plan["calls"] - made) <= 0.1 * made, (plan["calls"], made)
    assert plan["apis"][provider]["calls"] == plan["calls"]

    # The table says the same.
    site.clear()
    table = site.run("export", *site.args(provider), "--dry-run")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["api", "units", "calls", "events", "at", "limit", "quota"]
    row = lines[1].split()
    assert row[:4] == [provider, "3", str(plan["calls"]), str(3 * SIZE)]
    assert "nothing written" in lines[-1]
    assert not out.exists() or out.stat().st_size > 0  # the run's output, untouched


@pytest.mark.slow
def test_a_source_bigger_than_the_largest_page_is_sized_by_assumption(tmp_path: Path) -> None:
    # DingTalk v1.0 pages hold at most 100 events: the probe of a source of
    # 130 sees a full page and a next one, so the plan assumes --expect-events
    # (at least the 100 it saw) or, without it, two full pages, and says so.
    demo = build(DemoSettings(seed=7, sources=1, size=130))
    with serve(demo.sandbox) as url:
        site = Site(demo, url, tmp_path)
        assumed = site.run("export", *site.args("dingtalk"), "--dry-run", "--json",
                           "--expect-events", "60")  # fmt: skip
        assert assumed.returncode == 0, assumed.stderr
        (row,) = json.loads(assumed.stdout)["sources"]
        assert (row["exact"], row["events"], row["calls"]) == (False, 100, 10)
        table = site.run("export", *site.args("dingtalk"), "--dry-run")
        assert table.returncode == 0, table.stderr
        assert table.stdout.splitlines()[1].split()[:4] == ["dingtalk", "1", "21", "200"]
        assert "(1 sources sized by assumption)" in table.stdout
        offline = site.run("export", *site.args("dingtalk"), "--dry-run", "--offline", "--json")
        assert offline.returncode == 0, offline.stderr
        (row,) = json.loads(offline.stdout)["sources"]
        assert (row["exact"], row["events"]) == (False, 200)


@pytest.mark.parametrize("expand", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_the_dry_run_of_a_window_counts_the_calls_a_listing_makes_besides_its_pages(
    site: Site, tmp_path: Path, expand: bool
) -> None:
    # A DingTalk v1.0 window first asks for the events already running at its
    # start (and their series): calls besides the pages, which the probe sees.
    today = date.today()
    window = ["--start", str(today - timedelta(days=20)), "--end", str(today + timedelta(days=30))]
    window += ["--expand"] if expand else []
    site.clear()
    dry = site.run("export", *site.args("dingtalk"), *window, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    out = tmp_path / "out.jsonl"
    site.clear()
    done = site.run("export", *site.args("dingtalk"), *window, "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    made = site.calls()
    assert abs(plan["calls"] - made) <= 0.1 * made, (plan["calls"], made)
    assert sum(row["events"] for row in plan["sources"]) == len(_lines(out))
