"""DingTalk legacy ``oapi`` error codes (reference/dingtalk.md §1, §3) and dialect."""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
)
from .._dialects import Dialect
from .._errors import BUSY, TOKEN_INVALID, CodeRule, code_table
from ..dingtalk._errors import DINGTALK_V1_ERRORS

__all__ = ["DINGTALK_LEGACY", "DINGTALK_LEGACY_ERRORS"]

#: DingTalk legacy ``oapi`` codes (reference/dingtalk.md §1.1, §1.2, §3.2, §3.3).
DINGTALK_LEGACY_ERRORS: Mapping[int, CodeRule] = code_table(
    {
        -1: BUSY,
        # The seed's example answer: "service-unavaliable" (sic).
        15: CodeRule(ProviderError, retry=True, ambiguous=True, meaning="service unavailable"),
        41: CodeRule(InvalidRequestError, meaning="invalid arguments"),
        # TOP gateway auth failure; not a token expiry, so no refresh.
        88: CodeRule(PermissionDeniedError, meaning="gateway authentication failed"),
        33001: CodeRule(AuthenticationError, meaning="invalid corp id"),
        # 40001 is both "bad secret" (at gettoken) and "bad token" (elsewhere);
        # the core turns a token-invalid code at gettoken into a plain auth error.
        40001: TOKEN_INVALID,
        40014: TOKEN_INVALID,
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


DINGTALK_LEGACY = Dialect(
    name="dingtalk-legacy",
    provider="dingtalk",
    default_base_url="https://oapi.dingtalk.com",
    default_rate=20.0,
    style="errcode",
    token_method="GET",
    token_path="/gettoken",
    id_name="appkey",
    secret_name="appsecret",
    token_field="access_token",
    expires_field="expires_in",
    token_query="access_token",
    int_codes=DINGTALK_LEGACY_ERRORS,
    # Only for a gateway answer without an errcode (HTTP 4xx/5xx with a v1.0 body).
    str_codes=DINGTALK_V1_ERRORS,
)
