"""
The ``wecal`` command used the ways people use a CLI — and misuse it — with
real files, signals and locks, asserting the exact outcome: the output's
bytes, the exit code, the one line printed.

A command runs in this process (``wecal.cli.main`` with its output captured,
:func:`wecal`): the same code, without a second or two of interpreter start
each. What only a process shows runs in a real one (:func:`start`,
:func:`wecal_process`): the exports stopped by a signal or killed midway, a
file-size limit, a second export running beside a first.

Exit codes: 2 when the command is refused before any work, 1 when the work
failed, 0 when it is done. Sandbox sizes are small so the file stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from wecal import cli
from wecal.sandbox import Fault, Sandbox, generate, serve

from .sandbox_fixtures import WECOM_CORP_ID, WECOM_SECRET, new_sandbox

WECAL = Path(sys.executable).with_name("wecal")
ROOT = Path(__file__).parents[1]
#: Beside an output exported with a checkpoint: which checkpoint owns it.
NOTE = "a.jsonl.wecal-checkpoint"
ENV = {"WECAL_WECOM_CORP_ID": WECOM_CORP_ID, "WECAL_WECOM_SECRET": WECOM_SECRET}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The wecal beside these tests, whichever one is installed; ResourceWarnings shown.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "always::ResourceWarning"}
    env.pop("WECAL_DEBUG", None)
    return {**env, **(extra or {})}


Done = subprocess.CompletedProcess[str]


def wecal(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Done:
    """
    ``wecal ARGS`` in this process, in ``cwd``, with ``env`` added to the
    environment (and WECAL_DEBUG left out, as for :func:`wecal_process`):
    its exit code and what it printed, as a finished subprocess would have.
    """
    out, err = _captured(), _captured()
    with (
        contextlib.chdir(cwd),
        _environment(env or {}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            cli.main.main(list(args), prog_name="wecal")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
        else:  # pragma: no cover - the command always exits
            code = 0
    return Done([str(WECAL), *args], code, _text(out), _text(err))


def _captured() -> io.TextIOWrapper:
    # A text stream with a binary buffer under it, as a pipe's (`-o -` writes bytes).
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop("WECAL_DEBUG", None)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def wecal_process(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Done:
    """``wecal ARGS`` in a fresh subprocess (the console script), to its end."""
    return subprocess.run(
        [str(WECAL), *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec,
    )


_STARTED: list[subprocess.Popen[str]] = []


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(WECAL), *args],
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _reap_started() -> Iterator[None]:
    """A test that fails midway leaves no process or pipe behind for the next one."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def wait_for(check: Callable[[], bool], proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``check`` (a state on disk, not a duration) with a generous deadline."""
    deadline = time.monotonic() + 60
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the export ended first: {proc.communicate()}")
        assert time.monotonic() < deadline, "the state never came"
        time.sleep(0.02)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes — but a lock file a SIGKILL left behind (the next run removes it)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.suffix != ".lock"
    }


def ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def committed_pages(ckpt: Path) -> int:
    try:
        data = json.loads(ckpt.read_text())
    except (OSError, ValueError):
        return 0
    return sum(s["pages"] for s in data["sources"].values())


def _calendars(sandbox: Sandbox) -> list[str]:
    summary = generate(
        sandbox,
        seed=11,
        wecom_calendars=3,
        schedules_per_calendar=24,
        dingtalk_users=0,
        max_attendees=3,  # small events: a page is ~2 KB
    )
    return list(summary.wecom_calendars)


def _truth(sandbox: Sandbox, calendars: list[str]) -> list[str]:
    return sorted(s["schedule_id"] for c in calendars for s in sandbox.wecom_ground_truth(c))


@pytest.fixture
def calendars(sandbox: Sandbox) -> list[str]:
    return _calendars(sandbox)


@pytest.fixture
def truth(sandbox: Sandbox, calendars: list[str]) -> list[str]:
    return _truth(sandbox, calendars)


def export_args(url: str, calendars: list[str], out: str, ckpt: str | None = "c.ckpt") -> list[str]:
    args = ["export", "--provider", "wecom", "--base-url", url, "-o", out, "-q"]
    for cal in calendars:
        args += ["--calendar", cal]
    args += ["--page-size", "4", "--concurrency", "1"]
    return [*args, "--checkpoint", ckpt] if ckpt else args


def killed_midway(sandbox: Sandbox, args: list[str], cwd: Path) -> None:
    """Run an export until it has committed a few pages, then SIGKILL it."""
    sandbox.faults.rate(Fault.latency(0.05), p=1.0)
    proc = start(*args, cwd=cwd, env=ENV)
    wait_for(lambda: committed_pages(cwd / "c.ckpt") >= 3, proc)
    proc.kill()
    proc.communicate(timeout=30)
    sandbox.faults.clear()


class Killed(NamedTuple):
    """An export killed midway, in ``cwd``, from the sandbox at ``url``."""

    url: str
    calendars: list[str]
    truth: list[str]
    cwd: Path
    #: Every file as the SIGKILL left it (the lock file included).
    files: dict[str, bytes]

    def args(self, out: str = "a.jsonl", ckpt: str | None = "c.ckpt") -> list[str]:
        return export_args(self.url, self.calendars, out, ckpt)


@pytest.fixture(scope="module")
def killed_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    """
    One export process SIGKILLed midway, once for the module, on a served
    sandbox of its own that the tests only read: the state the refusal tests
    start from. A process killed for each of them cost a second of CPU each
    (interpreter, imports) for the same kind of state: pages committed, the
    lock file left behind, the output ahead of or at its last commit.
    """
    sb = new_sandbox()
    calendars = _calendars(sb)
    cwd = tmp_path_factory.mktemp("killed")
    with serve(sb) as url:
        killed_midway(sb, export_args(url, calendars, "a.jsonl"), cwd)
        files = {p.name: p.read_bytes() for p in cwd.iterdir()}
        yield Killed(url, calendars, _truth(sb, calendars), cwd, files)


@pytest.fixture
def killed(killed_once: Killed) -> Killed:
    """The killed export's directory restored, byte for byte, to what the kill left."""
    for path in killed_once.cwd.iterdir():
        path.unlink()
    for name, data in killed_once.files.items():
        (killed_once.cwd / name).write_bytes(data)
    return killed_once


# --- never corrupt, never lie ----------------------------------------------------------


def test_resume_with_another_output_is_refused_then_the_right_one_resumes(
    killed: Killed,
) -> None:
    cwd = killed.cwd
    before = snapshot(cwd)
    done = wecal(*killed.args("b.jsonl"), cwd=cwd, env=ENV)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wecal: error: checkpoint c.ckpt belongs to a different export: its output is "
        f"{cwd / 'a.jsonl'}, this run's is {cwd / 'b.jsonl'}; use another "
        "checkpoint path, or delete it to start over\n"
    )
    assert snapshot(cwd) == before  # no b.jsonl, nothing padded, checkpoint as it was

    done = wecal(*killed.args("a.jsonl"), cwd=cwd, env=ENV)
    assert done.returncode == 0, done.stderr
    assert sorted(ids(cwd / "a.jsonl")) == killed.truth
    assert sorted(p.name for p in cwd.iterdir()) == ["a.jsonl", NOTE, "c.ckpt"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--start", "2020-01-01"], "--start (none), this run has 2020-01-01T00:00:00+08:00"),
        (["--page-size", "5"], "--page-size 4, this run has 5"),
        (["--base-url", "http://127.0.0.1:9"], "--base-url {url}, this run has http://127.0.0.1:9"),
        ({"WECAL_WECOM_CORP_ID": "ww_other"}, "--corp-id ww_test_corp, this run has ww_other"),
    ],
)
def test_resume_with_other_options_is_refused(
    sandbox_url: str,
    calendars: list[str],
    tmp_path: Path,
    change: list[str] | dict[str, str],
    expected: str,
) -> None:
    """Another window, page size, host or app: other data under the same ids."""
    args = export_args(sandbox_url, calendars, "a.jsonl")
    first = wecal(*args, cwd=tmp_path, env=ENV)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path)
    env = ENV
    if isinstance(change, dict):
        env = {**ENV, **change}
    elif change[0] == "--page-size":
        args = [a if a != "4" else "5" for a in args]
    else:
        args = [*args, *change]  # the last of a repeated option wins
    done = wecal(*args, cwd=tmp_path, env=env)
    assert (done.returncode, done.stderr) == (
        2,
        "wecal: error: checkpoint c.ckpt belongs to a different export: it was made with "
        f"{expected.format(url=sandbox_url)}; use another checkpoint path, or delete it to "
        "start over\n",
    )
    assert snapshot(tmp_path) == before


def test_a_second_run_on_the_same_checkpoint_or_output_is_refused_at_once(
    sandbox: Sandbox, sandbox_url: str, calendars: list[str], truth: list[str], tmp_path: Path
) -> None:
    # ~18 s at 1 s a page: both refusals come within it on a loaded machine (the
    # latency is cleared once they have, so the first run then ends at once).
    sandbox.faults.rate(Fault.latency(1.0), p=1.0)
    first = start(*export_args(sandbox_url, calendars, "a.jsonl"), cwd=tmp_path, env=ENV)
    wait_for(lambda: committed_pages(tmp_path / "c.ckpt") >= 1, first)

    same_ckpt = wecal(*export_args(sandbox_url, calendars, "b.jsonl"), cwd=tmp_path, env=ENV)
    assert (same_ckpt.returncode, same_ckpt.stderr) == (
        2,
        "wecal: error: checkpoint c.ckpt is in use by another wecal export; wait for it to "
        "finish (or stop it) before running this one\n",
    )
    same_out = wecal(
        *export_args(sandbox_url, calendars, "a.jsonl", "other.ckpt"), cwd=tmp_path, env=ENV
    )
    assert (same_out.returncode, same_out.stderr) == (
        2,
        "wecal: error: output a.jsonl is in use by another wecal export; wait for it to "
        "finish (or stop it) before running this one\n",
    )
    sandbox.faults.clear()
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert sorted(ids(tmp_path / "a.jsonl")) == truth
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", NOTE, "c.ckpt"]


@pytest.mark.parametrize("damage", ["deleted", "truncated", "edited"])
def test_output_damaged_between_runs_is_detected_then_a_fresh_start_is_exact(
    killed: Killed, damage: str
) -> None:
    cwd, args = killed.cwd, killed.args()
    out = cwd / "a.jsonl"
    committed = json.loads((cwd / "c.ckpt").read_text())["committed"]
    if damage == "deleted":
        out.unlink()
        why = f"is missing but checkpoint c.ckpt has {committed} bytes of it committed"
    elif damage == "truncated":
        out.write_bytes(out.read_bytes()[: committed - 7])
        why = f"has {committed - 7} bytes, fewer than the {committed} checkpoint c.ckpt committed"
        why += ": it was truncated or replaced"
    else:
        data = out.read_bytes()
        out.write_bytes(data[:10] + b"X" + data[11:])
        why = "was changed since checkpoint c.ckpt last committed it"
    before = snapshot(cwd)
    done = wecal(*args, cwd=cwd, env=ENV)
    assert (done.returncode, done.stderr) == (
        2,
        f"wecal: error: output a.jsonl {why}; restore it, or delete c.ckpt to start the "
        "export over\n",
    )
    assert snapshot(cwd) == before
    (cwd / "c.ckpt").unlink()
    done = wecal(*args, cwd=cwd, env=ENV)
    assert done.returncode == 0, done.stderr
    assert sorted(ids(out)) == killed.truth


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        ({"done": "false"}, "$.done: expected true or false, got 'false'"),
        ({"committed": -5}, "committed: expected a count from 0 to 2**53, got -5"),
        ({"committed": 10**12}, None),
    ],
)
def test_edited_checkpoint_is_refused_in_one_line(
    killed: Killed, edit: dict[str, object], why: str | None
) -> None:
    ckpt = killed.cwd / "c.ckpt"
    ckpt.write_text(json.dumps({**json.loads(ckpt.read_text()), **edit}))
    before = snapshot(killed.cwd)
    done = wecal(*killed.args(), cwd=killed.cwd, env=ENV)
    assert done.returncode == 2
    if why is None:  # a claim beyond the file: refused, no 1 TB sparse file
        size = len(before["a.jsonl"])
        why_line = (
            f"output a.jsonl has {size} bytes, fewer than the {10**12} checkpoint c.ckpt "
            "committed: it was truncated or replaced; restore it, or delete c.ckpt to start "
            "the export over"
        )
    else:
        why_line = f"checkpoint c.ckpt is unusable: {why}; delete it to start the export over"
    assert done.stderr == f"wecal: error: {why_line}\n"
    assert snapshot(killed.cwd) == before


def test_output_equal_to_checkpoint_is_refused(sandbox_url: str, tmp_path: Path) -> None:
    done = wecal(*export_args(sandbox_url, ["c1"], "a.jsonl", "a.jsonl"), cwd=tmp_path, env=ENV)
    assert (done.returncode, done.stderr) == (
        2,
        "wecal: error: output a.jsonl is the checkpoint's own file; use different paths for "
        "the output and the checkpoint\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_file_size_limit_is_one_line_then_the_rerun_resumes_exactly_once(
    sandbox_url: str, calendars: list[str], truth: list[str], tmp_path: Path
) -> None:
    """A full disk, as a file-size limit (RLIMIT_FSIZE): EFBIG mid-export."""
    limit = 6000

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = export_args(sandbox_url, calendars, "a.jsonl")
    done = wecal_process(*args, cwd=tmp_path, env=ENV, preexec=small_files)
    assert (done.returncode, done.stderr) == (
        1,
        "wecal: error: cannot write a.jsonl: File too large; make room and "
        "rerun the same command to resume\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", NOTE, "c.ckpt"]  # no .tmp
    saved = json.loads((tmp_path / "c.ckpt").read_text())
    assert (tmp_path / "a.jsonl").stat().st_size == saved["committed"] <= limit
    assert 0 < len(ids(tmp_path / "a.jsonl")) < len(truth)

    done = wecal(*args, cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stderr
    assert sorted(ids(tmp_path / "a.jsonl")) == truth


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_an_export_at_its_last_commit_and_the_rerun_finishes(
    sandbox: Sandbox,
    sandbox_url: str,
    calendars: list[str],
    truth: list[str],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    """Ctrl-C, a service manager's SIGTERM and a closed terminal's SIGHUP alike."""
    sandbox.faults.rate(Fault.latency(0.05), p=1.0)
    args = export_args(sandbox_url, calendars, "a.jsonl")
    proc = start(*args, cwd=tmp_path, env=ENV)
    wait_for(lambda: committed_pages(tmp_path / "c.ckpt") >= 2, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (
        128 + signum,
        f"wecal: interrupted{'' if signum == signal.SIGINT else ' by ' + signum.name}; the "
        "export can be resumed: rerun the same command (c.ckpt records what was written)\n",
    )
    # Locks released, no temp file: only the output, its note and the checkpoint.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", NOTE, "c.ckpt"]
    saved = json.loads((tmp_path / "c.ckpt").read_text())
    data = (tmp_path / "a.jsonl").read_bytes()
    assert len(data) == saved["committed"]
    assert hashlib.sha256(data).hexdigest() == saved["digest"]
    before = sum(s["events"] for s in saved["sources"].values())
    assert 0 < before < len(truth)
    sandbox.faults.clear()
    done = wecal(*args, cwd=tmp_path, env=ENV)
    assert done.returncode == 0
    assert done.stderr.startswith(
        f"wecal: exported {len(truth)} events ({len(truth) - before} this run) from 3 of 3 "
    )
    assert done.stderr.count("\n") == 1
    assert sorted(ids(tmp_path / "a.jsonl")) == truth


def test_a_signal_without_a_checkpoint_says_a_rerun_starts_over(
    sandbox: Sandbox, sandbox_url: str, calendars: list[str], tmp_path: Path
) -> None:
    sandbox.faults.rate(Fault.latency(0.05), p=1.0)
    proc = start(*export_args(sandbox_url, calendars, "a.jsonl", None), cwd=tmp_path, env=ENV)
    wait_for(lambda: (tmp_path / "a.jsonl").exists() and bool(ids(tmp_path / "a.jsonl")), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (
        143,
        "wecal: interrupted by SIGTERM; a.jsonl is incomplete and cannot be resumed: this "
        "run had no --checkpoint, so a rerun starts over (with --checkpoint PATH, a stopped "
        "run resumes where it stopped)\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "killed"])
@pytest.mark.parametrize("other", [["--checkpoint", "d.ckpt"], []], ids=["other", "none"])
def test_a_second_export_onto_an_output_a_checkpoint_holds_is_refused(
    killed: Killed, tmp_path: Path, finished: bool, other: list[str]
) -> None:
    # The killed export's sandbox, only read: a finished export is run here afresh.
    cwd, args = (tmp_path if finished else killed.cwd), killed.args()
    if finished:
        assert wecal(*args, cwd=cwd, env=ENV).returncode == 0
    before = snapshot(cwd)
    # Another export (one calendar) onto the same file.
    second = [*export_args(killed.url, killed.calendars[:1], "a.jsonl", None), *other]
    done = wecal(*second, cwd=cwd, env=ENV)
    assert (done.returncode, done.stderr) == (
        2,
        "wecal: error: output a.jsonl belongs to the export checkpointed in c.ckpt; resume it "
        "with --checkpoint c.ckpt, or delete c.ckpt to start that export over\n",
    )
    assert snapshot(cwd) == before
    done = wecal(*args, cwd=cwd, env=ENV)
    assert done.returncode == 0, done.stderr
    assert sorted(ids(cwd / "a.jsonl")) == killed.truth


def test_a_deeply_nested_checkpoint_is_called_damaged(sandbox_url: str, tmp_path: Path) -> None:
    (tmp_path / "c.ckpt").write_text("[" * 100_000 + "]" * 100_000)
    done = wecal(*export_args(sandbox_url, ["c1"], "a.jsonl"), cwd=tmp_path, env=ENV)
    assert (done.returncode, done.stderr) == (
        2,
        "wecal: error: checkpoint c.ckpt is unusable: damaged (JSON nested deeper than 64 "
        "levels); delete it to start the export over\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt"]


# --- when sources fail ----------------------------------------------------------------


def test_every_source_failing_prints_the_cause_once_and_leaves_nothing(
    sandbox_url: str, tmp_path: Path
) -> None:
    bad = {**ENV, "WECAL_WECOM_SECRET": "not-the-secret"}
    done = wecal(*export_args(sandbox_url, ["c1", "c2"], "a.jsonl"), cwd=tmp_path, env=bad)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "wecal: error: all 2 sources failed (calendar:c1, calendar:c2): AuthenticationError: "
    )
    assert "--checkpoint" not in done.stderr
    assert "not-the-secret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_start_after_end_is_a_usage_error(sandbox_url: str, tmp_path: Path) -> None:
    args = [*export_args(sandbox_url, ["c1"], "a.jsonl"), "--start", "2024-05-01"]
    done = wecal(*args, "--end", "2024-01-01", cwd=tmp_path, env=ENV)
    assert (done.returncode, done.stderr) == (
        2,
        "wecal: error: Invalid value for --start/--end: --start 2024-05-01T00:00:00+08:00 is "
        "not before --end 2024-01-01T00:00:00+08:00 (see 'wecal export --help')\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_one_bad_source_fails_alone_and_the_others_complete(
    sandbox: Sandbox, sandbox_url: str, calendars: list[str], truth: list[str], tmp_path: Path
) -> None:
    args = export_args(sandbox_url, [*calendars, "wcjgewNOSUCHCALENDARAAA"], "a.jsonl")
    done = wecal(*args, cwd=tmp_path, env=ENV)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith(
        f"wecal: exported {len(truth)} events ({len(truth)} this run) from 3 of 4 sources to "
        "a.jsonl in "
    )
    assert lines[1].startswith(
        "wecal: error: source calendar:wcjgewNOSUCHCALENDARAAA failed: NotFoundError: "
    )
    assert len(lines) == 2  # not found is not temporary: no rerun advice
    assert sorted(ids(tmp_path / "a.jsonl")) == truth


# --- one-line errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-o", "missing/a.jsonl"],
            "wecal: error: output missing/a.jsonl: directory missing does not exist",
        ),
        (
            ["-o", "."],
            "wecal: error: cannot tell the format from -o; pass --format jsonl|ics "
            "(see 'wecal export --help')",
        ),
        (["-o", ".", "--format", "ics"], "wecal: error: output . is a directory; name a file"),
        (
            ["-o", "a.jsonl", "--checkpoint", "nowhere/c.ckpt"],
            "wecal: error: checkpoint nowhere/c.ckpt: directory nowhere does not exist",
        ),
    ],
)
def test_path_mistakes_are_one_line_usage_errors(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    done = wecal("export", "--sandbox", "--sandbox-size", "2", *args, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, expected + "\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_the_system_refuses_is_not_called_a_full_disk(tmp_path: Path) -> None:
    # /proc exists (so the path checks pass) but takes no new file, even from root.
    done = wecal("export", "--sandbox", "--sandbox-size", "2", "-o", "/proc/a.jsonl", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("wecal: error: cannot write /proc/a.jsonl: ")
    assert done.stderr.endswith("; check the output path and its permissions and rerun\n")
    assert done.stderr.count("\n") == 1


def test_usage_mistakes_are_one_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources.txt"
    sources.write_bytes(b"\xff\xfe not text")
    common = ["--provider", "wecom", "-o", "a.jsonl"]
    cases = {
        ("export", *common, "--calendar", "c", "--base-url", "localhost:8765"): (
            "Invalid value for --base-url: 'localhost:8765' is not an http(s) URL "
            "(e.g. http://127.0.0.1:8765) (see 'wecal export --help')"
        ),
        ("export", *common, "--sources-file", str(sources)): (
            f"Invalid value for --sources-file: cannot read {sources}: not UTF-8 text "
            "(see 'wecal export --help')"
        ),
        ("events", "list", "--provider", "wecom", "--calendar", "c", "--tz", "Mars/Olympus"): (
            "Invalid value for '--tz': 'Mars/Olympus' is not an IANA zone or a ±HH:MM offset "
            "(see 'wecal events list --help')"
        ),
        ("export", "--sandbox", "--user", "nobody", "-o", "a.jsonl"): None,
    }
    for args, line in cases.items():
        done = wecal(*args, cwd=tmp_path, env=ENV)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        if line is not None:
            assert done.stderr == f"wecal: error: {line}\n"
        else:
            assert done.stderr.startswith(
                "wecal: error: Invalid value for --user: the sandbox serves no user 'nobody'; "
                "its users: "
            )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.txt"]


@pytest.mark.parametrize("command", [["export", "-o", "a.jsonl"], ["events", "list"]])
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://me:s3cr3t-pw@127.0.0.1:9", "http://***@127.0.0.1:9"),
        ("https://me:s3cr3t-pw@h:8443/x", "https://***@h:8443/x"),
        ("ftp://me:s3cr3t-pw@h", "ftp://***@h"),
        ("me:s3cr3t-pw@h", "***@h"),
        ("http:me:s3cr3t-pw@h", "***@h"),
        ("wss://me:s3cr3t-pw@[::1", "wss://***@[::1"),
        ("http://me@x:s3cr3t-pw@h/", "http://***@h/"),
    ],
)
def test_base_url_credentials_are_refused_without_echoing_them(
    tmp_path: Path, command: list[str], url: str, shown: str
) -> None:
    done = wecal(
        *command, "--provider", "wecom", "--calendar", "c", "--base-url", url,
        cwd=tmp_path, env=ENV,
    )  # fmt: skip
    where = " ".join(command[:2]) if command[0] == "events" else "export"
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"wecal: error: Invalid value for --base-url: {shown!r} carries credentials "
        "(user:password@); drop them: wecal signs in with the app's id and secret "
        f"(e.g. http://127.0.0.1:8765) (see 'wecal {where} --help')\n",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "is not a valid URL (Invalid IPv6 URL)"),
        ("http://h:99999", "is not a valid URL (Port out of range 0-65535)"),
        ("http://h:port", "is not a valid URL (Port could not be cast to integer value as 'port')"),
        ("http://a b", "is not a URL: it holds spaces or control characters"),
        ("http://h\n/", "is not a URL: it holds spaces or control characters"),
        ("http://h\udcff/", "is not a URL: it holds spaces or control characters"),
        ("http://", "is not an http(s) URL"),
        ("https:///path", "is not an http(s) URL"),
    ],
)
def test_a_malformed_base_url_is_one_line_and_exit_2(tmp_path: Path, url: str, why: str) -> None:
    args = ["export", "--provider", "wecom", "--calendar", "c", "-o", "a.jsonl"]
    done = wecal(*args, "--base-url", url, cwd=tmp_path, env=ENV)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"wecal: error: Invalid value for --base-url: {url!r} {why} "
        "(e.g. http://127.0.0.1:8765) (see 'wecal export --help')\n",
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    args = ["export", "--sandbox", "-o", "c.jsonl", "--checkpoint", "c.jsonl"]
    for extra, env in (([], {"WECAL_DEBUG": "1"}), (["--debug"], {})):
        done = wecal(*args, *extra, cwd=tmp_path, env=env)
        assert done.returncode == 2
        assert "Traceback (most recent call last)" in done.stderr
        assert done.stderr.splitlines()[-1] == (
            "wecal: error: output c.jsonl is the checkpoint's own file; use different paths "
            "for the output and the checkpoint"
        )


# --- options that do what they say ------------------------------------------------------


def test_sandbox_calendar_selects_among_the_demo_sources(tmp_path: Path) -> None:
    from wecal.sandbox._demo import DemoSettings, build

    demo = build(DemoSettings(size=5))
    wanted = demo.sources["wecom"][1]
    done = wecal(
        "export", "--sandbox", "--sandbox-size", "5", "--calendar", wanted, "-o", "a.jsonl", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    expected = sorted(s["schedule_id"] for s in demo.sandbox.wecom_ground_truth(wanted))
    assert sorted(r["id"] for r in rows) == expected
    assert {r["calendar_id"] for r in rows} == {wanted}


def test_events_list_shows_the_earliest_across_every_source_in_one_zone(
    sandbox: Sandbox, sandbox_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    kolkata = ZoneInfo("Asia/Kolkata")
    cal_a = sandbox.add_wecom_calendar({"summary": "A"})
    cal_b = sandbox.add_wecom_calendar({"summary": "B"})
    base = datetime(2024, 6, 3, 9, tzinfo=UTC)
    # A holds many late events first, B few early ones: take-then-sort would miss B's.
    plan = [(cal_a, 10 + i, f"late-{i}") for i in range(30)] + [
        (cal_b, 20 - 3 * i, f"early-{i}") for i in range(5)
    ]
    for cal, hours, summary in plan:
        at = int((base + timedelta(hours=hours)).timestamp())
        sandbox.add_wecom_schedule(
            {"cal_id": cal, "summary": summary, "start_time": at, "end_time": at + 1800}
        )
    args = ["events", "list", "--provider", "wecom", "--base-url", sandbox_url]
    args += [
        "--calendar",
        cal_a,
        "--calendar",
        cal_b,
        "--start",
        "2024-06-03",
        "--end",
        "2024-06-10",
    ]
    args += ["--limit", "6", "--tz", "Asia/Kolkata"]
    done = wecal(*args, cwd=tmp_path, env={**ENV, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    expected = sorted(plan, key=lambda p: p[1])[:6]
    shown = [line.split("│")[1:4] for line in done.stdout.splitlines() if line.startswith("│")]
    assert [(s.strip(), e.strip(), name.strip()) for s, e, name in shown] == [
        (
            f"{(base + timedelta(hours=h)).astimezone(kolkata):%Y-%m-%d %H:%M}",
            f"{(base + timedelta(hours=h, minutes=30)).astimezone(kolkata):%Y-%m-%d %H:%M}",
            summary,
        )
        for _, h, summary in expected
    ]
    assert "(times in Asia/Kolkata, IST)" in done.stdout

    # A source that fails is one line and exit 1; the others are still shown.
    args[args.index(cal_b)] = "wcjgewNOSUCHCALENDARAAA"
    done = wecal(*args, cwd=tmp_path, env={**ENV, "COLUMNS": "250"})
    assert done.returncode == 1
    assert done.stderr.startswith(
        "wecal: error: source calendar:wcjgewNOSUCHCALENDARAAA failed: NotFoundError: "
    )
    assert done.stderr.count("\n") == 1
    assert "late-0" in done.stdout


def test_help_explains_concurrency_and_limit(tmp_path: Path) -> None:
    export_help = " ".join(wecal("export", "--help", cwd=tmp_path).stdout.split())
    assert "--concurrency INTEGER RANGE Sources read at the same time" in export_help
    list_help = " ".join(wecal("events", "list", "--help", cwd=tmp_path).stdout.split())
    assert "--limit INTEGER RANGE Show the N earliest events of the window, across all" in list_help


# --- wecal sandbox ------------------------------------------------------------------------


def test_sandbox_banner_says_how_to_connect_and_serves_it(tmp_path: Path) -> None:
    from wecal.providers._registry import PROVIDERS
    from wecal.sandbox._demo import DemoSettings, build, credentials

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = start("sandbox", "--port", str(port), "--size", "3", "--sources", "2", cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        assert first == (
            f"wecal sandbox serving {url} (seed 0, 2 sources × 3 events per provider; "
            "Ctrl-C stops it)\n"
        )
        banner = first
        while "or the command line:" not in banner:
            banner += proc.stdout.readline()
        command = proc.stdout.readline().strip()
        demo = build(DemoSettings(sources=2, size=3))
        for name, (app_id, secret) in credentials().items():
            entry = PROVIDERS[name]
            assert f"--provider {name}" in banner
            assert f"{entry.app_id.option.lstrip('-')}: {app_id}" in banner
            assert f"{entry.secret.option.lstrip('-')}: {secret}" in banner
            assert ", ".join(demo.sources[name]) in banner
        # The printed command works as printed, against the served sandbox.
        env_part, _, rest = command.partition(" wecal ")
        env = dict(kv.split("=", 1) for kv in env_part.split())
        done = wecal(*rest.split(), cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert len(ids(tmp_path / "out.jsonl")) == 3

        line = (
            f"wecal: error: cannot listen on 127.0.0.1:{port}: Address already in use "
            "(another sandbox running? pick another --port)\n"
        )
        taken = wecal("sandbox", "--port", str(port), cwd=tmp_path)
        assert (taken.returncode, taken.stdout, taken.stderr) == (2, "", line)
        # python -m wecal.sandbox: the same demo, defaults and check.
        module = subprocess.run(
            [sys.executable, "-m", "wecal.sandbox", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (module.returncode, module.stdout, module.stderr) == (2, "", line)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_sandbox_fault_spec_is_checked(tmp_path: Path) -> None:
    done = wecal("sandbox", "--faults", "server_error(404)", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "wecal: error: fault 'server_error(404)': Fault.server_error: status must be 5xx, got 404\n"
    )
    faulty = wecal(
        "export", "--sandbox", "--sandbox-size", "3", "--provider", "wecom",
        "--faults", "busy@0.3:wecom.schedule.*", "-o", "a.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert faulty.returncode == 0, faulty.stderr
    assert len(ids(tmp_path / "a.jsonl")) == 9
    retries = int(faulty.stderr.split(" retries")[0].rsplit(" ", 1)[1])
    assert retries > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "-5"], "--size must be within 0..100000, got -5"),
        (["--sources", "1001"], "--sources must be within 0..1000, got 1001"),
        (["--latency", "nan"], "--latency must be within 0..60, got nan"),
        (["--port", "70000"], "--port must be within 0..65535, got 70000"),
    ],
)
def test_python_m_sandbox_refuses_what_wecal_sandbox_refuses(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Out-of-range numbers: one line and exit 2 before any banner, as ``wecal sandbox``."""
    from wecal.sandbox._serve import main

    assert main(args) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"python -m wecal.sandbox: error: {message}\n")
    name = args[0]
    done = wecal("sandbox", *args, cwd=Path.cwd())
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("wecal: error: ")
    assert done.stderr.count("\n") == 1
    assert name in done.stderr


def test_python_m_sandbox_help_shows_the_defaults_of_wecal_sandbox(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wecal.sandbox._serve import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    module_help = " ".join(capsys.readouterr().out.split())
    click_help = " ".join(wecal("sandbox", "--help", cwd=Path.cwd()).stdout.split())
    for option in ("--port", "--host", "--seed", "--sources", "--size"):
        shown = click_help.split(option, 1)[1].split("[default: ", 1)[1]
        default = shown.split(";")[0].split("]")[0]
        assert f"(default: {default})" in module_help, option


def test_a_page_size_over_the_providers_maximum_is_a_usage_error(tmp_path: Path) -> None:
    """Refused before any request with exit 2, not as every source failing (exit 1)."""
    args = ["export", "--sandbox", "--sandbox-size", "2", "-o", "a.jsonl", "--page-size", "500"]
    done = wecal(*args, "--provider", "dingtalk", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("wecal: error: --page-size 500: dingtalk takes at most 100")
    assert done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    assert wecal(*args, "--provider", "wecom", cwd=tmp_path).returncode == 0


def test_errors_inside_exception_groups_are_one_line() -> None:
    """What a task group raises: the WecalError inside decides the line and the code."""
    import anyio

    from wecal import AuthenticationError, ValidationError
    from wecal.cli import _error_line

    cancelled = anyio.run(_cancelled)
    group = BaseExceptionGroup(
        "tasks", [cancelled, ExceptionGroup("inner", [ValidationError("bad checkpoint")])]
    )
    assert _error_line(group) == ("bad checkpoint", 2)
    auth = AuthenticationError("no", provider="wecom", code=40001)
    assert _error_line(ExceptionGroup("tasks", [auth]))[1] == 1


async def _cancelled() -> BaseException:
    import anyio

    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except anyio.get_cancelled_exc_class() as exc:
            return exc
    raise AssertionError("not cancelled")
