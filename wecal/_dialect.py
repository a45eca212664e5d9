"""
The wire vocabulary the send loop (:mod:`wecal._http`) speaks with a provider
API, knowing no provider: :class:`Dialect` (what it asks of one), the
:class:`CodeRule` each error code maps to, the :class:`Failure` an answer is
classified as and the :class:`TokenRequest` that fetches a token.

Each provider folder builds its API's dialect (``<name>/_errors.py`` or
``_dialect.py``), most from the table-driven one in
:mod:`wecal.providers._dialects`; the core reads only this protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from .errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)

__all__ = [
    "BUSY",
    "TOKEN_INVALID",
    "CodeRule",
    "Dialect",
    "Failure",
    "TokenRequest",
    "code_table",
    "rule_for_status",
]


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
    """A read-only code table."""
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


@attrs.frozen
class TokenRequest:
    """The request that fetches an access token (it carries the secret)."""

    method: str
    path: str
    params: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    json: Mapping[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Failure:
    """An error answer, classified: the rule plus what the provider said."""

    rule: CodeRule
    code: int | str | None
    message: str
    request_id: str | None
    http_status: int | None
    #: What an envelope code says inside (a provider's ``sub_code``), if any.
    sub_code: str | None = None


class Dialect(Protocol):
    """
    What the send loop asks of a provider API: its name and limits, how to
    fetch, read and place a token, and whether an answer is an error.
    """

    @property
    def name(self) -> str:
        """The API's name (a token store key: one token per dialect and app)."""
        ...

    @property
    def provider(self) -> str:
        """The name errors carry (``ProviderError.provider``)."""
        ...

    @property
    def default_base_url(self) -> str: ...

    @property
    def default_rate(self) -> float:
        """The documented per-app, per-API limit in calls per second."""
        ...

    @property
    def default_per_minute(self) -> int | None: ...

    @property
    def default_per_hour(self) -> int | None: ...

    @property
    def default_egress_limit(self) -> tuple[int, float] | None: ...

    @property
    def retry_after_headers(self) -> tuple[str, ...]:
        """Headers of a 429/503 saying how many seconds to wait, tried in order."""
        ...

    @property
    def token_field(self) -> str:
        """The token answer's field holding the token."""
        ...

    @property
    def error_keys(self) -> tuple[str, ...]:
        """Body keys that hold an error code, in any of this API's answers."""
        ...

    @property
    def empty_success(self) -> bool:
        """Whether a success status with an empty body is an answer without fields."""
        ...

    def token_request(self, app_id: str, secret: str) -> TokenRequest:
        """The request that trades app credentials for an access token."""
        ...

    def parse_token(self, body: Mapping[str, Any]) -> tuple[str, float]:
        """``(token, lifetime_seconds)`` from a token answer."""
        ...

    def place_token(self, token: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        """Put ``token`` where this API expects it on a business call."""
        ...

    def classify(
        self, status: int, body: Mapping[str, Any] | None, api: str | None = None
    ) -> Failure | None:
        """None when the answer is a success, else the :class:`Failure` it is."""
        ...
