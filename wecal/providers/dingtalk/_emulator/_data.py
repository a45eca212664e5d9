"""
The DingTalk v1.0 emulator's demo data (:func:`wecal.sandbox.generate`):
users (unionIds with staff ids) and the events they organise, walking
through every v1.0 shape first (all-day, each pattern type, cancelled, a
crowd, another zone, multi-day, a meeting), the rest drawn at random.
Attendees are people outside the users, so each event is in its organizer's
calendar only and an export of every user lists it once.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..._emulation._data import DESCRIPTIONS, LOCATIONS, NAMES_ZH, SUMMARIES, DemoGen
from ..._emulation._host import EmulatorHost
from ._common import CREDENTIALS
from ._state import v1

__all__ = ["DEMO_STREAM", "V1Demo", "demo_data"]

#: The credential family of the app (legacy and v1.0 share DingTalk's apps).
_FAMILY = "dingtalk"
#: The random stream this provider's demo data draws from (its own).
DEMO_STREAM = "generate-v1"

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


class V1Demo:
    """One run's v1.0 demo data (the default app registered when there is none)."""

    def __init__(self, host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> None:
        self.host = host
        self.gen = gen
        self.outsiders: list[tuple[str, str]] = []
        if host.first_app(_FAMILY) is None:
            host.add_app(_FAMILY, *CREDENTIALS)

    def sources(self, count: int) -> list[str]:
        """``count`` users (unionIds); the people outside them to invite are drawn next."""
        users, self.outsiders = self.ding_v1_users(count)
        return users

    def events(self, source: str, count: int) -> list[str]:
        """``count`` events organised by ``source``; their ids."""
        add = v1(self.host).add_event
        return [add(source, self.ding_v1_event(i, self.outsiders)) for i in range(count)]

    def ding_v1_users(self, users: int) -> tuple[list[str], list[tuple[str, str]]]:
        """v1.0 users (unionIds, staff userids), and people outside them to invite."""
        state = v1(self.host)
        unions: list[str] = []
        for u in range(users):
            name = NAMES_ZH[(u + 5) % len(NAMES_ZH)] + ("" if u < len(NAMES_ZH) else str(u))
            userid = f"{self.gen.rng.randint(10**14, 10**15 - 1):015d}"
            while state.union_id_of(userid) is not None:
                userid = f"{int(userid) + 1:015d}"
            unions.append(state.add_user(name, userid=userid))
        # People outside the sandbox's users: attendees of the crowded events.
        rng = self.gen.rng
        outsiders = [
            ("iiiP" + "".join(rng.choice(string.ascii_letters) for _ in range(20)) + "iEiE",
             NAMES_ZH[n % len(NAMES_ZH)] + str(n))
            for n in range(max(self.gen.max_attendees, 10))
        ]  # fmt: skip
        return unions, outsiders

    def ding_v1_event(self, index: int, outsiders: list[tuple[str, str]]) -> dict[str, Any]:
        """
        One event body. Attendees are people outside the sandbox's users, so
        each event is in its organizer's calendar only and an export of every
        user lists it once.
        """
        rng = self.gen.rng
        kind = self.gen.kind(index, _V1_COVERAGE, _V1_RANDOM_KINDS)
        zone = "America/New_York" if kind == "new_york" else "Asia/Shanghai"
        day = self.gen.anchor.date() + timedelta(days=rng.randint(-60, 120))
        first = day.replace(day=1)
        if kind == "relativeMonthly":  # the second of its weekday in the month
            day = first + timedelta(days=(day.weekday() - first.weekday()) % 7 + 7)
        if kind == "last_friday":
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            day = last - timedelta(days=(last.weekday() - 4) % 7)
        start = datetime.combine(day, time(rng.randint(8, 19), rng.choice((0, 30))), ZoneInfo(zone))
        end = start + timedelta(minutes=rng.choice((30, 60, 90)))
        body: dict[str, Any] = {
            "summary": rng.choice([s for s in SUMMARIES if s]),
            "description": rng.choice(DESCRIPTIONS),
            "location": {"displayName": rng.choice(LOCATIONS)},
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
        n = self.gen.max_attendees if crowd else rng.choice((0, 1, 2, 3, 5, 8))
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


def demo_data(host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> V1Demo:
    """This run's v1.0 demo data generator (see :mod:`wecal.providers._emulation._data`)."""
    return V1Demo(host, gen, options)
