"""
Every ``wecal`` command the README and docs/ show names options that exist.

A newcomer copies these lines into a shell: a flag renamed in the code but not
in the docs fails there first. Each command in a shell block (``sh``, ``bash``,
``text`` with a ``$`` prompt) or in an inline code span is split as a shell
would, its subcommand found in the click tree, and each option checked against
that subcommand's own options. No command is run (most need real credentials).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from wecal.cli import main
from wecal.providers._registry import PROVIDERS

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(?:sh|bash|console|text)\n(.*?)```", re.S)
INLINE = re.compile(r"`(wecal [^`]+)`")
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def commands(text: str) -> list[list[str]]:
    """The ``wecal ...`` command lines of a page, each split into words."""
    found: list[list[str]] = []
    lines: list[str] = []
    for block in SHELL_BLOCK.findall(text):
        lines.extend(block.replace("\\\n", " ").splitlines())
    lines.extend(INLINE.findall(text))
    for line in lines:
        line = line.strip().removeprefix("$ ")
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # prose in a text block, not a command
            continue
        while words and ENV.match(words[0]):
            words.pop(0)
        if words[:1] == ["export"]:  # `export VAR=...` sets the environment
            continue
        if words[:1] == ["wecal"]:
            found.append(words[1:])
    return found


def unknown_options(words: list[str]) -> tuple[str, list[str]]:
    """The subcommand the words name, and the options it does not have."""
    command: click.Command = main
    path = ["wecal"]
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"no command {' '.join([*path, rest[0]])!r}"
        command, path = sub, [*path, rest.pop(0)]
    known = {name for param in command.params for name in getattr(param, "opts", [])}
    known |= {name for param in command.params for name in getattr(param, "secondary_opts", [])}
    known |= {"--help"}
    wrong = [
        word.partition("=")[0]
        for word in rest
        if word.startswith("-") and word != "-" and word.partition("=")[0] not in known
    ]
    return " ".join(path), wrong


ALL = [
    (page.relative_to(ROOT).as_posix(), words)
    for page in PAGES
    for words in commands(page.read_text(encoding="utf-8"))
]


def test_the_docs_show_commands() -> None:
    pages = {page for page, _ in ALL}
    assert {"README.md", "docs/cli.md", "docs/workers.md", "docs/sandbox.md"} <= pages
    shown = {" ".join(words[:1]) for _, words in ALL}
    assert {"export", "events", "sandbox", "worker"} <= shown


@pytest.mark.parametrize(("page", "words"), ALL, ids=[" ".join(w)[:60] for _, w in ALL])
def test_every_option_shown_exists(page: str, words: list[str]) -> None:
    command, wrong = unknown_options(words)
    assert wrong == [], f"{page}: `{command}` has no option {wrong}"


def test_the_check_catches_a_renamed_option() -> None:
    assert unknown_options(["export", "--sources", "users.txt", "-o", "x.jsonl"]) == (
        "wecal export",
        ["--sources"],
    )
    assert unknown_options(["sandbox", "--sources", "3"]) == ("wecal sandbox", [])
    assert unknown_options(["events", "list", "--tz=UTC", "--limit", "3"]) == (
        "wecal events list",
        [],
    )


def test_the_top_level_help_names_every_provider() -> None:
    """``wecal --help`` says which calendars it reads: each registered provider's family."""
    help_text = " ".join((main.help or "").split())
    families = {entry.title.split(" (")[0] for entry in PROVIDERS.values()}
    assert len(families) >= 3
    for family in families:
        assert family in help_text, family
