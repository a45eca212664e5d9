"""
The .ics export means the same as the events: expanding the exported file
with `recurring-ical-events` (an independent RFC 5545 implementation) gives
the occurrences `wecal.expand` gives, for generated WeCom and DingTalk data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import icalendar
import pytest
import recurring_ical_events

import wecal
from wecal.export import IcsWriter
from wecal.providers.dingtalk_legacy._convert import item_to_event
from wecal.providers.wecom._convert import schedule_to_event
from wecal.sandbox import Sandbox, generate

WINDOW = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ics_expansion_matches_wecal_expand(sandbox: Sandbox, seed: int) -> None:
    summary = generate(
        sandbox,
        seed=seed,
        wecom_calendars=1,
        schedules_per_calendar=60,
        dingtalk_users=1,
        events_per_user=60,
    )
    events = [schedule_to_event(s) for s in sandbox.wecom_ground_truth(summary.wecom_calendars[0])]
    user = summary.dingtalk_users[0]
    events += [item_to_event(item, user_id=user) for item in sandbox.dingtalk_ground_truth(user)]
    # Early morning in +08:00 is the previous day in UTC: BYDAY must be read
    # in the event's own offset, not in UTC.
    cn = timezone(timedelta(hours=8))
    events.append(
        wecal.Event(
            provider="wecom",
            id="early-bird",
            start=datetime(2024, 5, 6, 7, 0, tzinfo=cn),
            end=datetime(2024, 5, 6, 7, 30, tzinfo=cn),
            timezone="+08:00",
            recurrence=wecal.Recurrence(rrule="FREQ=WEEKLY;BYDAY=MO,WE"),
        )
    )
    recurring = [e for e in events if e.recurrence is not None]
    assert len(recurring) >= 10, "the generator should make recurring events"
    # All-day events compare by date; the window in whole days avoids
    # zone-dependent edges for them.
    start, end = WINDOW

    writer = IcsWriter()
    data = writer.header() + writer.encode(events) + writer.footer()
    cal = icalendar.Calendar.from_ical(data)
    theirs: set[tuple[str, object]] = set()
    for occ in recurring_ical_events.of(cal).between(start, end):
        uid = str(occ["UID"])
        theirs.add((uid, _key(occ.decoded("DTSTART"))))

    ours: set[tuple[str, object]] = set()
    for event in events:
        uid = f"{event.provider.value}:{event.id}"
        for occ in wecal.expand(event, start, end):
            ours.add((uid, _key(occ.start)))

    # recurring-ical-events treats the window as floating for all-day events:
    # compare the all-day ones away from the window's edges only.
    def inner(item: tuple[str, object]) -> bool:
        moment = item[1]
        if isinstance(moment, date) and not isinstance(moment, datetime):
            return start.date() + timedelta(days=1) < moment < end.date() - timedelta(days=1)
        return True

    assert {i for i in ours if inner(i)} == {i for i in theirs if inner(i)}
    assert len(ours) > len(events)  # the window holds many occurrences


def _key(value: datetime | date) -> object:
    return value.astimezone(UTC) if isinstance(value, datetime) else value
