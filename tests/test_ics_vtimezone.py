"""
The VTIMEZONEs of an .ics export, read back without icalendar (whose own
reader shares its writer's mistake) and checked against zoneinfo: every onset
is the local time in TZOFFSETFROM of a real transition (RFC 5545 §3.6.5), none
is missing, and each RDATE line holds one value.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from wecal.export._ics import _vtimezone

ZONES = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago"]


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    hours, minutes, seconds = int(text[1:3]), int(text[3:5]), int(text[5:7] or 0)
    return sign * timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _local(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S")


def onsets(text: str, until: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, TZOFFSETFROM, TZOFFSETTO) of every onset up to ``until``, sorted."""
    found = []
    for block in re.findall(r"BEGIN:(?:STANDARD|DAYLIGHT)\r\n(.*?)END:", text, re.S):
        props = [line.split(":", 1) for line in block.split("\r\n") if line]
        one = dict(props)
        before, after = _offset(one["TZOFFSETFROM"]), _offset(one["TZOFFSETTO"])
        start = _local(one["DTSTART"])
        locals_ = [start] + [_local(v) for k, v in props if k == "RDATE"]
        if "RRULE" in one:
            rule = rrulestr(one["RRULE"], dtstart=start)
            locals_ += rule.between(start, datetime(until, 1, 1), inc=False)
        found += [((moment - before).replace(tzinfo=UTC), before, after) for moment in locals_]
    return sorted(f for f in found if f[0].year < until)


@pytest.mark.parametrize("key", ZONES)
def test_every_onset_is_a_transition_in_tzoffsetfrom_local_time(key: str) -> None:
    text = _vtimezone(key).decode()
    assert not [line for line in text.split("\r\n") if line.startswith("RDATE") and "," in line]
    zone = ZoneInfo(key)
    listed = onsets(text, 2060)
    assert len(listed) > 10
    for instant, before, after in listed[1:]:  # the first is the state in 1900
        assert (instant - timedelta(seconds=1)).astimezone(zone).utcoffset() == before, instant
        assert instant.astimezone(zone).utcoffset() == after, instant
    # None missing: between two onsets, zoneinfo keeps the first one's offset.
    for (instant, _, after), (following, _, _) in itertools.pairwise(listed):
        if instant.year < 1970:
            continue
        probe = instant + timedelta(hours=6)
        while probe < following:
            assert probe.astimezone(zone).utcoffset() == after, (key, probe)
            probe += timedelta(hours=6)


def test_new_york_spring_forward_is_two_in_the_morning() -> None:
    text = _vtimezone("America/New_York").decode()
    assert "RDATE:20240310T020000\r\n" in text  # 2:00 EST, when clocks jump to 3:00 EDT
    assert "RDATE:20241103T020000\r\n" in text  # 2:00 EDT, when they fall back to 1:00 EST
    assert "T030000" not in text.split("BEGIN:DAYLIGHT", 1)[1].split("END:DAYLIGHT", 1)[0]
