"""wecal.recurrence: tolerant parsing, WeCom mapping, expansion semantics, seeds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import wecal
from wecal.providers.wecom._repeat import recurrence_from_wecom, recurrence_to_wecom, wecom_timezone
from wecal.recurrence import expand, normalize_rrule, occurrence_id, parse_rrule

DATA = Path(__file__).parent / "data" / "recurrence"
CST = timezone(timedelta(hours=8))
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ALL_TIME = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _event(
    start: datetime | date,
    end: datetime | date,
    rule: str | None = None,
    *,
    exdates: tuple[datetime | date, ...] = (),
    rdates: tuple[datetime | date, ...] = (),
    **kw: Any,
) -> wecal.Event:
    recurrence = (
        None if rule is None else wecal.Recurrence(rrule=rule, exdates=exdates, rdates=rdates)
    )
    return wecal.Event(
        provider=wecal.Provider.WECOM, id="m1", start=start, end=end, recurrence=recurrence, **kw
    )


def _starts(event: wecal.Event, window: tuple[datetime, datetime] = ALL_TIME) -> list[Any]:
    return [occ.start for occ in expand(event, *window)]


# --------------------------------------------------------------------------
# Tolerant parsing
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("RRULE:FREQ=DAILY;COUNT=10", "FREQ=DAILY;COUNT=10"),
        ("FREQ=DAILY;COUNT=10", "FREQ=DAILY;COUNT=10"),
        ("rrule:freq=weekly;byday=mo,we;interval=2", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"),
        ("YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU", "FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU"),
        ("  FREQ=MONTHLY;BYDAY=-2MO;  ", "FREQ=MONTHLY;BYDAY=-2MO"),
        (
            "FREQ=DAILY;UNTIL=20201203T062653Z (daily until December)",
            "FREQ=DAILY;UNTIL=20201203T062653Z",
        ),
        ("FREQ=DAILY;X-NAME=foo;COUNT=2", "FREQ=DAILY;COUNT=2"),
        ("UNTIL=19971224;FREQ=WEEKLY;WKST=SU", "FREQ=WEEKLY;WKST=SU;UNTIL=19971224"),
    ],
)
def test_normalize_rrule_accepts_the_forms_providers_send(given: str, canonical: str) -> None:
    assert normalize_rrule(given) == canonical


def test_parse_rrule_reads_the_dingtalk_seed_wrapper_split_at_the_comma() -> None:
    item = json.loads((DATA / "dingtalk-calendar-list.json").read_text())["result"]["items"][0]
    recurrence = parse_rrule(item["recurrence"], path="$.result.items[0].recurrence")
    assert recurrence == wecal.Recurrence(
        rrule="FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8,9"
    )


def test_parse_rrule_rejoins_a_list_that_a_comma_split_apart() -> None:
    assert parse_rrule(["FREQ=DAILY;BYHOUR=8", "9", "10;COUNT=4"]).rrule == (
        "FREQ=DAILY;BYHOUR=8,9,10;COUNT=4"
    )
    assert parse_rrule({"string": "RRULE:FREQ=WEEKLY"}).rrule == "FREQ=WEEKLY"


def test_parse_rrule_reads_exdate_and_rdate_lines_beside_the_rule() -> None:
    recurrence = parse_rrule(
        [
            "DTSTART;TZID=America/New_York:19970902T090000",
            "RRULE:FREQ=DAILY;COUNT=10",
            "EXDATE;TZID=America/New_York:19970903T090000,19970905T090000",
            "EXDATE:19970906T130000Z",
            "EXDATE;VALUE=DATE:19970907",
            "RDATE;VALUE=DATE:19970920",
            "19970921",  # the comma split again
        ]
    )
    assert recurrence.rrule == "FREQ=DAILY;COUNT=10"
    assert recurrence.exdates == (
        datetime(1997, 9, 3, 9, tzinfo=NEW_YORK),
        datetime(1997, 9, 5, 9, tzinfo=NEW_YORK),
        datetime(1997, 9, 6, 13, tzinfo=UTC),
        date(1997, 9, 7),
    )
    assert recurrence.rdates == (date(1997, 9, 20), date(1997, 9, 21))
    # The TZID is really applied: 09:00 EDT is 13:00 UTC.
    assert recurrence.exdates[0].utcoffset() == timedelta(hours=-4)


def test_parse_rrule_multiline_string() -> None:
    recurrence = parse_rrule("RRULE:FREQ=DAILY\r\nEXDATE:20240102T000000Z\n")
    assert recurrence.exdates == (datetime(2024, 1, 2, tzinfo=UTC),)


def test_floating_exdate_needs_a_zone() -> None:
    with pytest.raises(wecal.ResponseFormatError, match="floating"):
        parse_rrule(["FREQ=DAILY", "EXDATE:20240102T090000"])
    recurrence = parse_rrule(["FREQ=DAILY", "EXDATE:20240102T090000"], tz=BERLIN)
    assert recurrence.exdates == (datetime(2024, 1, 2, 9, tzinfo=BERLIN),)


@pytest.mark.parametrize(
    ("garbage", "quoted"),
    [
        ("every day at noon", "every day"),
        ("", "''"),
        ("FREQ=FORTNIGHTLY", "FORTNIGHTLY"),
        ("FREQ=DAILY;BYHOUR=banana", "BANANA"),
        ("FREQ=DAILY;BYHOUR=25", "25"),
        ("FREQ=MONTHLY;BYMONTHDAY=40", "40"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;COUNT=-1", "COUNT"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20200101", "COUNT and UNTIL"),
        ("FREQ=WEEKLY;BYDAY=XX", "XX"),
        ("FREQ=WEEKLY;BYDAY=MO;BYDAY=TU", "twice"),
        ("FREQ=DAILY;UNTIL=20201340", "20201340"),
        ("FREQ=DAILY;FOO=1", "FOO"),
        ("INTERVAL=2", "no FREQ"),
        ("FREQ", "FREQ"),
    ],
)
def test_garbage_gets_response_format_error_naming_the_text(garbage: str, quoted: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        parse_rrule(garbage, path="$.items[3].recurrence")
    assert info.value.path == "$.items[3].recurrence"
    assert quoted in str(info.value)
    assert not isinstance(info.value, ValueError)  # never a dateutil ValueError


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        b"FREQ=DAILY",
        {"rule": "FREQ=DAILY"},
        ["FREQ=DAILY", 3],
        [],
        ["FREQ=DAILY", "RRULE:FREQ=WEEKLY"],
        ["EXDATE:20240101T000000Z"],
        ["FREQ=DAILY", "EXDATE:notadate"],
        ["FREQ=DAILY", "EXDATE;TZID=Mars/Olympus:20240101T000000"],
        ["FREQ=DAILY", "EXRULE:FREQ=WEEKLY"],
    ],
)
def test_wrong_shapes_get_response_format_error(value: Any) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        parse_rrule(value)
    assert info.value.path is not None
    assert info.value.path.startswith("$.recurrence")


def test_secrets_never_reach_the_message() -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        parse_rrule("access_token=SECRET123 is not a rule")
    assert "SECRET123" not in str(info.value)
    assert "SECRET123" not in repr(info.value)


# --------------------------------------------------------------------------
# WeCom reminders -> Recurrence
# --------------------------------------------------------------------------

THU = datetime(2019, 10, 17, 9, 10, tzinfo=CST)  # 1571274600, a Thursday


@pytest.mark.parametrize(
    ("block", "rule"),
    [
        ({"is_repeat": 1, "repeat_type": 0}, "FREQ=DAILY"),
        ({"is_repeat": 1, "repeat_type": 1}, "FREQ=WEEKLY"),
        ({"is_repeat": 1, "repeat_type": 2}, "FREQ=MONTHLY"),
        ({"is_repeat": 1, "repeat_type": 5}, "FREQ=YEARLY"),
        ({"is_repeat": 1, "repeat_type": 7}, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        (
            {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 1, "repeat_interval": 2,
             "repeat_day_of_week": [7, 1, 3]},
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,SU",
        ),
        (
            {"is_repeat": 1, "repeat_type": 2, "is_custom_repeat": 1, "repeat_interval": 3,
             "repeat_day_of_month": [21, 10]},
            "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10,21",
        ),
        # Day lists only count for the repeat type they belong to (WeCom's doc).
        (
            {"is_repeat": 1, "repeat_type": 0, "is_custom_repeat": 1, "repeat_interval": 4,
             "repeat_day_of_week": [1], "repeat_day_of_month": [5]},
            "FREQ=DAILY;INTERVAL=4",
        ),
        # Not custom: interval and days are ignored.
        (
            {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 0, "repeat_interval": 9,
             "repeat_day_of_week": [2]},
            "FREQ=WEEKLY",
        ),
        (
            {"is_repeat": 1, "repeat_type": 0, "repeat_until": 1606976813},
            "FREQ=DAILY;UNTIL=20201203T062653Z",
        ),
        ({"is_repeat": 1, "repeat_type": 0, "repeat_until": 0}, "FREQ=DAILY"),
    ],
)  # fmt: skip
def test_recurrence_from_wecom_repeat_codes(block: dict[str, Any], rule: str) -> None:
    recurrence = recurrence_from_wecom(block, start=THU)
    assert recurrence == wecal.Recurrence(rrule=rule)


@pytest.mark.parametrize("block", [None, {}, {"is_repeat": 0, "repeat_type": 1}])
def test_not_repeating_is_none(block: dict[str, Any] | None) -> None:
    assert recurrence_from_wecom(block, start=THU) is None


def test_repeat_until_is_utc_and_design_example_has_a_typo() -> None:
    # 1606976813 counted by hand: 2020-12-03 06:26:53 UTC (14:26:53 in Beijing).
    assert datetime(2020, 12, 3, 6, 26, 53, tzinfo=UTC).timestamp() == 1606976813
    recurrence = recurrence_from_wecom({"is_repeat": 1, "repeat_until": 1606976813}, start=THU)
    assert recurrence is not None
    assert "UNTIL=20201203T062653Z" in recurrence.rrule
    assert "063653" not in recurrence.rrule  # DESIGN.md's example minute is off by ten


def test_whole_day_schedules_get_dates() -> None:
    block = {
        "is_repeat": 1,
        "repeat_type": 0,
        "repeat_until": int(datetime(2024, 1, 10, 23, 30, tzinfo=CST).timestamp()),
        "exclude_time_list": [{"start_time": int(datetime(2024, 1, 3, tzinfo=CST).timestamp())}],
    }
    recurrence = recurrence_from_wecom(block, start=date(2024, 1, 1))
    # 2024-01-10 23:30 in +08:00 is 15:30 UTC the same day; either way a date.
    assert recurrence == wecal.Recurrence(
        rrule="FREQ=DAILY;UNTIL=20240110", exdates=(date(2024, 1, 3),)
    )
    # In UTC-10 the same instants fall on the previous local days.
    block["timezone"] = -10
    recurrence = recurrence_from_wecom(block, start=date(2024, 1, 1))
    assert recurrence == wecal.Recurrence(
        rrule="FREQ=DAILY;UNTIL=20240110", exdates=(date(2024, 1, 2),)
    )


def test_exclude_time_list_becomes_exdates_in_the_schedule_offset() -> None:
    block = {"is_repeat": 1, "timezone": -5, "exclude_time_list": [{"start_time": 1571361000}]}
    tz = wecom_timezone(block)
    recurrence = recurrence_from_wecom(block, start=THU.astimezone(tz))
    assert recurrence is not None
    (exdate,) = recurrence.exdates
    assert exdate == datetime(2019, 10, 18, 1, 10, tzinfo=UTC)
    assert isinstance(exdate, datetime)
    assert exdate.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("block", "where"),
    [
        ({"is_repeat": 1, "repeat_type": 3}, "$.reminders.repeat_type"),
        ({"is_repeat": 1, "repeat_type": "weekly"}, "$.reminders.repeat_type"),
        ({"is_repeat": "yes"}, "$.reminders.is_repeat"),
        (
            {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 1, "repeat_day_of_week": [1, 8]},
            "$.reminders.repeat_day_of_week[1]",
        ),
        (
            {"is_repeat": 1, "repeat_type": 1, "is_custom_repeat": 1, "repeat_day_of_week": 3},
            "$.reminders.repeat_day_of_week",
        ),
        (
            {"is_repeat": 1, "repeat_type": 2, "is_custom_repeat": 1, "repeat_day_of_month": [0]},
            "$.reminders.repeat_day_of_month[0]",
        ),
        ({"is_repeat": 1, "repeat_until": -5}, "$.reminders.repeat_until"),
        ({"is_repeat": 1, "timezone": 13}, "$.reminders.timezone"),
        ({"is_repeat": 1, "timezone": "Asia/Shanghai"}, "$.reminders.timezone"),
        ({"is_repeat": 1, "exclude_time_list": {"start_time": 1}}, "$.reminders.exclude_time_list"),
        (
            {"is_repeat": 1, "exclude_time_list": [{}]},
            "$.reminders.exclude_time_list[0].start_time",
        ),
        ({"is_repeat": 1, "exclude_time_list": ["x"]}, "$.reminders.exclude_time_list[0]"),
    ],
)
def test_bad_wecom_blocks_name_the_path(block: dict[str, Any], where: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        recurrence_from_wecom(block, start=THU)
    assert info.value.path == where


def test_reminders_not_an_object() -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        recurrence_from_wecom([1], start=THU, path="$.schedule_list[2].reminders")  # type: ignore[arg-type]
    assert info.value.path == "$.schedule_list[2].reminders"


def test_wecom_timezone() -> None:
    assert wecom_timezone(None) == timezone(timedelta(hours=8))
    assert wecom_timezone({}) == timezone(timedelta(hours=8))
    assert wecom_timezone({"timezone": 0}) == UTC
    assert wecom_timezone({"timezone": -12}).utcoffset(None) == timedelta(hours=-12)
    assert wecom_timezone({"timezone": 12}).utcoffset(None) == timedelta(hours=12)
    with pytest.raises(wecal.ResponseFormatError):
        wecom_timezone({"timezone": 5.5})
    with pytest.raises(wecal.ResponseFormatError):
        wecom_timezone({"timezone": True})


# --------------------------------------------------------------------------
# Recurrence -> WeCom
# --------------------------------------------------------------------------


def _wecom(
    repeat_type: int,
    custom: int = 0,
    interval: int = 1,
    week: list[int] | None = None,
    month: list[int] | None = None,
    until: int = 0,
) -> dict[str, Any]:
    return {
        "is_repeat": 1,
        "repeat_type": repeat_type,
        "is_custom_repeat": custom,
        "repeat_interval": interval,
        "repeat_day_of_week": week or [],
        "repeat_day_of_month": month or [],
        "repeat_until": until,
    }


@pytest.mark.parametrize(
    ("rule", "block"),
    [
        ("FREQ=DAILY", _wecom(0)),
        ("FREQ=WEEKLY", _wecom(1)),
        ("FREQ=MONTHLY", _wecom(2)),
        ("FREQ=YEARLY", _wecom(5)),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", _wecom(7)),
        ("FREQ=WEEKLY;BYDAY=FR,TH,WE,TU,MO", _wecom(7)),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", _wecom(7)),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR", _wecom(7, 1, 2)),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO,WE", _wecom(1, 1, 2, week=[1, 3, 7])),
        ("FREQ=WEEKLY;BYDAY=TH", _wecom(1, 1, 1, week=[4])),
        ("FREQ=MONTHLY;BYMONTHDAY=21,10", _wecom(2, 1, 1, month=[10, 21])),
        ("FREQ=DAILY;INTERVAL=3", _wecom(0, 1, 3)),
        ("FREQ=YEARLY;INTERVAL=1", _wecom(5, 1, 1)),
        ("FREQ=YEARLY;BYMONTH=10;BYMONTHDAY=17", _wecom(5)),  # the start's own date
        ("FREQ=WEEKLY;WKST=MO", _wecom(1)),
        ("FREQ=DAILY;UNTIL=20201203T062653Z", _wecom(0, until=1606976813)),
        # Floating UNTIL: read in the start's zone (+08:00): 14:26:53 local.
        ("FREQ=DAILY;UNTIL=20201203T142653", _wecom(0, until=1606976813)),
        # A date UNTIL: 00:00 that day in the start's zone.
        ("FREQ=DAILY;UNTIL=20201203", _wecom(0, until=1606924800)),
    ],
)
def test_recurrence_to_wecom(rule: str, block: dict[str, Any]) -> None:
    assert recurrence_to_wecom(wecal.Recurrence(rrule=rule), start=THU) == block


def test_to_wecom_none_and_exdates() -> None:
    assert recurrence_to_wecom(None, start=THU) == {"is_repeat": 0}
    # EXDATEs are response-only in WeCom: not written, and not an error.
    with_exdate = wecal.Recurrence(rrule="FREQ=DAILY", exdates=(THU + timedelta(days=1),))
    assert recurrence_to_wecom(with_exdate, start=THU) == _wecom(0)


def test_to_wecom_all_day_until_in_the_given_offset() -> None:
    rule = wecal.Recurrence(rrule="FREQ=DAILY;UNTIL=20240110")
    midnight_cst = int(datetime(2024, 1, 10, tzinfo=CST).timestamp())
    assert recurrence_to_wecom(rule, start=date(2024, 1, 1))["repeat_until"] == midnight_cst
    minus5 = timezone(timedelta(hours=-5))
    midnight_m5 = int(datetime(2024, 1, 10, tzinfo=minus5).timestamp())
    assert (
        recurrence_to_wecom(rule, start=date(2024, 1, 1), tz=minus5)["repeat_until"] == midnight_m5
    )


@pytest.mark.parametrize(
    ("rule", "feature"),
    [
        ("FREQ=DAILY;COUNT=10", "COUNT"),
        ("FREQ=MONTHLY;BYDAY=TU,WE,TH;BYSETPOS=3", "BYSETPOS"),
        ("FREQ=YEARLY;BYMONTH=6,7", "BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=6", "BYMONTH"),  # not the start's month (October)
        ("FREQ=HOURLY", "FREQ"),
        ("FREQ=MINUTELY;INTERVAL=15", "FREQ"),
        ("FREQ=MONTHLY;BYDAY=1FR", "BYDAY"),
        ("FREQ=WEEKLY;BYDAY=1FR", "BYDAY"),
        ("FREQ=DAILY;BYDAY=MO,WE", "BYDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=-3", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYMONTHDAY=1", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYYEARDAY=1,100", "BYYEARDAY"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "BYWEEKNO"),
        ("FREQ=DAILY;BYHOUR=9,10", "BYHOUR"),
        ("FREQ=WEEKLY;INTERVAL=2;WKST=SU", "WKST"),
    ],
)
def test_to_wecom_unsupported_names_the_part(rule: str, feature: str) -> None:
    with pytest.raises(wecal.UnsupportedError) as info:
        recurrence_to_wecom(wecal.Recurrence(rrule=rule), start=THU)
    assert info.value.feature == feature
    assert feature in str(info.value)


def test_to_wecom_rdates_unsupported() -> None:
    recurrence = wecal.Recurrence(rrule="FREQ=DAILY", rdates=(THU + timedelta(hours=5),))
    with pytest.raises(wecal.UnsupportedError) as info:
        recurrence_to_wecom(recurrence, start=THU)
    assert info.value.feature == "RDATE"


def test_to_wecom_garbage_rule_is_response_format_error() -> None:
    with pytest.raises(wecal.ResponseFormatError):
        recurrence_to_wecom(wecal.Recurrence(rrule="sometimes"), start=THU)


# --------------------------------------------------------------------------
# Seeds: golden cases
# --------------------------------------------------------------------------


def _wecom_seed() -> dict[str, Any]:
    data = json.loads((DATA / "wecom-schedule-get.json").read_text())
    schedule: dict[str, Any] = data["schedule_list"][0]
    return schedule


def _count_weekdays(first: date, last: date, minus: set[date]) -> int:
    """Monday–Friday days in [first, last], counted one by one."""
    total, day = 0, first
    while day <= last:
        if day.weekday() < 5 and day not in minus:
            total += 1
        day += timedelta(days=1)
    return total


def test_wecom_seed_expands_to_295_occurrences() -> None:
    schedule = _wecom_seed()
    reminders = schedule["reminders"]
    tz = wecom_timezone(reminders)
    start = datetime.fromtimestamp(schedule["start_time"], tz)
    end = datetime.fromtimestamp(schedule["end_time"], tz)
    assert start == datetime(2019, 10, 17, 9, 10, tzinfo=CST)  # a Thursday
    recurrence = recurrence_from_wecom(reminders, start=start, path="$.schedule_list[0].reminders")
    event = wecal.Event(
        provider=wecal.Provider.WECOM,
        id=schedule["schedule_id"],
        start=start,
        end=end,
        timezone="+08:00",
        recurrence=recurrence,
    )
    occurrences = list(expand(event, *ALL_TIME))
    # Hand count: workdays from the start day to the repeat_until day
    # (2020-12-03 14:26:53 +08:00, after that day's 09:10), minus the one
    # excluded day 1571361000 = 2019-10-18 (a Friday).
    expected = _count_weekdays(date(2019, 10, 17), date(2020, 12, 3), {date(2019, 10, 18)})
    assert expected == 295
    assert len(occurrences) == expected
    assert occurrences[0].start == start
    assert occurrences[1].start == datetime(2019, 10, 21, 9, 10, tzinfo=CST)  # Fri excluded
    assert occurrences[-1].start == datetime(2020, 12, 3, 9, 10, tzinfo=CST)
    assert all(o.start.weekday() < 5 for o in occurrences)
    assert all(o.end - o.start == end - start for o in occurrences)
    # Honouring repeat_day_of_week [3, 7] instead would give Wednesdays and
    # Sundays: a different count, so the seed rules that reading out.
    we_su, day = 0, date(2019, 10, 17)
    while day <= date(2020, 12, 3):
        we_su += day.weekday() in (2, 6)
        day += timedelta(days=1)
    assert we_su != 295


def test_wecom_seed_as_whole_day_also_gives_295() -> None:
    reminders = _wecom_seed()["reminders"]
    recurrence = recurrence_from_wecom(reminders, start=date(2019, 10, 17))
    assert recurrence is not None
    assert recurrence.rrule == "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR;UNTIL=20201203"
    assert recurrence.exdates == (date(2019, 10, 18),)
    event = _event(
        date(2019, 10, 17), date(2019, 10, 18), recurrence.rrule, exdates=recurrence.exdates
    )
    days = _starts(event)
    assert len(days) == 295
    assert days[0] == date(2019, 10, 17)
    assert days[-1] == date(2020, 12, 3)


def test_wecom_seed_round_trips_to_the_block_wecom_can_say() -> None:
    schedule = _wecom_seed()
    reminders = schedule["reminders"]
    start = datetime.fromtimestamp(schedule["start_time"], wecom_timezone(reminders))
    recurrence = recurrence_from_wecom(reminders, start=start)
    assert recurrence_to_wecom(recurrence, start=start) == {
        "is_repeat": 1,
        "repeat_type": 7,
        "is_custom_repeat": 1,
        "repeat_interval": 1,
        "repeat_day_of_week": [],  # meaningless for workdays: dropped
        "repeat_day_of_month": [],
        "repeat_until": 1606976813,
    }


def test_dingtalk_seed_rule_expands_as_written() -> None:
    item = json.loads((DATA / "dingtalk-calendar-list.json").read_text())["result"]["items"][0]
    recurrence = parse_rrule(item["recurrence"])
    start = datetime.fromisoformat(item["start"]["date_time"]).astimezone(SHANGHAI)
    event = _event(start, start + timedelta(hours=1), recurrence.rrule, timezone="Asia/Shanghai")
    got = _starts(event, (start, datetime(2024, 1, 1, tzinfo=UTC)))
    # The start itself (off the rule, yet always the first instance: RFC 5545
    # §3.8.5.3), then every other year from 2019 (2019's January is before
    # the start, so 2021 is the first), each January Sunday at 08 and 09
    # o'clock with the start's minutes and seconds: typed in from a 2021/2023
    # calendar.
    sundays = [date(2021, 1, d) for d in (3, 10, 17, 24, 31)] + [
        date(2023, 1, d) for d in (1, 8, 15, 22, 29)
    ]
    expected = [datetime(2019, 3, 1, 23, 8, 53, tzinfo=SHANGHAI)] + [
        datetime(d.year, d.month, d.day, hour, 8, 53, tzinfo=SHANGHAI)
        for d in sundays
        for hour in (8, 9)
    ]
    assert got == expected
    # As an all-day event the BYHOUR pair collapses to one occurrence a day.
    all_day = _event(date(2018, 8, 8), date(2018, 8, 9), recurrence.rrule)
    days = _starts(all_day, (datetime(2018, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)))
    assert days == [date(2018, 8, 8)] + [date(2020, 1, d) for d in (5, 12, 19, 26)]


# --------------------------------------------------------------------------
# Expansion semantics
# --------------------------------------------------------------------------


def test_occurrence_fields() -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=SHANGHAI)
    master = _event(
        start,
        start + timedelta(minutes=45),
        "FREQ=DAILY;COUNT=3",
        summary="周会",
        timezone="Asia/Shanghai",
        status=wecal.EventStatus.CANCELLED,
        attendees=(wecal.Attendee(id="u1"),),
    )
    occurrences = list(expand(master, *ALL_TIME))
    assert [o.id for o in occurrences] == [
        "m1_20240603T020000Z",
        "m1_20240604T020000Z",
        "m1_20240605T020000Z",
    ]
    second = occurrences[1]
    assert second.series_id == "m1"
    assert second.recurrence_id == datetime(2024, 6, 4, 2, tzinfo=UTC)
    assert second.recurrence is None
    assert second.start == datetime(2024, 6, 4, 10, tzinfo=SHANGHAI)
    assert second.end == datetime(2024, 6, 4, 10, 45, tzinfo=SHANGHAI)
    assert second.summary == "周会"
    assert second.attendees == master.attendees
    assert second.status is wecal.EventStatus.CANCELLED  # a cancelled series stays cancelled
    assert second.is_occurrence
    assert not second.is_recurring


def test_occurrence_id_formats() -> None:
    assert occurrence_id("s", datetime(2024, 6, 3, 10, tzinfo=SHANGHAI)) == "s_20240603T020000Z"
    assert occurrence_id("s", date(2024, 6, 3)) == "s_20240603"
    with pytest.raises(wecal.ValidationError):
        occurrence_id("s", datetime(2024, 6, 3, 10))
    with pytest.raises(wecal.ValidationError):
        occurrence_id("s", "2024-06-03")  # type: ignore[arg-type]


def test_non_recurring_event_yields_itself_when_it_overlaps() -> None:
    start = datetime(2024, 6, 3, 10, tzinfo=UTC)
    event = _event(start, start + timedelta(hours=1))
    hour = timedelta(hours=1)
    assert list(expand(event, start - hour, start + hour)) == [event]
    assert list(expand(event, start + hour - timedelta(seconds=1), start + 3 * hour)) == [event]
    assert list(expand(event, start + hour, start + 2 * hour)) == []  # end is exclusive
    assert list(expand(event, start - hour, start)) == []  # window end is exclusive
    point = _event(start, start)
    assert list(expand(point, start, start + hour)) == [point]
    assert list(expand(point, start - hour, start)) == []


def test_all_day_window_edges_are_never_off_by_one() -> None:
    event = _event(date(2024, 6, 3), date(2024, 6, 4), timezone="Asia/Shanghai")
    # 2024-06-03 00:00 in Shanghai is 2024-06-02 16:00 UTC.
    day_start = datetime(2024, 6, 2, 16, tzinfo=UTC)
    second = timedelta(seconds=1)
    assert list(expand(event, day_start - second, day_start)) == []
    assert list(expand(event, day_start, day_start + second)) == [event]
    day_end = day_start + timedelta(days=1)
    assert list(expand(event, day_end - second, day_end)) == [event]
    assert list(expand(event, day_end, day_end + second)) == []
    # Without a zone the window's own zone decides.
    floating = _event(date(2024, 6, 3), date(2024, 6, 4))
    window_tz = timezone(timedelta(hours=-7))
    begin = datetime(2024, 6, 3, tzinfo=window_tz)
    assert list(expand(floating, begin - second, begin)) == []
    assert list(expand(floating, begin, begin + second)) == [floating]


def test_all_day_series_dates_and_exdates() -> None:
    event = _event(
        date(2024, 2, 27),
        date(2024, 2, 29),  # two days long
        "FREQ=DAILY;COUNT=5",
        exdates=(date(2024, 2, 29), datetime(2024, 3, 1, 20, tzinfo=UTC)),
        timezone="Asia/Shanghai",
    )
    occurrences = list(expand(event, *ALL_TIME))
    # 2024-03-01 20:00 UTC is 2024-03-02 04:00 in Shanghai: that day goes.
    assert [o.start for o in occurrences] == [
        date(2024, 2, 27),
        date(2024, 2, 28),
        date(2024, 3, 1),
    ]
    assert [o.end for o in occurrences] == [date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 3)]
    assert [o.id for o in occurrences] == ["m1_20240227", "m1_20240228", "m1_20240301"]
    assert all(o.recurrence_id == o.start and o.all_day for o in occurrences)
    # A two-day occurrence overlapping the window's start is included.
    window = (datetime(2024, 2, 28, 17, tzinfo=UTC), datetime(2024, 2, 28, 18, tzinfo=UTC))
    assert [o.start for o in expand(event, *window)] == [date(2024, 2, 28)]


def test_all_day_with_utc_until() -> None:
    # WeCom-style UNTIL instant on an all-day series: its local day is the last.
    event = _event(
        date(2024, 1, 1), date(2024, 1, 2), "FREQ=DAILY;UNTIL=20240103T170000Z", timezone="+08:00"
    )
    assert _starts(event) == [date(2024, 1, d) for d in (1, 2, 3, 4)]  # 01:00 on the 4th in +08


def test_dst_keeps_wall_clock_in_berlin_and_new_york() -> None:
    berlin = _event(
        datetime(2024, 3, 29, 9, tzinfo=BERLIN),
        datetime(2024, 3, 29, 10, tzinfo=BERLIN),
        "FREQ=DAILY;COUNT=4",
        timezone="Europe/Berlin",
    )
    assert [s.utcoffset() for s in _starts(berlin)] == [timedelta(hours=h) for h in (1, 1, 2, 2)]
    assert [(s.day, s.hour) for s in _starts(berlin)] == [(29, 9), (30, 9), (31, 9), (1, 9)]
    # In UTC: 08:00, 08:00, then 07:00 after the change on 2024-03-31.
    assert [s.astimezone(UTC).hour for s in _starts(berlin)] == [8, 8, 7, 7]
    new_york = _event(
        datetime(2024, 11, 1, 9, tzinfo=NEW_YORK),
        datetime(2024, 11, 1, 10, tzinfo=NEW_YORK),
        "FREQ=WEEKLY;BYDAY=FR,MO;COUNT=3",
        timezone="America/New_York",
    )
    assert [s.astimezone(UTC) for s in _starts(new_york)] == [
        datetime(2024, 11, 1, 13, tzinfo=UTC),  # EDT
        datetime(2024, 11, 4, 14, tzinfo=UTC),  # EST after 2024-11-03
        datetime(2024, 11, 8, 14, tzinfo=UTC),
    ]


def test_iana_timezone_wins_over_the_start_offset() -> None:
    # DingTalk gives "+0800"-style offsets plus a zone name: follow the zone.
    start = datetime(2024, 3, 29, 9, tzinfo=timezone(timedelta(hours=1)))
    event = _event(
        start, start + timedelta(hours=1), "FREQ=DAILY;COUNT=3", timezone="Europe/Berlin"
    )
    assert [s.hour for s in _starts(event)] == [9, 9, 9]
    assert _starts(event)[2].utcoffset() == timedelta(hours=2)


def test_fixed_offsets_never_shift() -> None:
    plus1 = timezone(timedelta(hours=1))
    event = _event(
        datetime(2024, 3, 29, 9, tzinfo=plus1),
        datetime(2024, 3, 29, 10, tzinfo=plus1),
        "FREQ=DAILY;COUNT=4",
        timezone="+01:00",
    )
    assert [s.astimezone(UTC).hour for s in _starts(event)] == [8, 8, 8, 8]


def test_time_in_a_dst_gap_moves_forward() -> None:
    # 2024-03-31 02:30 does not exist in Berlin: RFC 5545 §3.3.5 reads it with
    # the offset before the gap, i.e. 01:30 UTC = 03:30 CEST.
    event = _event(
        datetime(2024, 3, 30, 2, 30, tzinfo=BERLIN),
        datetime(2024, 3, 30, 3, 0, tzinfo=BERLIN),
        "FREQ=DAILY;COUNT=3",
        timezone="Europe/Berlin",
    )
    assert [s.astimezone(UTC) for s in _starts(event)] == [
        datetime(2024, 3, 30, 1, 30, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
        datetime(2024, 4, 1, 0, 30, tzinfo=UTC),
    ]
    assert [(s.hour, s.minute) for s in _starts(event)] == [(2, 30), (3, 30), (2, 30)]


def test_hourly_across_the_gap_is_sorted_and_unique() -> None:
    event = _event(
        datetime(2024, 3, 31, 0, tzinfo=BERLIN),
        datetime(2024, 3, 31, 0, 30, tzinfo=BERLIN),
        "FREQ=HOURLY;COUNT=5",
        timezone="Europe/Berlin",
    )
    # Wall 00, 01, 02 (→ 03:00 CEST), 03, 04: the 02 and 03 are one instant.
    assert [s.astimezone(UTC) for s in _starts(event)] == [
        datetime(2024, 3, 30, 23, tzinfo=UTC),
        datetime(2024, 3, 31, 0, tzinfo=UTC),
        datetime(2024, 3, 31, 1, tzinfo=UTC),
        datetime(2024, 3, 31, 2, tzinfo=UTC),
    ]
    minutely = _event(
        datetime(2024, 3, 31, 1, 50, tzinfo=BERLIN),
        datetime(2024, 3, 31, 1, 50, tzinfo=BERLIN),
        "FREQ=MINUTELY;INTERVAL=5",
        timezone="Europe/Berlin",
    )
    window = (datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 3, tzinfo=UTC))
    instants = [s.astimezone(UTC) for s in _starts(minutely, window)]
    # Every five minutes from 00:50 UTC to 02:55 UTC, each once, in order.
    expected = [
        datetime(2024, 3, 31, 0, 50, tzinfo=UTC) + timedelta(minutes=5 * k) for k in range(26)
    ]
    assert instants == expected


def test_fall_back_ambiguous_time_is_the_first() -> None:
    event = _event(
        datetime(2024, 10, 26, 2, 30, tzinfo=BERLIN),
        datetime(2024, 10, 26, 3, 0, tzinfo=BERLIN),
        "FREQ=DAILY;COUNT=2",
        timezone="Europe/Berlin",
    )
    # 2024-10-27 02:30 happens twice; the first is CEST (00:30 UTC).
    assert _starts(event)[1].astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_until_in_utc_with_a_zoned_start() -> None:
    start = datetime(2024, 1, 8, 9, tzinfo=BERLIN)  # 08:00 UTC

    def days(rule: str) -> list[int]:
        event = _event(start, start + timedelta(hours=1), rule, timezone="Europe/Berlin")
        return [s.day for s in _starts(event)]

    assert days("FREQ=DAILY;UNTIL=20240110T080000Z") == [8, 9, 10]
    assert days("FREQ=DAILY;UNTIL=20240110T075959Z") == [8, 9]
    # Floating UNTIL: Berlin wall time.
    assert days("FREQ=DAILY;UNTIL=20240110T090000") == [8, 9, 10]
    assert days("FREQ=DAILY;UNTIL=20240110T085959") == [8, 9]
    # A date UNTIL keeps that whole day (RFC 5545: inclusive).
    assert days("FREQ=DAILY;UNTIL=20240110") == [8, 9, 10]


def test_count_exdate_and_rdate() -> None:
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    event = _event(
        start,
        start + timedelta(hours=1),
        "FREQ=DAILY;COUNT=5",
        exdates=(datetime(2024, 1, 2, 10, tzinfo=timezone(timedelta(hours=1))), date(2024, 1, 4)),
        rdates=(
            datetime(2024, 1, 20, 15, tzinfo=UTC),
            date(2024, 1, 21),
            datetime(2024, 1, 3, 9, tzinfo=UTC),
        ),
    )
    # COUNT counts before exclusion (RFC 5545); the rdate on the 3rd is a duplicate.
    assert _starts(event) == [
        datetime(2024, 1, 1, 9, tzinfo=UTC),
        datetime(2024, 1, 3, 9, tzinfo=UTC),
        datetime(2024, 1, 5, 9, tzinfo=UTC),
        datetime(2024, 1, 20, 15, tzinfo=UTC),
        datetime(2024, 1, 21, 9, tzinfo=UTC),  # a date rdate takes the start's time
    ]


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
def test_infinite_rules_are_lazy_and_bounded_by_the_window() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    year = (start, datetime(2025, 1, 1, tzinfo=UTC))
    secondly = _event(start, start, "FREQ=SECONDLY")
    first = list(islice(expand(secondly, *year), 3))
    assert [o.start for o in first] == [start + timedelta(seconds=k) for k in range(3)]
    minutely = _event(start, start + timedelta(minutes=1), "FREQ=MINUTELY")
    late = (datetime(2024, 12, 31, 23, 58, tzinfo=UTC), year[1])
    # 23:57 ends at 23:58, exactly where the window starts: not included.
    assert [o.start.minute for o in expand(minutely, *late)] == [58, 59]  # type: ignore[attr-defined]
    daily = _event(start, start + timedelta(hours=1), "FREQ=DAILY")
    assert len(list(expand(daily, *year))) == 366


def test_occurrence_that_started_before_the_window_overlaps_it() -> None:
    start = datetime(2024, 1, 1, 22, tzinfo=UTC)
    event = _event(start, start + timedelta(hours=4), "FREQ=DAILY;COUNT=3")
    window = (datetime(2024, 1, 2, 1, tzinfo=UTC), datetime(2024, 1, 2, 2, tzinfo=UTC))
    assert [o.start for o in expand(event, *window)] == [start]


def test_bad_window_is_a_validation_error() -> None:
    event = _event(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC))
    with pytest.raises(wecal.ValidationError, match="aware"):
        expand(event, datetime(2024, 1, 1), datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(wecal.ValidationError, match="aware"):
        expand(event, datetime(2024, 1, 1, tzinfo=UTC), "2024-01-02")  # type: ignore[arg-type]
    with pytest.raises(wecal.ValidationError, match="before"):
        expand(event, datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    assert list(expand(event, *[datetime(2024, 1, 1, tzinfo=UTC)] * 2)) == []


def test_unreadable_rule_fails_at_the_call() -> None:
    event = _event(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC), "whenever"
    )
    with pytest.raises(wecal.ResponseFormatError) as info:
        expand(event, *ALL_TIME)
    assert info.value.path == "$.recurrence.rrule"
    assert "whenever" in str(info.value)


def test_rule_that_never_matches_its_start_is_valid_and_empty() -> None:
    # dateutil itself raises for this (an even-hour start never reaches hour 1
    # in steps of two); it is a valid rule whose only instance is the start.
    assert normalize_rrule("FREQ=HOURLY;INTERVAL=2;BYHOUR=1") == "FREQ=HOURLY;INTERVAL=2;BYHOUR=1"
    start = datetime(2024, 1, 1, 0, tzinfo=UTC)
    event = _event(start, start, "FREQ=HOURLY;INTERVAL=2;BYHOUR=1")
    assert _starts(event) == [start]
    odd = _event(
        start + timedelta(hours=1),
        start + timedelta(hours=1),
        "FREQ=HOURLY;INTERVAL=2;BYHOUR=1;COUNT=2",
    )
    assert _starts(odd) == [start + timedelta(hours=1), start + timedelta(days=1, hours=1)]


def test_windows_at_the_ends_of_time_stop_quietly() -> None:
    lo, hi = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    late = datetime(9999, 12, 30, tzinfo=UTC)
    daily = _event(late, late + timedelta(hours=1), "FREQ=DAILY")
    assert _starts(daily, (lo, hi)) == [late, late + timedelta(days=1)]
    assert _starts(daily, (lo, lo)) == []
    assert _starts(daily, (hi, hi)) == []
    early = datetime(1, 1, 2, tzinfo=UTC)
    yearly = _event(early, early + timedelta(hours=1), "FREQ=YEARLY;COUNT=3")
    assert _starts(yearly, (lo, hi)) == [early.replace(year=y) for y in (1, 2, 3)]
    # The 9999-12-31 all-day occurrence would end in year 10000: time ends first.
    all_day = _event(date(9999, 12, 30), date(9999, 12, 31), "FREQ=DAILY")
    assert _starts(all_day, (lo, hi)) == [date(9999, 12, 30)]
    first = _event(date(1, 1, 1), date(1, 1, 2), "FREQ=DAILY;COUNT=2")
    assert _starts(first, (lo, hi)) == [date(1, 1, 1), date(1, 1, 2)]


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "rule", ["FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYMONTH=4,6;BYMONTHDAY=31,-31"]
)
def test_a_rule_naming_no_real_day_is_empty_at_once(rule: str) -> None:
    # February 30 and April/June 31 never exist; dateutil alone would search
    # day by day up to year 9999 (seconds per event) before saying so.
    start = datetime(2024, 1, 1, tzinfo=UTC)
    window = (start, datetime(2034, 1, 1, tzinfo=UTC))
    # The start is the only instance (DTSTART always is one).
    assert _starts(_event(start, start, rule), window) == [start]
    assert _starts(_event(start.date(), start.date(), rule), window) == [start.date()]
