"""The errcode tables against the codes the reference docs list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import wecal
from wecal.providers._errors import rule_for_status
from wecal.providers.dingtalk._errors import DINGTALK_V1_ERRORS
from wecal.providers.dingtalk_legacy._errors import (
    DINGTALK_LEGACY_ERRORS,
    DINGTALK_LEGACY_SUB_CODES,
)
from wecal.providers.wecom._errors import WECOM_API_ERRORS, WECOM_ERRORS

# Transcribed by hand from reference/wecom.md §2.2 (code → class, retried?).
WECOM_DOC = {
    -1: (wecal.ProviderError, True),
    6000: (wecal.ProviderError, True),
    40001: (wecal.AuthenticationError, False),
    40014: (wecal.AuthenticationError, False),
    41001: (wecal.AuthenticationError, False),
    42001: (wecal.AuthenticationError, False),
    # An unknown user is not found, whatever the code (DESIGN.md).
    40003: (wecal.NotFoundError, False),
    60111: (wecal.NotFoundError, False),
    81013: (wecal.InvalidRequestError, False),
    40058: (wecal.InvalidRequestError, False),
    45009: (wecal.RateLimitError, True),
    45033: (wecal.RateLimitError, True),
    48002: (wecal.PermissionDeniedError, False),
    50002: (wecal.PermissionDeniedError, False),
    60011: (wecal.PermissionDeniedError, False),
    60020: (wecal.PermissionDeniedError, False),
    301002: (wecal.PermissionDeniedError, False),
    90482: (wecal.InvalidRequestError, False),
    90484: (wecal.InvalidRequestError, False),
    90485: (wecal.InvalidRequestError, False),
    # From the global code page reference/wecom.md cites (document/path/90313):
    # bad credentials at gettoken, and a department that does not exist.
    40013: (wecal.AuthenticationError, False),
    40091: (wecal.AuthenticationError, False),
    41002: (wecal.AuthenticationError, False),
    41004: (wecal.AuthenticationError, False),
    60003: (wecal.NotFoundError, False),
}
WECOM_TOKEN_INVALID = {40014, 41001, 42001}

# reference/dingtalk.md §1.1 (seed: 15, 88), §1.2 (41, 8560xx), §3.2, §3.3.
DINGTALK_LEGACY_DOC = {
    -1: (wecal.ProviderError, True),
    15: (wecal.ProviderError, True),
    41: (wecal.InvalidRequestError, False),
    88: (wecal.PermissionDeniedError, False),
    33001: (wecal.AuthenticationError, False),
    40001: (wecal.AuthenticationError, False),
    40014: (wecal.AuthenticationError, False),
    42001: (wecal.AuthenticationError, False),
    60020: (wecal.PermissionDeniedError, False),
    90001: (wecal.RateLimitError, False),
    90002: (wecal.RateLimitError, True),
    **{c: (wecal.RateLimitError, False) for c in range(90003, 90015)},
    90017: (wecal.RateLimitError, False),
    90018: (wecal.RateLimitError, True),
    90020: (wecal.QuotaExceededError, False),
    **{c: (wecal.InvalidRequestError, False) for c in range(856010, 856020)},
    # DingTalk's global code page (server-api-error-codes-1, cited in §3.2).
    40089: (wecal.AuthenticationError, False),
    40096: (wecal.AuthenticationError, False),
    60121: (wecal.NotFoundError, False),
    # Same page: 33012 "无效的USERID" (a user the corp does not have).
    33012: (wecal.NotFoundError, False),
    # Same page: 50002/50004 "企业员工/部门不在授权范围" (a real 50004 answer in
    # tests/data/real, from a public issue).
    50002: (wecal.PermissionDeniedError, False),
    50004: (wecal.PermissionDeniedError, False),
}
DINGTALK_LEGACY_TOKEN_INVALID = {40001, 40014, 42001}

DINGTALK_V1_DOC = {
    "InvalidAuthentication": (wecal.AuthenticationError, False),
    "accesstoken.expired": (wecal.AuthenticationError, False),
    "invalidClientIdOrSecret": (wecal.AuthenticationError, False),
    "invalid.client": (wecal.AuthenticationError, False),
    "unauthorized.client": (wecal.AuthenticationError, False),
    "unsupported.grant.type": (wecal.InvalidRequestError, False),
    "Forbidden.AccessDenied.AccessTokenPermissionDenied": (wecal.PermissionDeniedError, False),
    "Forbidden.AccessDenied.IpNotInWhiteList": (wecal.PermissionDeniedError, False),
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": (wecal.RateLimitError, True),
    "Forbidden.AccessDenied.QpsLimitForApi": (wecal.RateLimitError, True),
    "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi": (wecal.RateLimitError, True),
    "Forbidden.AccessDenied.ApiCountLimitForOrg": (wecal.QuotaExceededError, False),
    "flowLimit": (wecal.QuotaExceededError, False),
    "system.busy": (wecal.ProviderError, True),
    "systemBusy": (wecal.ProviderError, True),
    "systemError.busy": (wecal.ProviderError, True),
    "idempotencyProcessing": (wecal.ProviderError, True),
    "IdempotentParameterMismatch": (wecal.InvalidRequestError, False),
    "invalidRequest.duplicateClientToken": (wecal.InvalidRequestError, False),
    "instanceNotExist": (wecal.NotFoundError, False),
    "InvalidParameter.ParsedISO8601TimestampError": (wecal.InvalidRequestError, False),
}


@pytest.mark.parametrize(
    ("table", "doc", "token_invalid"),
    [
        (WECOM_ERRORS, WECOM_DOC, WECOM_TOKEN_INVALID),
        (DINGTALK_LEGACY_ERRORS, DINGTALK_LEGACY_DOC, DINGTALK_LEGACY_TOKEN_INVALID),
        (DINGTALK_V1_ERRORS, DINGTALK_V1_DOC, {"InvalidAuthentication", "accesstoken.expired"}),
    ],
    ids=["wecom", "dingtalk-legacy", "dingtalk-v1"],
)
def test_table_maps_every_documented_code(
    table: dict[object, object], doc: dict[object, tuple[type, bool]], token_invalid: set[object]
) -> None:
    assert set(table) == set(doc)
    for code, (error, retry) in doc.items():
        rule = table[code]
        assert (rule.error, rule.retry) == (error, retry), code  # type: ignore[attr-defined]
        assert rule.token_invalid == (code in token_invalid), code  # type: ignore[attr-defined]


def test_45009_blocks_for_60_seconds_and_dingtalk_qps_for_about_1() -> None:
    assert WECOM_ERRORS[45009].block == 60.0
    assert DINGTALK_LEGACY_ERRORS[90018].block == 1.0
    assert DINGTALK_V1_ERRORS["Forbidden.AccessDenied.QpsLimitForApi"].block == 1.0


def test_status_fallbacks() -> None:
    assert rule_for_status(200) is None
    assert rule_for_status(401).token_invalid  # type: ignore[union-attr]
    assert rule_for_status(403).error is wecal.PermissionDeniedError  # type: ignore[union-attr]
    assert rule_for_status(429).retry  # type: ignore[union-attr]
    assert rule_for_status(503).ambiguous  # type: ignore[union-attr]


# Copies of the reference sections these tests check, kept in the repository
# so that a fresh clone runs them (reference/ lives outside the project).
REFERENCE = Path(__file__).parent / "data" / "reference"


def test_every_code_in_the_wecom_error_section_is_in_the_table() -> None:
    section = (REFERENCE / "wecom-error-codes.md").read_text(encoding="utf-8")
    assert "### 2.2" in section
    rows = re.findall(r"^\| (-?[\d /]+) \|", section, re.MULTILINE)
    codes = {int(code) for row in rows for code in row.split(" / ")}
    assert codes  # the parse found the table
    assert codes <= set(WECOM_ERRORS)


def test_every_v1_code_in_the_dingtalk_docs_is_mapped() -> None:
    section = (REFERENCE / "dingtalk-error-codes.md").read_text(encoding="utf-8")
    assert "### 3.2" in section
    assert "### 3.3" in section
    named = set(
        re.findall(r"`(?:\d{3} )?((?:Forbidden\.[\w.]+)|InvalidAuthentication|flowLimit)`", section)
    )
    assert named
    for code in named:
        assert code in DINGTALK_V1_ERRORS, code
    legacy = {int(c) for c in re.findall(r"\*\*(9\d{4})\*\*", section)}
    assert legacy <= set(DINGTALK_LEGACY_ERRORS)


def test_every_legacy_code_in_the_dingtalk_docs_is_mapped() -> None:
    section = (REFERENCE / "dingtalk-error-codes.md").read_text(encoding="utf-8")
    legacy = {int(c) for c in re.findall(r"^\| legacy(?: `errcode`)? \| `(-?\d+)`", section, re.M)}
    legacy |= {int(c) for c in re.findall(r"`(8560\d\d)`", section)}
    assert {40001, 40014, 42001, 33001, 88, -1, 856010} <= legacy  # the parse found them
    assert legacy <= set(DINGTALK_LEGACY_ERRORS)


def test_the_88_sub_code_table() -> None:
    assert DINGTALK_LEGACY_SUB_CODES["40014"].token_invalid
    assert DINGTALK_LEGACY_SUB_CODES["40000"].token_invalid
    for code in ("90002", "90018"):
        rule = DINGTALK_LEGACY_SUB_CODES[code]
        assert (rule.error, rule.retry) == (wecal.RateLimitError, True)
    assert DINGTALK_LEGACY_SUB_CODES["60121"].error is wecal.NotFoundError
    assert DINGTALK_LEGACY_SUB_CODES["60011"].error is wecal.PermissionDeniedError


def test_wecom_40058_is_not_found_on_the_calls_keyed_by_one_id() -> None:
    for api in ("schedule/get_by_calendar", "schedule/get", "calendar/get", "calendar/del"):
        assert WECOM_API_ERRORS[api][40058].error is wecal.NotFoundError
    # Elsewhere it is what WeCom says: an invalid parameter.
    assert "schedule/add" not in WECOM_API_ERRORS
    assert WECOM_ERRORS[40058].error is wecal.InvalidRequestError
