"""
The JSONL writer's bytes are exactly ``to_dict`` + ``json.dumps`` (with the
line-breaking characters escaped), computed here independently of it.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import anyio
import attrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.export._jsonl import JsonlWriter
from wecal.sandbox import DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET, Sandbox, generate

from .strategies import events

_LINE_BREAKS = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def expected(event: wecal.Event) -> bytes:
    """The definition: json.dumps of to_dict, separators and surrogates as \\uXXXX."""
    text = json.dumps(wecal.to_dict(event), ensure_ascii=False, separators=(",", ":"))
    text = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.encode("utf-8") + b"\n"


# Text with what JSON escapes and what a JSONL line must not hold raw.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(
            '\u2028\u2029\u0085\ud800\udfff\ud83d\ude00"\\\n\r\t\b\f\x00\x1f\x7f周🎉…“”'
        ),
    ),
    max_size=20,
)


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@given(
    st.lists(events(), min_size=1, max_size=4),
    hostile_text,
    hostile_text,
    st.lists(st.timedeltas(timedelta(days=-400), timedelta(days=400)), max_size=3),
)
def test_jsonl_bytes_equal_the_reference(
    evs: list[wecal.Event], summary: str, name: str, reminders: list[timedelta]
) -> None:
    evs = [
        attrs.evolve(
            evs[0],
            summary=summary,
            location=summary + name,
            reminders=tuple(reminders),
            organizer=wecal.Person(id="o", display_name=name),
            attendees=(*evs[0].attendees, wecal.Attendee(id="a", display_name=name)),
        ),
        *evs[1:],
    ]
    data = JsonlWriter().encode(evs)
    assert data == b"".join(expected(e) for e in evs)
    lines = data.decode("utf-8").split("\n")
    assert len(lines) == len(evs) + 1
    assert lines[-1] == ""
    for line, event in zip(lines, evs, strict=False):
        assert line.splitlines() == [line]
        assert wecal.from_dict(json.loads(line)) == event


def test_jsonl_escapes_each_line_breaking_character() -> None:
    base = wecal.Event(provider="wecom", id="x", start=_day(), end=_day(1))
    for char, escape in (("\u2028", b"\\u2028"), ("\u2029", b"\\u2029"), ("\u0085", b"\\u0085")):
        line = JsonlWriter().encode([attrs.evolve(base, summary=f"a{char}b")])
        assert b'"summary":"a' + escape + b'b"' in line
    line = JsonlWriter().encode([attrs.evolve(base, summary="a\ud800b")])
    assert b'"summary":"a\\ud800b"' in line


def _day(days: int = 0) -> date:
    return date(2024, 6, 3) + timedelta(days=days)


def test_jsonl_bytes_on_the_sandbox_corpus() -> None:
    """Generated WeCom and DingTalk events (Chinese, emoji, 0–300 attendees)."""

    async def collect() -> list[wecal.Event]:
        sandbox = Sandbox(seed=3)
        summary = generate(sandbox, seed=3, wecom_calendars=1, schedules_per_calendar=150,
                           dingtalk_users=1, events_per_user=150, dingtalk_v1_users=0)  # fmt: skip
        client = wecal.WeComClient(
            DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET, base_url="http://sandbox",
            transport=anyio_transport(sandbox), rate_limit=False,
        )  # fmt: skip
        async with client:
            return [e async for e in client.list_events(summary.wecom_calendars[0])]

    evs = anyio.run(collect)
    assert len(evs) == 150
    data = JsonlWriter().encode(evs)
    assert data == b"".join(expected(e) for e in evs)


def anyio_transport(sandbox: Sandbox) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=sandbox.app)
