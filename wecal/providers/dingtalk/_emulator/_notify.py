"""
The v1.0 emulator's change callbacks (``calendar_event_change``, reference
§2.5), sent by the sandbox's notifier when an app subscribed: after the API
calls that change an event, and for changes made "by a user" in the app.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..._emulation._host import EmulatorHost
from ._common import NAME
from ._state import v1

__all__ = [
    "notify_call",
    "notify_change",
    "seal_notification",
    "user_create_event",
    "user_delete_event",
    "user_update_event",
]

#: API calls → ``changeType`` of the ``calendar_event_change`` they cause.
_CHANGES = {
    "dingtalk.v1.events.create": "create",
    "dingtalk.v1.events.patch": "update",
    "dingtalk.v1.events.delete": "delete",
    "dingtalk.v1.events.respond": "update",
    "dingtalk.v1.attendees.add": "update",
    "dingtalk.v1.attendees.remove": "update",
}


def notify_call(
    sandbox: EmulatorHost, name: str, params: Mapping[str, str], answer: tuple[int, Any]
) -> None:
    """The callback an API call the emulator applied causes (when subscribed)."""
    change = _CHANGES.get(name)
    if change is None or not sandbox.notifications.subscribed(NAME):
        return
    if not 200 <= answer[0] < 300:
        return
    created = name == "dingtalk.v1.events.create"
    event_id = str(answer[1]["id"]) if created else params["event"]
    notify_change(sandbox, event_id, change, union_ids=_people(sandbox, params["user"], event_id))


def _people(sandbox: EmulatorHost, union_id: str, event_id: str) -> list[str]:
    """The acting user, then the event's organizer and attendees (unionIds)."""
    stored = v1(sandbox).events.get(event_id) or {}
    people = [union_id, (stored.get("organizer") or {}).get("id")]
    people += [a.get("id") for a in stored.get("attendees") or []]
    return [p for p in dict.fromkeys(people) if isinstance(p, str) and p]


def user_create_event(sandbox: EmulatorHost, organizer: str, event: Mapping[str, Any]) -> str:
    """``organizer`` creates an event in the app (a create body); its id."""
    event_id = v1(sandbox).add_event(organizer, event)
    notify_change(sandbox, event_id, "create", union_ids=_people(sandbox, organizer, event_id))
    return event_id


def user_update_event(
    sandbox: EmulatorHost, union_id: str, event_id: str, changes: Mapping[str, Any]
) -> None:
    """The organizer edits an event in the app (``changes``: a patch body)."""
    with sandbox.lock:
        v1(sandbox)._patch(union_id, event_id, {"id": event_id, **changes})
    notify_change(sandbox, event_id, "update", union_ids=_people(sandbox, union_id, event_id))


def user_delete_event(sandbox: EmulatorHost, union_id: str, event_id: str) -> None:
    """``union_id`` deletes an event in the app (the organizer: for everyone)."""
    people = _people(sandbox, union_id, event_id)
    with sandbox.lock:
        v1(sandbox)._delete(union_id, event_id)
    notify_change(sandbox, event_id, "delete", union_ids=people)


def notify_change(
    sandbox: EmulatorHost,
    event_id: str,
    change_type: str,
    *,
    union_ids: Iterable[str] = (),
    calendar_id: str = "primary",
    legacy_event_id: str | None = None,
) -> None:
    """Send one ``calendar_event_change``."""
    message: dict[str, Any] = {
        "EventType": "calendar_event_change",
        "calendarEventId": event_id,
        "calendarId": calendar_id,
        "unionIdList": list(union_ids),
        "changeType": change_type,
        "operator": {"type": "user"},
        "calendarEventUpdateTime": int(time.time() * 1000),
    }
    if legacy_event_id is not None:
        message["legacyCalendarEventId"] = legacy_event_id
    sandbox.notifications.send(NAME, message)


def seal_notification(callback: Any, message: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The ``(body, query)`` of a callback POST: the JSON message, sealed by ``callback``."""
    sealed: tuple[bytes, dict[str, str]] = callback.seal(message)
    return sealed
