"""
Error-code tables: what each provider code means to wecal.

Each provider folder keeps its API's table (``wecom/_errors.py``,
``dingtalk_legacy/_errors.py``, ``dingtalk/_errors.py``), mapping every code the
reference docs list to a :class:`CodeRule`: the error class to raise, whether the failure is worth a
retry, whether it means "this access token is dead" (drop it, fetch a new one,
replay once), and a block hint (WeCom 45009 blocks every call for 60 s).

The HTTP core reads these rules; nothing here sends, sleeps or decides
*when* to retry — that is :mod:`wecal._retry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)

__all__ = ["BUSY", "TOKEN_INVALID", "CodeRule", "code_table", "rule_for_status"]


@attrs.frozen
class CodeRule:
    """
    How wecal treats one provider error code.

    ``retry`` marks a transient failure; ``ambiguous`` says the provider may
    have acted before failing (a busy answer after the request was read), so a
    create without an idempotency key must not be replayed; ``token_invalid``
    drops the token that failed and replays once; ``block`` is how long the
    provider blocks the caller (seconds), applied to every task of a client
    and written to the client's shared state, so that every process sharing
    it pauses; ``egress_wide`` says the block bans the egress IP (every app
    sending through it), not the app.
    """

    error: type[ProviderError]
    retry: bool = False
    ambiguous: bool = False
    token_invalid: bool = False
    block: float | None = None
    meaning: str = ""
    egress_wide: bool = False


def code_table(rules: Mapping[int, CodeRule]) -> Mapping[int, CodeRule]:
    return MappingProxyType(dict(rules))


BUSY = CodeRule(ProviderError, retry=True, ambiguous=True, meaning="system busy")
TOKEN_INVALID = CodeRule(AuthenticationError, token_invalid=True, meaning="access token invalid")


def rule_for_status(status: int) -> CodeRule | None:
    """
    The rule an HTTP status implies when the body names no known code.

    >>> rule_for_status(429).error.__name__
    'RateLimitError'
    """
    if status == 401:
        return CodeRule(AuthenticationError, token_invalid=True, meaning="unauthorized")
    if status == 403:
        return CodeRule(PermissionDeniedError, meaning="forbidden")
    if status == 404:
        return CodeRule(NotFoundError, meaning="not found")
    if status == 429:
        return CodeRule(RateLimitError, retry=True, meaning="too many requests")
    if status >= 500:
        return CodeRule(ProviderError, retry=True, ambiguous=True, meaning="server error")
    if status >= 400:
        return CodeRule(InvalidRequestError, meaning="bad request")
    return None
