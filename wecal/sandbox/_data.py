"""
Seeded, realistic data: WeCom calendars and schedules, DingTalk staff and events.

The same ``seed``, sizes and ``anchor`` always give the same data. The first
schedules of every calendar (and events of every user) walk through a fixed
coverage list — every repeat type, custom rules, ``repeat_until``,
exclusions, whole-day, cancelled, a schedule with ``max_attendees``
attendees, other time zones — so even small sizes exercise every shape; the
rest are drawn at random.

Whole-day convention (the WeCom docs leave it open): ``start_time`` is local
00:00 of the first day and ``end_time`` local 00:00 of the day after the last
(exclusive), in the schedule's ``reminders.timezone``.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from ..providers.dingtalk import _emulator as _v1_emulator
from ..providers.dingtalk_legacy import _emulator as _dingtalk_emulator
from ..providers.wecom import _emulator as _wecom_emulator
from ..providers.wecom._emulator_recur import wecom_occurrences

if TYPE_CHECKING:
    from ._core import SandboxCore

__all__ = [
    "DEFAULT_DINGTALK_APP_KEY",
    "DEFAULT_DINGTALK_APP_SECRET",
    "DEFAULT_WECOM_CORP_ID",
    "DEFAULT_WECOM_SECRET",
    "GenerateSummary",
    "generate",
]

#: Credentials of the apps :func:`generate` adds when the sandbox has none.
DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET = _wecom_emulator.CREDENTIALS
DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET = _dingtalk_emulator.CREDENTIALS

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
_NAMES_ZH = [
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
_SUMMARIES = [
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
_DESCRIPTIONS = [
    "",
    "请提前准备材料 📎",
    "会议链接：https://meeting.tencent.com/dm/AbC123xyz",
    "议程：\n1. 回顾上周进展\n2. 本周计划\n3. 风险 ⚠️",
    "Bring your laptop 💻 / 请带电脑",
    "长描述" + "——细节说明" * 40,
]
_LOCATIONS = [
    "",
    "第三会议室",
    "深圳腾讯滨海大厦 3F",
    "线上 Online",
    "北京·望京 SOHO T1 🏢",
    "Room 101",
]
_COLORS = ["#FF3030", "#0000FF", "#1E90FF", "#32CD32", "#FFA500", "#8A2BE2"]


@attrs.frozen
class GenerateSummary:
    """What :func:`generate` created (ids in creation order)."""

    wecom_app_id: str
    wecom_calendars: tuple[str, ...]
    wecom_schedules: tuple[str, ...]
    dingtalk_users: tuple[str, ...]
    dingtalk_events: tuple[str, ...]
    anchor: datetime
    #: DingTalk v1.0 users (unionIds) and the events they organise.
    dingtalk_v1_users: tuple[str, ...] = ()
    dingtalk_v1_events: tuple[str, ...] = ()

    @property
    def sources(self) -> dict[str, tuple[str, ...]]:
        """Export sources per provider registry name: calendars or users."""
        return {
            "wecom": self.wecom_calendars,
            "dingtalk-legacy": self.dingtalk_users,
            "dingtalk": self.dingtalk_v1_users,
        }


def generate(
    sandbox: SandboxCore,
    *,
    seed: int = 0,
    wecom_calendars: int = 2,
    schedules_per_calendar: int = 50,
    dingtalk_users: int = 2,
    events_per_user: int = 50,
    max_attendees: int = 300,
    dingtalk_v1_users: int = 2,
    anchor: datetime | None = None,
    wecom_app_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """
    Fill ``sandbox`` with deterministic data; returns what was created.

    Every calendar and user is created before any event, so their ids depend
    on ``seed`` and on how many there are, not on how many events each holds.
    ``progress(done, total)`` is called after each source's events.

    Events spread from 60 days before ``anchor`` to 120 days after it
    (default: today 00:00 Asia/Shanghai by the sandbox clock). Calendars go to
    ``wecom_app_id`` (default: the first WeCom app; the default credentials
    are registered when there is none)::

        sandbox = Sandbox(seed=1)
        summary = generate(sandbox, schedules_per_calendar=20, events_per_user=20)
        cal_id = summary.wecom_calendars[0]
    """
    with sandbox.lock:
        if wecom_app_id is None:
            wecom_app_id = sandbox.first_app("wecom") or sandbox.add_app(
                "wecom", DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET
            )
        if sandbox.first_app("dingtalk") is None:
            sandbox.add_app("dingtalk", DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET)
        if anchor is None:
            today = datetime.fromtimestamp(sandbox.clock(), SHANGHAI).date()
            anchor = datetime.combine(today, time(0), SHANGHAI)
        gen = _Gen(random.Random(f"generate:{seed}"), anchor, max(0, max_attendees))
        wecom_state = _wecom_emulator.state(sandbox)
        legacy_state = _dingtalk_emulator.state(sandbox)
        wecom_state.users.update(gen.userids)
        # The sources first: their ids must not change with the number of events.
        cal_ids = [
            wecom_state.add_calendar(gen.calendar(c), owner=wecom_app_id, default=(c == 0))
            for c in range(wecom_calendars)
        ]
        users: list[tuple[str, str]] = []
        for u in range(dingtalk_users):
            user_id = str(gen.rng.randint(10**8, 10**9 - 1))
            while user_id in legacy_state.users:
                user_id = str(int(user_id) + 1)
            name = _NAMES_ZH[u % len(_NAMES_ZH)] + ("" if u < len(_NAMES_ZH) else str(u))
            legacy_state.add_user(user_id, name, folder_id=gen.ding_id())
            users.append((user_id, name))
        # v1.0 from its own generator, so the data above stays as it was.
        v1_gen = _Gen(random.Random(f"generate-v1:{seed}"), anchor, max(0, max_attendees))
        v1_users, outsiders = v1_gen.ding_v1_users(sandbox, dingtalk_v1_users)

        total, done = len(cal_ids) + len(users) + len(v1_users), 0

        def one_more() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        sched_ids: list[str] = []
        for cal_id in cal_ids:
            for i in range(schedules_per_calendar):
                # A fresh dict the sandbox may keep: no copy (a third of the time).
                schedule = gen.schedule(i, cal_id)
                sched_ids.append(wecom_state.add_schedule(schedule, keep=True))
            one_more()
        event_ids: list[str] = []
        for user_id, name in users:
            for i in range(events_per_user):
                item = gen.ding_event(i, user_id, name)
                event_ids.append(legacy_state.add_event(user_id, item, keep=True))
            one_more()
        v1_events: list[str] = []
        for organizer in v1_users:
            v1_events += v1_gen.ding_v1_events(sandbox, organizer, events_per_user, outsiders)
            one_more()
        user_ids = [user_id for user_id, _name in users]
        return GenerateSummary(
            wecom_app_id=wecom_app_id,
            wecom_calendars=tuple(cal_ids),
            wecom_schedules=tuple(sched_ids),
            dingtalk_users=tuple(user_ids),
            dingtalk_events=tuple(event_ids),
            anchor=anchor,
            dingtalk_v1_users=tuple(v1_users),
            dingtalk_v1_events=tuple(v1_events),
        )


def generate_sources(
    sandbox: SandboxCore,
    *,
    seed: int,
    sources: int,
    size: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[str, ...]]:
    """
    :func:`generate` with ``sources`` sources of ``size`` events for each
    provider it fills; the source ids per provider registry name.
    """
    summary = generate(
        sandbox,
        seed=seed,
        wecom_calendars=sources,
        schedules_per_calendar=size,
        dingtalk_users=sources,
        dingtalk_v1_users=sources,
        events_per_user=size,
        progress=progress,
    )
    return dict(summary.sources)


def _reminders(**kw: Any) -> dict[str, Any]:
    rem: dict[str, Any] = {
        "is_remind": 0,
        "is_repeat": 0,
        "remind_before_event_secs": 0,
        "remind_time_diffs": [],
        "repeat_type": 0,
        "repeat_until": 0,
        "is_custom_repeat": 0,
        "repeat_interval": 0,
        "repeat_day_of_week": [],
        "repeat_day_of_month": [],
        "timezone": 8,
        "exclude_time_list": [],
    }
    rem.update(kw)
    return rem


# The WeCom coverage list: (kind, repeat_type, custom, until, exclusions, whole_day, tz)
_WECOM_COVERAGE: list[dict[str, Any]] = [
    {"kind": "single"},
    {"kind": "repeat", "repeat_type": 0, "until": 20},
    {"kind": "repeat", "repeat_type": 1, "exclude": True},
    {"kind": "repeat", "repeat_type": 2, "until": 200},
    {"kind": "repeat", "repeat_type": 5, "whole_day": True},
    {"kind": "repeat", "repeat_type": 7, "until": 60, "exclude": True},
    {"kind": "repeat", "repeat_type": 1, "custom": {"interval": 2, "dow": [1, 3]}},
    {"kind": "repeat", "repeat_type": 2, "custom": {"interval": 1, "dom": [10, 21]}},
    {"kind": "repeat", "repeat_type": 0, "custom": {"interval": 3}, "until": 45},
    {"kind": "single", "whole_day": True},
    {"kind": "single", "whole_day": True, "days": 3},
    {"kind": "single", "cancelled": True},
    {"kind": "repeat", "repeat_type": 1, "cancelled": True},
    {"kind": "single", "crowd": True},
    {"kind": "repeat", "repeat_type": 1, "tz": -5, "exclude": True},
    {"kind": "single", "tz": 0},
]


# Recurrence wire form (see ``_dingtalk.render_recurrence``) per coverage kind.
_FORMS = {
    "seed_rule": 3,
    "weekly": 3,
    "daily_count": 2,
    "monthly": 1,
    "yearly_all_day": 0,
    "second_tuesday": 2,
    "weekly_exdate": 1,
    "new_york": 0,
}


# Every v1.0 shape the first events of each user walk through.
_V1_COVERAGE = [
    "single", "all_day", "daily", "weekly", "absoluteMonthly", "relativeMonthly",
    "absoluteYearly", "cancelled", "crowd", "new_york", "multi_day",
    "last_friday", "meeting",
]  # fmt: skip
_V1_RANDOM_KINDS = (
    "single", "single", "single", "all_day", "weekly", "cancelled", "absoluteMonthly", "meeting",
)  # fmt: skip
_V1_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Gen:
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

    # ---------------------------------------------------------------- WeCom

    def calendar(self, index: int) -> dict[str, Any]:
        rng = self.rng
        shares = [
            {"userid": u, "permission": rng.choice((1, 1, 3))}
            for u in rng.sample(self.userids, rng.randint(3, min(40, len(self.userids))))
        ]
        return {
            "cal_id": None,
            "admins": [s["userid"] for s in shares[: rng.randint(0, 3)]],
            "summary": ["研发部日历 📅", "销售团队 Sales", "全员日历", "项目 Apollo 🚀"][index % 4]
            + ("" if index < 4 else f" {index}"),
            "color": _COLORS[index % len(_COLORS)],
            "description": rng.choice(_DESCRIPTIONS[:5]),
            "shares": shares,
            "is_public": int(index % 3 == 1),
            "public_range": {
                "userids": rng.sample(self.userids, 3) if index % 3 == 1 else [],
                "partyids": [1, 2] if index % 3 == 1 else [],
            },
            "is_corp_calendar": int(index % 4 == 2),
        }

    def _attendees(self, crowd: bool) -> list[dict[str, Any]]:
        rng = self.rng
        if crowd:
            n = self.max_attendees
        else:
            roll = rng.random()
            n = 0 if roll < 0.2 else rng.randint(1, 5) if roll < 0.7 else rng.randint(6, 30)
            if roll > 0.97:
                n = rng.randint(100, max(100, self.max_attendees))
        n = min(n, self.max_attendees, len(self.userids))
        return [
            {"userid": u, "response_status": rng.choice((0, 1, 2, 3, 4))}
            for u in rng.sample(self.userids, n)
        ]

    def _remind(self, whole_day: bool) -> dict[str, Any]:
        rng = self.rng
        style = rng.choice(("none", "legacy", "diffs", "diffs"))
        if style == "none":
            return {}
        if whole_day:
            return {"is_remind": 1, "remind_time_diffs": rng.choice(([32400], [-172800, -604800]))}
        if style == "legacy":
            return {"is_remind": 1, "remind_before_event_secs": rng.choice((300, 900, 3600))}
        # remind_time_diffs wins over a stale remind_before_event_secs.
        return {
            "is_remind": 1,
            "remind_before_event_secs": 3600,
            "remind_time_diffs": rng.choice(([-900], [-300, -86400], [0])),
        }

    def schedule(self, index: int, cal_id: str) -> dict[str, Any]:
        rng = self.rng
        if index < len(_WECOM_COVERAGE):
            spec = dict(_WECOM_COVERAGE[index])
        else:
            roll = rng.random()
            spec = (
                {"kind": "single"}
                if roll < 0.45
                else {"kind": "repeat", "repeat_type": rng.choice((0, 1, 1, 2, 5, 7))}
                if roll < 0.7
                else {"kind": "single", "whole_day": True, "days": rng.choice((1, 1, 2))}
                if roll < 0.85
                else {"kind": "single", "cancelled": True}
                if roll < 0.95
                else {"kind": "repeat", "repeat_type": 1, "exclude": True, "until": 90}
            )
            if rng.random() < 0.1:
                spec["tz"] = rng.choice((0, 9, -5, 5))
        tz = timezone(timedelta(hours=spec.get("tz", 8)))
        whole_day = bool(spec.get("whole_day"))
        day = self.anchor.date() + timedelta(days=rng.randint(-60, 120))
        custom = spec.get("custom") or {}
        if spec.get("repeat_type") == 7 or "dow" in custom:
            day -= timedelta(days=day.weekday())  # a Monday: in sync with the rule
        if "dom" in custom:
            day = day.replace(day=custom["dom"][0])
        if whole_day:
            start = datetime.combine(day, time(0), tz)
            end = datetime.combine(day + timedelta(days=spec.get("days", 1)), time(0), tz)
        else:
            start = datetime.combine(day, time(rng.randint(8, 19), rng.choice((0, 15, 30))), tz)
            end = start + timedelta(minutes=rng.choice((15, 30, 60, 90, 120)))
        rem = _reminders(timezone=spec.get("tz", 8), **self._remind(whole_day))
        if spec["kind"] == "repeat":
            rem.update(is_repeat=1, repeat_type=spec["repeat_type"])
            if custom:
                rem.update(
                    is_custom_repeat=1,
                    repeat_interval=custom.get("interval", 1),
                    repeat_day_of_week=list(custom.get("dow", [])),
                    repeat_day_of_month=list(custom.get("dom", [])),
                )
            if "until" in spec:
                rem["repeat_until"] = int((start + timedelta(days=spec["until"])).timestamp())
        attendees = self._attendees(bool(spec.get("crowd")))
        sched: dict[str, Any] = {
            "schedule_id": None,
            "admins": [a["userid"] for a in attendees[: rng.randint(0, min(3, len(attendees)))]],
            "attendees": attendees,
            "summary": rng.choice(_SUMMARIES),
            "description": rng.choice(_DESCRIPTIONS),
            "reminders": rem,
            "location": rng.choice(_LOCATIONS),
            "cal_id": cal_id,
            "start_time": int(start.timestamp()),
            "end_time": int(end.timestamp()),
            "status": 1 if spec.get("cancelled") else 0,
            "is_whole_day": int(whole_day),
        }
        if spec.get("exclude"):
            occurrences = list(wecom_occurrences(sched, limit=5))
            rem["exclude_time_list"] = [{"start_time": t} for t in occurrences[1:5:2]]
        return sched

    # ---------------------------------------------------------------- DingTalk

    def ding_id(self) -> str:
        return "".join(self.rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))

    def ding_event(self, index: int, user_id: str, name: str) -> dict[str, Any]:
        rng = self.rng
        kinds = [
            "single", "all_day", "weekly", "daily_count", "monthly", "yearly_all_day",
            "seed_rule", "cancelled", "weekly_exdate", "new_york", "other_organizer",
            "multi_day", "second_tuesday",
        ]  # fmt: skip
        kind = self._kind(index, kinds, ("single", "single", "single", "all_day", "weekly",
                                         "cancelled", "monthly", "other_organizer"))  # fmt: skip
        zone_name = "America/New_York" if kind == "new_york" else "Asia/Shanghai"
        zone = ZoneInfo(zone_name)
        day = self.anchor.date() + timedelta(days=rng.randint(-60, 120))
        all_day = kind in ("all_day", "yearly_all_day", "multi_day")
        lines: list[str] = []
        if kind == "seed_rule":
            # The seed's own rule: every other January's Sundays, at 08:00 and 09:00.
            year = self.anchor.year
            day = date(year, 1, 1) + timedelta(days=(6 - date(year, 1, 1).weekday()) % 7)
        if kind == "second_tuesday":
            first = day.replace(day=1)
            day = first + timedelta(days=(1 - first.weekday()) % 7 + 7)
        start_dt = datetime.combine(day, time(8 if kind == "seed_rule" else rng.randint(8, 19),
                                              rng.choice((0, 30))), zone)  # fmt: skip
        end_dt = start_dt + timedelta(minutes=rng.choice((30, 60, 90)))
        until = (start_dt + timedelta(days=rng.randint(30, 120))).astimezone(UTC)
        if kind == "weekly":
            days = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
            also = "MO" if days == "FR" else "FR"
            lines = [f"RRULE:FREQ=WEEKLY;BYDAY={days},{also};UNTIL={until:%Y%m%dT%H%M%SZ}"]
        elif kind == "new_york":
            lines = ["RRULE:FREQ=WEEKLY;INTERVAL=1"]
        elif kind == "daily_count":
            lines = ["RRULE:FREQ=DAILY;INTERVAL=2;COUNT=10"]
        elif kind == "monthly":
            lines = [f"RRULE:FREQ=MONTHLY;BYMONTHDAY={day.day}"]
        elif kind == "yearly_all_day":
            lines = ["RRULE:FREQ=YEARLY"]
        elif kind == "seed_rule":
            lines = ["RRULE:FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8,9"]
        elif kind == "second_tuesday":
            lines = ["RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=6"]
        elif kind == "weekly_exdate":
            skipped = (start_dt + timedelta(weeks=1)).astimezone(UTC)
            lines = ["RRULE:FREQ=WEEKLY", f"EXDATE:{skipped:%Y%m%dT%H%M%SZ}"]
        created = start_dt - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 600))
        updated = created + timedelta(hours=rng.randint(0, 48))
        organizer_self = kind != "other_organizer" and rng.random() > 0.2
        other = rng.randrange(len(_NAMES_ZH))
        # A stored event's unique_id is its id (set when it is added); its
        # occurrences get ids of the seed's own shape (see
        # providers/dingtalk_legacy/_emulator.py). The draw that once made a
        # separate one is kept, so the demo data stays as it was.
        self.ding_id()
        item: dict[str, Any] = {
            "id": None,
            "organizer": {
                "self": organizer_self,
                "display_name": name if organizer_self else _NAMES_ZH[other],
                "userid": user_id if organizer_self else str(10**8 + other * 7919),
            },
            "summary": rng.choice(_SUMMARIES),
            "description": rng.choice(_DESCRIPTIONS),
            "location": rng.choice(_LOCATIONS),
            "status": "cancelled" if kind == "cancelled" else "confirmed",
            "response_status": "accepted"
            if organizer_self
            else rng.choice(("accepted", "declined", "needsAction")),
            "created": {"date_time": _fmt(created), "time_zone": zone_name},
            "updated": {"date_time": _fmt(updated), "time_zone": zone_name},
        }
        if all_day:
            span = 2 if kind == "multi_day" else 1
            item["start"] = {"date": day.isoformat()}
            item["end"] = {"date": (day + timedelta(days=span)).isoformat()}
            if index % 2 == 0:
                item["start"]["time_zone"] = item["end"]["time_zone"] = zone_name
        else:
            item["start"] = {"date_time": _fmt(start_dt), "time_zone": zone_name}
            item["end"] = {"date_time": _fmt(end_dt), "time_zone": zone_name}
        if lines:
            item["recurrence"] = lines
            # Give the coverage events the wire form that matters most for
            # their rule (the comma split hits rules with commas).
            form = _FORMS.get(kind) if index < len(kinds) else None
            if form is not None:
                item["id"] = self._id_with_form(form)
        return item

    # ---------------------------------------------------------------- DingTalk v1.0

    def ding_v1_users(
        self, sandbox: SandboxCore, users: int
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """v1.0 users (unionIds, staff userids), and people outside them to invite."""
        state = _v1_emulator.v1(sandbox)
        unions: list[str] = []
        for u in range(users):
            name = _NAMES_ZH[(u + 5) % len(_NAMES_ZH)] + ("" if u < len(_NAMES_ZH) else str(u))
            userid = f"{self.rng.randint(10**14, 10**15 - 1):015d}"
            while state.union_id_of(userid) is not None:
                userid = f"{int(userid) + 1:015d}"
            unions.append(state.add_user(name, userid=userid))
        # People outside the sandbox's users: attendees of the crowded events.
        outsiders = [
            ("iiiP" + "".join(self.rng.choice(string.ascii_letters) for _ in range(20)) + "iEiE",
             _NAMES_ZH[n % len(_NAMES_ZH)] + str(n))
            for n in range(max(self.max_attendees, 10))
        ]  # fmt: skip
        return unions, outsiders

    def ding_v1_events(
        self, sandbox: SandboxCore, organizer: str, per_user: int, outsiders: list[tuple[str, str]]
    ) -> list[str]:
        """The events ``organizer`` organises."""
        add = _v1_emulator.v1(sandbox).add_event
        return [add(organizer, self.ding_v1_event(i, outsiders)) for i in range(per_user)]

    def ding_v1_event(self, index: int, outsiders: list[tuple[str, str]]) -> dict[str, Any]:
        """
        One event body. Attendees are people outside the sandbox's users, so
        each event is in its organizer's calendar only and an export of every
        user lists it once.
        """
        rng = self.rng
        kind = self._kind(index, _V1_COVERAGE, _V1_RANDOM_KINDS)
        zone = "America/New_York" if kind == "new_york" else "Asia/Shanghai"
        day = self.anchor.date() + timedelta(days=rng.randint(-60, 120))
        first = day.replace(day=1)
        if kind == "relativeMonthly":  # the second of its weekday in the month
            day = first + timedelta(days=(day.weekday() - first.weekday()) % 7 + 7)
        if kind == "last_friday":
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            day = last - timedelta(days=(last.weekday() - 4) % 7)
        start = datetime.combine(day, time(rng.randint(8, 19), rng.choice((0, 30))), ZoneInfo(zone))
        end = start + timedelta(minutes=rng.choice((30, 60, 90)))
        body: dict[str, Any] = {
            "summary": rng.choice([s for s in _SUMMARIES if s]),
            "description": rng.choice(_DESCRIPTIONS),
            "location": {"displayName": rng.choice(_LOCATIONS)},
            "start": {"dateTime": start.isoformat(), "timeZone": zone},
            "end": {"dateTime": end.isoformat(), "timeZone": zone},
            "createTime": (start - timedelta(days=rng.randint(1, 30))).isoformat(),
        }
        if kind in ("all_day", "multi_day", "absoluteYearly"):
            span = 3 if kind == "multi_day" else 1
            body["start"] = {"date": day.isoformat()}
            body["end"] = {"date": (day + timedelta(days=span)).isoformat()}
            body["isAllDay"] = True
        weekday = _V1_DAYS[day.weekday()]
        until = (start + timedelta(days=rng.randint(30, 120))).astimezone(UTC)
        patterns: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
            "daily": ({"type": "daily", "interval": 2},
                      {"type": "numbered", "numberOfOccurrences": 10}),
            "weekly": (
                {"type": "weekly", "interval": 1, "daysOfWeek": f"{weekday},friday"
                 if weekday != "friday" else "monday,friday", "firstDayOfWeek": "monday"},
                {"type": "endDate", "endDate": until.strftime("%Y-%m-%dT%H:%M:%SZ")},
            ),
            "absoluteMonthly": ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": day.day},
                                {"type": "noEnd"}),
            "relativeMonthly": (
                {"type": "relativeMonthly", "interval": 1, "index": "second",
                 "daysOfWeek": weekday},
                {"type": "numbered", "numberOfOccurrences": 6},
            ),
            "last_friday": (
                {"type": "relativeMonthly", "interval": 2, "index": "last", "daysOfWeek": "friday"},
                {"type": "noEnd"},
            ),
            "absoluteYearly": ({"type": "absoluteYearly", "interval": 1}, {"type": "noEnd"}),
            "new_york": ({"type": "weekly", "interval": 1, "daysOfWeek": weekday},
                         {"type": "numbered", "numberOfOccurrences": 20}),
        }  # fmt: skip
        if kind in patterns:
            pattern, rng_range = patterns[kind]
            body["recurrence"] = {"pattern": pattern, "range": rng_range}
        crowd = kind == "crowd"
        n = self.max_attendees if crowd else rng.choice((0, 1, 2, 3, 5, 8))
        picked = rng.sample(outsiders, min(n, len(outsiders)))
        attendees = [
            {"id": uid, "displayName": name, "isOptional": rng.random() < 0.1,
             "responseStatus": rng.choice(("needsAction", "accepted", "declined", "tentative"))}
            for uid, name in picked
        ]  # fmt: skip
        body["attendees"] = attendees
        if kind == "meeting" or rng.random() < 0.2:
            body["onlineMeetingInfo"] = {"type": "dingtalk"}
        if kind == "cancelled":
            body["status"] = "cancelled"
        if rng.random() < 0.3:
            body["reminders"] = [{"method": "dingtalk", "minutes": rng.choice((0, 5, 15, 60))}]
        return body

    def _kind(self, index: int, coverage: list[str], random_kinds: tuple[str, ...]) -> str:
        """The coverage list first (every shape even in small data), then random kinds."""
        return coverage[index] if index < len(coverage) else self.rng.choice(random_kinds)

    def _id_with_form(self, form: int) -> str:
        for _ in range(200):  # bounded: a quarter of all ids match
            candidate = self.ding_id()
            if zlib.crc32(candidate.encode()) % 4 == form:
                return candidate
        return self.ding_id()  # pragma: no cover


def _fmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")
