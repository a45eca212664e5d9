"""The table-driven dialect (wecal.providers._dialects): token placement, empty answers, fields."""

from __future__ import annotations

from typing import Any

import pytest

from wecal.providers._dialects import Dialect


def dialect(**fields: Any) -> Dialect:
    base: dict[str, Any] = {
        "name": "example",
        "provider": "example",
        "default_base_url": "http://example.test",
        "default_rate": 10.0,
        "style": "status",
        "token_method": "POST",
        "token_path": "/token",
        "id_name": "app_id",
        "secret_name": "app_secret",
        "token_field": "token",
        "expires_field": "expire",
    }
    return Dialect(**(base | fields))


@pytest.mark.parametrize(
    ("placement", "params", "headers"),
    [
        ({"token_query": "access_token"}, {"access_token": "t-1"}, {}),
        ({"token_header": "x-token"}, {}, {"x-token": "t-1"}),
        ({"token_scheme": "Bearer"}, {}, {"Authorization": "Bearer t-1"}),
    ],
)
def test_the_token_goes_where_the_dialect_says(
    placement: dict[str, str], params: dict[str, str], headers: dict[str, str]
) -> None:
    got_params: dict[str, Any] = {}
    got_headers: dict[str, str] = {}
    dialect(**placement).place_token("t-1", got_params, got_headers)
    assert (got_params, got_headers) == (params, headers)


def test_an_empty_success_is_an_answer_only_where_the_status_is_the_verdict() -> None:
    assert dialect(style="status").empty_success is True
    assert dialect(style="body").empty_success is False


def test_a_body_style_error_is_read_from_the_fields_the_dialect_names() -> None:
    # The table-driven dialect knows no provider's field names: the folder gives them.
    body = dialect(style="body", body_code="rc", body_message="why")
    failure = body.classify(200, {"rc": "7", "why": "no such thing"})
    assert failure is not None
    assert (failure.code, failure.message, failure.http_status) == (7, "no such thing", 200)
    assert body.classify(200, {"rc": 0, "v": 1}) is None
    assert body.error_keys == ("rc", "code", "Code")
    # A status-style API whose gateway may answer in the body form.
    status = dialect(style="status", body_code="rc", body_message="why")
    failure = status.classify(200, {"rc": 9, "why": "legacy form"})
    assert failure is not None
    assert (failure.code, failure.message) == (9, "legacy form")
    assert dialect(style="status").classify(200, {"rc": 9}) is None
