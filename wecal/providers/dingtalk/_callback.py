"""DingTalk HTTP event subscription: ``check_url`` and ``calendar_event_change`` (§2.5)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from ..._callbacks import _crypto
from ..._callbacks._envelope import json_ciphertext
from ..._callbacks._model import (
    CallbackAnswer,
    CallbackDelivery,
    Notification,
    NotificationKind,
    epoch,
    text_arg,
)
from ..._callbacks._signed import MsgCryptCallback
from ...errors import ResponseFormatError, UnsupportedError
from ...models import Provider

__all__ = ["DingTalkCallback"]

#: ``changeType`` values → what changed. Anything else is reported as an
#: update: the notification only triggers a fetch, which finds the truth.
CHANGE_KINDS: Mapping[str, NotificationKind] = {
    "create": NotificationKind.CREATED,
    "update": NotificationKind.UPDATED,
    "modify": NotificationKind.UPDATED,
    "delete": NotificationKind.DELETED,
    "cancel": NotificationKind.DELETED,
    "response": NotificationKind.RESPONDED,
    "respond": NotificationKind.RESPONDED,
}
CHECK_URL = "check_url"
CALENDAR_EVENT_CHANGE = "calendar_event_change"
_MAX_BODY = 1 << 20


class DingTalkCallback(MsgCryptCallback):
    """
    Receive a DingTalk app's HTTP event subscription: the token and aes_key
    set in the developer console, and the app key (the receive id)::

        ding_cb = DingTalkCallback(token, aes_key, app_key)
        note = ding_cb.parse(signature, timestamp, nonce, body)  # None: check_url
        reply = ding_cb.reply()  # answer every POST with this JSON

    ``timestamp`` is in milliseconds, as DingTalk sends it; ``max_age`` is the
    replay window (None turns the check off). Errors are those of
    :class:`WeComCallback`.
    """

    provider = Provider.DINGTALK
    label = "DingTalk"
    timestamp_unit = 1000

    def __init__(
        self,
        token: str,
        aes_key: str,
        app_key: str,
        *,
        max_age: timedelta | None = timedelta(minutes=5),
        clock: Callable[[], float] = _crypto.now,
    ) -> None:
        super().__init__(token, aes_key, app_key, max_age=max_age, clock=clock)

    def __repr__(self) -> str:
        return f"DingTalkCallback(app_key={self._crypt.receive_id!r})"

    def decrypt(self, signature: str, timestamp: str, nonce: str, body: bytes) -> dict[str, Any]:
        """The decrypted event JSON of a POST, verified (any event type)."""
        # The other members of the envelope are skipped, never built.
        plaintext = self._open(
            ("signature", "timestamp", "nonce"),
            (signature, timestamp, nonce),
            lambda: json_ciphertext(body, where="body"),
        )
        return _json_object(plaintext, "message")

    def parse(self, signature: str, timestamp: str, nonce: str, body: bytes) -> Notification | None:
        """
        The calendar notification a POST carries, or None for the ``check_url``
        handshake (answer it with :meth:`reply` like every other event).
        """
        message = self.decrypt(signature, timestamp, nonce, body)
        event_type = message.get("EventType")
        if event_type == CHECK_URL:
            return None
        if event_type != CALENDAR_EVENT_CHANGE:
            feature = str(event_type)[:40]
            raise UnsupportedError(
                f"DingTalk event {feature!r} is not about calendars", feature=feature
            )
        return notification_from_json(message)

    def reply(self) -> dict[str, str]:
        """The encrypted ``success`` answer DingTalk expects (fresh nonce, now)."""
        ciphertext, sig, ts, nonce = self._crypt.seal(b"success")
        return {"msg_signature": sig, "timeStamp": ts, "nonce": nonce, "encrypt": ciphertext}

    def answer(
        self,
        method: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> CallbackAnswer | CallbackDelivery:
        """
        The callback URL's answer: every POST (``check_url`` included) gets the
        encrypted ``success``, with the calendar change it carried, if any.
        """
        if method != "POST":
            return CallbackAnswer(405, b"method not allowed")
        signature = query.get("signature") or query.get("msg_signature", "")
        timestamp = query.get("timestamp") or query.get("timeStamp", "")
        return self._deliver(
            lambda: self.parse(signature, timestamp, query.get("nonce", ""), body),
            lambda: CallbackAnswer(200, json.dumps(self.reply()).encode(), "application/json"),
            signature,
        )

    def seal(self, message: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """``(body, query)`` of a POST DingTalk would send — for tests and the sandbox."""
        payload = json.dumps(message, ensure_ascii=False).encode()
        ciphertext, sig, ts, nonce = self._crypt.seal(payload)
        body = json.dumps({"encrypt": ciphertext}).encode()
        return body, {"signature": sig, "timestamp": ts, "nonce": nonce}

    def open_reply(self, reply: Mapping[str, str]) -> str:
        """The text inside a :meth:`reply` (signature checked) — what DingTalk does."""
        parts = [text_arg(k, reply.get(k)) for k in ("msg_signature", "timeStamp", "nonce")]
        ciphertext = text_arg("encrypt", reply.get("encrypt"))
        self._crypt.verify(parts[0], parts[1], parts[2], ciphertext)
        try:
            return self._crypt.decrypt(ciphertext).decode("utf-8")
        except UnicodeDecodeError:
            raise ResponseFormatError("not UTF-8", path="encrypt") from None


def _json_object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise ResponseFormatError(f"expected bytes, got {type(data).__name__}", path=where)
    if len(data) > _MAX_BODY:
        raise ResponseFormatError(f"{len(data)} bytes is too large", path=where)
    try:
        value = json.loads(bytes(data) if not isinstance(data, str) else data)
    except (ValueError, RecursionError):
        raise ResponseFormatError("not JSON", path=where) from None
    if not isinstance(value, dict):
        raise ResponseFormatError(f"expected an object, got {type(value).__name__}", path=where)
    return value


def notification_from_json(message: Mapping[str, Any]) -> Notification:
    """A decrypted ``calendar_event_change`` event → Notification."""
    event_id = message.get("calendarEventId")
    if not isinstance(event_id, str) or not event_id:
        raise ResponseFormatError("missing", path="message.calendarEventId")
    calendar_id = message.get("calendarId")
    if calendar_id is not None and not isinstance(calendar_id, str):
        raise ResponseFormatError("expected a string", path="message.calendarId")
    users = message.get("unionIdList") or []
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise ResponseFormatError("expected a list of strings", path="message.unionIdList")
    change = message.get("changeType")
    kind = CHANGE_KINDS.get(str(change).lower(), NotificationKind.UPDATED)
    return Notification(
        provider=Provider.DINGTALK,
        kind=kind,
        calendar_id=calendar_id or None,
        event_id=event_id,
        user_ids=tuple(users),
        occurred_at=epoch(
            message.get("calendarEventUpdateTime"),
            unit=1000,
            where="message.calendarEventUpdateTime",
        ),
        raw=message,
    )
