"""
What wecal reads from a rule is the rule: never a shorter one, DTSTART first.

Cases found by feeding real provider answers and third-party iCalendar test
suites to wecal (issue 10): a space or an escaped ``\\;`` used to cut a rule
short (an endless series instead of three instances), and an off-rule start
was dropped while every RFC 5545 reader of the .ics shows it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import wecal
from wecal.recurrence import _read_rule, expand, normalize_rrule, parse_rrule

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEARS = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
# 2024-06-04 is a Tuesday.
TUESDAY = datetime(2024, 6, 4, 9, 0, tzinfo=SHANGHAI)


def _event(rule: str, start: datetime | date = TUESDAY, **kw: object) -> wecal.Event:
    end = start + (timedelta(hours=1) if isinstance(start, datetime) else timedelta(days=1))
    return wecal.Event(
        provider=wecal.Provider.WECOM,
        id="s",
        start=start,
        end=end,
        recurrence=wecal.Recurrence(rrule=rule),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "written",
    [
        "FREQ=WEEKLY; BYDAY=MO,WE;COUNT=3",
        "FREQ=WEEKLY ;BYDAY = MO, WE; COUNT=3",
        "FREQ=WEEKLY\\;BYDAY=MO\\,WE\\;COUNT=3",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3",
        # A list ending with a comma (seen in the wild, e.g. BYMONTH=1,2,…,11,).
        "FREQ=WEEKLY;BYDAY=MO,WE,;COUNT=3",
        "FREQ=WEEKLY;COUNT=3;BYDAY=MO,WE,",
    ],
)
def test_spaces_and_text_escapes_are_normalized_not_truncated(written: str) -> None:
    assert normalize_rrule(written) == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3"
    # Monday-aligned start: three instances, not an endless series.
    monday = datetime(2024, 6, 3, 9, 0, tzinfo=SHANGHAI)
    starts = [o.start for o in expand(_event(written, monday), *YEARS)]
    assert starts == [monday, monday + timedelta(days=2), monday + timedelta(days=7)]


@pytest.mark.parametrize(
    ("written", "part"),
    [
        ("FREQ=WEEKLY;BYDAY=MO WE;COUNT=3", "BYDAY=MO WE"),
        ("FREQ=DAILY;X-NAME=Team meeting;COUNT=3", "X-NAME=Team meeting"),
        ("FREQ=DAILY;COUNT=3 (three days);BYDAY=MO", "COUNT=3 (three days)"),
        ("FREQ=DAILY;BYDAY=MO·TU;COUNT=2", "BYDAY=MO·TU"),
        ("FREQ=DAILY;UNTIL=2024-06-30T00:00:00Z;BYDAY=MO", "UNTIL=2024-06-30T00"),
        # Only a comma ending a list goes: an empty list or item stays an error.
        ("FREQ=WEEKLY;BYDAY=,;COUNT=3", "BYDAY"),
        ("FREQ=WEEKLY;BYDAY=MO,,WE;COUNT=3", "BYDAY"),
    ],
)
def test_a_part_that_cannot_be_read_is_an_error_naming_rule_and_part(
    written: str, part: str
) -> None:
    for read in (normalize_rrule, parse_rrule):
        with pytest.raises(wecal.ResponseFormatError) as info:
            read(written)
        assert part in str(info.value)
        assert written in str(info.value)
    with pytest.raises(wecal.ResponseFormatError):
        expand(_event(written), *YEARS)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        # The DingTalk seed: prose after a rule split at its comma.
        (
            ["YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8", "9(RFC5545 see link https://x/y)"],
            "FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8,9",
        ),
        ("FREQ=DAILY;COUNT=2 (two days)", "FREQ=DAILY;COUNT=2"),
        ("FREQ=DAILY;COUNT=2 （两天）", "FREQ=DAILY;COUNT=2"),
        ("FREQ=DAILY;COUNT=2 每天", "FREQ=DAILY;COUNT=2"),
    ],
)
def test_documented_provider_prose_is_still_dropped(written: object, canonical: str) -> None:
    assert parse_rrule(written).rrule == canonical  # type: ignore[arg-type]


def test_an_off_rule_start_is_the_first_instance_and_counts_toward_count() -> None:
    # Tuesday start, Monday/Wednesday rule, COUNT=3: the start, then two.
    starts = [o.start for o in expand(_event("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3"), *YEARS)]
    assert starts == [TUESDAY, TUESDAY + timedelta(days=1), TUESDAY + timedelta(days=6)]
    # COUNT=1: the start alone.
    assert [o.start for o in expand(_event("FREQ=WEEKLY;BYDAY=MO;COUNT=1"), *YEARS)] == [TUESDAY]
    # Endless: the start, then the rule's own instances.
    endless = expand(_event("FREQ=MONTHLY;BYMONTHDAY=1"), *YEARS)
    assert [next(endless).start for _ in range(3)] == [
        TUESDAY,
        TUESDAY.replace(month=7, day=1),
        TUESDAY.replace(month=8, day=1),
    ]
    # UNTIL before the start: the start is still an instance (the only one).
    before = _event("FREQ=DAILY;UNTIL=20240101T000000Z")
    assert [o.start for o in expand(before, *YEARS)] == [TUESDAY]


def test_an_off_rule_all_day_start_is_the_first_instance() -> None:
    first = date(2024, 6, 4)  # a Tuesday
    event = _event("FREQ=WEEKLY;BYDAY=MO;COUNT=2", first)
    assert [o.start for o in expand(event, *YEARS)] == [first, date(2024, 6, 10)]
    assert [o.id for o in expand(event, *YEARS)] == ["s_20240604", "s_20240610"]


def test_a_rule_is_parsed_once_per_text_by_a_bounded_cache() -> None:
    info = _read_rule.cache_info()
    assert info.maxsize is not None
    rule = "FREQ=DAILY;INTERVAL=3;BYHOUR=9,21;COUNT=40"
    _read_rule.cache_clear()
    events = [_event(rule, TUESDAY + timedelta(days=k)) for k in range(30)]
    for event in events:
        list(expand(event, *YEARS))
    assert _read_rule.cache_info().misses == 1


def test_expand_takes_date_bounds_in_a_documented_zone() -> None:
    # A daily 03:00–04:00 Shanghai series (19:00 UTC the day before).
    start = datetime(2024, 6, 1, 3, 0, tzinfo=SHANGHAI)
    event = _event("FREQ=DAILY;COUNT=10", start)
    days = (date(2024, 6, 5), date(2024, 6, 7))
    # By default a date is 00:00 in Asia/Shanghai.
    by_date = [o.start for o in expand(event, *days)]
    lo, hi = datetime(2024, 6, 5, tzinfo=SHANGHAI), datetime(2024, 6, 7, tzinfo=SHANGHAI)
    assert by_date == [o.start for o in expand(event, lo, hi)]
    assert by_date == [start.replace(day=5), start.replace(day=6)]
    # In UTC the window is 08:00–08:00 Shanghai: the 6th's and the 7th's.
    in_utc = [o.start for o in expand(event, *days, date_zone="UTC")]
    assert in_utc == [start.replace(day=6), start.replace(day=7)]
    assert [o.start for o in expand(event, *days, date_zone=UTC)] == in_utc
    with pytest.raises(wecal.ValidationError):
        expand(event, datetime(2024, 6, 5), date(2024, 6, 7))  # naive: still an error
    with pytest.raises(wecal.ValidationError):
        expand(event, *days, date_zone="Mars/Olympus")
