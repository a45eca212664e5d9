"""WeCom's error codes (reference/wecom.md §2.2) and wire dialect."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)
from .._dialects import Dialect
from .._errors import BUSY, TOKEN_INVALID, CodeRule, code_table

__all__ = ["WECOM", "WECOM_API_ERRORS", "WECOM_ERRORS"]

#: WeCom global codes (reference/wecom.md §2.2, and the global code page
#: it cites, developer.work.weixin.qq.com/document/path/90313, for the
#: credential and not-found codes). Unknown codes raise
#: :class:`ProviderError` without a retry. Bad credentials at ``gettoken``
#: are :class:`AuthenticationError`; an unknown user, department, calendar or
#: schedule is :class:`NotFoundError` (see :data:`WECOM_API_ERRORS` for 40058).
WECOM_ERRORS: Mapping[int, CodeRule] = code_table(
    {
        -1: BUSY,
        6000: CodeRule(ProviderError, retry=True, meaning="data version conflict"),
        # 40001 is "bad secret" in WeCom (not "bad token" as in WeChat MP).
        40001: CodeRule(AuthenticationError, meaning="invalid corpsecret"),
        40013: CodeRule(AuthenticationError, meaning="invalid corpid"),
        40091: CodeRule(AuthenticationError, meaning="invalid secret"),
        41002: CodeRule(AuthenticationError, meaning="corpid missing"),
        41004: CodeRule(AuthenticationError, meaning="corpsecret missing"),
        40003: CodeRule(NotFoundError, meaning="unknown userid"),
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
        60003: CodeRule(NotFoundError, meaning="department not found"),
        60111: CodeRule(NotFoundError, meaning="userid not found"),
        81013: CodeRule(InvalidRequestError, meaning="all ids invalid or not permitted"),
        90482: CodeRule(InvalidRequestError, meaning="op_start_time is not an occurrence"),
        90484: CodeRule(InvalidRequestError, meaning="op_mode 1 cannot set is_repeat"),
        90485: CodeRule(InvalidRequestError, meaning="op_mode on a non-recurring schedule"),
        301002: CodeRule(PermissionDeniedError, meaning="object belongs to another app"),
    }
)


_UNKNOWN_ID = CodeRule(NotFoundError, meaning="no such calendar or schedule")

#: Per-API readings: WeCom answers 40058 ("invalid parameter") for an unknown
#: ``cal_id`` / ``schedule_id`` on the calls whose only parameter is that id.
WECOM_API_ERRORS: Mapping[str, Mapping[int, CodeRule]] = {
    api: code_table({40058: _UNKNOWN_ID})
    for api in (
        "schedule/get_by_calendar",
        "schedule/get",
        "schedule/del",
        "calendar/get",
        "calendar/del",
    )
}


_HINT_RE = re.compile(r"hint:\s*\[([^\]]+)\]")


def hint(message: str) -> str | None:
    """WeCom puts a request id in errmsg: ``"... hint: [1699999999_12_abc], from ip: ..."``."""
    match = _HINT_RE.search(message)
    return match.group(1) if match else None


WECOM = Dialect(
    name="wecom",
    provider="wecom",
    default_base_url="https://qyapi.weixin.qq.com",
    # 10 000 per minute per corp and API, spaced evenly; and 150 000 per hour
    # (past either, 45009 blocks the API for 60 s or 60 min).
    default_rate=10_000 / 60,
    default_per_hour=150_000,
    style="body",
    body_code="errcode",
    body_message="errmsg",
    error_fields=frozenset({"errcode", "errmsg"}),
    token_method="GET",
    token_path="/cgi-bin/gettoken",
    id_name="corpid",
    secret_name="corpsecret",
    token_field="access_token",
    expires_field="expires_in",
    token_query="access_token",
    int_codes=WECOM_ERRORS,
    api_codes=WECOM_API_ERRORS,
    request_id_in_message=hint,
)
