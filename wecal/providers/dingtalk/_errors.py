"""DingTalk v1.0 error codes (reference/dingtalk.md §2.1, §3) and wire dialect.

The legacy ``oapi`` host answers some gateway failures with these bodies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
)
from .._dialects import Dialect, Failure
from .._errors import BUSY, TOKEN_INVALID, CodeRule
from .._readers import as_text as _text

__all__ = [
    "DINGTALK_V1",
    "DINGTALK_V1_ERRORS",
    "DINGTALK_V1_PREFIXES",
    "GATEWAY_ERROR_FIELDS",
    "gateway_ban",
    "required_scopes",
]

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


#: DingTalk's gateway bans an egress IP for 5 minutes after 10 000 calls in
#: 20 s, answering {"status": 1111, "wait": 5, "source": "x5", "punish": "deny",
#: "uuid": …} with no errcode or code (open.dingtalk.com, how-to-process-api-
#: throttling): a rate limit that blocks every call of the client for 5 minutes.
#: The fields of the gateway's error answers besides everyone's (code,
#: message, request id…): its legacy form's and its access-denied details. An
#: answer with a success status and nothing else is an error.
GATEWAY_ERROR_FIELDS = frozenset({"errcode", "errmsg", "accessdenieddetail", "HostId", "Recommend"})

_IP_BAN = CodeRule(
    RateLimitError,
    retry=True,
    block=300.0,
    meaning="egress ip banned for 5 minutes",
    egress_wide=True,
)


def gateway_ban(status: int, body: Mapping[str, Any]) -> Failure | None:
    """The gateway's IP ban (``"punish": "deny"``), read before anything else (both hosts)."""
    if body.get("punish") != "deny":
        return None
    code = body.get("status")
    message = f"{_IP_BAN.meaning} (punish: deny, wait: {_text(body.get('wait'))})"
    request_id = _text(body.get("uuid")) or None
    return Failure(_IP_BAN, code if type(code) is int else None, message, request_id, status)


def required_scopes(body: Mapping[str, Any]) -> str:
    """A 403's ``accessdenieddetail.requiredScopes``, as a message suffix (or "")."""
    detail = body.get("accessdenieddetail")
    scopes = detail.get("requiredScopes") if isinstance(detail, Mapping) else None
    if not isinstance(scopes, list):
        return ""
    named = [scope for scope in scopes if isinstance(scope, str)]
    return f" (required scope: {', '.join(named)})" if named else ""


#: 10 000 calls in 20 s from one egress IP ban every API of both DingTalk
#: APIs for 5 minutes (answer {"status": 1111, "punish": "deny"}): applied to
#: clients that name their egress, RateLimitConfig(egress=...).
GATEWAY_EGRESS_LIMIT = (10_000, 20.0)

DINGTALK_V1 = Dialect(
    name="dingtalk-v1",
    provider="dingtalk",
    default_base_url="https://api.dingtalk.com",
    default_rate=20.0,
    default_egress_limit=GATEWAY_EGRESS_LIMIT,
    style="status",
    # The shared gateway answers some calls in the legacy form (errcode ≠ 0
    # in an HTTP 200): read as that form's error.
    body_code="errcode",
    body_message="errmsg",
    error_fields=GATEWAY_ERROR_FIELDS,
    token_method="POST",
    token_path="/v1.0/oauth2/accessToken",
    id_name="appKey",
    secret_name="appSecret",
    token_field="accessToken",
    expires_field="expireIn",
    token_header="x-acs-dingtalk-access-token",
    str_codes=DINGTALK_V1_ERRORS,
    prefixes=DINGTALK_V1_PREFIXES,
    before=gateway_ban,
    message_suffix=required_scopes,
)
