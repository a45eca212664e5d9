"""
The models' constructors are typed: ``mypy --strict`` refuses what they refuse.

``typing_tests/must_fail/`` holds files that must fail to type-check; each
line marked ``# expect: CODE`` must have an error of that code, and no other
line any. ``mypy --strict typing_tests`` (a CI gate) leaves that folder out.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from wecal import models

ROOT = Path(__file__).parents[1]
MUST_FAIL = sorted((ROOT / "typing_tests" / "must_fail").glob("*.py"))
MARK = re.compile(r"#\s*expect:\s*([a-z-]+)")
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def _mypy(*args: str) -> tuple[str, int]:
    from mypy import api

    out, err, status = api.run(
        ["--strict", "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", *args]
    )
    assert err == ""
    return out, status


@pytest.mark.parametrize("path", MUST_FAIL, ids=lambda p: p.name)
def test_must_fail_files_fail_where_marked(path: Path) -> None:
    expected = {
        (n, mark)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for mark in MARK.findall(line)
    }
    assert expected, "a must-fail file marks its errors"
    out, status = _mypy(str(path))
    reported = set()
    for line in out.splitlines():
        match = ERROR.match(line)
        assert match is not None, line  # only errors, each with its code
        reported.add((int(match["line"]), match["code"]))
    assert status == 1
    assert reported == expected


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
def test_the_gate_leaves_the_must_fail_files_out() -> None:
    """``mypy --strict typing_tests``, as CI runs it, passes (pyproject's exclude)."""
    assert MUST_FAIL
    assert _mypy(str(ROOT / "typing_tests")) == ("", 0)


@pytest.mark.parametrize(
    ("names", "enum"),
    [
        (models.ProviderName, models.Provider),
        (models.EventStatusName, models.EventStatus),
        (models.ResponseStatusName, models.ResponseStatus),
        (models.SharePermissionName, models.SharePermission),
    ],
)
def test_the_literal_names_are_the_enum_values(names: object, enum: type[models.Provider]) -> None:
    assert set(typing.get_args(names)) == {member.value for member in enum}
