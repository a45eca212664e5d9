"""
Third-party iCalendar test suites, replayed against wecal.

The cases live as data in ``tests/data/ical/`` (``SOURCES.md`` says where each
file was transcribed from); the expected instants are the suites' own, not
wecal's. For every case:

1. ``wecal.expand`` of the event gives exactly the suite's instants;
2. the .ics ``IcsWriter`` writes for the event, read back by
   recurring-ical-events (an independent RFC 5545 reader), gives them too.

Where a suite departs from RFC 5545 / DESIGN.md the data says so and the
test applies the RFC: python-dateutil leaves a DTSTART that its rule does
not match out of the set, RFC 5545 §3.8.5.3 (and DESIGN.md "Occurrences and
identity") makes it the first instance, counted toward COUNT.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

import wecal
from wecal.export import IcsWriter
from wecal.recurrence import parse_rrule

from .test_recurrence_rfc import CASES as RFC_CASES
from .test_recurrence_rfc import rfc_event

DATA = Path(__file__).parent / "data" / "ical"
#: Far enough for every finite case (dateutil's INTERVAL=100 reaches 2197).
FAR = datetime(2400, 1, 1, tzinfo=UTC)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def _moment(text: str, zone: tzinfo) -> datetime | date:
    """``YYYYMMDD`` → date; ``YYYYMMDDTHHMMSS`` (``Z``: UTC) → aware datetime."""
    if "T" not in text:
        return datetime.strptime(text, "%Y%m%d").date()
    if text.endswith("Z"):
        return datetime.strptime(text[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=zone)


def _key(value: datetime | date) -> datetime | date:
    """Instants compare in UTC; all-day occurrences by their date."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _wecal_starts(event: wecal.Event, lo: datetime, hi: datetime) -> list[datetime | date]:
    return [_key(occ.start) for occ in wecal.expand(event, lo, hi)]


@functools.cache
def _vtimezone(tzid: str) -> bytes:
    writer = IcsWriter(now=datetime(2024, 1, 1, tzinfo=UTC))
    probe = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="zone",
        start=datetime(2024, 1, 1, tzinfo=ZoneInfo(tzid)),
        end=datetime(2024, 1, 1, 1, tzinfo=ZoneInfo(tzid)),
    )
    data = writer.encode([probe])
    return data[: data.index(b"BEGIN:VEVENT")]


def _reader_starts(event: wecal.Event, lo: datetime, hi: datetime) -> list[datetime | date]:
    """What recurring-ical-events expands from the .ics wecal writes for ``event``."""
    writer = IcsWriter(now=datetime(2024, 1, 1, tzinfo=UTC))
    zone = event.timezone or (event.start.tzinfo if isinstance(event.start, datetime) else None)
    key = getattr(zone, "key", zone)
    zones = b""
    if isinstance(key, str) and key not in ("UTC", "Etc/UTC"):
        # The writer's VTIMEZONE for this zone, built once for the module
        # (it takes a tenth of a second): the file is the one a fresh writer
        # writes, with the definition first.
        zones = _vtimezone(key)
        writer.restore({"zones": [key]})
    data = writer.header() + zones + writer.encode([event]) + writer.footer()
    calendar = icalendar.Calendar.from_ical(data)
    if event.all_day:
        # recurring-ical-events reads a window of datetimes as floating for
        # all-day events: give it the days.
        found = recurring_ical_events.of(calendar).between(lo.date(), hi.date())
    else:
        found = recurring_ical_events.of(calendar).between(lo, hi)
    return sorted(_key(occ.decoded("DTSTART")) for occ in found)  # type: ignore[type-var]


def _event(
    case_id: str,
    start: datetime | date,
    rrule: str,
    *,
    zone: str | None,
    exdates: list[datetime | date] | None = None,
    rdates: list[datetime | date] | None = None,
    duration: timedelta = timedelta(hours=1),
) -> wecal.Event:
    end = start + (duration if isinstance(start, datetime) else timedelta(days=1))
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id=case_id,
        start=start,
        end=end,
        timezone=zone,
        recurrence=wecal.Recurrence(rrule=rrule, exdates=exdates or (), rdates=rdates or ()),
    )


def _check(event: wecal.Event, expected: list[datetime | date], lo: datetime, hi: datetime) -> None:
    want = [_key(e) for e in expected]
    assert _wecal_starts(event, lo, hi) == want, "wecal.expand"
    assert _reader_starts(event, lo, hi) == want, "recurring-ical-events over IcsWriter's .ics"


# --------------------------------------------------------------------------
# RRULE test vectors: python-dateutil's rrule tests, libical's icalrecur_test
# --------------------------------------------------------------------------

DATEUTIL = _load("dateutil_rrule.json")
LIBICAL = _load("libical_icalrecur.json")
RRULE_JS = _load("rrule_js.json")


def _rfc_set(
    dtstart: datetime | date, rule: str, suite: list[datetime | date]
) -> list[datetime | date]:
    """
    The suite's list with RFC 5545's DTSTART rule applied: an off-rule DTSTART
    (absent from a list that only has later instants) is the first instance
    and takes one of COUNT's places.
    """
    if dtstart in suite or (suite and suite[0] < dtstart):  # type: ignore[operator]
        return suite
    parts = dict(p.split("=", 1) for p in rule.upper().rstrip(";").split(";"))
    kept = suite[: int(parts["COUNT"]) - 1] if "COUNT" in parts else suite
    return [dtstart, *kept]


def _vector_params(suite: dict[str, Any]) -> list[Any]:
    params = []
    for case in suite["cases"]:
        # Floating times, read in two zones without DST: instants shift, the
        # wall clock (what the rule is about) does not. UTC times and dates
        # are read once...
        floating = case["dtstart"][-1] != "Z" and "T" in case["dtstart"]
        # ... unless a UTC UNTIL pins the end to an instant.
        floating = floating and not re.search(r"UNTIL=\d{8}T\d{6}Z", case["rrule"].upper())
        for zone in ("UTC", "Asia/Shanghai") if floating else ("UTC",):
            params.append(pytest.param(suite, case, zone, id=f"{case['name'][:60]}-{zone}"))
    return params


@pytest.mark.parametrize(
    ("suite", "case", "zone"),
    _vector_params(DATEUTIL) + _vector_params(LIBICAL) + _vector_params(RRULE_JS),
)
def test_rrule_vectors(suite: dict[str, Any], case: dict[str, Any], zone: str) -> None:
    tz = ZoneInfo(zone)
    dtstart = _moment(case["dtstart"], tz)
    # A documented disagreement (the data says why) replaces the suite's list.
    written = case.get("divergence", {}).get("expected", case["expected"])
    expected = [_moment(t, tz) for t in written]
    exdates = [_moment(t, tz) for t in case.get("exdates", ())]
    rdates = [_moment(t, tz) for t in case.get("rdates", ())]
    lo = dtstart if isinstance(dtstart, datetime) else datetime.combine(dtstart, time(), UTC)
    duration = timedelta(hours=1)
    if "start_at" in case:
        # Instances from START-AT on: zero-length, so none before it overlaps.
        start_at = _moment(case["start_at"], tz)
        assert isinstance(start_at, datetime)
        lo, duration = start_at, timedelta(0)
        expected = [e for e in expected if _key(e) >= start_at]  # type: ignore[operator]
    elif suite["suite_omits_off_rule_dtstart"] and not exdates and not rdates:
        expected = _rfc_set(dtstart, case["rrule"], expected)
    event = _event(
        case["name"],
        dtstart,
        case["rrule"],
        zone=zone,
        exdates=exdates,
        rdates=rdates,
        duration=duration,
    )
    hi = max(FAR, lo + timedelta(days=400))
    if not re.search(r"(?i)(COUNT|UNTIL)=", case["rrule"]) and expected:
        # An endless rule: the suite lists its first instances (libical as
        # many as fit its buffer); compare up to the last one listed.
        last = expected[-1]
        hi = (
            last + timedelta(seconds=1)
            if isinstance(last, datetime)
            else datetime.combine(last + timedelta(days=1), time(), UTC)
        )
    _check(event, expected, lo, hi)


@pytest.mark.parametrize("case", DATEUTIL["refused"], ids=lambda c: c["name"])
def test_dateutil_invalid_rules_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        parse_rrule(case["lines"])
    assert info.value.message


# --------------------------------------------------------------------------
# Calendars from recurring-ical-events' own tests (VEVENTs as text)
# --------------------------------------------------------------------------

RECURRING_ICAL_EVENTS = _load("recurring_ical_events.json")
#: The set of an event with RDATEs and no RRULE is DTSTART plus its RDATEs; a
#: ``Recurrence`` always holds a rule, and this one adds nothing to DTSTART.
START_ONLY = "RRULE:FREQ=DAILY;COUNT=1"


def _read_vevent(case_id: str, lines: list[str]) -> wecal.Event:
    """
    A ``wecal.Event`` from VEVENT content lines: icalendar reads DTSTART,
    DTEND/DURATION; the RRULE/EXDATE/RDATE lines go, as written, through
    ``wecal.recurrence.parse_rrule`` (as a provider's rule text would).
    """
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", f"UID:{case_id}"]
    text = "\r\n".join([*head, *lines, "END:VEVENT", "END:VCALENDAR", ""])
    vevent = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    start = vevent.decoded("DTSTART")
    if "DTEND" in vevent:
        end = vevent.decoded("DTEND")
    elif "DURATION" in vevent:
        end = start + vevent.decoded("DURATION")
    else:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    tzid = vevent["DTSTART"].params.get("TZID")
    zone = ZoneInfo(tzid) if tzid else None
    rule_lines = [line for line in lines if line.split(":")[0].split(";")[0] in _RULE_NAMES]
    if not any(line.startswith("RRULE") for line in rule_lines):
        rule_lines.insert(0, START_ONLY)
    recurrence = parse_rrule(rule_lines, tz=zone)
    return wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id=case_id,
        start=start,
        end=end,
        timezone=tzid,
        recurrence=recurrence,
    )


_RULE_NAMES = ("RRULE", "EXDATE", "RDATE")


def _instant(text: str) -> datetime | date:
    """ISO 8601: a date, or a datetime with its offset."""
    return date.fromisoformat(text) if "T" not in text else datetime.fromisoformat(text)


DATEUTIL_TZID = _load("dateutil_tzid.json")


@pytest.mark.parametrize(
    "case", RECURRING_ICAL_EVENTS["cases"] + DATEUTIL_TZID["cases"], ids=lambda c: c["name"]
)
def test_vevent_cases(case: dict[str, Any]) -> None:
    event = _read_vevent(case["name"], case["vevent"])
    written = case.get("divergence", {}).get("expected", case["expected"])
    lo, hi = (datetime.fromisoformat(t) for t in case["window"])
    _check(event, [_instant(t) for t in written], lo, hi)


# --------------------------------------------------------------------------
# RFC 5545's own examples (tests/test_recurrence_rfc.py), read back from the
# .ics: a New York series across DST, with the embedded VTIMEZONE
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "window_end", "expected"),
    [pytest.param(lines, end, expected, id=name) for name, lines, end, expected in RFC_CASES],
)
def test_rfc5545_examples_read_back_from_the_ics(
    lines: list[str], window_end: datetime, expected: list[datetime]
) -> None:
    event = rfc_event(lines)
    assert isinstance(event.start, datetime)
    _check(event, expected, event.start, window_end)


# --------------------------------------------------------------------------
# RFC 7529 (RSCALE, SKIP): rules wecal cannot represent are refused
# --------------------------------------------------------------------------

RFC7529 = _load("rfc7529.json")


@pytest.mark.parametrize("case", RFC7529["refused"], ids=lambda c: c["name"])
def test_rfc7529_rules_are_refused_naming_the_part(case: dict[str, Any]) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        parse_rrule(case["lines"])
    assert case["part"] in str(info.value)
    event = _event("rscale", datetime(2024, 2, 29, 9, tzinfo=UTC), case["lines"][0], zone=None)
    with pytest.raises(wecal.ResponseFormatError):
        wecal.expand(event, datetime(2024, 1, 1, tzinfo=UTC), FAR)
