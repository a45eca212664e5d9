"""iCalendar (RFC 5545) output through the icalendar library."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..models import Event, EventStatus, ResponseStatus

__all__ = ["IcsWriter"]


_PARTSTAT = {
    ResponseStatus.NEEDS_ACTION: "NEEDS-ACTION",
    ResponseStatus.ACCEPTED: "ACCEPTED",
    ResponseStatus.TENTATIVE: "TENTATIVE",
    ResponseStatus.DECLINED: "DECLINED",
}
_STATUS = {
    EventStatus.CONFIRMED: "CONFIRMED",
    EventStatus.TENTATIVE: "TENTATIVE",
    EventStatus.CANCELLED: "CANCELLED",
}


class IcsWriter:
    """
    One VCALENDAR; a VEVENT per event, built with the ``icalendar`` library.

    Times in an IANA zone keep their ``TZID`` and get a ``VTIMEZONE`` (emitted
    the first time the zone is used — RFC 5545 lets components come in any
    order); fixed offsets (WeCom) become UTC. The zones already written are part
    of the checkpoint state, so a resumed export does not repeat them.
    """

    format = "ics"

    def __init__(self, *, now: datetime | None = None) -> None:
        self._zones_written: set[str] = set()
        self._dtstamp = now or datetime.now(UTC)

    def header(self) -> bytes:
        return (
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//wecal//wecal export//EN\r\n"
            b"CALSCALE:GREGORIAN\r\n"
        )

    def footer(self) -> bytes:
        return b"END:VCALENDAR\r\n"

    def state(self) -> dict[str, Any]:
        return {"zones": sorted(self._zones_written)}

    def restore(self, state: dict[str, Any]) -> None:
        self._zones_written = set(state.get("zones", ()))

    def encode(self, events: Iterable[Event]) -> bytes:
        chunks: list[bytes] = []
        for event in events:
            component, zones = self._vevent(event)
            for zone in sorted(zones - self._zones_written):
                chunks.append(self._vtimezone(zone))
                self._zones_written.add(zone)
            chunks.append(component)
        return b"".join(chunks)

    @staticmethod
    def _vtimezone(zone: str) -> bytes:
        import icalendar

        vtz = icalendar.Timezone.from_tzid(
            zone, first_date=date(1970, 1, 1), last_date=date(2038, 1, 1)
        )
        return bytes(vtz.to_ical())

    def _vevent(self, event: Event) -> tuple[bytes, set[str]]:
        import icalendar

        zones: set[str] = set()

        def moment(value: datetime | date) -> datetime | date:
            if isinstance(value, datetime):
                tz: tzinfo | None = value.tzinfo
                if not isinstance(tz, ZoneInfo):
                    zone = _fixed_offset_zone(value)
                    if zone is None:
                        return value.astimezone(UTC)
                    value, tz = value.astimezone(zone), zone
                if tz.key != "UTC":
                    zones.add(tz.key)
                    return value
                return value.astimezone(UTC)
            return value

        vevent = icalendar.Event()
        vevent.add("uid", f"{event.provider.value}:{event.id}")
        vevent.add("dtstamp", self._dtstamp)
        vevent.add("dtstart", moment(event.start))
        vevent.add("dtend", moment(event.end))
        if event.summary:
            vevent.add("summary", event.summary)
        if event.description:
            vevent.add("description", event.description)
        if event.location:
            vevent.add("location", event.location)
        vevent.add("status", _STATUS[event.status])
        if event.recurrence is not None:
            vevent.add("rrule", icalendar.vRecur.from_ical(event.recurrence.rrule))
            for exdate in event.recurrence.exdates:
                vevent.add("exdate", moment(exdate))
            for rdate in event.recurrence.rdates:
                vevent.add("rdate", moment(rdate))
        if event.recurrence_id is not None:
            vevent.add("recurrence-id", moment(event.recurrence_id))
        if event.organizer is not None:
            organizer = icalendar.vCalAddress(_cal_address(event, event.organizer.id))
            if event.organizer.display_name:
                organizer.params["CN"] = event.organizer.display_name
            vevent.add("organizer", organizer)
        for attendee in event.attendees:
            address = icalendar.vCalAddress(_cal_address(event, attendee.id))
            address.params["PARTSTAT"] = _PARTSTAT[attendee.response]
            address.params["ROLE"] = "OPT-PARTICIPANT" if attendee.optional else "REQ-PARTICIPANT"
            if attendee.display_name:
                address.params["CN"] = attendee.display_name
            vevent.add("attendee", address)
        if event.meeting_url:
            vevent.add("url", event.meeting_url)
        if event.created is not None:
            vevent.add("created", event.created.astimezone(UTC))
        if event.updated is not None:
            vevent.add("last-modified", event.updated.astimezone(UTC))
        for trigger in event.reminders:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", event.summary or "Reminder")
            alarm.add("trigger", trigger)
            vevent.add_component(alarm)
        return bytes(vevent.to_ical()), zones


def _fixed_offset_zone(value: datetime) -> ZoneInfo | None:
    """
    The ``Etc/GMT±N`` zone of a whole-hour fixed offset (WeCom's ``+08:00``).

    Writing such times in UTC would move a repeat rule's BYDAY across
    midnight (Monday 07:00 +08:00 is Sunday in UTC); a zone with the same
    fixed offset keeps the wall clock. POSIX signs are inverted: +08:00 is
    ``Etc/GMT-8``. Other offsets (+05:45) have no such zone: None.
    """
    offset = value.utcoffset()
    if offset is None or not offset or offset % timedelta(hours=1):
        return None
    hours = int(offset / timedelta(hours=1))
    if not -12 <= hours <= 14:
        return None
    return ZoneInfo(f"Etc/GMT{-hours:+d}")


def _cal_address(event: Event, user_id: str) -> str:
    # Neither provider gives e-mail addresses; a URN keeps the provider's user
    # id intact and is a valid CAL-ADDRESS (a URI).
    return f"urn:wecal:{event.provider.value}:user:{user_id}"
