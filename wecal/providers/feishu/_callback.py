"""
Feishu / Lark event callbacks (``reference/feishu.md`` §6): ``FeishuCallback``.

What a POST to the app's event URL carries, and what is checked:

- The body is JSON; with an Encrypt Key set it is ``{"encrypt": "<base64>"}``:
  AES-256-CBC with ``key = SHA-256(encrypt_key)``, the IV the first 16 bytes
  of the decoded data, PKCS#7 padding (the docs' test vector:
  ``P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=`` with key ``test key`` is
  ``hello world``).
- ``X-Lark-Signature`` = hex SHA-256 of ``X-Lark-Request-Timestamp +
  X-Lark-Request-Nonce + encrypt_key + raw body`` — over the raw bytes,
  checked before anything is decrypted, and the timestamp must be within
  ``max_age`` of now (Feishu's SDK has no replay window; wecal adds one).
- The URL check ``{"type": "url_verification", "challenge", "token"}`` is
  answered ``{"challenge": …}`` (it is not signed; its token is checked).
- A v2 event's ``header.token`` must be the Verification Token.
- Feishu delivers at least once, even after a 200: an ``event_id`` seen
  within ``dedupe_ttl`` is acknowledged and not handed on again.

``calendar.calendar.event.changed_v4`` becomes a :class:`~wecal.notifications.Notification`
(``change_type`` create/update/delete/rsvp; a payload without the
gray-release fields is an UPDATED of its calendar), ``calendar.calendar.changed_v4``
a CALENDAR_UPDATED. Other events are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..._callbacks._model import (
    CallbackAnswer,
    CallbackDelivery,
    Notification,
    NotificationKind,
)
from ...errors import AuthenticationError, ResponseFormatError, ValidationError, WecalError
from ...models import Provider
from ._wire import CallbackV2, decode

__all__ = ["FeishuCallback", "decrypt", "encrypt", "signature"]

_PROVIDER = "feishu"
_MAX_BODY = 1 << 20
EVENT_CHANGED = "calendar.calendar.event.changed_v4"
CALENDAR_CHANGED = "calendar.calendar.changed_v4"
_KINDS = {
    "create": NotificationKind.CREATED,
    "update": NotificationKind.UPDATED,
    "delete": NotificationKind.DELETED,
    "rsvp": NotificationKind.RESPONDED,
}
#: Feishu retries after 15 s, 5 min, 1 h and 6 h: remember an event a bit longer.
DEDUPE_TTL = timedelta(hours=7)
_MAX_SEEN = 100_000


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def decrypt(ciphertext: str, encrypt_key: str) -> bytes:
    """
    The plaintext of an ``encrypt`` value.

    >>> decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "test key")
    b'hello world'
    """
    try:
        data = base64.b64decode(ciphertext.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ResponseFormatError("not base64", path="body.encrypt") from None
    if len(data) < 32 or len(data) % 16:
        raise ResponseFormatError(
            f"{len(data)} bytes is not an IV and whole AES blocks", path="body.encrypt"
        )
    decryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise ResponseFormatError("bad padding (wrong encrypt key?)", path="body.encrypt") from None


def encrypt(plaintext: bytes, encrypt_key: str, *, iv: bytes | None = None) -> str:
    """``plaintext`` encrypted as Feishu sends it: base64 of IV + ciphertext."""
    iv = secrets.token_bytes(16) if iv is None else iv
    if len(iv) != 16:
        raise ValidationError("iv must be 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature``: hex SHA-256 of timestamp + nonce + key + raw body."""
    joined = timestamp.encode("utf-8") + nonce.encode("utf-8") + encrypt_key.encode("utf-8")
    return hashlib.sha256(joined + body).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


class FeishuCallback:
    """
    Receive a Feishu / Lark app's event callbacks: the Verification Token and
    Encrypt Key set in the developer console, and the app id::

        feishu_cb = FeishuCallback(verification_token, encrypt_key, app_id)
        answer, note = feishu_cb.receive(headers, body)   # answer: the JSON to send back

    ``encrypt_key`` may be empty (no encryption, no signature: only the token
    is checked). ``max_age`` is the replay window on ``X-Lark-Request-Timestamp``
    (None turns it off); ``seen`` answers "was this event id seen before?"
    (and remembers it) — by default a bounded in-process memory, pass the
    shared state's when several replicas receive callbacks. A forged or stale
    request is an :class:`~wecal.AuthenticationError`; a malformed one a
    :class:`~wecal.ResponseFormatError`.
    """

    provider = Provider.FEISHU

    def __init__(
        self,
        verification_token: str,
        encrypt_key: str = "",
        app_id: str = "",
        *,
        max_age: timedelta | None = timedelta(minutes=5),
        clock: Callable[[], float] = time.time,
        seen: Callable[[str], bool] | None = None,
    ) -> None:
        if not isinstance(verification_token, str) or not verification_token:
            raise ValidationError("FeishuCallback: verification_token must be a non-empty string")
        if not isinstance(encrypt_key, str):
            raise ValidationError("FeishuCallback: encrypt_key must be a string")
        self._token = verification_token
        self._encrypt_key = encrypt_key
        self.app_id = app_id
        self._max_age = max_age
        self._clock = clock
        self._seen = seen or self._remember
        self._memory: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FeishuCallback(app_id={self.app_id!r}, encrypted={bool(self._encrypt_key)})"

    def _remember(self, event_id: str) -> bool:
        now = self._clock()
        with self._lock:
            while self._memory and next(iter(self._memory.values())) < now:
                self._memory.popitem(last=False)
            if event_id in self._memory:
                return True
            self._memory[event_id] = now + DEDUPE_TTL.total_seconds()
            while len(self._memory) > _MAX_SEEN:
                self._memory.popitem(last=False)
            return False

    # -- the steps ---------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check ``X-Lark-Signature`` and the timestamp's age (with an Encrypt Key)."""
        if not self._encrypt_key:
            return
        timestamp = _header(headers, "x-lark-request-timestamp")
        nonce = _header(headers, "x-lark-request-nonce")
        given = _header(headers, "x-lark-signature")
        if not timestamp or not given:
            raise AuthenticationError(
                "callback has no X-Lark-Signature / X-Lark-Request-Timestamp",
                provider=_PROVIDER,
                code="signature",
            )
        expected = signature(timestamp, nonce, self._encrypt_key, body)
        if not hmac.compare_digest(given.strip().lower(), expected):
            raise AuthenticationError(
                "callback signature does not match", provider=_PROVIDER, code="signature"
            )
        if self._max_age is not None:
            text = timestamp.strip()
            if not text.isascii() or not text.isdigit() or len(text) > 16:
                raise ResponseFormatError("not a Unix time", path="X-Lark-Request-Timestamp")
            sent = int(text) / (1000 if len(text) > 11 else 1)  # seconds, or milliseconds
            if abs(self._clock() - sent) > self._max_age.total_seconds():
                raise AuthenticationError(
                    "callback timestamp is outside the replay window",
                    provider=_PROVIDER,
                    code="timestamp",
                )

    def open(self, body: bytes) -> dict[str, Any]:
        """The event JSON of a body, decrypted when it is ``{"encrypt": …}``."""
        outer = _json_object(body, "body")
        ciphertext = outer.get("encrypt")
        if ciphertext is None:
            return outer
        if not self._encrypt_key:
            raise ResponseFormatError("an encrypted callback, but no encrypt_key", path="body")
        if not isinstance(ciphertext, str):
            raise ResponseFormatError("expected a string", path="body.encrypt")
        return _json_object(decrypt(ciphertext, self._encrypt_key), "body.encrypt")

    def receive(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], Notification | None]:
        """
        ``(JSON to answer with HTTP 200, the notification or None)``: None for
        the URL check, a duplicate delivery or an event not about calendars.
        """
        reply, note, _ = self._receive(headers, body, dedupe=True)
        return reply, note

    def _receive(
        self, headers: Mapping[str, str], body: bytes, *, dedupe: bool
    ) -> tuple[dict[str, Any], Notification | None, str]:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise ResponseFormatError("expected bytes", path="body")
        body = bytes(body)
        if len(body) > _MAX_BODY:
            raise ResponseFormatError(f"{len(body)} bytes is too large", path="body")
        signed = bool(_header(headers, "x-lark-signature"))
        if signed:
            self.verify(headers, body)  # before anything is decrypted
        elif self._encrypt_key:
            return self._unsigned_check(body)
        message = self.open(body)
        if message.get("type") == "url_verification":
            # Not signed (Feishu's SDK skips it too); its token is checked.
            self._check_token(message.get("token"), "body.token")
            challenge = message.get("challenge")
            if not isinstance(challenge, str):
                raise ResponseFormatError("missing", path="body.challenge")
            return {"challenge": challenge}, None, ""
        if not signed:
            self.verify(headers, body)  # refused when an Encrypt Key is set
        if message.get("schema") != "2.0":
            raise ResponseFormatError(
                "not a v2 event (schema 2.0); switch the app's events to v2", path="body.schema"
            )
        event = decode(message, CallbackV2, path="body")
        self._check_token(event.header.token, "body.header.token")
        if dedupe and self._seen(event.header.event_id):
            return {}, None, event.header.event_id
        return {}, _notification(event, message), event.header.event_id

    def _unsigned_check(self, body: bytes) -> tuple[dict[str, Any], None, str]:
        """
        An unsigned request where an Encrypt Key is set: only Feishu's URL check
        comes so (encrypted, its token inside). Anything else — bad base64 or
        padding, a plaintext that is not JSON, another event, a wrong token —
        gets one identical refusal: a forged ciphertext learns nothing of what
        it decrypts to (no padding or format oracle).
        """
        try:
            message = self.open(body)
            challenge = message.get("challenge")
            if message.get("type") == "url_verification" and isinstance(challenge, str):
                self._check_token(message.get("token"), "body.token")
                return {"challenge": challenge}, None, ""
        except WecalError:
            pass
        raise AuthenticationError(
            "unsigned callback that is not a URL check with the right token "
            "(or no X-Lark-Signature / X-Lark-Request-Timestamp)",
            provider=_PROVIDER,
            code="signature",
        )

    def answer(
        self,
        method: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> CallbackAnswer | CallbackDelivery:
        """
        The callback URL's answer (:func:`wecal.notifications.asgi_endpoint`):
        the URL check gets its challenge back, an event ``{}`` (HTTP 200).
        Duplicates are left to the endpoint's seen store, keyed by the
        event's ``event_id`` (Feishu redelivers with a new nonce, even after
        a 200), so a delivery whose handler failed is handed on again.
        """
        if method != "POST":
            return CallbackAnswer(405, b"method not allowed")
        reply, note, event_id = self._receive(headers or {}, body, dedupe=False)
        answer = CallbackAnswer(200, json.dumps(reply).encode(), "application/json")
        if note is None:
            return answer
        return CallbackDelivery(note, answer, f"event:{event_id}")

    def _check_token(self, token: object, where: str) -> None:
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self._token.encode("utf-8")
        ):
            raise AuthenticationError(
                f"callback verification token does not match ({where})",
                provider=_PROVIDER,
                code="token",
            )

    # -- the other side (tests, the sandbox) -------------------------------------

    def seal(
        self, message: Mapping[str, Any], *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """``(body, headers)`` of a POST Feishu would send with ``message``."""
        plain = json.dumps(message, ensure_ascii=False).encode("utf-8")
        if not self._encrypt_key:
            return plain, {}
        body = json.dumps({"encrypt": encrypt(plain, self._encrypt_key)}).encode()
        ts = timestamp if timestamp is not None else str(int(self._clock()))
        nc = nonce if nonce is not None else secrets.token_hex(8)
        return body, {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nc,
            "X-Lark-Signature": signature(ts, nc, self._encrypt_key, body),
        }


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise ResponseFormatError("not JSON", path=where) from None
    if not isinstance(value, dict):
        raise ResponseFormatError(f"expected an object, got {type(value).__name__}", path=where)
    return value


def _notification(event: CallbackV2, raw: Mapping[str, Any]) -> Notification | None:
    header, body = event.header, event.event
    if header.event_type not in (EVENT_CHANGED, CALENDAR_CHANGED) or body is None:
        return None
    users = tuple(u.open_id or u.union_id or u.user_id or "" for u in body.user_id_list or ())
    occurred = None
    created = header.create_time
    if created not in (None, ""):
        text = str(created).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 19:
            raise ResponseFormatError(
                f"expected milliseconds, got {text[:24]!r}", path="body.header.create_time"
            )
        # Milliseconds (13 digits); the overview page shows microseconds (16).
        scale = 10 ** max(0, len(text) - 10)
        occurred = datetime.fromtimestamp(int(text) / scale, UTC)
    if header.event_type == CALENDAR_CHANGED:
        kind = NotificationKind.CALENDAR_UPDATED
        event_id = None
    else:
        kind = _KINDS.get(body.change_type or "", NotificationKind.UPDATED)
        event_id = body.calendar_event_id or None
    return Notification(
        provider=Provider.FEISHU,
        kind=kind,
        calendar_id=body.calendar_id or None,
        event_id=event_id,
        user_ids=tuple(u for u in users if u),
        occurred_at=occurred,
        raw=raw,
    )
