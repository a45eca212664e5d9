"""
Feishu's error table (``wecal.providers.feishu._errors``): ``{code, msg}`` in
HTTP 200 and in 4xx, the code deciding over the status; the token codes that
replay, the rate limits that wait ``x-ogw-ratelimit-reset``, the monthly
quota that is never retried, and the calendar families.
"""

from __future__ import annotations

from typing import Any

import pytest

import wecal
from wecal.providers.feishu._errors import FEISHU_ERRORS, classify, retry_after


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_is_code_zero_with_a_success_status(status: int) -> None:
    assert classify(status, {"code": 0, "msg": "success", "data": {}}) is None


@pytest.mark.parametrize("status", [400, 403, 404, 418, 429, 500])
def test_code_zero_with_an_error_status_is_not_a_success(status: int) -> None:
    # Feishu's errors carry a non-zero code; a 4xx/5xx saying code 0 is not
    # its answer (a proxy's, a copied body): the status decides, its data is not read.
    failure = classify(status, {"code": 0, "msg": "success", "data": {"items": []}})
    assert failure is not None
    assert failure.http_status == status
    assert failure.code is None


@pytest.mark.parametrize(
    ("status", "code", "error", "retry", "token_invalid"),
    [
        (400, 99991663, wecal.AuthenticationError, False, True),
        (200, 99991663, wecal.AuthenticationError, False, True),
        (400, 99991668, wecal.AuthenticationError, False, True),
        (401, 99991677, wecal.AuthenticationError, False, True),
        (429, 99991400, wecal.RateLimitError, True, False),
        (400, 99991400, wecal.RateLimitError, True, False),  # the legacy 400 variant
        (200, 99991400, wecal.RateLimitError, True, False),
        (429, 99991403, wecal.QuotaExceededError, False, False),  # a 429, never retried
        (429, 190004, wecal.RateLimitError, True, False),
        (429, 190005, wecal.RateLimitError, True, False),
        (429, 190010, wecal.RateLimitError, True, False),
        (500, 190003, wecal.ProviderError, True, False),
        (400, 190002, wecal.InvalidRequestError, False, False),
        (400, 190008, wecal.InvalidRequestError, False, False),
        (404, 190007, wecal.PermissionDeniedError, False, False),
        (404, 191000, wecal.NotFoundError, False, False),
        (403, 191002, wecal.PermissionDeniedError, False, False),
        (404, 193001, wecal.NotFoundError, False, False),
        (403, 193002, wecal.PermissionDeniedError, False, False),
        (403, 193003, wecal.NotFoundError, False, False),
        (400, 193103, wecal.InvalidRequestError, False, False),
        (400, 193104, wecal.InvalidRequestError, False, False),
        (404, 195100, wecal.NotFoundError, False, False),
        (400, 198003, wecal.InvalidRequestError, False, False),
        (200, 10014, wecal.AuthenticationError, False, False),  # token endpoint, HTTP 200
        (400, 20064, wecal.AuthenticationError, False, False),
        (403, 99991672, wecal.PermissionDeniedError, False, False),
    ],
)
def test_codes(
    status: int, code: int, error: type[wecal.ProviderError], retry: bool, token_invalid: bool
) -> None:
    failure = classify(status, {"code": code, "msg": f"m{code}"})
    assert failure is not None
    assert failure.rule.error is error
    assert (failure.rule.retry, failure.rule.token_invalid) == (retry, token_invalid)
    assert (failure.code, failure.message, failure.http_status) == (code, f"m{code}", status)


def test_quota_is_not_a_rate_limit() -> None:
    """99991403 comes as HTTP 429 but waiting a minute will not help."""
    rule = FEISHU_ERRORS[99991403]
    assert rule.error is wecal.QuotaExceededError
    assert not issubclass(rule.error, wecal.RateLimitError)
    assert not rule.retry


def test_code_as_string_and_unknown_code() -> None:
    failure = classify(200, {"code": "193001", "msg": ""})
    assert failure is not None
    assert failure.rule.error is wecal.NotFoundError
    assert failure.message == "event not found"  # the rule's meaning when msg is empty
    unknown = classify(400, {"code": 123456, "msg": "new"})
    assert unknown is not None
    assert unknown.rule.error is wecal.InvalidRequestError
    odd = classify(200, {"code": 123456, "msg": "new"})
    assert odd is not None
    assert odd.rule.error is wecal.ProviderError


@pytest.mark.parametrize("code", [True, "abc", [1], 1.5])
def test_unreadable_code(code: Any) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        classify(200, {"code": code})
    assert info.value.path == "$.code"


def test_no_code_falls_back_on_status() -> None:
    assert classify(200, None) is None
    assert classify(200, {"data": {}}) is None
    empty = classify(429, {})
    assert empty is not None
    assert empty.rule.error is wecal.RateLimitError
    gateway = classify(502, None)
    assert gateway is not None
    assert gateway.rule.retry


def test_request_id_and_details() -> None:
    body = {
        "code": 190014,
        "msg": "invalid request parameters. check details",
        "error": {
            "log_id": "202609041354398D5058763C10B5A4A871",
            "details": [{"key": "start_time", "value": "start_time must be before end_time"}],
        },
    }
    failure = classify(400, body)
    assert failure is not None
    assert failure.request_id == "202609041354398D5058763C10B5A4A871"
    assert failure.message.endswith("(start_time must be before end_time)")
    assert classify(400, body, {"x-tt-logid": "L1"}).request_id == "L1"  # type: ignore[union-attr]
    scopes = classify(
        403,
        {
            "code": 99991672,
            "msg": "Access denied",
            "error": {
                "permission_violations": [{"type": "action", "subject": "calendar:calendar"}]
            },
        },
    )
    assert scopes is not None
    assert "required scope: calendar:calendar" in scopes.message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ogw-ratelimit-reset": "52"}, 52.0),
        ({"x-ogw-ratelimit-reset": " 3 ", "retry-after": "9"}, 3.0),
        ({"retry-after": "9"}, 9.0),
        ({"x-ogw-ratelimit-reset": "soon", "retry-after": "2"}, 2.0),
        ({"x-ogw-ratelimit-reset": "-1"}, None),
        ({"x-ogw-ratelimit-reset": "nan"}, None),
        ({"x-ogw-ratelimit-reset": "1e9"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers) == expected
