"""DingTalk v1.0 error codes (reference/dingtalk.md §2.1, §3) and wire dialect.

The legacy ``oapi`` host answers some gateway failures with these bodies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
)
from .._dialects import Dialect
from .._errors import BUSY, TOKEN_INVALID, CodeRule

__all__ = ["DINGTALK_V1", "DINGTALK_V1_ERRORS", "DINGTALK_V1_PREFIXES"]

_DING_RATE = CodeRule(RateLimitError, retry=True, block=1.0, meaning="qps limit")

#: DingTalk v1.0 string codes (reference/dingtalk.md §2.1, §3.1–§3.3).
DINGTALK_V1_ERRORS: Mapping[str, CodeRule] = MappingProxyType(
    {
        "InvalidAuthentication": TOKEN_INVALID,
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
        "system.busy": BUSY,
        "systemBusy": BUSY,
        "systemError.busy": BUSY,
        # Same x-client-token still being processed: safe to ask again.
        # Ambiguous: the first write with this token is under way and may be applied.
        "idempotencyProcessing": CodeRule(
            ProviderError, retry=True, ambiguous=True, meaning="still processing"
        ),
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
    # A live 400 "AuthenticationFailed.MissingParameter" ("缺少参数：x-acs-dingtalk-access-token").
    ("AuthenticationFailed", CodeRule(AuthenticationError, meaning="authentication failed")),
    ("InvalidParameter", CodeRule(InvalidRequestError, meaning="invalid parameter")),
)


DINGTALK_V1 = Dialect(
    name="dingtalk-v1",
    provider="dingtalk",
    default_base_url="https://api.dingtalk.com",
    default_rate=20.0,
    # 10 000 calls in 20 s from one egress IP ban every API for 5 minutes
    # (answer {"status": 1111, "punish": "deny"}): applied to clients that
    # name their egress, RateLimitConfig(egress=...).
    default_egress_limit=(10_000, 20.0),
    style="status",
    token_method="POST",
    token_path="/v1.0/oauth2/accessToken",
    id_name="appKey",
    secret_name="appSecret",
    token_field="accessToken",
    expires_field="expireIn",
    token_header="x-acs-dingtalk-access-token",
    str_codes=DINGTALK_V1_ERRORS,
    prefixes=DINGTALK_V1_PREFIXES,
)
