"""
The ``wecal`` command, run as a user runs it: a process of its own. The
console script itself runs in a fresh interpreter (installed, its output on a
pipe, the modules a command loads); the other commands run in processes forked
with wecal already imported (:mod:`tests._procs`: the same entry point, pid,
signals and files, without 0.7 s of CPU importing wecal each).

The README's main-job command, exports over loopback against the sandbox
(compared with its ground truth), and crash-resume: an export killed with
SIGKILL at random moments, then rerun, holds every event exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from wecal.providers._registry import PROVIDERS
from wecal.providers.feishu._emulator import feishu as feishu_emulator
from wecal.providers.feishu._emulator import populate as feishu_populate
from wecal.sandbox import Fault, Sandbox, generate

from . import _procs
from .sandbox_fixtures import WECOM_CORP_ID, WECOM_SECRET

WECAL = Path(sys.executable).with_name("wecal")


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    # The wecal beside these tests, whichever one is installed.
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), **(extra or {})}


def run_forked(
    *args: str, env: dict[str, str] | None = None, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``wecal ARGS`` in a process of its own (forked), to its end."""
    return _procs.run("wecal", *args, env=_env(env), cwd=cwd, timeout=timeout)


def run_wecal(
    *args: str, env: dict[str, str] | None = None, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``wecal ARGS`` as installed, in a fresh interpreter."""
    return subprocess.run(
        [str(WECAL), *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_console_script_is_installed() -> None:
    assert WECAL.exists(), "pip install -e '.[test]' installs the wecal console script"


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
def test_readme_main_job_command(tmp_path: Path) -> None:
    """`wecal export --sandbox -o demo.ics` (the README's command) exports the demo data."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "wecal export --sandbox -o demo.ics" in readme
    done = run_wecal("export", "--sandbox", "-o", "demo.ics", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stderr

    # Expected: the same demo data, generated independently here.
    sandbox = Sandbox(seed=0)
    summary = generate(
        sandbox,
        seed=0,
        wecom_calendars=3,
        schedules_per_calendar=120,
        dingtalk_users=3,
        dingtalk_v1_users=3,
        events_per_user=120,
    )
    expected = {f"wecom:{sid}" for sid in summary.wecom_schedules} | {
        f"dingtalk:{eid}" for eid in (*summary.dingtalk_events, *summary.dingtalk_v1_events)
    }
    # Feishu fills its own demo: a series' exceptions are occurrences, named
    # "{series}_{original start, UTC}" (DESIGN.md), the rest by Feishu's id.
    state = feishu_emulator(sandbox)
    for calendar in feishu_populate(sandbox, seed=0, sources=3, size=120):
        for event_id in state.events[calendar]:
            uid, _, suffix = event_id.rpartition("_")
            if suffix == "0":
                expected.add(f"feishu:{event_id}")
            else:
                moment = datetime.fromtimestamp(int(suffix), UTC)
                expected.add(f"feishu:{uid}_0_{moment:%Y%m%dT%H%M%SZ}")
    cal = icalendar.Calendar.from_ical((tmp_path / "demo.ics").read_bytes())
    uids = [str(c["UID"]) for c in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids)) == len(expected)
    assert set(uids) == expected


def test_export_to_stdout_jsonl(tmp_path: Path) -> None:
    done = run_wecal("export", "--sandbox", "--sandbox-size", "5", "-o", "-", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # 3 sources × 5 events for each registered provider.
    assert len(lines) == 3 * 5 * len(PROVIDERS)
    assert all(json.loads(line)["provider"] in ("wecom", "dingtalk", "feishu") for line in lines)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = run_forked(
        "export", "--provider", "wecom", "--calendar", "c", "-o", "x.jsonl", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "WECAL_WECOM_SECRET" in done.stderr
    done = run_forked("export", "--sandbox", "-o", "x.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert "--format" in done.stderr


def test_secret_from_environment_is_never_printed(tmp_path: Path) -> None:
    secret = "envsecret-DO-NOT-PRINT-42"
    done = run_forked(
        "export",
        "--provider",
        "wecom",
        "--calendar",
        "c1",
        "--base-url",
        "http://127.0.0.1:9",  # nothing listens: the source fails after retries
        "-o",
        "x.jsonl",
        env={"WECAL_WECOM_CORP_ID": "ww1", "WECAL_WECOM_SECRET": secret},
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "calendar:c1 failed: TransportError" in done.stderr
    assert secret not in done.stderr + done.stdout


# --- over loopback, against a sandbox served by uvicorn ------------------------------


@pytest.fixture
def loaded(sandbox: Sandbox) -> tuple[Sandbox, list[str]]:
    summary = generate(
        sandbox, seed=7, wecom_calendars=4, schedules_per_calendar=40, dingtalk_users=0
    )
    return sandbox, list(summary.wecom_calendars)


def _ground_truth(sandbox: Sandbox, calendars: list[str]) -> Counter[str]:
    return Counter(s["schedule_id"] for c in calendars for s in sandbox.wecom_ground_truth(c))


def _exported_ids(path: Path, fmt: str) -> Counter[str]:
    data = path.read_bytes()
    if fmt == "jsonl":
        return Counter(json.loads(line)["id"] for line in data.decode().splitlines())
    cal = icalendar.Calendar.from_ical(data)
    return Counter(str(c["UID"]).removeprefix("wecom:") for c in cal.walk("VEVENT"))


def _export_args(url: str, calendars: list[str], out: str, ckpt: str) -> list[str]:
    args = ["export", "--provider", "wecom", "--base-url", url, "-o", out, "--checkpoint", ckpt]
    for cal in calendars:
        args += ["--calendar", cal]
    return [*args, "--page-size", "4", "--concurrency", "2", "-q"]


ENV = {"WECAL_WECOM_CORP_ID": WECOM_CORP_ID, "WECAL_WECOM_SECRET": WECOM_SECRET}


@pytest.mark.parametrize("fmt", ["jsonl", "ics"])
def test_export_under_faults_equals_ground_truth(
    loaded: tuple[Sandbox, list[str]], sandbox_url: str, tmp_path: Path, fmt: str
) -> None:
    """5xx, busy, rate limits, token revocation and drops: every event exactly once."""
    sandbox, calendars = loaded
    target = "wecom.schedule.get_by_calendar"
    sandbox.faults.script(
        target,
        [
            Fault.server_error(502),
            None,
            Fault.busy(),
            Fault.error(45033),  # concurrent-call limit: retried with backoff
            None,
            Fault.dropped(),
            None,
            Fault.truncated(),
            Fault.revoke_token(),
            None,
            Fault.server_error(500),
        ],
    )
    out = tmp_path / f"out.{fmt}"
    done = run_forked(
        *_export_args(sandbox_url, calendars, out.name, "ckpt.json"), env=ENV, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert _exported_ids(out, fmt) == _ground_truth(sandbox, calendars)
    assert sandbox.faults.pending == 0  # every scripted fault was served
    assert "retries" in done.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "ics"])
def test_sigkill_at_random_moments_then_rerun_is_exactly_once(
    loaded: tuple[Sandbox, list[str]], sandbox_url: str, tmp_path: Path, fmt: str
) -> None:
    sandbox, calendars = loaded
    sandbox.faults.rate(Fault.latency(0.03), p=1.0)  # ~40 pages × 30 ms at concurrency 2
    args = _export_args(sandbox_url, calendars, f"out.{fmt}", "ckpt.json")
    rng = random.Random(f"kill-{fmt}")
    killed = 0
    for _ in range(3):
        proc = _procs.start(
            "wecal", *args, cwd=tmp_path, env=_env(ENV), stdout=_procs.DEVNULL,
            stderr=_procs.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.4, 1.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= 1, "the export finished before any kill: make it slower"
    done = run_forked(*args, env=ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _exported_ids(tmp_path / f"out.{fmt}", fmt) == _ground_truth(sandbox, calendars)
    again = run_forked(*args, env=ENV, cwd=tmp_path)
    assert again.returncode == 0
    assert "already complete" in again.stderr


_LOADED = """
import json, sys
from click.testing import CliRunner
import wecal.cli
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(wecal.cli.main, args)
    print(result.exit_code)
    print(" ".join(sorted(sys.modules)))
"""
# What serving the emulator takes: none of it is loaded by a command that does not.
_SANDBOX_CODE = ("wecal.sandbox", "starlette", "uvicorn", "wecal.providers._emulation")


def _loaded(*commands: list[str], cwd: Path) -> list[tuple[int, set[str]]]:
    """
    The commands run one after another in one fresh interpreter: each one's
    exit code and every module loaded by then (what it and those before it loaded).
    """
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, json.dumps(commands)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.splitlines()[-2 * len(commands) :]
    pairs = zip(lines[::2], lines[1::2], strict=True)
    return [(int(code), set(modules.split())) for code, modules in pairs]


def _sandbox_modules(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.startswith(_SANDBOX_CODE) or (m.startswith("wecal.providers.") and "_emulator" in m)
    )


def test_the_command_loads_no_sandbox_code_unless_asked(tmp_path: Path) -> None:
    helps = [["--help"], ["export", "--help"], ["sandbox", "--help"], ["events", "list", "--help"]]
    asked = ["events", "list", "--sandbox", "--sandbox-size", "1"]
    # The sandbox command last: what the others loaded is known before it runs.
    *others, (code, modules) = _loaded(*helps, asked, cwd=tmp_path)
    for args, (status, loaded) in zip(helps, others, strict=True):
        assert status == 0, args
        assert "wecal.cli" in loaded
        assert _sandbox_modules(loaded) == [], args
    assert code == 0
    assert "wecal.sandbox" in _sandbox_modules(modules)
