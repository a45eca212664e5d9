"""Hypothesis strategies for wecal models, shared by the test modules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

import wecal

ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")
OFFSETS = ("+08:00", "-05:00", "+00:00", "+05:45")

# Chinese text, emoji and the odd control character a provider might send.
text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from("周会日程会议室张三李四🎉📅✅"),
    ),
    max_size=30,
)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)


def _offset_tz(name: str) -> timezone:
    sign = -1 if name[0] == "-" else 1
    hours, minutes = int(name[1:3]), int(name[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@st.composite
def zoned_datetimes(draw: st.DrawFn, tz_name: str | None = None) -> datetime:
    """An aware datetime in an IANA zone, a fixed offset or UTC."""
    naive = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31)))
    if tz_name is None:
        return naive.replace(tzinfo=UTC)
    if tz_name[0] in "+-":
        return naive.replace(tzinfo=_offset_tz(tz_name))
    return naive.replace(tzinfo=ZoneInfo(tz_name), fold=draw(st.sampled_from((0, 1))))


@st.composite
def events(draw: st.DrawFn) -> wecal.Event:
    """Any valid Event: all-day or timed, every enum value, odd text."""
    all_day = draw(st.booleans())
    tz_name = draw(st.one_of(st.none(), st.sampled_from(ZONES + OFFSETS)))
    exdates: tuple[datetime | date, ...]
    if all_day:
        start_d = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)))
        start: datetime | date = start_d
        end: datetime | date = start_d + timedelta(days=draw(st.integers(1, 30)))
        exdates = tuple(
            start_d + timedelta(days=7 * k) for k in draw(st.sets(st.integers(1, 10), max_size=3))
        )
        recurrence_id: datetime | date | None = draw(st.none() | st.just(start_d))
    else:
        start_dt = draw(zoned_datetimes(tz_name))
        start = start_dt
        end = start_dt + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
        exdates = tuple(
            start_dt + timedelta(days=k) for k in draw(st.sets(st.integers(1, 10), max_size=3))
        )
        recurrence_id = draw(st.none() | st.just(start_dt))
    recurrence = draw(
        st.none()
        | st.builds(
            wecal.Recurrence,
            rrule=st.sampled_from(("FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=YEARLY")),
            exdates=st.just(exdates),
        )
    )
    attendees = draw(
        st.lists(
            st.builds(
                wecal.Attendee,
                id=ids,
                display_name=text,
                response=st.sampled_from(wecal.ResponseStatus),
                optional=st.booleans(),
            ),
            max_size=4,
        )
    )
    moments = st.none() | zoned_datetimes(tz_name)
    return wecal.Event(
        provider=draw(st.sampled_from(wecal.Provider)),
        id=draw(ids),
        calendar_id=draw(st.none() | ids),
        summary=draw(text),
        description=draw(text),
        location=draw(text),
        start=start,
        end=end,
        timezone=tz_name,
        recurrence=recurrence,
        series_id=draw(st.none() | ids),
        recurrence_id=recurrence_id,
        status=draw(st.sampled_from(wecal.EventStatus)),
        organizer=draw(st.none() | st.builds(wecal.Person, id=ids, display_name=text)),
        attendees=tuple(attendees),
        reminders=tuple(
            draw(
                st.lists(
                    st.timedeltas(timedelta(days=-7), timedelta(days=1)).map(
                        lambda d: timedelta(seconds=round(d.total_seconds(), 3))
                    ),
                    max_size=3,
                )
            )
        ),
        meeting_url=draw(st.none() | st.just("https://meeting.example/j/123")),
        created=draw(moments),
        updated=draw(moments),
        raw=draw(st.dictionaries(ids, st.integers() | text, max_size=3)),
    )
