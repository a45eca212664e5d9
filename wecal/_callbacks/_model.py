"""The provider-neutral notification a callback parses into."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from ..errors import ResponseFormatError
from ..models import Provider

__all__ = [
    "CallbackAnswer",
    "CallbackDelivery",
    "Notification",
    "NotificationKind",
    "ProviderCallback",
    "epoch",
    "text_arg",
]


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


@attrs.frozen
class CallbackAnswer:
    """The HTTP answer a callback endpoint sends back to the provider."""

    status: int
    body: bytes
    content_type: str = "text/plain"
    #: Tell the server to drop the connection (a body left unread).
    close: bool = False


@attrs.frozen
class CallbackDelivery:
    """
    A verified request that carried a calendar notification: ``answer`` is
    sent once the handler took it; ``signature`` (verified) names the request,
    so a replay of it is recognised.
    """

    note: Notification
    answer: CallbackAnswer
    signature: str


class ProviderCallback(Protocol):
    """
    What :func:`wecal.notifications.asgi_endpoint` needs of a provider's
    callback class (each provider folder has one, named in the registry).
    """

    def answer(
        self,
        method: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> CallbackAnswer | CallbackDelivery:
        """
        The answer to one request on the callback URL (a handshake, or an event
        not about calendars), or the notification it carried with the answer to
        send once it is handled. ``headers`` are the request's, names in lower
        case (where a provider signs in headers rather than the query). Raises
        :class:`~wecal.AuthenticationError` for a forged or stale request and
        another :class:`~wecal.WecalError` for a malformed one.
        """
        ...


def text_arg(name: str, value: object) -> str:
    """A request parameter as a string, or ResponseFormatError naming it."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ResponseFormatError("not UTF-8", path=name) from None
    if not isinstance(value, str) or not value:
        raise ResponseFormatError("missing", path=name)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no request carries one
            raise ResponseFormatError("not valid text (a lone surrogate)", path=name) from None
    return value


#: 9999-12-31T00:00:00Z, the last day a datetime can hold (any zone).
_MAX_EPOCH = 253_402_214_400


def epoch(value: object, *, unit: int, where: str) -> datetime | None:
    """A Unix time (``unit`` per second) as an aware UTC datetime; None if absent."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        raise ResponseFormatError(f"expected a Unix time, got {text[:24]!r}", path=where)
    seconds = int(text) / unit
    # Past year 9999 a datetime cannot hold it (ValueError, OverflowError).
    if seconds > _MAX_EPOCH:
        raise ResponseFormatError(f"Unix time {text} is out of range", path=where)
    return datetime.fromtimestamp(seconds, tz=UTC)
