"""
Property: what an RFC 5545 reader expands from the .ics wecal writes is what
``wecal.expand`` says.

recurring-ical-events (an independent implementation over icalendar) reads
the file; for generated events — rules, IANA zones and fixed offsets that
are not whole hours, ``Event.timezone`` differing from the start's zone,
starts off their rule, all-day series, EXDATEs and RDATEs of either value
type, hostile text — it must give exactly the instants ``wecal.expand``
gives. Start times avoid the hours of DST gaps: there RFC 5545 moves a
nonexistent time forward and wecal does too, but readers differ.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import example, given, settings
from hypothesis import strategies as st

import wecal
from wecal.export import IcsWriter

from .strategies import _offset_tz

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Asia/Kathmandu", "UTC")
OFFSETS = ("+08:00", "+05:30", "+05:45", "-03:30", "+00:00", "-09:00")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WINDOW_DAYS = 400


def _tz(name: str) -> tzinfo:
    return _offset_tz(name) if name[0] in "+-" else ZoneInfo(name)


def _series(event_id: str, start: datetime, rule: str, **fields: Any) -> wecal.Event:
    """A one-hour timed series (explicit examples and unit tests)."""
    return wecal.Event(
        provider=fields.pop("provider", wecal.Provider.WECOM),
        id=event_id,
        start=start,
        end=start + timedelta(hours=1),
        recurrence=wecal.Recurrence(rrule=rule, exdates=fields.pop("exdates", ())),
        **fields,
    )


def _ics(events: list[wecal.Event]) -> tuple[bytes, IcsWriter]:
    writer = IcsWriter(now=datetime(2024, 1, 1, tzinfo=UTC))
    return writer.header() + writer.encode(events) + writer.footer(), writer


# Control characters, CR/CRLF, iCalendar delimiters, Chinese and emoji.
hostile = st.text(
    alphabet=st.sampled_from(list("\x00\x01\x07\x0b\x1b\x7f\r\n\t;,:\\\"' aZ周会📅")),
    max_size=12,
)


@st.composite
def rules(draw: st.DrawFn, *, all_day: bool) -> str:
    freq = draw(st.sampled_from(("DAILY", "WEEKLY", "MONTHLY", "YEARLY")))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 3))}")
    if freq in ("WEEKLY", "MONTHLY") and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    elif freq == "MONTHLY" and draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from((1, 10, 15, 28, -1)))}")
    if all_day and freq in ("DAILY", "WEEKLY") and draw(st.booleans()):
        # Times of day on a date series (the DingTalk seed's BYHOUR=8,9):
        # expand gives one occurrence a day.
        parts.append("BYHOUR=8,20")
    end = draw(st.sampled_from(("none", "count", "until")))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 12))}")
    elif end == "until":
        moment = draw(st.datetimes(datetime(2024, 1, 1), datetime(2025, 6, 1)))
        parts.append(f"UNTIL={moment:%Y%m%d}" if all_day else f"UNTIL={moment:%Y%m%dT%H%M%S}Z")
    if all_day and end != "none" and draw(st.integers(0, 5)) == 0:
        # A sub-daily rule on a date series, ended: one occurrence a day.
        return f"FREQ=HOURLY;INTERVAL={draw(st.integers(5, 30))};" + parts[-1]
    return ";".join(parts)


@st.composite
def events(draw: st.DrawFn) -> wecal.Event:
    all_day = draw(st.booleans())
    zone_name = draw(st.sampled_from(ZONES + OFFSETS))
    zone = _tz(zone_name)
    day = draw(st.dates(date(2024, 1, 1), date(2024, 12, 31)))
    rule = draw(rules(all_day=all_day))
    start: datetime | date
    end: datetime | date
    if all_day:
        start, end = day, day + timedelta(days=draw(st.integers(1, 3)))
        timezone_name: str | None = zone_name
    else:
        # 05:00–22:59 local: clear of every DST gap of these zones.
        local = datetime.combine(
            day, time(draw(st.integers(5, 22)), draw(st.sampled_from((0, 30))))
        )
        start = local.replace(tzinfo=zone)
        end = start + timedelta(minutes=draw(st.sampled_from((30, 60, 90, 24 * 60))))
        timezone_name = zone_name
        if draw(st.booleans()):
            # The event's own zone differs from the zone its start is given in.
            start, end = start.astimezone(UTC), end.astimezone(UTC)
    # EXDATEs and RDATEs of either value type near the start.
    near = st.integers(0, 60).map(lambda k: day + timedelta(days=k))
    exdates: list[datetime | date] = []
    rdates: list[datetime | date] = []
    for target in (exdates, rdates):
        for when in draw(st.lists(near, max_size=2, unique=True)):
            if draw(st.booleans()):
                target.append(when)
            else:
                clock = time(draw(st.integers(5, 22))) if target is rdates else None
                if isinstance(start, datetime) and clock is None:
                    clock = start.astimezone(zone).time().replace(tzinfo=None)
                moment = datetime.combine(when, clock or time(12)).replace(tzinfo=zone)
                target.append(moment)
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id=draw(st.text(alphabet="abc123_-", min_size=1, max_size=6)),
        start=start,
        end=end,
        all_day=all_day,
        timezone=timezone_name,
        summary=draw(hostile),
        description=draw(hostile),
        location=draw(hostile),
        organizer=wecal.Person(id=draw(hostile), display_name=draw(hostile)),
        attendees=(wecal.Attendee(id="a1", display_name=draw(hostile)),),
        recurrence=wecal.Recurrence(rrule=rule, exdates=tuple(exdates), rdates=tuple(rdates)),
    )


def _key(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _their_starts(data: bytes, lo: datetime, hi: datetime) -> list[Any]:
    calendar = icalendar.Calendar.from_ical(data)
    return sorted(
        _key(occ.decoded("DTSTART")) for occ in recurring_ical_events.of(calendar).between(lo, hi)
    )


def _days_inside(starts: list[Any], lo: datetime, hi: datetime) -> list[Any]:
    # recurring-ical-events reads the window as floating for all-day events:
    # compare those away from the window's edges.
    return [
        s
        for s in starts
        if isinstance(s, datetime) or lo.date() + timedelta(days=1) < s < hi.date() - timedelta(1)
    ]


SHANGHAI = ZoneInfo("Asia/Shanghai")


@settings(max_examples=60)
@example(  # +05:45 written as UTC moved Monday 01:30 to Sunday
    _series(
        "np",
        datetime(2024, 6, 3, 1, 30, tzinfo=_tz("+05:45")),
        "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        timezone="+05:45",
    )
)
@example(  # off-rule start with COUNT: RFC counts it, recurring-ical-events does not
    _series("off", datetime(2024, 6, 4, 9, tzinfo=SHANGHAI), "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3")
)
@example(  # Event.timezone differs from the start's zone
    _series(
        "tz",
        datetime(2024, 3, 4, 23, tzinfo=UTC),
        "FREQ=WEEKLY;BYDAY=TU;COUNT=4",
        timezone="Asia/Shanghai",
    )
)
@example(  # a date EXDATE on a timed series, a datetime one on an all-day series
    _series(
        "ex",
        datetime(2024, 6, 3, 9, tzinfo=SHANGHAI),
        "FREQ=DAILY;COUNT=5",
        exdates=(date(2024, 6, 4),),
    )
)
@given(events())
def test_an_rfc5545_reader_of_the_ics_gives_wecal_expand_instants(event: wecal.Event) -> None:
    lo = datetime(2023, 12, 20, tzinfo=UTC)
    hi = lo + timedelta(days=WINDOW_DAYS)
    data, _ = _ics([event])
    ours = sorted(_key(o.start) for o in wecal.expand(event, lo, hi))
    theirs = _their_starts(data, lo, hi)
    assert _days_inside(theirs, lo, hi) == _days_inside(ours, lo, hi)
    # TEXT: no control character but the CRLF line ends; CR and CRLF are line breaks.
    assert not {c for c in data.replace(b"\r\n", b"").decode() if ord(c) < 32 and c != "\t"}
    assert b"\x7f" not in data
    (vevent,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    expected = event.summary.replace("\r\n", "\n").replace("\r", "\n")
    expected = "".join(c for c in expected if c in "\n\t" or not (ord(c) < 32 or ord(c) == 127))
    assert str(vevent.get("SUMMARY", "")) == expected


def _vtimezones(data: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(data)
    return {str(vtz["TZID"]): vtz for vtz in calendar.walk("VTIMEZONE")}


def test_the_embedded_zone_covers_occurrences_after_2038() -> None:
    # An endless New York series: a reader that uses the VTIMEZONE written
    # (not its own zone database) must put the 2039 summer instance at -04:00.
    new_york = ZoneInfo("America/New_York")
    event = _series("ny", datetime(2024, 7, 1, 9, tzinfo=new_york), "FREQ=YEARLY")
    data, _ = _ics([event])
    embedded = _vtimezones(data)["America/New_York"].to_tz()
    for year in (2039, 2060, 2150, 2500):
        summer, winter = datetime(year, 7, 1, 9), datetime(year, 1, 1, 9)
        assert embedded.utcoffset(summer) == timedelta(hours=-4), year
        assert embedded.utcoffset(winter) == timedelta(hours=-5), year


@pytest.mark.parametrize(
    "key",
    [
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "America/St_Johns",
        "America/Santiago",
        "Asia/Shanghai",
    ],
)
def test_the_embedded_zone_agrees_with_zoneinfo_from_1990_on(key: str) -> None:
    zone = ZoneInfo(key)
    event = _series("z", datetime(2024, 7, 1, 9, tzinfo=zone), "FREQ=DAILY")
    embedded = _vtimezones(_ics([event])[0])[key].to_tz()
    moment = datetime(1990, 1, 1, tzinfo=UTC)
    while moment.year < 2300:
        local = moment.astimezone(zone)
        assert local.replace(tzinfo=None).replace(tzinfo=embedded).utcoffset() == local.utcoffset()
        moment += timedelta(days=61, hours=7)


def test_a_fixed_offset_that_is_not_whole_hours_gets_its_own_vtimezone() -> None:
    kathmandu_like = _tz("+05:45")
    event = _series(
        "np",
        datetime(2024, 6, 3, 1, 30, tzinfo=kathmandu_like),
        "FREQ=WEEKLY;BYDAY=MO",
        timezone="+05:45",
    )
    data, writer = _ics([event])
    assert b"DTSTART;TZID=UTC+0545:20240603T013000" in data
    embedded = _vtimezones(data)["UTC+0545"].to_tz()
    assert embedded.utcoffset(datetime(2024, 6, 3)) == timedelta(hours=5, minutes=45)
    assert writer.state() == {"zones": ["UTC+0545"]}


def test_an_expanded_occurrence_is_a_vevent_of_its_own() -> None:
    master = _series(
        "m1",
        datetime(2024, 6, 3, 9, tzinfo=SHANGHAI),
        "FREQ=DAILY;COUNT=3",
        provider=wecal.Provider.DINGTALK,
    )
    occurrences = list(
        wecal.expand(master, datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    )
    data, _ = _ics(occurrences)
    vevents = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert [str(v["UID"]) for v in vevents] == [f"dingtalk:{o.id}" for o in occurrences]
    assert all("RECURRENCE-ID" not in v and "RRULE" not in v for v in vevents)
