"""
The RFC 5545 §3.8.5.3 recurrence examples, checked against ``wecal.expand``.

Each DTSTART is in America/New_York. The expected occurrences were typed in
from the RFC text, with the RFC's own EDT (UTC-4) / EST (UTC-5) labels, so
they are compared as instants, independently of the zone database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import wecal
from wecal.recurrence import expand, parse_rrule

NY = "America/New_York"
_EDT = timezone(timedelta(hours=-4), "EDT")
_EST = timezone(timedelta(hours=-5), "EST")


def edt(y: int, m: int, days: list[int] | range, h: int = 9, mi: int = 0) -> list[datetime]:
    return [datetime(y, m, d, h, mi, tzinfo=_EDT) for d in days]


def est(y: int, m: int, days: list[int] | range, h: int = 9, mi: int = 0) -> list[datetime]:
    return [datetime(y, m, d, h, mi, tzinfo=_EST) for d in days]


def rfc_event(lines: list[str]) -> wecal.Event:
    """DTSTART line (New York) + RRULE (+ EXDATE) lines → a one-hour series."""
    from zoneinfo import ZoneInfo

    dtstart_text = lines[0].split(":", 1)[1]
    zone = ZoneInfo(NY)
    start = datetime.strptime(dtstart_text, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
    return wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="rfc",
        start=start,
        end=start + timedelta(hours=1),
        timezone=NY,
        recurrence=parse_rrule(lines[1:]),
    )


def _expand(lines: list[str], window_end: datetime) -> list[datetime]:
    """DTSTART line + RRULE (+ EXDATE) lines → the starts within [DTSTART, window_end)."""
    event = rfc_event(lines)
    assert isinstance(event.start, datetime)
    out = []
    for occurrence in expand(event, event.start, window_end):
        assert isinstance(occurrence.start, datetime)
        out.append(occurrence.start)
    return out


FOREVER = datetime(2010, 1, 1, tzinfo=UTC)

CASES: list[tuple[str, list[str], datetime, list[datetime]]] = [
    (
        "daily for 10 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=DAILY;COUNT=10"],
        FOREVER,
        edt(1997, 9, range(2, 12)),
    ),
    (
        "daily until December 24, 1997",
        ["DTSTART:19970902T090000", "RRULE:FREQ=DAILY;UNTIL=19971224T000000Z"],
        FOREVER,
        edt(1997, 9, range(2, 31))
        + edt(1997, 10, range(1, 26))
        + est(1997, 10, range(26, 32))
        + est(1997, 11, range(1, 31))
        + est(1997, 12, range(1, 24)),
    ),
    (
        "every other day - forever",
        ["DTSTART:19970902T090000", "RRULE:FREQ=DAILY;INTERVAL=2"],
        datetime(1997, 12, 4, tzinfo=UTC),
        edt(1997, 9, range(2, 31, 2))
        + edt(1997, 10, range(2, 25, 2))
        + est(1997, 10, [26, 28, 30])
        + est(1997, 11, range(1, 30, 2))
        + est(1997, 12, [1, 3]),
    ),
    (
        "every 10 days, 5 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=DAILY;INTERVAL=10;COUNT=5"],
        FOREVER,
        edt(1997, 9, [2, 12, 22]) + edt(1997, 10, [2, 12]),
    ),
    (
        "every day in January, for 3 years (yearly form)",
        [
            "DTSTART:19980101T090000",
            "RRULE:FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        ],
        FOREVER,
        est(1998, 1, range(1, 32)) + est(1999, 1, range(1, 32)) + est(2000, 1, range(1, 32)),
    ),
    (
        "every day in January, for 3 years (daily form)",
        ["DTSTART:19980101T090000", "RRULE:FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1"],
        FOREVER,
        est(1998, 1, range(1, 32)) + est(1999, 1, range(1, 32)) + est(2000, 1, range(1, 32)),
    ),
    (
        "weekly for 10 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;COUNT=10"],
        FOREVER,
        edt(1997, 9, [2, 9, 16, 23, 30])
        + edt(1997, 10, [7, 14, 21])
        + est(1997, 10, [28])
        + est(1997, 11, [4]),
    ),
    (
        "weekly until December 24, 1997",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;UNTIL=19971224T000000Z"],
        FOREVER,
        edt(1997, 9, [2, 9, 16, 23, 30])
        + edt(1997, 10, [7, 14, 21])
        + est(1997, 10, [28])
        + est(1997, 11, [4, 11, 18, 25])
        + est(1997, 12, [2, 9, 16, 23]),
    ),
    (
        "every other week - forever",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU"],
        datetime(1998, 2, 18, tzinfo=UTC),
        edt(1997, 9, [2, 16, 30])
        + edt(1997, 10, [14])
        + est(1997, 10, [28])
        + est(1997, 11, [11, 25])
        + est(1997, 12, [9, 23])
        + est(1998, 1, [6, 20])
        + est(1998, 2, [3, 17]),
    ),
    (
        "weekly on Tuesday and Thursday for five weeks (UNTIL)",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH"],
        FOREVER,
        edt(1997, 9, [2, 4, 9, 11, 16, 18, 23, 25, 30]) + edt(1997, 10, [2]),
    ),
    (
        "weekly on Tuesday and Thursday for five weeks (COUNT)",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH"],
        FOREVER,
        edt(1997, 9, [2, 4, 9, 11, 16, 18, 23, 25, 30]) + edt(1997, 10, [2]),
    ),
    (
        "every other week on Monday, Wednesday, and Friday until December 24, 1997",
        [
            "DTSTART:19970901T090000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        ],
        FOREVER,
        edt(1997, 9, [1, 3, 5, 15, 17, 19, 29])
        + edt(1997, 10, [1, 3, 13, 15, 17])
        + est(1997, 10, [27, 29, 31])
        + est(1997, 11, [10, 12, 14, 24, 26, 28])
        + est(1997, 12, [8, 10, 12, 22]),
    ),
    (
        "every other week on Tuesday and Thursday, for 8 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH"],
        FOREVER,
        edt(1997, 9, [2, 4, 16, 18, 30]) + edt(1997, 10, [2, 14, 16]),
    ),
    (
        "monthly on the first Friday for 10 occurrences",
        ["DTSTART:19970905T090000", "RRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR"],
        FOREVER,
        edt(1997, 9, [5])
        + edt(1997, 10, [3])
        + est(1997, 11, [7])
        + est(1997, 12, [5])
        + est(1998, 1, [2])
        + est(1998, 2, [6])
        + est(1998, 3, [6])
        + est(1998, 4, [3])
        + edt(1998, 5, [1])
        + edt(1998, 6, [5]),
    ),
    (
        "monthly on the first Friday until December 24, 1997",
        ["DTSTART:19970905T090000", "RRULE:FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR"],
        FOREVER,
        edt(1997, 9, [5]) + edt(1997, 10, [3]) + est(1997, 11, [7]) + est(1997, 12, [5]),
    ),
    (
        "every other month on the first and last Sunday, for 10 occurrences",
        ["DTSTART:19970907T090000", "RRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU"],
        FOREVER,
        edt(1997, 9, [7, 28])
        + est(1997, 11, [2, 30])
        + est(1998, 1, [4, 25])
        + est(1998, 3, [1, 29])
        + edt(1998, 5, [3, 31]),
    ),
    (
        "monthly on the second-to-last Monday of the month for 6 months",
        ["DTSTART:19970922T090000", "RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=-2MO"],
        FOREVER,
        edt(1997, 9, [22])
        + edt(1997, 10, [20])
        + est(1997, 11, [17])
        + est(1997, 12, [22])
        + est(1998, 1, [19])
        + est(1998, 2, [16]),
    ),
    (
        "monthly on the third-to-the-last day of the month, forever",
        ["DTSTART:19970928T090000", "RRULE:FREQ=MONTHLY;BYMONTHDAY=-3"],
        datetime(1998, 3, 1, tzinfo=UTC),
        edt(1997, 9, [28])
        + est(1997, 10, [29])
        + est(1997, 11, [28])
        + est(1997, 12, [29])
        + est(1998, 1, [29])
        + est(1998, 2, [26]),
    ),
    (
        "monthly on the 2nd and 15th of the month for 10 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15"],
        FOREVER,
        edt(1997, 9, [2, 15])
        + edt(1997, 10, [2, 15])
        + est(1997, 11, [2, 15])
        + est(1997, 12, [2, 15])
        + est(1998, 1, [2, 15]),
    ),
    (
        "monthly on the first and last day of the month for 10 occurrences",
        ["DTSTART:19970930T090000", "RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1"],
        FOREVER,
        edt(1997, 9, [30])
        + edt(1997, 10, [1])
        + est(1997, 10, [31])
        + est(1997, 11, [1, 30])
        + est(1997, 12, [1, 31])
        + est(1998, 1, [1, 31])
        + est(1998, 2, [1]),
    ),
    (
        "every 18 months on the 10th thru 15th of the month for 10 occurrences",
        [
            "DTSTART:19970910T090000",
            "RRULE:FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        ],
        FOREVER,
        edt(1997, 9, range(10, 16)) + est(1999, 3, range(10, 14)),
    ),
    (
        "every Tuesday, every other month",
        ["DTSTART:19970902T090000", "RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"],
        datetime(1998, 4, 1, tzinfo=UTC),
        edt(1997, 9, [2, 9, 16, 23, 30])
        + est(1997, 11, [4, 11, 18, 25])
        + est(1998, 1, [6, 13, 20, 27])
        + est(1998, 3, [3, 10, 17, 24, 31]),
    ),
    (
        "yearly in June and July for 10 occurrences",
        ["DTSTART:19970610T090000", "RRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7"],
        FOREVER,
        [d for y in range(1997, 2002) for d in edt(y, 6, [10]) + edt(y, 7, [10])],
    ),
    (
        "every other year on January, February, and March for 10 occurrences",
        ["DTSTART:19970310T090000", "RRULE:FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3"],
        FOREVER,
        est(1997, 3, [10])
        + [d for y in (1999, 2001, 2003) for m in (1, 2, 3) for d in est(y, m, [10])],
    ),
    (
        "every third year on the 1st, 100th, and 200th day for 10 occurrences",
        ["DTSTART:19970101T090000", "RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200"],
        FOREVER,
        est(1997, 1, [1])
        + edt(1997, 4, [10])
        + edt(1997, 7, [19])
        + est(2000, 1, [1])
        + edt(2000, 4, [9])
        + edt(2000, 7, [18])
        + est(2003, 1, [1])
        + edt(2003, 4, [10])
        + edt(2003, 7, [19])
        + est(2006, 1, [1]),
    ),
    (
        "every 20th Monday of the year, forever",
        ["DTSTART:19970519T090000", "RRULE:FREQ=YEARLY;BYDAY=20MO"],
        datetime(2000, 1, 1, tzinfo=UTC),
        edt(1997, 5, [19]) + edt(1998, 5, [18]) + edt(1999, 5, [17]),
    ),
    (
        "Monday of week number 20, forever",
        ["DTSTART:19970512T090000", "RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"],
        datetime(2000, 1, 1, tzinfo=UTC),
        edt(1997, 5, [12]) + edt(1998, 5, [11]) + edt(1999, 5, [17]),
    ),
    (
        "every Thursday in March, forever",
        ["DTSTART:19970313T090000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=TH"],
        datetime(2000, 1, 1, tzinfo=UTC),
        est(1997, 3, [13, 20, 27]) + est(1998, 3, [5, 12, 19, 26]) + est(1999, 3, [4, 11, 18, 25]),
    ),
    (
        "every Thursday, but only during June, July, and August, forever",
        ["DTSTART:19970605T090000", "RRULE:FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8"],
        datetime(2000, 1, 1, tzinfo=UTC),
        edt(1997, 6, [5, 12, 19, 26])
        + edt(1997, 7, [3, 10, 17, 24, 31])
        + edt(1997, 8, [7, 14, 21, 28])
        + edt(1998, 6, [4, 11, 18, 25])
        + edt(1998, 7, [2, 9, 16, 23, 30])
        + edt(1998, 8, [6, 13, 20, 27])
        + edt(1999, 6, [3, 10, 17, 24])
        + edt(1999, 7, [1, 8, 15, 22, 29])
        + edt(1999, 8, [5, 12, 19, 26]),
    ),
    (
        "every Friday the 13th, forever",
        [
            "DTSTART:19970902T090000",
            "EXDATE;TZID=America/New_York:19970902T090000",
            "RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        ],
        datetime(2001, 1, 1, tzinfo=UTC),
        est(1998, 2, [13]) + est(1998, 3, [13]) + est(1998, 11, [13]) + edt(1999, 8, [13])
        # 2000-10-13 is before the last Sunday of October: still EDT.
        + edt(2000, 10, [13]),
    ),
    (
        "the first Saturday that follows the first Sunday of the month, forever",
        ["DTSTART:19970913T090000", "RRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"],
        datetime(1998, 6, 14, tzinfo=UTC),
        edt(1997, 9, [13])
        + edt(1997, 10, [11])
        + est(1997, 11, [8])
        + est(1997, 12, [13])
        + est(1998, 1, [10])
        + est(1998, 2, [7])
        + est(1998, 3, [7])
        + edt(1998, 4, [11])
        + edt(1998, 5, [9])
        + edt(1998, 6, [13]),
    ),
    (
        "every 4 years, the first Tuesday after a Monday in November (US elections)",
        [
            "DTSTART:19961105T090000",
            "RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        ],
        datetime(2005, 1, 1, tzinfo=UTC),
        est(1996, 11, [5]) + est(2000, 11, [7]) + est(2004, 11, [2]),
    ),
    (
        "the third instance of Tuesday, Wednesday, or Thursday, for the next 3 months",
        ["DTSTART:19970904T090000", "RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3"],
        FOREVER,
        edt(1997, 9, [4]) + edt(1997, 10, [7]) + est(1997, 11, [6]),
    ),
    (
        "the second-to-last weekday of the month",
        ["DTSTART:19970929T090000", "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2"],
        datetime(1998, 3, 31, tzinfo=UTC),
        edt(1997, 9, [29])
        + est(1997, 10, [30])
        + est(1997, 11, [27])
        + est(1997, 12, [30])
        + est(1998, 1, [29])
        + est(1998, 2, [26])
        + est(1998, 3, [30]),
    ),
    (
        # The RFC lists 15:00 too, but its UNTIL 17:00Z is 13:00 EDT.
        "every 3 hours from 9:00 AM to 5:00 PM on a specific day",
        ["DTSTART:19970902T090000", "RRULE:FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z"],
        FOREVER,
        edt(1997, 9, [2], 9) + edt(1997, 9, [2], 12),
    ),
    (
        "every 15 minutes for 6 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=6"],
        FOREVER,
        [datetime(1997, 9, 2, h, m, tzinfo=_EDT) for h, m in
         ((9, 0), (9, 15), (9, 30), (9, 45), (10, 0), (10, 15))],
    ),
    (
        "every hour and a half for 4 occurrences",
        ["DTSTART:19970902T090000", "RRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=4"],
        FOREVER,
        [datetime(1997, 9, 2, h, m, tzinfo=_EDT) for h, m in ((9, 0), (10, 30), (12, 0), (13, 30))],
    ),
    (
        "every 20 minutes from 9:00 AM to 4:40 PM every day (daily form)",
        [
            "DTSTART:19970902T090000",
            "RRULE:FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        ],
        datetime(1997, 9, 4, 4, tzinfo=UTC),
        [datetime(1997, 9, d, h, m, tzinfo=_EDT) for d in (2, 3) for h in range(9, 17)
         for m in (0, 20, 40)],
    ),
    (
        "every 20 minutes from 9:00 AM to 4:40 PM every day (minutely form)",
        [
            "DTSTART:19970902T090000",
            "RRULE:FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
        ],
        datetime(1997, 9, 4, 4, tzinfo=UTC),
        [datetime(1997, 9, d, h, m, tzinfo=_EDT) for d in (2, 3) for h in range(9, 17)
         for m in (0, 20, 40)],
    ),
    (
        "WKST=MO changes the result",
        ["DTSTART:19970805T090000", "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"],
        FOREVER,
        edt(1997, 8, [5, 10, 19, 24]),
    ),
    (
        "WKST=SU changes the result",
        ["DTSTART:19970805T090000", "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"],
        FOREVER,
        edt(1997, 8, [5, 17, 19, 31]),
    ),
    (
        "an invalid date (February 30) is ignored",
        ["DTSTART:20070115T090000", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5"],
        FOREVER,
        est(2007, 1, [15, 30]) + est(2007, 2, [15]) + edt(2007, 3, [15, 30]),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "window_end", "expected"),
    [pytest.param(lines, end, expected, id=name) for name, lines, end, expected in CASES],
)
def test_rfc5545_examples(lines: list[str], window_end: datetime, expected: list[datetime]) -> None:
    got = _expand(lines, window_end)
    assert got == expected  # aware comparison: the same instants
    # ...and the same wall-clock time in New York as the RFC's "9:00 AM".
    assert [(d.hour, d.minute) for d in got] == [
        (e.astimezone(got[0].tzinfo).hour, e.astimezone(got[0].tzinfo).minute) for e in expected
    ]
    assert [d.utcoffset() for d in got] == [e.utcoffset() for e in expected]
