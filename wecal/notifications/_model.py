"""The provider-neutral notification a callback parses into."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ..models import Provider

__all__ = ["Notification", "NotificationKind"]


class NotificationKind(enum.StrEnum):
    """What changed."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    #: An attendee answered (accepted, tentative, declined).
    RESPONDED = "responded"
    CALENDAR_UPDATED = "calendar_updated"
    CALENDAR_DELETED = "calendar_deleted"


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Notification:
    """
    A provider told the app that something in a calendar changed.

    It names *what* changed, not the new state: fetch that with
    ``get_event`` or, better, ``sync_events`` (a notification is the trigger,
    a sync the fetch; duplicated or reordered notifications then do no harm).
    """

    provider: Provider
    kind: NotificationKind
    #: WeCom ``CalId``, DingTalk ``calendarId``; None when the provider omits it.
    calendar_id: str | None = None
    #: WeCom ``ScheduleId``, DingTalk ``calendarEventId``; None for calendar changes.
    event_id: str | None = None
    #: Who the change concerns: the member who responded (WeCom), the
    #: ``unionIdList`` (DingTalk).
    user_ids: tuple[str, ...] = ()
    #: When the provider says it happened (aware, UTC), or None.
    occurred_at: datetime | None = None
    #: The decrypted payload as received; not part of equality.
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, converter=_freeze, repr=False)
