"""WeCom's error codes (reference/wecom.md §2.2) and wire dialect."""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)
from .._dialects import Dialect
from .._errors import BUSY, TOKEN_INVALID, CodeRule, code_table

__all__ = ["WECOM", "WECOM_ERRORS"]

#: WeCom global codes (reference/wecom.md §2.2). Unknown codes raise
#: :class:`ProviderError` without a retry.
WECOM_ERRORS: Mapping[int, CodeRule] = code_table(
    {
        -1: BUSY,
        6000: CodeRule(ProviderError, retry=True, meaning="data version conflict"),
        # 40001 is "bad secret" in WeCom (not "bad token" as in WeChat MP).
        40001: CodeRule(AuthenticationError, meaning="invalid corpsecret"),
        40003: CodeRule(InvalidRequestError, meaning="invalid userid"),
        40014: TOKEN_INVALID,
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


WECOM = Dialect(
    name="wecom",
    provider="wecom",
    default_base_url="https://qyapi.weixin.qq.com",
    default_rate=10_000 / 60,
    style="errcode",
    token_method="GET",
    token_path="/cgi-bin/gettoken",
    id_name="corpid",
    secret_name="corpsecret",
    token_field="access_token",
    expires_field="expires_in",
    token_query="access_token",
    int_codes=WECOM_ERRORS,
)
