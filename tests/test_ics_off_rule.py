"""
A start off its own rule is the series' first instance (RFC 5545, and
``wecal.expand``); readers that drop it (ical.js, dateutil alone) agree once
the .ics also lists it as an RDATE.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rruleset, rrulestr

import wecal
from wecal.export import IcsWriter

SH = ZoneInfo("Asia/Shanghai")
TUESDAY = datetime(2024, 6, 4, 10, tzinfo=SH)


def _vevent(text: str) -> str:
    return text.split("BEGIN:VEVENT", 1)[1].split("END:VEVENT", 1)[0].replace("\r\n ", "")


def _dropping_reader(text: str) -> list[datetime]:
    """The instants a reader that skips an off-rule DTSTART lists: dateutil's set."""
    unfolded = _vevent(text)
    dtstart = re.search(r"^DTSTART;TZID=Asia/Shanghai:(\d{8}T\d{6})\r?$", unfolded, re.M)
    assert dtstart is not None
    start = _local(dtstart.group(1))
    rule = re.search(r"^RRULE:(.*?)\r?$", unfolded, re.M)
    assert rule is not None
    series = rruleset()
    series.rrule(rrulestr(rule.group(1), dtstart=start))  # leaves an off-rule start out
    for value in re.findall(r"^RDATE;TZID=Asia/Shanghai:(\d{8}T\d{6})\r?$", unfolded, re.M):
        series.rdate(_local(value))  # one value a line, as ical.js reads them
    return list(series.between(start - timedelta(days=1), start + timedelta(days=60), inc=True))


def _local(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=SH)


@pytest.mark.parametrize(
    ("rule", "days"),
    [
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=3", [4, 10, 17]),  # the start counts toward COUNT
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20240620T000000Z", [4, 10, 17]),
        ("FREQ=MONTHLY;BYMONTHDAY=1;COUNT=2", [4, 31]),  # June 4, July 1
    ],
)
def test_an_off_rule_start_is_written_so_that_every_reader_keeps_it(
    rule: str, days: list[int]
) -> None:
    event = wecal.Event(
        provider="dingtalk",
        id="s",
        start=TUESDAY,
        end=TUESDAY + timedelta(hours=1),
        timezone="Asia/Shanghai",
        recurrence=wecal.Recurrence(rrule=rule),
    )
    # By hand: June 4 (the start), then the rule's own instances.
    expected = [datetime(2024, 6, 1, 10, tzinfo=SH) + timedelta(days=d - 1) for d in days]
    window = (TUESDAY - timedelta(days=1), TUESDAY + timedelta(days=60))
    assert [o.start for o in wecal.expand(event, *window)] == expected
    text = IcsWriter().encode([event]).decode()
    assert "RDATE;TZID=Asia/Shanghai:20240604T100000\r\n" in _vevent(text)
    assert _dropping_reader(text) == expected


def test_an_on_rule_start_gets_no_rdate() -> None:
    monday = TUESDAY - timedelta(days=1)
    event = wecal.Event(
        provider="dingtalk",
        id="s",
        start=monday,
        end=monday + timedelta(hours=1),
        timezone="Asia/Shanghai",
        recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=3"),
    )
    assert "RDATE" not in _vevent(IcsWriter().encode([event]).decode())
