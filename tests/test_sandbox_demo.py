"""
The demo at scale: ids that do not move with its size, a banner a chat-bot
example can use as printed, progress while a large demo is built, and pages
whose cost does not grow with the store (counted, not timed: each page copies
only the events it serves).
"""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest

import wecal
from wecal.providers._emulation import _json
from wecal.providers._registry import PROVIDERS
from wecal.providers.dingtalk._emulator import _recurrence as v1_recurrence
from wecal.providers.dingtalk._emulator import _state as v1_state
from wecal.providers.dingtalk_legacy import _emulator as legacy_emulator
from wecal.providers.wecom import _emulator as wecom_emulator
from wecal.sandbox import (
    DEFAULT_DINGTALK_APP_KEY,
    DEFAULT_DINGTALK_APP_SECRET,
    DEFAULT_WECOM_CORP_ID,
    DEFAULT_WECOM_SECRET,
    Sandbox,
    _demo,
    generate,
)
from wecal.sandbox._demo import DemoSettings, banner, build


def test_the_demo_s_sources_do_not_change_with_its_size() -> None:
    small, large = build(DemoSettings(size=2)), build(DemoSettings(size=60))
    assert small.sources == large.sources
    assert all(len(ids) == 3 for ids in small.sources.values())
    assert set(small.sources) == set(PROVIDERS)


@pytest.mark.anyio
async def test_the_banner_s_staff_ids_resolve_to_its_union_ids() -> None:
    demo = build(DemoSettings(size=2, sources=3))
    text = banner("http://sandbox", demo)
    pairs = re.findall(r"^    (\d+) → (\S+)$", text, re.M)
    assert [union for _staff, union in pairs] == list(demo.sources["dingtalk"])
    async with wecal.DingTalkClient(
        DEFAULT_DINGTALK_APP_KEY,
        DEFAULT_DINGTALK_APP_SECRET,
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=demo.sandbox.app),
        token_store=wecal.MemoryTokenStore(),
    ) as ding:
        for staff, union in pairs:
            assert await ding.resolve_union_id(staff) == union


def test_a_large_demo_says_how_far_it_got(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    build(DemoSettings(size=2, sources=2), out=out)
    assert out.getvalue() == ""  # a small demo is quick: nothing to say
    monkeypatch.setattr(_demo, "LARGE_DEMO", 10)
    build(DemoSettings(size=2, sources=2), out=out)
    providers = len(PROVIDERS)  # 2 sources of 2 events each
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"wecal: building the sandbox's demo data ({4 * providers} events): "
        f"1 of {2 * providers} sources"
    )
    assert lines[-1].endswith(f": {2 * providers} of {2 * providers} sources")
    assert len(lines) <= 2 * providers


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every stored object an emulator copies to serve it."""
    copied: list[Any] = []

    def counting(data: Any) -> Any:
        copied.append(data)
        return _json.json_copy(data)

    for module in (wecom_emulator, legacy_emulator, v1_state, v1_recurrence):
        monkeypatch.setattr(module, "json_copy", counting)
    return copied


@pytest.mark.anyio
async def test_each_page_copies_only_the_events_it_serves(copies: list[Any]) -> None:
    sandbox = Sandbox(seed=3)
    summary = generate(
        sandbox,
        seed=3,
        wecom_calendars=1,
        schedules_per_calendar=400,
        dingtalk_users=1,
        events_per_user=400,
        dingtalk_v1_users=1,
        max_attendees=5,
    )
    settings: dict[str, Any] = {
        "base_url": "http://sandbox",
        "transport": httpx.ASGITransport(app=sandbox.app),
        "token_store": wecal.MemoryTokenStore(),
    }
    wecom = wecal.WeComClient(DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET, **settings)
    legacy = wecal.DingTalkLegacyClient(
        DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET, **settings
    )
    v1 = wecal.DingTalkClient(DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET, **settings)
    async with wecom, legacy, v1:
        for listing in (
            wecom.list_events(summary.wecom_calendars[0], page_size=50),
            legacy.list_events(user_id=summary.dingtalk_users[0], page_size=50),
            v1.list_events(user_id=summary.dingtalk_v1_users[0], page_size=50),
        ):
            copies.clear()
            served = 0
            async for page in listing.by_page():
                served += len(page.items)
            assert served >= 400
            # One copy per event served, whatever the number of pages: no
            # page copies (or renders) the rest of the store.
            assert len(copies) == served
