"""
The callback skeleton WeCom and DingTalk share (provider-free): one
:class:`~wecal._callbacks._crypto.MsgCrypt` built from the console's token,
AES key and receive id; a request's three signed parameters checked, its
ciphertext verified and decrypted; an event not about calendars acknowledged
and logged, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar

from ..errors import UnsupportedError
from ..models import Provider
from . import _crypto
from ._model import CallbackAnswer, CallbackDelivery, Notification, text_arg

__all__ = ["MsgCryptCallback"]

logger = logging.getLogger("wecal.notifications")


class MsgCryptCallback:
    """Base of a provider's callback class that uses the msg crypt scheme."""

    provider: ClassVar[Provider]
    #: How the provider is named in log lines ("WeCom").
    label: ClassVar[str]
    #: The request's ``timestamp`` counts this many units a second.
    timestamp_unit: ClassVar[int]

    def __init__(
        self,
        token: str,
        aes_key: str,
        receive_id: str,
        *,
        max_age: timedelta | None,
        clock: Callable[[], float],
    ) -> None:
        self._crypt = _crypto.MsgCrypt(
            token,
            aes_key,
            receive_id,
            provider=str(self.provider),
            timestamp_unit=self.timestamp_unit,
            max_age=max_age,
            clock=clock,
        )

    def _open(
        self, names: tuple[str, str, str], values: tuple[str, str, str], read: Callable[[], str]
    ) -> bytes:
        """
        The plaintext of a request: its signature, timestamp and nonce
        (``values``, named ``names`` in errors) checked as text, then the
        ciphertext ``read`` from the envelope (nothing else of it is read
        before the signature is checked), verified and decrypted.
        """
        sig, ts, nc = (text_arg(name, value) for name, value in zip(names, values, strict=True))
        ciphertext = read()
        self._crypt.verify(sig, ts, nc, ciphertext)
        return self._crypt.decrypt(ciphertext)

    def _deliver(
        self,
        parse: Callable[[], Notification | None],
        reply: Callable[[], CallbackAnswer],
        signature: str,
    ) -> CallbackAnswer | CallbackDelivery:
        """
        ``reply`` with the notification ``parse`` finds, if any; an event not
        about calendars (UnsupportedError) is logged and acknowledged.
        """
        try:
            note = parse()
        except UnsupportedError as exc:
            logger.debug("ignored a %s event: %s", self.label, exc.feature)
            note = None
        answer = reply()
        if note is None:
            return answer
        return CallbackDelivery(note, answer, signature)
