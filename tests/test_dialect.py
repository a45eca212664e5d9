"""The table-driven dialect's token placement and empty-answer rule (wecal.providers._dialects)."""

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
    assert dialect(style="errcode").empty_success is False
