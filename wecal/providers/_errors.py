"""
Error-code tables: what each provider code means to wecal.

One table per provider API maps every code the reference docs list
(``reference/wecom.md`` §2.2, ``reference/dingtalk.md`` §1.2, §3.2, §3.3) to a
:class:`CodeRule`: the error class to raise, whether the failure is worth a
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
    QuotaExceededError,
    RateLimitError,
)

__all__ = [
    "DINGTALK_LEGACY_ERRORS",
    "DINGTALK_V1_ERRORS",
    "DINGTALK_V1_PREFIXES",
    "WECOM_ERRORS",
    "CodeRule",
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
    provider blocks the caller (seconds), applied to every task of a client.
    """

    error: type[ProviderError]
    retry: bool = False
    ambiguous: bool = False
    token_invalid: bool = False
    block: float | None = None
    meaning: str = ""


def _table(rules: Mapping[int, CodeRule]) -> Mapping[int, CodeRule]:
    return MappingProxyType(dict(rules))


_BUSY = CodeRule(ProviderError, retry=True, ambiguous=True, meaning="system busy")
_TOKEN = CodeRule(AuthenticationError, token_invalid=True, meaning="access token invalid")

#: WeCom global codes (reference/wecom.md §2.2). Unknown codes raise
#: :class:`ProviderError` without a retry.
WECOM_ERRORS: Mapping[int, CodeRule] = _table(
    {
        -1: _BUSY,
        6000: CodeRule(ProviderError, retry=True, meaning="data version conflict"),
        # 40001 is "bad secret" in WeCom (not "bad token" as in WeChat MP).
        40001: CodeRule(AuthenticationError, meaning="invalid corpsecret"),
        40003: CodeRule(InvalidRequestError, meaning="invalid userid"),
        40014: _TOKEN,
        40058: CodeRule(InvalidRequestError, meaning="invalid parameter"),
        41001: CodeRule(AuthenticationError, token_invalid=True, meaning="access token missing"),
        42001: CodeRule(AuthenticationError, token_invalid=True, meaning="access token expired"),
        45009: CodeRule(RateLimitError, retry=True, block=60.0, meaning="api freq out of limit"),
        45033: CodeRule(RateLimitError, retry=True, meaning="api concurrent out of limit"),
        48002: CodeRule(PermissionDeniedError, meaning="api not authorized for this app"),
        50002: CodeRule(PermissionDeniedError, meaning="member out of the app's scope"),
        60011: CodeRule(PermissionDeniedError, meaning="no permission on member/department"),
        60020: CodeRule(PermissionDeniedError, meaning="caller ip not on the trusted list"),
        60111: CodeRule(InvalidRequestError, meaning="userid not found"),
        81013: CodeRule(InvalidRequestError, meaning="all ids invalid or not permitted"),
        90482: CodeRule(InvalidRequestError, meaning="op_start_time is not an occurrence"),
        90484: CodeRule(InvalidRequestError, meaning="op_mode 1 cannot set is_repeat"),
        90485: CodeRule(InvalidRequestError, meaning="op_mode on a non-recurring schedule"),
        301002: CodeRule(PermissionDeniedError, meaning="object belongs to another app"),
    }
)

_DING_RATE = CodeRule(RateLimitError, retry=True, block=1.0, meaning="qps limit")

#: DingTalk legacy ``oapi`` codes (reference/dingtalk.md §1.1, §1.2, §3.2, §3.3).
DINGTALK_LEGACY_ERRORS: Mapping[int, CodeRule] = _table(
    {
        -1: _BUSY,
        # The seed's example answer: "service-unavaliable" (sic).
        15: CodeRule(ProviderError, retry=True, ambiguous=True, meaning="service unavailable"),
        41: CodeRule(InvalidRequestError, meaning="invalid arguments"),
        # TOP gateway auth failure; not a token expiry, so no refresh.
        88: CodeRule(PermissionDeniedError, meaning="gateway authentication failed"),
        33001: CodeRule(AuthenticationError, meaning="invalid corp id"),
        # 40001 is both "bad secret" (at gettoken) and "bad token" (elsewhere);
        # the core turns a token-invalid code at gettoken into a plain auth error.
        40001: _TOKEN,
        40014: _TOKEN,
        42001: CodeRule(AuthenticationError, token_invalid=True, meaning="access token expired"),
        60020: CodeRule(PermissionDeniedError, meaning="caller ip not on the white list"),
        90001: CodeRule(RateLimitError, meaning="banned"),
        **{
            code: CodeRule(RateLimitError, meaning="corp, suite or ip banned")
            for code in (*range(90003, 90015), 90017)
        },
        90002: CodeRule(RateLimitError, retry=True, block=1.0, meaning="api qps limit (global)"),
        90018: CodeRule(RateLimitError, retry=True, block=1.0, meaning="app qps limit"),
        90020: CodeRule(QuotaExceededError, meaning="monthly call quota spent"),
        856010: CodeRule(InvalidRequestError, meaning="required field missing"),
        856011: CodeRule(InvalidRequestError, meaning="bad all-day format"),
        856012: CodeRule(InvalidRequestError, meaning="start and end kinds differ"),
        856013: CodeRule(InvalidRequestError, meaning="start after end"),
        856014: CodeRule(InvalidRequestError, meaning="start equals end"),
        856015: CodeRule(InvalidRequestError, meaning="bad event_id"),
        856016: CodeRule(InvalidRequestError, meaning="bad app_id"),
        856017: CodeRule(InvalidRequestError, meaning="bad userid"),
        856018: CodeRule(InvalidRequestError, meaning="bad agentid"),
        856019: CodeRule(InvalidRequestError, meaning="open senderId error"),
    }
)

#: DingTalk v1.0 string codes (reference/dingtalk.md §2.1, §3.1–§3.3).
DINGTALK_V1_ERRORS: Mapping[str, CodeRule] = MappingProxyType(
    {
        "InvalidAuthentication": _TOKEN,
        "accesstoken.expired": CodeRule(
            AuthenticationError, token_invalid=True, meaning="access token expired"
        ),
        "invalidClientIdOrSecret": CodeRule(AuthenticationError, meaning="bad appKey/appSecret"),
        "invalid.client": CodeRule(AuthenticationError, meaning="bad client id or secret"),
        "unauthorized.client": CodeRule(AuthenticationError, meaning="client not authorized"),
        "unsupported.grant.type": CodeRule(InvalidRequestError, meaning="bad grant type"),
        "Forbidden.AccessDenied.AccessTokenPermissionDenied": CodeRule(
            PermissionDeniedError, meaning="token lacks the API scope"
        ),
        "Forbidden.AccessDenied.IpNotInWhiteList": CodeRule(
            PermissionDeniedError, meaning="caller ip not on the white list"
        ),
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": _DING_RATE,
        "Forbidden.AccessDenied.QpsLimitForApi": _DING_RATE,
        "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi": CodeRule(
            RateLimitError, retry=True, meaning="per-minute limit"
        ),
        "Forbidden.AccessDenied.ApiCountLimitForOrg": CodeRule(
            QuotaExceededError, meaning="monthly call quota spent"
        ),
        "flowLimit": CodeRule(QuotaExceededError, meaning="100 events per user per day"),
        "system.busy": _BUSY,
        "systemBusy": _BUSY,
        "systemError.busy": _BUSY,
        # Same x-client-token still being processed: safe to ask again.
        "idempotencyProcessing": CodeRule(ProviderError, retry=True, meaning="still processing"),
        "IdempotentParameterMismatch": CodeRule(
            InvalidRequestError, meaning="x-client-token reused with another body"
        ),
        "invalidRequest.duplicateClientToken": CodeRule(
            InvalidRequestError, meaning="duplicate x-client-token"
        ),
        "instanceNotExist": CodeRule(NotFoundError, meaning="event does not exist"),
        "InvalidParameter.ParsedISO8601TimestampError": CodeRule(
            InvalidRequestError, meaning="time not in UTC ISO 8601 with milliseconds"
        ),
    }
)

#: Prefix rules tried after an exact miss, in order. The QPS/QPM families are
#: 403s that look like permission errors: they must win over "403 = denied".
DINGTALK_V1_PREFIXES: tuple[tuple[str, CodeRule], ...] = (
    ("Forbidden.AccessDenied.Qps", _DING_RATE),
    (
        "Forbidden.AccessDenied.Qpm",
        CodeRule(RateLimitError, retry=True, meaning="per-minute limit"),
    ),
    ("Forbidden.", CodeRule(PermissionDeniedError, meaning="access denied")),
    ("InvalidParameter", CodeRule(InvalidRequestError, meaning="invalid parameter")),
)


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
