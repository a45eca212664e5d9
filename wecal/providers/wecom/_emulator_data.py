"""
The WeCom emulator's demo data (:func:`wecal.sandbox.generate`): calendars
shared with the corp's users, and schedules that walk through a fixed
coverage list first — every repeat type, custom rules, ``repeat_until``,
exclusions, whole-day, cancelled, a schedule with ``max_attendees``
attendees, other time zones — so even small sizes exercise every shape; the
rest are drawn at random.

Whole-day convention (the WeCom docs leave it open): ``start_time`` is local
00:00 of the first day and ``end_time`` local 00:00 of the day after the last
(exclusive), in the schedule's ``reminders.timezone``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta, timezone
from typing import Any

from .._emulation._data import COLORS, DESCRIPTIONS, LOCATIONS, SUMMARIES, DemoGen
from .._emulation._host import EmulatorHost
from ._emulator import CREDENTIALS, NAME, state
from ._emulator_recur import wecom_occurrences

__all__ = ["DEMO_STREAM", "WeComDemo", "demo_data"]

#: The random stream this provider's demo data draws from (shared with others naming it).
DEMO_STREAM = "generate"


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


class WeComDemo:
    """
    One run's WeCom demo data: calendars of the app ``options["app_id"]``
    (default: the first WeCom app; the default credentials are registered
    when there is none), each with its schedules.
    """

    def __init__(self, host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> None:
        self.host = host
        self.gen = gen
        self.app_id: str = (
            options.get("app_id") or host.first_app(NAME) or host.add_app(NAME, *CREDENTIALS)
        )

    def sources(self, count: int) -> list[str]:
        """``count`` calendars (the first is the app's default); their ``cal_id``\\ s."""
        found = state(self.host)
        found.users.update(self.gen.userids)
        return [
            found.add_calendar(self.calendar(c), owner=self.app_id, default=(c == 0))
            for c in range(count)
        ]

    def events(self, source: str, count: int) -> list[str]:
        """``count`` schedules in calendar ``source``; their ``schedule_id``\\ s."""
        found = state(self.host)
        # A fresh dict the emulator may keep: no copy.
        return [found.add_schedule(self.schedule(i, source), keep=True) for i in range(count)]

    def calendar(self, index: int) -> dict[str, Any]:
        rng = self.gen.rng
        shares = [
            {"userid": u, "permission": rng.choice((1, 1, 3))}
            for u in rng.sample(self.gen.userids, rng.randint(3, min(40, len(self.gen.userids))))
        ]
        return {
            "cal_id": None,
            "admins": [s["userid"] for s in shares[: rng.randint(0, 3)]],
            "summary": ["研发部日历 📅", "销售团队 Sales", "全员日历", "项目 Apollo 🚀"][index % 4]
            + ("" if index < 4 else f" {index}"),
            "color": COLORS[index % len(COLORS)],
            "description": rng.choice(DESCRIPTIONS[:5]),
            "shares": shares,
            "is_public": int(index % 3 == 1),
            "public_range": {
                "userids": rng.sample(self.gen.userids, 3) if index % 3 == 1 else [],
                "partyids": [1, 2] if index % 3 == 1 else [],
            },
            "is_corp_calendar": int(index % 4 == 2),
        }

    def _attendees(self, crowd: bool) -> list[dict[str, Any]]:
        rng = self.gen.rng
        if crowd:
            n = self.gen.max_attendees
        else:
            roll = rng.random()
            n = 0 if roll < 0.2 else rng.randint(1, 5) if roll < 0.7 else rng.randint(6, 30)
            if roll > 0.97:
                n = rng.randint(100, max(100, self.gen.max_attendees))
        n = min(n, self.gen.max_attendees, len(self.gen.userids))
        return [
            {"userid": u, "response_status": rng.choice((0, 1, 2, 3, 4))}
            for u in rng.sample(self.gen.userids, n)
        ]

    def _remind(self, whole_day: bool) -> dict[str, Any]:
        rng = self.gen.rng
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
        rng = self.gen.rng
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
        day = self.gen.anchor.date() + timedelta(days=rng.randint(-60, 120))
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
            "summary": rng.choice(SUMMARIES),
            "description": rng.choice(DESCRIPTIONS),
            "reminders": rem,
            "location": rng.choice(LOCATIONS),
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


def demo_data(host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> WeComDemo:
    """This run's WeCom demo data generator (see :mod:`wecal.providers._emulation._data`)."""
    return WeComDemo(host, gen, options)
