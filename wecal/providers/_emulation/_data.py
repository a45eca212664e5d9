"""
What every emulator's demo data draws on (provider-free): the seeded
generator (:class:`DemoGen`), the shared vocabulary (names, titles, places
in Chinese and English, emoji), and :class:`DemoData`, what a provider
folder's generator does for :func:`wecal.sandbox.generate`.

An emulator module offers its generator as ``demo_data(host, gen, options)``
with ``DEMO_STREAM``, the name of the random stream it draws from: providers
naming one stream share one :class:`DemoGen`, drawn from in registry order —
every source of every provider first, then each source's events — so the
same seed and sizes always give the same data.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ._host import EmulatorHost

__all__ = [
    "COLORS",
    "DESCRIPTIONS",
    "LOCATIONS",
    "NAMES_ZH",
    "SHANGHAI",
    "SUMMARIES",
    "DemoData",
    "DemoFactory",
    "DemoGen",
    "fmt",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

_SURNAMES = [
    "zhang",
    "li",
    "wang",
    "zhao",
    "chen",
    "liu",
    "yang",
    "huang",
    "zhou",
    "wu",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "lin",
]
_GIVEN = [
    "wei",
    "fang",
    "na",
    "min",
    "jing",
    "lei",
    "qiang",
    "jun",
    "yang",
    "yan",
    "hao",
    "xin",
    "ting",
    "bo",
    "chao",
    "lan",
]
NAMES_ZH = [
    "张伟",
    "王芳",
    "李娜",
    "刘敏",
    "陈静",
    "杨磊",
    "赵强",
    "黄军",
    "周洋",
    "吴艳",
    "徐浩",
    "孙欣",
    "马婷",
    "朱波",
    "胡超",
    "郭兰",
]
SUMMARIES = [
    "周会 weekly sync",
    "项目评审 🚀",
    "客户拜访：华为",
    "1:1 张伟 / 王芳",
    "产品发布会 🎉🎉",
    "季度 OKR 复盘",
    "团建 🍲 火锅",
    "面试 - 前端工程师",
    "Daily standup 站会",
    "预算审批",
    "技术分享：Rust 异步运行时",
    "设计评审 ✏️",
    "出差 ✈️ 上海→深圳",
    "",
    "年会彩排 🎤",
    "Sprint planning",
]
DESCRIPTIONS = [
    "",
    "请提前准备材料 📎",
    "会议链接：https://meeting.tencent.com/dm/AbC123xyz",
    "议程：\n1. 回顾上周进展\n2. 本周计划\n3. 风险 ⚠️",
    "Bring your laptop 💻 / 请带电脑",
    "长描述" + "——细节说明" * 40,
]
LOCATIONS = [
    "",
    "第三会议室",
    "深圳腾讯滨海大厦 3F",
    "线上 Online",
    "北京·望京 SOHO T1 🏢",
    "Room 101",
]
COLORS = ["#FF3030", "#0000FF", "#1E90FF", "#32CD32", "#FFA500", "#8A2BE2"]


class DemoGen:
    """
    One random stream of demo data: its generator, the anchor events spread
    around, the attendee cap and a pool of user ids to invite.
    """

    def __init__(self, rng: random.Random, anchor: datetime, max_attendees: int) -> None:
        self.rng = rng
        self.anchor = anchor
        self.max_attendees = max_attendees
        pool = max(max_attendees, 30)
        self.userids = [
            f"{_SURNAMES[n % len(_SURNAMES)]}{_GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)]}"
            + (
                f"{n // (len(_SURNAMES) * len(_GIVEN))}"
                if n >= len(_SURNAMES) * len(_GIVEN)
                else ""
            )
            for n in range(pool)
        ]

    def kind(self, index: int, coverage: list[str], random_kinds: tuple[str, ...]) -> str:
        """The coverage list first (every shape even in small data), then random kinds."""
        return coverage[index] if index < len(coverage) else self.rng.choice(random_kinds)


class DemoData(Protocol):
    """One provider's demo data for one run: its sources first, then their events."""

    def sources(self, count: int, /) -> list[str]:
        """Create ``count`` sources (calendars or users); their ids."""
        ...

    def events(self, source: str, count: int, /) -> list[str]:
        """Create ``count`` events in ``source``; their ids."""
        ...


class DemoFactory(Protocol):
    """An emulator module's ``demo_data``: its generator for one run."""

    def __call__(
        self, host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any], /
    ) -> DemoData: ...


def fmt(dt: datetime) -> str:
    """``2026-01-02T09:00:00+0800``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")
