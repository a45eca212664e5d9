"""iCalendar (RFC 5545) output through the icalendar library."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._zones import zone_for
from ..models import Event, EventStatus, Recurrence, ResponseStatus
from ..recurrence import (
    expand,
    series_fixups_for_ics,
    series_rule_for_ics,
    series_start_off_rule,
)

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

#: The years a VTIMEZONE written covers when its zone's rule for the years
#: to come cannot be said as RRULEs (most can: those have no end).
_ZONE_YEARS = (date(1900, 1, 1), date(2200, 1, 1))
#: RFC 5545 §3.3.11: TEXT holds no CONTROL (%x00-08, %x0A-1F, %x7F); a line
#: break is written as ``\n``, so only the others are dropped.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CUSTOM_TZID_RE = re.compile(r"^UTC[+-]\d{4}(?:\d{2})?$")


def _text(value: str) -> str:
    """
    ``value`` as RFC 5545 TEXT can hold it: CRLF and a lone CR are line
    breaks (written ``\\n``), other control characters are dropped.
    """
    return _CONTROL_RE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _param(value: str) -> str:
    """A parameter value (``CN=…``): TEXT without line breaks or double quotes."""
    return _text(value).replace("\n", " ").replace('"', "'")


@attrs.frozen
class _Zone:
    """How the times of one event are written: in UTC, an IANA zone, or a fixed offset."""

    tzid: str | None  # None: UTC ("Z")
    tz: tzinfo


_UTC_ZONE = _Zone(None, UTC)


def _offset_tzid(offset: timedelta) -> str:
    """``UTC+0545`` for +05:45 (``UTC-033000`` style when seconds are set)."""
    sign = "-" if offset < timedelta(0) else "+"
    total = int(abs(offset).total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"UTC{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")


def _zone_of(tz: tzinfo | None, sample: datetime) -> _Zone:
    """
    The .ics zone for ``tz``: an IANA zone keeps its TZID; a fixed offset
    becomes ``Etc/GMT±N`` when it is whole hours (WeCom's ``+08:00``), else a
    VTIMEZONE of that offset (``UTC+0545``) — writing it in UTC would move a
    rule's BYDAY/BYMONTHDAY to other days. Another tzinfo is written in UTC.
    """
    if isinstance(tz, ZoneInfo):
        return _UTC_ZONE if tz.key in ("UTC", "Etc/UTC") else _Zone(tz.key, tz)
    if isinstance(tz, timezone):
        offset = tz.utcoffset(sample)
        if not offset:
            return _UTC_ZONE
        if not offset % timedelta(hours=1) and -12 <= offset / timedelta(hours=1) <= 14:
            key = f"Etc/GMT{-int(offset / timedelta(hours=1)):+d}"
            return _Zone(key, ZoneInfo(key))
        return _Zone(_offset_tzid(offset), tz)
    return _UTC_ZONE


class IcsWriter:
    """
    One VCALENDAR; a VEVENT per event, built with the ``icalendar`` library.

    What any RFC 5545 reader expands from the file is what :func:`wecal.expand`
    says (``tests/test_ics_props.py`` checks it against recurring-ical-events):

    - times are written in the zone the series follows — ``Event.timezone``
      when set, else the start's — with a ``VTIMEZONE`` (emitted the first
      time a zone is used, covering every year from 1900 on: the zone's
      rule for the years to come as RRULEs; RFC 5545 lets components come
      in any order): an IANA zone keeps its TZID, a whole-hour fixed offset
      becomes ``Etc/GMT±N``, another fixed offset its own ``UTC+0545``
      definition;
    - a start off its rule gets an UNTIL instead of COUNT (see
      :func:`wecal.recurrence.series_rule_for_ics`);
    - EXDATE/RDATE values have the series' value type, converted as
      ``expand`` reads them (a date EXDATE on a timed series removes that
      day's instances);
    - TEXT holds no control characters; CR and CRLF are line breaks;
    - an occurrence (``series_id`` set, as ``--expand`` writes them) is a
      VEVENT of its own, with its own UID and no RECURRENCE-ID: its master is
      not in the file.

    The zones already written are part of the checkpoint state, so a resumed
    export does not repeat them.
    """

    format = "ics"

    def __init__(self, *, now: datetime | None = None) -> None:
        self._zones_written: set[str] = set()
        self._dtstamp = now or datetime.now(UTC)

    def header(self) -> bytes:
        """``BEGIN:VCALENDAR`` and the calendar's properties."""
        return (
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//wecal//wecal export//EN\r\n"
            b"CALSCALE:GREGORIAN\r\n"
        )

    def footer(self) -> bytes:
        """``END:VCALENDAR``."""
        return b"END:VCALENDAR\r\n"

    def state(self) -> dict[str, Any]:
        """The time zones already written, so a resumed export adds each VTIMEZONE once."""
        return {"zones": sorted(self._zones_written)}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the zones a checkpoint says were written."""
        self._zones_written = set(state.get("zones", ()))

    def encode(self, events: Iterable[Event]) -> bytes:
        """A VEVENT per event, after the VTIMEZONE of any zone not written before."""
        chunks: list[bytes] = []
        for event in events:
            component, zones = self._vevent(event)
            for zone in sorted(zones - self._zones_written):
                chunks.append(_vtimezone(zone))
                self._zones_written.add(zone)
            chunks.append(component)
        return b"".join(chunks)

    def _vevent(self, event: Event) -> tuple[bytes, set[str]]:
        import icalendar

        vevent = icalendar.Event()
        zones: set[str] = set()
        series = _series_zone(event)

        def add_time(name: str, value: datetime | date) -> None:
            if not isinstance(value, datetime):
                vevent.add(name, value)
                return
            if series.tzid is None:
                vevent.add(name, value.astimezone(UTC))
                return
            zones.add(series.tzid)
            local = value.astimezone(series.tz)
            if isinstance(series.tz, ZoneInfo):
                vevent.add(name, local)
            else:  # a custom VTIMEZONE: the wall time with its TZID
                vevent.add(name, local.replace(tzinfo=None), parameters={"TZID": series.tzid})

        occurrence = event.series_id is not None and event.recurrence is None
        vevent.add("uid", _text(f"{event.provider.value}:{event.id}"))
        vevent.add("dtstamp", self._dtstamp)
        add_time("dtstart", event.start)
        add_time("dtend", event.end)
        if event.summary:
            vevent.add("summary", _text(event.summary))
        if event.description:
            vevent.add("description", _text(event.description))
        if event.location:
            vevent.add("location", _text(event.location))
        vevent.add("status", _STATUS[event.status])
        if event.recurrence is not None and not occurrence:
            rule, days = _all_day_rule(event, series_rule_for_ics(event))
            if rule is not None:
                vevent.add("rrule", icalendar.vRecur.from_ical(rule))
            # What dateutil-based readers would get wrong in the first week.
            extra, wrong = series_fixups_for_ics(event) if rule is not None else ([], [])
            for exdate in [*_exdates(event, event.recurrence, series), *wrong]:
                add_time("exdate", exdate)
            # A start off its rule is the first instance (RFC 5545), but
            # some readers (ical.js) drop it: an RDATE says it to all.
            first = [event.start] if rule is not None and series_start_off_rule(event) else []
            written: set[datetime | date] = set()
            for rdate in [*first, *_rdates(event, event.recurrence, series), *days, *extra]:
                key = rdate.astimezone(UTC) if isinstance(rdate, datetime) else rdate
                if key not in written:
                    written.add(key)
                    add_time("rdate", rdate)
        if event.organizer is not None:
            organizer = icalendar.vCalAddress(_cal_address(event, event.organizer.id))
            if event.organizer.display_name:
                organizer.params["CN"] = _param(event.organizer.display_name)
            vevent.add("organizer", organizer)
        for attendee in event.attendees:
            address = icalendar.vCalAddress(_cal_address(event, attendee.id))
            address.params["PARTSTAT"] = _PARTSTAT[attendee.response]
            address.params["ROLE"] = "OPT-PARTICIPANT" if attendee.optional else "REQ-PARTICIPANT"
            if attendee.display_name:
                address.params["CN"] = _param(attendee.display_name)
            vevent.add("attendee", address)
        if event.meeting_url:
            vevent.add("url", _CONTROL_RE.sub("", event.meeting_url).replace("\n", ""))
        if event.created is not None:
            vevent.add("created", event.created.astimezone(UTC))
        if event.updated is not None:
            vevent.add("last-modified", event.updated.astimezone(UTC))
        for trigger in event.reminders:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", _text(event.summary) or "Reminder")
            alarm.add("trigger", trigger)
            vevent.add_component(alarm)
        return bytes(vevent.to_ical()), zones


_TIME_PARTS_RE = re.compile(r";?\bBY(?:HOUR|MINUTE|SECOND)=[^;]*")
_SUB_DAILY_RE = re.compile(r"\bFREQ=(?:HOURLY|MINUTELY|SECONDLY)\b")
_FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)


def _all_day_rule(event: Event, rule: str | None) -> tuple[str | None, list[date]]:
    """
    The rule to write for an all-day series, and days to write as RDATEs.

    ``expand`` gives an all-day series one occurrence per day however many
    times of day its rule names (the DingTalk seed's ``BYHOUR=8,9``); a
    reader of a date series would list each day once per time. So: with
    COUNT (it counts times, not days) or a sub-daily FREQ the days are
    written as RDATEs; otherwise BYHOUR/BYMINUTE/BYSECOND are dropped (they
    pick times within a day, not days). An endless sub-daily rule is written
    as it is.
    """
    if rule is None or isinstance(event.start, datetime):
        return rule, []
    sub_daily = bool(_SUB_DAILY_RE.search(rule))
    if not sub_daily and not _TIME_PARTS_RE.search(rule):
        return rule, []
    finite = "COUNT=" in rule or "UNTIL=" in rule
    if "COUNT=" in rule or (sub_daily and finite) or "BYSETPOS=" in rule:
        if not finite:
            return rule, []
        assert event.recurrence is not None
        bare = attrs.evolve(event, recurrence=attrs.evolve(event.recurrence, exdates=(), rdates=()))
        days = [o.start for o in expand(bare, _FAR_PAST, _FAR_FUTURE)]
        return None, [d for d in days if d != event.start and not isinstance(d, datetime)]
    if sub_daily:
        return rule, []
    return _TIME_PARTS_RE.sub("", rule), []


def _series_zone(event: Event) -> _Zone:
    """The zone whose wall clock the event follows (as :func:`wecal.expand` reads it)."""
    sample = event.start if isinstance(event.start, datetime) else _FAR_SAMPLE
    tz: tzinfo | None = zone_for(event.timezone) if event.timezone else None
    if tz is None and isinstance(event.start, datetime):
        tz = event.start.tzinfo
    return _zone_of(tz, sample)


_FAR_SAMPLE = datetime(2000, 1, 1, tzinfo=UTC)


def _day_zone(event: Event) -> tzinfo:
    """The zone an all-day series reads datetime EXDATEs/RDATEs in."""
    return (zone_for(event.timezone) if event.timezone else None) or UTC


def _exdates(event: Event, recurrence: Recurrence, series: _Zone) -> list[datetime | date]:
    """EXDATEs in the series' value type, as ``expand`` reads them."""
    if not isinstance(event.start, datetime):
        zone = _day_zone(event)
        days = {
            d.astimezone(zone).date() if isinstance(d, datetime) else d for d in recurrence.exdates
        }
        return sorted(days)
    out: list[datetime | date] = [d for d in recurrence.exdates if isinstance(d, datetime)]
    days = {d for d in recurrence.exdates if not isinstance(d, datetime)}
    if days:
        # A date EXDATE on a timed series removes that local day's instances:
        # written as those instances, which every reader understands.
        bare = attrs.evolve(event, recurrence=attrs.evolve(recurrence, exdates=()))
        local = series.tz
        for day in sorted(days):
            lo = datetime.combine(day, time(), tzinfo=local)
            for occ in expand(bare, lo - timedelta(days=1), lo + timedelta(days=2)):
                assert isinstance(occ.start, datetime)
                if occ.start.astimezone(local).date() == day:
                    out.append(occ.start)
    return out


def _local_day(value: datetime | date, zone: tzinfo) -> date:
    return value.astimezone(zone).date() if isinstance(value, datetime) else value


def _rdates(event: Event, recurrence: Recurrence, series: _Zone) -> list[datetime | date]:
    """RDATEs in the series' value type, as ``expand`` reads them."""
    if not isinstance(event.start, datetime):
        zone = _day_zone(event)
        return [
            d.astimezone(zone).date() if isinstance(d, datetime) else d for d in recurrence.rdates
        ]
    start = event.start.astimezone(series.tz)
    return [
        d if isinstance(d, datetime) else datetime.combine(d, start.timetz())
        for d in recurrence.rdates
    ]


def _vtimezone(tzid: str) -> bytes:
    """A VTIMEZONE for ``tzid``: zoneinfo's rules, or one fixed offset (``UTC+0545``)."""
    import icalendar

    if _CUSTOM_TZID_RE.match(tzid):
        sign = -1 if tzid[3] == "-" else 1
        digits = tzid[4:]
        offset = sign * timedelta(
            hours=int(digits[:2]), minutes=int(digits[2:4]), seconds=int(digits[4:6] or 0)
        )
        vtz = icalendar.Timezone()
        vtz.add("tzid", tzid)
        standard = icalendar.TimezoneStandard()
        # A VTIMEZONE's DTSTART is local time by definition (RFC 5545 §3.6.5).
        standard.add("dtstart", datetime(1601, 1, 1))  # noqa: DTZ001
        standard.add("tzoffsetfrom", offset)
        standard.add("tzoffsetto", offset)
        standard.add("tzname", tzid)
        vtz.add_component(standard)
        return bytes(vtz.to_ical())
    first, last = _ZONE_YEARS
    tail = _rule_tail(tzid)
    # Explicit transitions up to the year the zone's rule takes over, then
    # that rule as RRULEs: the definition holds for every year to come.
    # A zone whose rule from then on has no daylight saving (``CST-8``) keeps
    # its last state: nothing to list after its explicit transitions either.
    settled = tail is not None or "," not in (_posix_footer(tzid) or ",")
    initial, onsets = _onsets(tzid, first.year, _TAIL_YEAR if settled else last.year)
    vtz = icalendar.Timezone()
    vtz.add("tzid", tzid)
    observances: dict[tuple[timedelta, timedelta, str, bool], list[datetime]] = {}
    # Before the first change: the zone's state then, from the first year on.
    start = datetime(first.year, 1, 1)  # noqa: DTZ001 - local time (RFC 5545 §3.6.5)
    observances[(initial[0], initial[0], initial[1], initial[2])] = [start]
    for instant, before, after, name, dst in onsets:
        # RFC 5545 §3.6.5: an onset is the local time in TZOFFSETFROM (02:00
        # for a spring-forward at 02:00, not the 03:00 the clocks show after).
        local = (instant + before).replace(tzinfo=None)
        observances.setdefault((before, after, name, dst), []).append(local)
    for (before, after, name, dst), starts in observances.items():
        observance = icalendar.TimezoneDaylight() if dst else icalendar.TimezoneStandard()
        observance.add("dtstart", starts[0])
        observance.add("tzoffsetfrom", before)
        observance.add("tzoffsetto", after)
        observance.add("tzname", name)
        for moment in starts[1:]:
            # One value per RDATE line: some readers (ical.js) read only the
            # first value of a list.
            observance.add("rdate", moment)
        vtz.add_component(observance)
    for component in tail or ():
        vtz.add_component(component)
    return bytes(vtz.to_ical())


_State = tuple[timedelta, str, bool]  # UTC offset, name, daylight saving


@functools.lru_cache(maxsize=64)
def _onsets(
    key: str, first_year: int, last_year: int
) -> tuple[_State, tuple[tuple[datetime, timedelta, timedelta, str, bool], ...]]:
    """
    The state of ``key`` at the start of ``first_year``, and every change of
    it until ``last_year``: (instant in UTC, offset before, offset after,
    name after, daylight saving after), read from zoneinfo.

    zoneinfo does not list its transitions, and icalendar's VTIMEZONE builder
    steps through wall-clock time, which puts each spring-forward onset at the
    wall time after it (03:00 where RFC 5545 wants 02:00 in TZOFFSETFROM). So
    the instants are found here in UTC: a day at a time, then to the second.
    """
    zone = ZoneInfo(key)
    # Whole seconds since the epoch throughout (the same instants as aware
    # datetimes, a day being 86,400 of them in UTC): some 110,000 steps for
    # 300 years, each one conversion instead of three datetime operations.
    local_time = datetime.fromtimestamp
    zero = timedelta(0)

    def state(seconds: int) -> _State:
        local = local_time(seconds, zone)
        return (local.utcoffset() or zero, local.tzname() or "", bool(local.dst()))

    moment = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last_year, 1, 1, tzinfo=UTC).timestamp())
    initial = current = state(moment)
    found = []
    while moment < end:
        ahead = min(moment + 86_400, end)
        if state(ahead) == current:
            moment = ahead
            continue
        low, high = moment, ahead
        while high - low > 1:  # state(low) is current, state(high) is not
            middle = (low + high) // 2
            if state(middle) == current:
                low = middle
            else:
                high = middle
        moment = high
        after = state(moment)
        found.append((local_time(moment, UTC), current[0], *after))
        current = after
    return initial, tuple(found)


# The TZif footer (RFC 8536 §3.3): the POSIX TZ rule zoneinfo applies after
# the last explicit transition. Only the common "M" form with times of day
# 0–24 h is turned into RRULEs; other zones keep explicit transitions to 2200.
_POSIX_RE = re.compile(
    r"^(?P<std><[^>]+>|[A-Za-z]{3,})(?P<std_off>[+-]?\d{1,2}(?::\d{2}){0,2})"
    r"(?P<dst><[^>]+>|[A-Za-z]{3,})(?P<dst_off>[+-]?\d{1,2}(?::\d{2}){0,2})?"
    r",M(?P<m1>\d{1,2})\.(?P<w1>[1-5])\.(?P<d1>[0-6])(?:/(?P<t1>\d{1,2}(?::\d{2}){0,2}))?"
    r",M(?P<m2>\d{1,2})\.(?P<w2>[1-5])\.(?P<d2>[0-6])(?:/(?P<t2>\d{1,2}(?::\d{2}){0,2}))?$"
)
#: Explicit transitions end where TZif files usually switch to their footer.
_TAIL_YEAR = 2038
_RRULE_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # POSIX weekday 0 is Sunday


def _posix_footer(key: str) -> str | None:
    """The POSIX TZ rule at the end of ``key``'s TZif file, as zoneinfo reads it."""
    import importlib.resources
    import zoneinfo
    from pathlib import Path

    data: bytes | None = None
    for root in zoneinfo.TZPATH:
        path = Path(root, key)
        if path.is_file():
            data = path.read_bytes()
            break
    if data is None:
        try:
            data = (
                importlib.resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()
            )
        except (ImportError, OSError, ValueError):
            return None
    if not data.startswith(b"TZif") or not data.endswith(b"\n"):
        return None
    try:
        return data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    except UnicodeDecodeError:
        return None


def _hms(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def _rule_tail(key: str) -> list[Any] | None:
    """STANDARD and DAYLIGHT observances with RRULEs for ``key``'s rule from 2038 on."""
    import icalendar

    footer = _posix_footer(key)
    match = _POSIX_RE.match(footer or "")
    if match is None:
        return None
    std = -_hms(match["std_off"])  # POSIX offsets are west-positive
    dst = -_hms(match["dst_off"]) if match["dst_off"] else std + timedelta(hours=1)
    names = (match["std"].strip("<>"), match["dst"].strip("<>"))
    tail = []
    for kind, index, before, after, name in (
        (icalendar.TimezoneDaylight, "1", std, dst, names[1]),
        (icalendar.TimezoneStandard, "2", dst, std, names[0]),
    ):
        month, week, weekday = (int(match[f"{k}{index}"]) for k in "mwd")
        at = _hms(match[f"t{index}"] or "2")
        if not timedelta(0) <= at < timedelta(days=1) or not 1 <= month <= 12:
            return None
        day = _nth_weekday(_TAIL_YEAR, month, week, weekday)
        observance = kind()
        observance.add("dtstart", datetime.combine(day, time()) + at)
        observance.add("tzoffsetfrom", before)
        observance.add("tzoffsetto", after)
        observance.add("tzname", name)
        by_day = f"{week if week < 5 else -1}{_RRULE_DAYS[weekday]}"
        observance.add("rrule", {"freq": "yearly", "bymonth": month, "byday": by_day})
        tail.append(observance)
    return tail


def _nth_weekday(year: int, month: int, week: int, weekday: int) -> date:
    """POSIX ``Mm.w.d``: the ``week``-th (5 = last) ``weekday`` (0 = Sunday) of the month."""
    python_weekday = (weekday - 1) % 7
    first = date(year, month, 1)
    day = first + timedelta(days=(python_weekday - first.weekday()) % 7, weeks=week - 1)
    while day.month != month:  # week 5 past the month's end: the last one
        day -= timedelta(weeks=1)
    return day


def _cal_address(event: Event, user_id: str) -> str:
    # Neither provider gives e-mail addresses; a URN keeps the provider's user
    # id intact and is a valid CAL-ADDRESS (a URI).
    return _param(f"urn:wecal:{event.provider.value}:user:{user_id}")
