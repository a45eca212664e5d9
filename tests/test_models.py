"""The normalized models: construction rules and the to_dict/from_dict round trip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given

import wecal

from .strategies import events

SH = ZoneInfo("Asia/Shanghai")


def _event(**kw: object) -> wecal.Event:
    base: dict[str, object] = {
        "provider": wecal.Provider.WECOM,
        "id": "s1",
        "start": datetime(2024, 6, 3, 10, tzinfo=SH),
        "end": datetime(2024, 6, 3, 11, tzinfo=SH),
    }
    base.update(kw)
    return wecal.Event(**base)  # type: ignore[arg-type]


def test_only_provider_id_start_end_are_required() -> None:
    """Every other field has a default."""
    required = [a.name for a in attrs.fields(wecal.Event) if a.default is attrs.NOTHING]
    assert sorted(required) == ["end", "id", "provider", "start"]


def test_defaults() -> None:
    ev = _event()
    assert ev.summary == ev.description == ev.location == ""
    assert ev.all_day is False
    assert ev.status is wecal.EventStatus.CONFIRMED
    assert ev.attendees == ev.reminders == ()
    assert ev.recurrence is ev.organizer is ev.series_id is None
    assert dict(ev.raw) == {}


def test_start_datetime_is_typed_and_keeps_timed_starts() -> None:
    ev = _event()
    assert ev.start_datetime is ev.start
    assert ev.end_datetime is ev.end


@pytest.mark.parametrize(
    ("zone", "utc_hour_before"),
    [(None, 0), ("Asia/Shanghai", 8), ("+05:30", 5.5), ("America/New_York", -4)],
)
def test_start_datetime_of_all_day_is_midnight_in_its_zone(
    zone: str | None, utc_hour_before: float
) -> None:
    """All-day on D: D 00:00 in the event's zone (UTC without one); end is D+1 00:00."""
    ev = _event(start=date(2024, 6, 3), end=date(2024, 6, 4), timezone=zone)
    # Midnight local is ``utc_hour_before`` hours before (after, if negative) UTC midnight.
    expected = datetime(2024, 6, 3, tzinfo=UTC) - timedelta(hours=utc_hour_before)
    assert ev.start_datetime == expected
    assert ev.start_datetime.utcoffset() == timedelta(hours=utc_hour_before)
    assert ev.end_datetime - ev.start_datetime == timedelta(days=1)


def test_all_day_is_derived_from_dates() -> None:
    ev = _event(start=date(2024, 6, 3), end=date(2024, 6, 4))
    assert ev.all_day is True


def test_models_are_frozen() -> None:
    ev = _event()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ev.summary = "x"  # type: ignore[misc]


@pytest.mark.parametrize("field", ["start", "end"])
def test_naive_datetime_is_rejected(field: str) -> None:
    with pytest.raises(wecal.ValidationError, match=f"Event.{field}: naive datetime"):
        _event(**{field: datetime(2024, 6, 3, 10, 30)})


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        _event(start=datetime(2024, 6, 3, 10))


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(wecal.ValidationError, match="is before start"):
        _event(end=datetime(2024, 6, 3, 9, tzinfo=SH))


def test_end_before_start_compares_instants_across_zones() -> None:
    """11:00 in Shanghai is 03:00 UTC: an end at 04:00 UTC is after it."""
    ev = _event(start=datetime(2024, 6, 3, 11, tzinfo=SH), end=datetime(2024, 6, 3, 4, tzinfo=UTC))
    assert ev.end > ev.start  # type: ignore[operator]


def test_mixed_date_and_datetime_rejected() -> None:
    with pytest.raises(wecal.ValidationError, match="two dates"):
        _event(start=date(2024, 6, 3))


def test_all_day_flag_must_match() -> None:
    with pytest.raises(wecal.ValidationError, match="all_day"):
        _event(all_day=True)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "+8", "GMT+8", "", 8, "a" * 5000, "../etc"])
def test_bad_timezone_rejected(bad: object) -> None:
    with pytest.raises(wecal.ValidationError, match="timezone"):
        _event(timezone=bad)


@pytest.mark.parametrize("good", ["Asia/Shanghai", "+08:00", "-12:00", "UTC", "+05:45"])
def test_good_timezones(good: str) -> None:
    assert _event(timezone=good).timezone == good


def test_string_start_rejected_with_clear_error() -> None:
    with pytest.raises(wecal.ValidationError, match="expected an aware datetime or a date"):
        _event(start="2024-06-03T10:00:00+08:00")


def test_lists_become_tuples_and_enums_convert() -> None:
    ev = _event(
        provider="dingtalk",
        status="cancelled",
        attendees=[wecal.Attendee(id="u1", response="declined")],
        reminders=[timedelta(minutes=-5)],
    )
    assert ev.provider is wecal.Provider.DINGTALK
    assert ev.status is wecal.EventStatus.CANCELLED
    assert ev.attendees == (wecal.Attendee(id="u1", response=wecal.ResponseStatus.DECLINED),)
    assert ev.reminders == (timedelta(minutes=-5),)


def test_bad_enum_value_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="confirmd"):
        _event(status="confirmd")


def test_raw_is_not_part_of_equality() -> None:
    assert _event(raw={"a": 1}) == _event(raw={"b": 2})
    assert hash(_event(raw={"a": 1})) == hash(_event())


def test_recurrence_rejects_naive_exdate() -> None:
    with pytest.raises(wecal.ValidationError, match=r"exdates\[0\]"):
        wecal.Recurrence(rrule="FREQ=DAILY", exdates=[datetime(2024, 1, 1)])


def test_recurrence_rejects_empty_rule() -> None:
    with pytest.raises(wecal.ValidationError, match="rrule"):
        wecal.Recurrence(rrule=" ")


def test_calendar_model() -> None:
    cal = wecal.Calendar(
        provider="wecom",
        id="wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA",
        summary="test_summary",
        admins=["admin1"],
        shares=[wecal.CalendarShare(user_id="u", permission="free_busy")],
    )
    assert cal.admins == ("admin1",)
    assert cal.shares[0].permission is wecal.SharePermission.FREE_BUSY


# --- to_dict / from_dict ----------------------------------------------------------


def test_to_dict_is_plain_json() -> None:
    ev = _event(
        reminders=[timedelta(minutes=-15), timedelta(seconds=1.5)],
        attendees=[wecal.Attendee(id="u1", response="accepted")],
        timezone="Asia/Shanghai",
    )
    data = wecal.to_dict(ev)
    assert json.loads(json.dumps(data)) == data
    assert data["start"] == "2024-06-03T10:00:00+08:00"
    assert data["reminders"] == [-900, 1.5]
    assert type(data["reminders"][0]) is int
    assert data["provider"] == "wecom"
    assert type(data["provider"]) is str
    assert data["attendees"][0]["response"] == "accepted"
    assert "raw" not in data


def test_to_dict_all_day_dates() -> None:
    data = wecal.to_dict(_event(start=date(2024, 6, 3), end=date(2024, 6, 4)))
    assert (data["start"], data["end"], data["all_day"]) == ("2024-06-03", "2024-06-04", True)


def test_to_dict_include_raw() -> None:
    assert wecal.to_dict(_event(raw={"x": [1]}), include_raw=True)["raw"] == {"x": [1]}


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@given(events())
def test_round_trip_is_exact(event: wecal.Event) -> None:
    """from_dict(json(to_dict(e))) == e, with tz and types preserved."""
    data = json.loads(json.dumps(wecal.to_dict(event, include_raw=True), ensure_ascii=False))
    back = wecal.from_dict(data)
    assert back == event
    assert dict(back.raw) == dict(event.raw)
    # Beyond equality (which compares instants): same wall clock and offset.
    for name in ("start", "end", "recurrence_id", "created", "updated"):
        a, b = getattr(event, name), getattr(back, name)
        assert type(a) is type(b)
        if isinstance(a, datetime):
            assert a.isoformat() == b.isoformat()
    if event.timezone and "/" in event.timezone and isinstance(event.start, datetime):
        assert back.start.tzinfo == ZoneInfo(event.timezone)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"provider": "wecom", "id": "1", "start": "2024-06-03"}, "$.end"),
        ({"provider": "wecom", "id": None, "start": "2024-06-03", "end": "2024-06-04"}, "$.id"),
        ({"provider": "qq", "id": "1", "start": "2024-06-03", "end": "2024-06-04"}, "$.provider"),
        ({"provider": "wecom", "id": "1", "start": "soon", "end": "2024-06-04"}, "$.start"),
        (
            {
                "provider": "wecom",
                "id": "1",
                "start": "2024-06-03",
                "end": "2024-06-04",
                "reminders": ["-900"],
            },
            "$.reminders[0]",
        ),
        (
            {
                "provider": "wecom",
                "id": "1",
                "start": "2024-06-03",
                "end": "2024-06-04",
                "all_day": "true",
            },
            "$.all_day",
        ),
        (
            {
                "provider": "wecom",
                "id": "1",
                "start": "2024-06-03T10:00:00",
                "end": "2024-06-03T11:00:00",
            },
            "naive",
        ),
        ([1, 2], "$"),
    ],
)
def test_from_dict_errors_name_the_path(data: object, where: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        wecal.from_dict(data)  # type: ignore[arg-type]
    assert where in str(info.value)
