"""
Must FAIL to type-check: each line marked ``# expect: CODE`` is an error
``mypy --strict`` reports there, with that error code, and no other line is.

``mypy --strict typing_tests`` leaves this folder out (pyproject's
``[tool.mypy] exclude``); ``tests/test_typing.py`` runs mypy on this file and
compares its errors with the marks. Never executed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

import wecal

START = datetime(2024, 6, 3, 10, tzinfo=UTC)
END = START + timedelta(hours=1)

wecal.Event(
    provider="wecomm",  # expect: arg-type
    id="e1",
    start=START,
    end=END,
    reminders=["15 minutes"],  # expect: list-item
    status=42,  # expect: arg-type
    attendees=[1, 2],  # expect: list-item
)
wecal.Attendee(id="u1", response="yes")  # expect: arg-type
wecal.Calendar(
    provider=wecal.Provider.WECOM,
    id="c",
    public_department_ids=["1"],  # expect: list-item
)
wecal.CalendarShare(user_id="u1", permission="edit")  # expect: arg-type
wecal.Recurrence(rrule="FREQ=DAILY", exdates=["2024-06-04"])  # expect: list-item
wecal.Event(provider="dingtalk", id="e2", start=START, end=END, raw=[("a", 1)])  # expect: arg-type

# What is right passes: enum members or their values, lists of the right type.
wecal.Event(
    provider="wecom",
    id="e3",
    start=START,
    end=END,
    reminders=[timedelta(minutes=-15)],
    status="tentative",
    attendees=[wecal.Attendee(id="u1", response=wecal.ResponseStatus.ACCEPTED)],
)

# Editing a copy for update_event (docs/model.md) is checked the same way.
event = wecal.Event(provider="wecom", id="e4", start=START, end=END)
attrs.evolve(event, summary=1)  # expect: arg-type
attrs.evolve(event, reminders=["15 minutes"])  # expect: list-item
attrs.evolve(event, title="周会")  # expect: call-arg
