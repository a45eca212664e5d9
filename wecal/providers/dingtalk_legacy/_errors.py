"""DingTalk legacy ``oapi`` error codes (reference/dingtalk.md §1, §3) and dialect."""

from __future__ import annotations

import re
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
from .._dialects import Dialect
from .._errors import BUSY, TOKEN_INVALID, CodeRule, code_table
from .._readers import as_text as _text
from ..dingtalk._errors import (
    DINGTALK_V1_ERRORS,
    GATEWAY_EGRESS_LIMIT,
    GATEWAY_ERROR_FIELDS,
    gateway_ban,
    required_scopes,
)

__all__ = ["DINGTALK_LEGACY", "DINGTALK_LEGACY_ERRORS", "DINGTALK_LEGACY_SUB_CODES"]

#: DingTalk legacy ``oapi`` codes (reference/dingtalk.md §1.1, §1.2, §3.2, §3.3).
DINGTALK_LEGACY_ERRORS: Mapping[int, CodeRule] = code_table(
    {
        -1: BUSY,
        # The seed's example answer: "service-unavaliable" (sic).
        15: CodeRule(ProviderError, retry=True, ambiguous=True, meaning="service unavailable"),
        41: CodeRule(InvalidRequestError, meaning="invalid arguments"),
        # An envelope ("鉴权异常"): sub_code/sub_msg say what failed, read with
        # DINGTALK_LEGACY_SUB_CODES; this rule is for a sub_code not listed there.
        88: CodeRule(PermissionDeniedError, meaning="gateway authentication failed"),
        33001: CodeRule(AuthenticationError, meaning="invalid corp id"),
        40089: CodeRule(AuthenticationError, meaning="invalid corpid or corpsecret"),
        40096: CodeRule(AuthenticationError, meaning="invalid appKey or appSecret"),
        60121: CodeRule(NotFoundError, meaning="user not found"),
        # "无效的USERID": a userid the corp does not have — not found, whatever the code.
        33012: CodeRule(NotFoundError, meaning="invalid userid (no such user)"),
        # 40001 is both "bad secret" (at gettoken) and "bad token" (elsewhere);
        # the core turns a token-invalid code at gettoken into a plain auth error.
        40001: TOKEN_INVALID,
        40014: TOKEN_INVALID,
        42001: CodeRule(AuthenticationError, token_invalid=True, meaning="access token expired"),
        60020: CodeRule(PermissionDeniedError, meaning="caller ip not on the white list"),
        # "员工不在授权范围" / "请求的部门id不在授权范围内" (the app's contact scope).
        50002: CodeRule(PermissionDeniedError, meaning="user outside the app's scope"),
        50004: CodeRule(PermissionDeniedError, meaning="department outside the app's scope"),
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


_QPS = CodeRule(RateLimitError, retry=True, block=1.0, meaning="qps limit")

#: The ``sub_code`` of an errcode-88 envelope (reference/dingtalk.md §3.2:
#: "关注返回结果里的subCode和subMsg"; DingTalk's global code page shows
#: ``{"errcode": 88, "sub_code": "60011", "sub_msg": "没有调用该接口的权限"}``).
#: A stale token inside an 88 is refreshed and the call replayed once, a QPS
#: limit is retried; an unlisted sub-code keeps 88's own rule.
DINGTALK_LEGACY_SUB_CODES: Mapping[str, CodeRule] = MappingProxyType(
    {
        "40014": TOKEN_INVALID,
        "40000": TOKEN_INVALID,
        "40001": TOKEN_INVALID,
        "42001": CodeRule(AuthenticationError, token_invalid=True, meaning="access token expired"),
        "33001": CodeRule(AuthenticationError, meaning="invalid corp id"),
        "40089": CodeRule(AuthenticationError, meaning="invalid corpid or corpsecret"),
        "40096": CodeRule(AuthenticationError, meaning="invalid appKey or appSecret"),
        "60011": CodeRule(PermissionDeniedError, meaning="no permission for this api"),
        "60020": CodeRule(PermissionDeniedError, meaning="caller ip not on the white list"),
        "60121": CodeRule(NotFoundError, meaning="user not found"),
        "33012": CodeRule(NotFoundError, meaning="invalid userid (no such user)"),
        "90002": _QPS,
        "90018": _QPS,
    }
)


# "ding talk error[subcode=90002,submsg=…]": the envelope's sub-code when the
# body has no sub_code field of its own.
_SUB_CODE_RE = re.compile(r"sub_?code\s*[=:]\s*([^,\]\s]+)", re.IGNORECASE)
_SUB_MSG_RE = re.compile(r"sub_?msg\s*[=:]\s*([^\]]+)", re.IGNORECASE)


def envelope(body: Mapping[str, Any], message: str) -> tuple[str | None, str]:
    """
    An errcode-88 envelope's ``(sub_code, sub_msg)``: the body's fields
    (``sub_code`` / ``subCode`` / ``subcode``), else what its ``errmsg`` says
    (``ding talk error[subcode=90002,submsg=…]``).
    """
    raw = body.get("sub_code", body.get("subCode", body.get("subcode")))
    sub_code = _text(raw).strip() or None
    sub_message = _text(body.get("sub_msg", body.get("subMsg", body.get("submsg"))))
    if sub_code is None:
        found = _SUB_CODE_RE.search(message)
        sub_code = found.group(1) if found else None
    if sub_code is not None and not sub_message:
        found = _SUB_MSG_RE.search(message)
        sub_message = found.group(1).strip() if found else ""
    return sub_code, sub_message


DINGTALK_LEGACY = Dialect(
    name="dingtalk-legacy",
    provider="dingtalk-legacy",
    default_base_url="https://oapi.dingtalk.com",
    default_rate=20.0,
    default_egress_limit=GATEWAY_EGRESS_LIMIT,
    style="body",
    body_code="errcode",
    body_message="errmsg",
    error_fields=GATEWAY_ERROR_FIELDS,
    token_method="GET",
    token_path="/gettoken",
    id_name="appkey",
    secret_name="appsecret",
    token_field="access_token",
    expires_field="expires_in",
    token_query="access_token",
    int_codes=DINGTALK_LEGACY_ERRORS,
    envelope_code=88,
    sub_codes=DINGTALK_LEGACY_SUB_CODES,
    # Only for a gateway answer without an errcode (HTTP 4xx/5xx with a v1.0 body).
    str_codes=DINGTALK_V1_ERRORS,
    before=gateway_ban,
    envelope_reader=envelope,
    message_suffix=required_scopes,
)
