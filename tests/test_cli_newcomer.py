"""
What a newcomer meets first with the distributed commands: a Redis that is
not there, or a URL that is not one, is one line naming it (never its
password) with the exit code of its kind, not an internal error.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests._redis import RedisServer
from wecal import ValidationError, WeComClient
from wecal.providers._registry import PROVIDERS
from wecal.sandbox._demo import DemoSettings, build

from .test_cli import run_wecal
from .test_cli_scenarios import wecal

SECRET = "hunter2-DO-NOT-PRINT"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_job_on_a_redis_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0"
    # A real process, as a user runs it: the Redis client's half-opened pool
    # leaves warnings behind in a process that goes on (this one would).
    done = run_wecal(
        "export", "--provider", "dingtalk", "--app-key", "k", "--app-secret", "s",
        "--user", "u", "--redis", url, "--job", "nightly", "-o", str(tmp_path / "out.jsonl"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wecal: error: Redis unreachable: ")
    assert "internal error" not in done.stderr
    assert SECRET not in done.stderr


def test_worker_checks_its_redis_url_from_the_option_or_the_environment(tmp_path: Path) -> None:
    for args, env in (
        (["worker", "--redis", f"http://u:{SECRET}@host/0"], {}),
        (["worker"], {"WECAL_REDIS_URL": f"redis//:{SECRET}@cache:6379/0"}),  # a typo
    ):
        done = wecal(*args, cwd=tmp_path, env=env)
        assert done.returncode == 2, done.stderr
        assert "is not a redis://, rediss:// or unix:// URL" in done.stderr
        assert SECRET not in done.stderr
        assert "internal error" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"http//me:{SECRET}@127.0.0.1:8765",  # a colon short
        f"http:/me:{SECRET}@127.0.0.1:8765/x",
        f"http:///me:{SECRET}@127.0.0.1:8765",
    ],
)
def test_a_mistyped_base_url_never_echoes_its_password(tmp_path: Path, url: str) -> None:
    done = wecal(
        "export", "--provider", "wecom", "--corp-id", "c", "--corp-secret", "s",
        "--calendar", "c", "--base-url", url, "-o", "a.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("wecal: error: Invalid value for --base-url: ")
    assert "***@127.0.0.1:8765" in done.stderr
    assert SECRET not in done.stderr


def test_a_client_given_a_mistyped_base_url_never_echoes_its_password() -> None:
    with pytest.raises(ValidationError) as caught:
        WeComClient("corp", "newcomer-secret-b71e", base_url=f"http//me:{SECRET}@h:1")
    assert str(caught.value) == "base_url must start with http:// or https://, got '***@h:1'"


@pytest.mark.parametrize("args", [[], ["events"]])
def test_a_group_alone_shows_its_help_not_an_error(tmp_path: Path, args: list[str]) -> None:
    done = wecal(*args, cwd=tmp_path)
    expected = wecal(*args, "--help", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == expected.stdout
    assert done.stdout.startswith(f"Usage: wecal {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "\nCommands:\n" in done.stdout


def test_the_sandbox_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    """As `from wecal import sandbox` meets a venv where only `pip install wecal` ran."""
    hide = "import sys; sys.modules['starlette'] = None\n"  # as if not installed
    done = subprocess.run(
        [sys.executable, "-c", hide + "from wecal import sandbox"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "ImportError: wecal.sandbox needs the 'sandbox' extra: pip install 'wecal[sandbox]'"
    )


def test_events_list_of_an_empty_window_says_so(tmp_path: Path) -> None:
    args = ["events", "list", "--sandbox", "--provider", "wecom", "--sandbox-size", "5"]
    done = wecal(*args, "--start", "2000-01-01", "--end", "2000-01-02", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert "no events in this window (another: --start / --end)" in done.stdout
    shown = wecal(*args, cwd=tmp_path, env={"COLUMNS": "250"})  # the demo's next 30 days
    assert shown.returncode == 0, shown.stderr
    assert "no events in this window" not in shown.stdout


@pytest.mark.parametrize("provider", ["wecom", "dingtalk", "feishu"])
def test_events_list_on_a_narrow_terminal_shows_each_source_whole(
    tmp_path: Path, provider: str
) -> None:
    # At 80 columns the long ids (a Feishu calendar id is 55 characters) are
    # folded onto the row's next lines, never cut: what the source column of
    # a row holds, joined, is one of the demo's sources, as --calendar/--user
    # takes it.
    kind = "user" if provider == "dingtalk" else "calendar"
    demo = build(DemoSettings(size=5), out=None).sources[provider]
    expected = {f"{kind}:{source}" for source in demo}
    done = wecal(
        "events", "list", "--sandbox", "--provider", provider, "--sandbox-size", "5",
        cwd=tmp_path, env={"COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows: list[str] = []
    for line in done.stdout.splitlines():
        cells = line.split("│")
        if len(cells) != 8:  # a border, the title or the header
            continue
        start, source = cells[1].strip(), cells[6].strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", start):
            rows.append(source)
        else:
            rows[-1] += source
    assert rows, done.stdout
    assert max(map(len, done.stdout.splitlines())) <= 80
    assert set(rows) <= expected, set(rows) - expected
    assert "…" not in "".join(rows)


def test_events_list_when_every_source_failed_alike_is_one_line_and_no_table(
    tmp_path: Path,
) -> None:
    done = wecal(
        "events", "list", "--sandbox", "--provider", "wecom", "--sandbox-size", "5",
        "--faults", "error(40058)", cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wecal: error: all 3 sources failed (calendar:")
    assert "wecom error 40058" in lines[0]


#: Every credential variable the command reads, left out of the environment.
CREDENTIAL_ENV = sorted({c.env for e in PROVIDERS.values() for c in (e.app_id, e.secret)})

#: 95 events at 10 a page, plus the app's token: offset paging (WeCom) ends on
#: an empty 11th page; token paging knows the 10th is the last.
OFFLINE_CALLS = {"wecom": 12, "dingtalk-legacy": 11, "dingtalk": 11, "feishu": 11}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_an_offline_dry_run_needs_no_credentials_and_no_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    entry = PROVIDERS[provider]
    # A Redis that does not answer: an offline plan never asks it anything.
    redis = f"redis://127.0.0.1:{closed_port()}/0"
    done = wecal(
        "export", "--dry-run", "--offline", "--json", "--provider", provider,
        f"--{entry.source_kind}", "src-1", "--expect-events", "95", "--page-size", "10",
        "--redis", redis, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    plan = json.loads(done.stdout)
    assert plan["offline"] is True
    assert plan["apis"][provider]["calls"] == OFFLINE_CALLS[provider]
    assert plan["apis"][provider]["events"] == 95
    assert list(tmp_path.iterdir()) == []  # nothing written
    # Online, the plan reads a first page: then the credentials are needed.
    online = wecal(
        "export", "--dry-run", "--provider", provider, f"--{entry.source_kind}", "src-1",
        cwd=tmp_path,
    )  # fmt: skip
    assert online.returncode == 2
    assert f"{entry.title} needs {entry.app_id.option} and {entry.secret.option}" in (online.stderr)


def test_the_offline_dry_run_help_says_it_needs_no_credentials(tmp_path: Path) -> None:
    done = wecal("export", "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # as read, the wrapping undone
    assert "--offline With --dry-run: send no request at all (no credentials, no Redis" in text
    assert "Needs the app id, not the secret (the workers read, with theirs)." in text


def test_a_job_command_needs_the_app_id_but_not_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    redis = f"redis://127.0.0.1:{closed_port()}/0"
    job = ["export", "--provider", "dingtalk", "--user", "u1", "--redis", redis,
           "--job", "nightly", "-o", str(tmp_path / "out.jsonl")]  # fmt: skip
    # Without the app key: refused before any work, saying why it is needed.
    refused = wecal(*job, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "wecal: error: a job on DingTalk (v1.0) needs --app-key (or WECAL_DINGTALK_APP_KEY): "
        "the workers read with that app's credentials"
    ), refused.stderr
    # With the app key and no secret: past the credentials, on to the job's
    # Redis (which does not answer here). A real process: the Redis client's
    # half-opened pool leaves warnings behind in a process that goes on.
    done = run_wecal(*job, "--app-key", "key-1", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("wecal: error: Redis unreachable: "), done.stderr


README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _readme_sandbox_commands() -> list[list[str]]:
    """The shell block after the README's Quick start: its ``wecal`` commands, split."""
    block = next(b for b in re.findall(r"```bash\n(.*?)```", README, re.S) if "--sandbox" in b)
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    assert all(words[0] == "wecal" for words in commands), commands
    return [words[1:] for words in commands]


def test_the_readme_lists_the_older_dingtalk_api_from_the_shell_as_written(
    tmp_path: Path,
) -> None:
    """The README's only runnable line for DingTalk's older API lists the demo's staff ids."""
    (listing,) = [w for w in _readme_sandbox_commands() if w[:2] == ["events", "list"]]
    assert "dingtalk-legacy" in listing
    done = wecal(*listing, cwd=tmp_path, env={"COLUMNS": "250"})
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    staff = build(DemoSettings(), out=None).sources["dingtalk-legacy"]
    shown = set(re.findall(r"user:(\w+)", done.stdout))
    assert shown, done.stdout
    assert shown <= set(staff), (shown, staff)


@pytest.mark.slow  # the 100k export: ~30 s
def test_the_readmes_sandbox_exports_run_as_written_and_count_what_they_say(
    tmp_path: Path,
) -> None:
    exports = [w for w in _readme_sandbox_commands() if w[:1] == ["export"]]
    assert len(exports) == 2, exports
    # "12 demo sources × 8,334: 100,008 events": the arithmetic, then the file.
    claim = re.search(r"(\d+) demo sources × ([\d,]+): ([\d,]+) events", README)
    assert claim is not None
    sources, size, total = (int(g.replace(",", "")) for g in claim.groups())
    assert sources * size == total
    assert sources == sum(map(len, build(DemoSettings(size=0), out=None).sources.values()))
    for words in exports:
        done = wecal(*words, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    big = (tmp_path / "big.jsonl").read_bytes().splitlines()
    assert len(big) == total
    assert (tmp_path / "demo.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")


def test_worker_help_names_the_credential_variables_it_reads(tmp_path: Path) -> None:
    done = wecal("worker", "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for entry in PROVIDERS.values():
        assert f"{entry.app_id.env} and {entry.secret.env}" in text, entry.name


def _worker_first_lines(redis_url: str, env: dict[str, str], cwd: Path) -> list[str]:
    """A real ``wecal worker``'s first two lines on stderr, then it is stopped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wecal.cli", "worker", "--redis", redis_url],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(Path(__file__).parents[1])},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline()]
        # Its own two lines, whatever an interpreter warning may print first.
        while not lines[-1].startswith("wecal worker: waiting") and lines[-1] and len(lines) < 20:
            lines.append(process.stderr.readline())
        lines = [lines[-1], process.stderr.readline()]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    return lines


def test_a_starting_worker_says_which_apps_it_reads_or_that_it_reads_none(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    bare = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_ENV}
    lines = _worker_first_lines(redis_server.url, bare, tmp_path)
    assert lines[0].startswith("wecal worker: waiting for jobs on "), lines
    assert lines[1].startswith(
        "wecal worker: warning: no provider credentials in the environment, so every "
        "unit will fail; set WECAL_WECOM_CORP_ID and WECAL_WECOM_SECRET or "
    ), lines
    ding = {**bare, "WECAL_DINGTALK_APP_KEY": "key-7", "WECAL_DINGTALK_APP_SECRET": SECRET}
    lines = _worker_first_lines(redis_server.url, ding, tmp_path)
    assert lines[1] == (
        "wecal worker: reads DingTalk (legacy topapi) and DingTalk (v1.0) as app key-7\n"
    )
    assert SECRET not in "".join(lines)


def test_a_partly_failed_export_without_a_checkpoint_says_its_rerun_reads_everything(
    tmp_path: Path,
) -> None:
    """DingTalk v1.0's three demo users fail (502s past the retries); the other nine do not."""
    done = wecal(
        "export", "--sandbox", "--sandbox-size", "5", "-q", "-o", "out.jsonl",
        "--faults", "server_error(502):dingtalk.v1.*", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"wecal: exported {9 * 5} events ({9 * 5} this run) from 9 of 12 ")
    assert lines[-1] == (
        "wecal: rerun to retry them; this run had no --checkpoint, so a rerun reads every "
        "source again (with --checkpoint PATH, a rerun retries only what failed)"
    )


@pytest.mark.parametrize("command", [["export"], ["events", "list"], ["sandbox"], ["worker"]])
def test_debug_is_the_last_option_of_every_command_s_help(
    tmp_path: Path, command: list[str]
) -> None:
    """Not between --faults and --start, where the shared options used to leave it."""
    done = wecal(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0
    options = re.findall(r"^  (?:-\w, )?(--[\w-]+)", done.stdout, re.M)
    assert options[-2:] == ["--debug", "--help"], options


def _sandbox_commands() -> list[tuple[str, list[str]]]:
    """Every ``wecal ... --sandbox`` command of a shell block in the README and docs/."""
    from .test_docs_commands import PAGES, ROOT, SHELL_BLOCK

    found = []
    for page in PAGES:
        for block in SHELL_BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                if not line.startswith(("wecal ", "$ wecal ")):
                    continue  # prose of a text block, an environment line
                words = shlex.split(line.removeprefix("$ "), comments=True)
                if "--sandbox" in words:
                    found.append((page.relative_to(ROOT).as_posix(), words[1:]))
    return found


#: The README's exports run in the test that counts what they write (above).
OTHER_SANDBOX_COMMANDS = [
    (page, words)
    for page, words in _sandbox_commands()
    if not (page == "README.md" and words[0] == "export")
]


@pytest.mark.slow  # demo.ics: seconds
@pytest.mark.parametrize(("page", "words"), OTHER_SANDBOX_COMMANDS, ids=lambda v: str(v)[:50])
def test_every_sandbox_command_shown_runs_as_written(
    tmp_path: Path, page: str, words: list[str]
) -> None:
    done = wecal(*words, cwd=tmp_path, env={"COLUMNS": "200"})
    assert done.returncode == 0, f"{page}: wecal {' '.join(words)}: {done.stderr}"
    assert "error" not in done.stderr, done.stderr


def test_the_docs_show_sandbox_commands_of_each_kind() -> None:
    shown = {(page, words[0]) for page, words in _sandbox_commands()}
    assert {("README.md", "export"), ("README.md", "events"), ("docs/cli.md", "export")} <= shown
