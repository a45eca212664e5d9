"""
The "msg crypt" scheme WeCom callbacks and DingTalk HTTP event subscriptions share.

- signature: SHA-1 hex of the sorted token, timestamp, nonce and ciphertext,
  concatenated;
- key: the 43-character EncodingAESKey plus ``=``, base64-decoded (32 bytes);
  the IV is the key's first 16 bytes;
- AES-256-CBC over ``random(16) + len(msg) (4 bytes, big-endian) + msg +
  receive_id``, PKCS#7-padded to a multiple of **32** bytes (not AES's 16);
- the receive id is WeCom's corp id, or DingTalk's app key (suite key, corp id).

The signature is checked before anything is decrypted, so a forged request
learns nothing from how decryption fails (no padding oracle); a signed message
that does not decrypt for this app (bad padding, a length that lies, another
receive id) gets one and the same error whatever is wrong with it. Messages never
hold the token, the key or the ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
from collections.abc import Callable
from datetime import timedelta

try:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "wecal.notifications needs the 'notify' extra: pip install 'wecal[notify]'"
    ) from exc

from ..errors import AuthenticationError, ResponseFormatError, ValidationError

__all__ = ["MsgCrypt", "signature"]

_KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}")
_BASE64_RE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_PAD_BITS = 32 * 8  # PKCS#7 over 32-byte blocks
_HEADER = 16 + 4  # random(16) + length(4)
#: The longest ciphertext accepted (base64 characters): a callback is a few KB.
MAX_CIPHERTEXT = 1 << 20


def signature(token: str, timestamp: str, nonce: str, ciphertext: str) -> str:
    """SHA-1 hex over the sorted, concatenated parts (both providers' rule)."""
    joined = "".join(sorted((token, timestamp, nonce, ciphertext)))
    # surrogatepass: a lone surrogate in a forged parameter gives a signature
    # that does not match, not a UnicodeEncodeError.
    data = joined.encode("utf-8", "surrogatepass")
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class MsgCrypt:
    """
    Verify, decrypt and encrypt one app's callback messages.

    ``timestamp_unit`` is 1 for WeCom (seconds) and 1000 for DingTalk
    (milliseconds); ``max_age`` bounds how far a request's timestamp may be
    from ``clock()`` (None: no replay check).
    """

    __slots__ = ("_clock", "_key", "_max_age", "_provider", "_receive_id", "_token", "_unit")

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        *,
        provider: str,
        timestamp_unit: int,
        max_age: timedelta | None,
        clock: Callable[[], float],
    ) -> None:
        if not isinstance(token, str) or not token:
            raise ValidationError(f"{provider} callback: token must be a non-empty string")
        if not isinstance(encoding_aes_key, str) or not _KEY_RE.fullmatch(encoding_aes_key):
            raise ValidationError(
                f"{provider} callback: the AES key must be 43 characters of [A-Za-z0-9+/]"
            )
        if not isinstance(receive_id, str) or not receive_id:
            raise ValidationError(f"{provider} callback: receive id must be a non-empty string")
        if max_age is not None and (not isinstance(max_age, timedelta) or max_age <= timedelta(0)):
            raise ValidationError(f"{provider} callback: max_age must be a positive timedelta")
        self._token = token
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._receive_id = receive_id.encode("utf-8")
        self._provider = provider
        self._unit = timestamp_unit
        self._max_age = max_age
        self._clock = clock

    @property
    def receive_id(self) -> str:
        return self._receive_id.decode("utf-8")

    def __repr__(self) -> str:
        return f"MsgCrypt(provider={self._provider!r}, receive_id={self.receive_id!r})"

    # -- verification -------------------------------------------------------

    def verify(self, sig: str, timestamp: str, nonce: str, ciphertext: str) -> None:
        """Check the signature, then the timestamp; raise AuthenticationError."""
        expected = signature(self._token, timestamp, nonce, ciphertext)
        given = sig.strip().lower().encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            raise AuthenticationError(
                "callback signature does not match (wrong token, or a forged request)",
                provider=self._provider,
                code="signature",
            )
        self._check_timestamp(timestamp)

    def _check_timestamp(self, timestamp: str) -> None:
        if self._max_age is None:
            return
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 20:
            raise AuthenticationError(
                f"callback timestamp {timestamp[:24]!r} is not a number",
                provider=self._provider,
                code="timestamp",
            )
        age = abs(self._clock() - int(timestamp) / self._unit)
        if age > self._max_age.total_seconds():
            raise AuthenticationError(
                f"callback timestamp is {age:.0f}s away from now, outside the "
                f"{self._max_age.total_seconds():.0f}s replay window",
                provider=self._provider,
                code="timestamp",
            )

    # -- decryption ---------------------------------------------------------

    def decrypt(self, ciphertext: str) -> bytes:
        """The message inside ``ciphertext`` (base64), its receive id checked."""
        raw = ciphertext.strip().encode("ascii", "replace")
        if len(raw) > MAX_CIPHERTEXT or not _BASE64_RE.fullmatch(raw):
            raise ResponseFormatError("callback ciphertext is not base64", path="encrypt")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ResponseFormatError(
                "callback ciphertext is truncated base64", path="encrypt"
            ) from None
        if not data or len(data) % 16:
            raise ResponseFormatError(
                f"callback ciphertext is {len(data)} bytes, not whole AES blocks", path="encrypt"
            )
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        # Bad padding, a length that lies, a message too short and another
        # receive id all give the one same error, after the same work: the
        # answer says nothing of how the plaintext is wrong (no oracle).
        unpadder = padding.PKCS7(_PAD_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            plain = b""
        (length,) = struct.unpack(">I", plain[16:_HEADER]) if len(plain) >= _HEADER else (-1,)
        fits = 0 <= length <= len(plain) - _HEADER
        message = plain[_HEADER : _HEADER + length] if fits else b""
        receive_id = plain[_HEADER + length :] if fits else b"\x00"
        if not (hmac.compare_digest(receive_id, self._receive_id) and fits):
            raise AuthenticationError(
                "callback message does not decrypt to a message for this app "
                f"(wrong AES key, or addressed to another receive id than {self.receive_id!r})",
                provider=self._provider,
                code="decrypt",
            )
        return message

    # -- encryption (replies, and the sandbox's notifications) --------------

    def encrypt(self, message: bytes, *, random_prefix: bytes | None = None) -> str:
        """``message`` encrypted for this receive id, base64 (the ``Encrypt`` value)."""
        prefix = secrets.token_bytes(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValidationError("random_prefix must be 16 bytes")
        plain = prefix + struct.pack(">I", len(message)) + message + self._receive_id
        padder = padding.PKCS7(_PAD_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")

    def seal(
        self, message: bytes, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[str, str, str, str]:
        """``(ciphertext, signature, timestamp, nonce)`` for a message to send."""
        ts = timestamp if timestamp is not None else str(int(self._clock() * self._unit))
        nc = nonce if nonce is not None else secrets.token_hex(8)
        ciphertext = self.encrypt(message)
        return ciphertext, signature(self._token, ts, nc, ciphertext), ts, nc


def now() -> float:
    """The default clock (seconds since the epoch); tests inject their own."""
    return time.time()
