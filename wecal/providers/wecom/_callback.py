"""WeCom callbacks: the URL handshake and the calendar events (reference/wecom.md §1.5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from ..._callbacks import _crypto
from ..._callbacks._envelope import xml_ciphertext
from ..._callbacks._model import (
    CallbackAnswer,
    CallbackDelivery,
    Notification,
    NotificationKind,
    epoch,
    text_arg,
)
from ..._callbacks._signed import MsgCryptCallback
from ..._callbacks._xml import parse_xml
from ...errors import ResponseFormatError, UnsupportedError
from ...models import Provider

__all__ = ["WeComCallback"]

#: WeCom's ``Event`` values about calendars → what changed.
EVENT_KINDS: Mapping[str, NotificationKind] = {
    "add_schedule": NotificationKind.CREATED,
    "modify_schedule": NotificationKind.UPDATED,
    "delete_schedule": NotificationKind.DELETED,
    "respond_schedule": NotificationKind.RESPONDED,
    "modify_calendar": NotificationKind.CALENDAR_UPDATED,
    "delete_calendar": NotificationKind.CALENDAR_DELETED,
}
#: ``FromUserName`` of events the system (not a member) sends.
_SYSTEM_SENDER = "sys"
#: The query names of a request's signature, timestamp and nonce.
_SIGNED = ("msg_signature", "timestamp", "nonce")


class WeComCallback(MsgCryptCallback):
    """
    Receive a WeCom app's callbacks (接收事件服务器): the token and
    EncodingAESKey set in the admin console, and the corp id (the receive id
    every message must carry)::

        wecom_cb = WeComCallback(token, encoding_aes_key, corp_id)
        echo = wecom_cb.verify_url(msg_signature, timestamp, nonce, echostr)  # GET
        note = wecom_cb.parse(msg_signature, timestamp, nonce, body)  # POST

    ``max_age`` is the replay window for the request's ``timestamp`` (None to
    turn the check off); ``clock`` returns the current Unix time.

    Errors: a wrong signature, a stale timestamp, or a signed message that
    does not decrypt for this corp (another corp's, or a wrong AES key: told
    apart by nothing) → :class:`wecal.AuthenticationError` (``.code``
    ``"signature"``, ``"timestamp"``, ``"decrypt"``); a malformed request →
    :class:`wecal.ResponseFormatError`; an event that is not about calendars
    (a chat message, a contact change) → :class:`wecal.UnsupportedError`
    whose ``feature`` is the event's name.
    """

    provider = Provider.WECOM
    label = "WeCom"
    timestamp_unit = 1

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        *,
        max_age: timedelta | None = timedelta(minutes=5),
        clock: Callable[[], float] = _crypto.now,
    ) -> None:
        super().__init__(token, encoding_aes_key, corp_id, max_age=max_age, clock=clock)

    def __repr__(self) -> str:
        return f"WeComCallback(corp_id={self._crypt.receive_id!r})"

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The decrypted ``echostr``: the body of the answer to WeCom's GET."""
        signed = (msg_signature, timestamp, nonce)
        return _utf8(self._open(_SIGNED, signed, lambda: text_arg("echostr", echostr)), "echostr")

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> bytes:
        """The decrypted message XML of a POST, verified (any event, not only calendars)."""
        # The envelope around the ciphertext is not signed: not parsed at all.
        signed = (msg_signature, timestamp, nonce)
        return self._open(_SIGNED, signed, lambda: xml_ciphertext(body, where="body"))

    def parse(self, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> Notification:
        """The calendar notification a POST carries (``body``: the XML posted)."""
        message = parse_xml(self.decrypt(msg_signature, timestamp, nonce, body), where="message")
        return notification_from_xml(message)

    def answer(
        self,
        method: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> CallbackAnswer | CallbackDelivery:
        """
        The callback URL's answer: the URL-verification GET gets the decrypted
        ``echostr``; a POST is verified and parsed, then answered with an empty
        200 (events not about calendars too, without a notification).
        """
        args = (query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
        if method == "GET":
            return CallbackAnswer(200, self.verify_url(*args, query.get("echostr", "")).encode())
        if method != "POST":
            return CallbackAnswer(405, b"method not allowed")
        return self._deliver(
            lambda: self.parse(*args, body), lambda: CallbackAnswer(200, b""), args[0]
        )

    def seal(self, message: bytes) -> tuple[bytes, dict[str, str]]:
        """
        ``(body, query)`` of a POST WeCom would send with ``message`` — for
        tests and the sandbox.
        """
        ciphertext, sig, ts, nonce = self._crypt.seal(message)
        body = (
            f"<xml><ToUserName><![CDATA[{self._crypt.receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
        ).encode()
        return body, {"msg_signature": sig, "timestamp": ts, "nonce": nonce}


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ResponseFormatError("decrypted text is not UTF-8", path=where) from None


def notification_from_xml(message: Mapping[str, Any]) -> Notification:
    """A WeCom event message (decrypted XML, as a dict) → Notification."""
    event = message.get("Event")
    if message.get("MsgType") != "event" or not isinstance(event, str):
        raise UnsupportedError(
            f"WeCom message of type {str(message.get('MsgType'))[:40]!r} is not a calendar event",
            feature=str(message.get("MsgType"))[:40],
        )
    kind = EVENT_KINDS.get(event)
    if kind is None:
        raise UnsupportedError(
            f"WeCom event {event[:40]!r} is not about calendars", feature=event[:40]
        )
    calendar_id = _optional_text(message, "CalId")
    event_id = _optional_text(message, "ScheduleId")
    if kind in (NotificationKind.CALENDAR_UPDATED, NotificationKind.CALENDAR_DELETED):
        if calendar_id is None:
            raise ResponseFormatError("missing", path="message.CalId")
    elif event_id is None:
        raise ResponseFormatError("missing", path="message.ScheduleId")
    sender = _optional_text(message, "FromUserName")
    return Notification(
        provider=Provider.WECOM,
        kind=kind,
        calendar_id=calendar_id,
        event_id=event_id,
        user_ids=(sender,) if sender and sender != _SYSTEM_SENDER else (),
        occurred_at=epoch(message.get("CreateTime"), unit=1, where="message.CreateTime"),
        raw=message,
    )


def _optional_text(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ResponseFormatError("expected text", path=f"message.{key}")
    return value
