"""
The DingTalk (legacy) emulator's demo data (:func:`wecal.sandbox.generate`):
staff members with one calendar folder each, and events that walk through a
fixed coverage list first (every rule shape, all-day, cancelled, other
organizers, other zones; each coverage event gets the recurrence wire form
that matters most for its rule), the rest drawn at random.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .._emulation._data import DESCRIPTIONS, LOCATIONS, NAMES_ZH, SUMMARIES, DemoGen, fmt
from .._emulation._host import EmulatorHost
from ._emulator import CREDENTIALS, PROVIDER, state

__all__ = ["DEMO_STREAM", "LegacyDemo", "demo_data"]

#: The random stream this provider's demo data draws from (shared with others naming it).
DEMO_STREAM = "generate"


# Recurrence wire form (see ``_emulator.render_recurrence``) per coverage kind.
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


class LegacyDemo:
    """One run's legacy DingTalk demo data (the default app registered when there is none)."""

    def __init__(self, host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> None:
        self.host = host
        self.gen = gen
        self.names: dict[str, str] = {}
        if host.first_app(PROVIDER) is None:
            host.add_app(PROVIDER, *CREDENTIALS)

    def sources(self, count: int) -> list[str]:
        """``count`` staff members (``userid``\\ s), each with a calendar folder."""
        found = state(self.host)
        users: list[str] = []
        for u in range(count):
            user_id = str(self.gen.rng.randint(10**8, 10**9 - 1))
            while user_id in found.users:
                user_id = str(int(user_id) + 1)
            name = NAMES_ZH[u % len(NAMES_ZH)] + ("" if u < len(NAMES_ZH) else str(u))
            found.add_user(user_id, name, folder_id=self.ding_id())
            self.names[user_id] = name
            users.append(user_id)
        return users

    def events(self, source: str, count: int) -> list[str]:
        """``count`` events of staff member ``source``; their ids."""
        found = state(self.host)
        name = self.names[source]
        return [
            found.add_event(source, self.ding_event(i, source, name), keep=True)
            for i in range(count)
        ]

    def ding_id(self) -> str:
        return "".join(self.gen.rng.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))

    def ding_event(self, index: int, user_id: str, name: str) -> dict[str, Any]:
        rng = self.gen.rng
        kinds = [
            "single", "all_day", "weekly", "daily_count", "monthly", "yearly_all_day",
            "seed_rule", "cancelled", "weekly_exdate", "new_york", "other_organizer",
            "multi_day", "second_tuesday",
        ]  # fmt: skip
        kind = self.gen.kind(index, kinds, ("single", "single", "single", "all_day", "weekly",
                                         "cancelled", "monthly", "other_organizer"))  # fmt: skip
        zone_name = "America/New_York" if kind == "new_york" else "Asia/Shanghai"
        zone = ZoneInfo(zone_name)
        day = self.gen.anchor.date() + timedelta(days=rng.randint(-60, 120))
        all_day = kind in ("all_day", "yearly_all_day", "multi_day")
        lines: list[str] = []
        if kind == "seed_rule":
            # The seed's own rule: every other January's Sundays, at 08:00 and 09:00.
            year = self.gen.anchor.year
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
        other = rng.randrange(len(NAMES_ZH))
        # A stored event's unique_id is its id (set when it is added); its
        # occurrences get ids of the seed's own shape (see
        # providers/dingtalk_legacy/_emulator.py). The draw that once made a
        # separate one is kept, so the demo data stays as it was.
        self.ding_id()
        item: dict[str, Any] = {
            "id": None,
            "organizer": {
                "self": organizer_self,
                "display_name": name if organizer_self else NAMES_ZH[other],
                "userid": user_id if organizer_self else str(10**8 + other * 7919),
            },
            "summary": rng.choice(SUMMARIES),
            "description": rng.choice(DESCRIPTIONS),
            "location": rng.choice(LOCATIONS),
            "status": "cancelled" if kind == "cancelled" else "confirmed",
            "response_status": "accepted"
            if organizer_self
            else rng.choice(("accepted", "declined", "needsAction")),
            "created": {"date_time": fmt(created), "time_zone": zone_name},
            "updated": {"date_time": fmt(updated), "time_zone": zone_name},
        }
        if all_day:
            span = 2 if kind == "multi_day" else 1
            item["start"] = {"date": day.isoformat()}
            item["end"] = {"date": (day + timedelta(days=span)).isoformat()}
            if index % 2 == 0:
                item["start"]["time_zone"] = item["end"]["time_zone"] = zone_name
        else:
            item["start"] = {"date_time": fmt(start_dt), "time_zone": zone_name}
            item["end"] = {"date_time": fmt(end_dt), "time_zone": zone_name}
        if lines:
            item["recurrence"] = lines
            # Give the coverage events the wire form that matters most for
            # their rule (the comma split hits rules with commas).
            form = _FORMS.get(kind) if index < len(kinds) else None
            if form is not None:
                item["id"] = self._id_with_form(form)
        return item

    def _id_with_form(self, form: int) -> str:
        for _ in range(200):  # bounded: a quarter of all ids match
            candidate = self.ding_id()
            if zlib.crc32(candidate.encode()) % 4 == form:
                return candidate
        return self.ding_id()  # pragma: no cover


def demo_data(host: EmulatorHost, gen: DemoGen, options: Mapping[str, Any]) -> LegacyDemo:
    """This run's legacy demo data generator (see :mod:`wecal.providers._emulation._data`)."""
    return LegacyDemo(host, gen, options)
