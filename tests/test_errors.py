"""The WecalError tree: shape, attributes, messages, and that no secret leaks."""

from __future__ import annotations

import re

import pytest

import wecal
from wecal import errors


def _drawn_tree() -> dict[str, int]:
    """Class name -> depth, read from the tree drawn in the module docstring."""
    assert errors.__doc__ is not None
    tree: dict[str, int] = {}
    for line in errors.__doc__.splitlines():
        m = re.match(r"^\s*(?P<prefix>[│ ]*(?:├── |└── )?)(?P<name>[A-Z]\w+Error)\b", line)
        if m:
            tree[m.group("name")] = len(m.group("prefix")) // 4
    return tree


def test_docstring_tree_matches_the_classes() -> None:
    """Every class is drawn, at the depth of its real base class."""
    tree = _drawn_tree()
    classes = {
        name: obj
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.WecalError)
    }
    assert set(tree) == set(classes)
    for name, cls in classes.items():
        depth = len([b for b in cls.__mro__ if issubclass(b, errors.WecalError)]) - 1
        assert tree[name] == depth, name


def test_every_error_is_exported_from_wecal() -> None:
    for name in _drawn_tree():
        assert getattr(wecal, name) is getattr(errors, name)


def test_provider_error_attributes_and_str() -> None:
    exc = wecal.NotFoundError(
        "invalid schedule_id", provider="wecom", code=40058, request_id="r1", http_status=200
    )
    assert (exc.provider, exc.code, exc.message, exc.request_id, exc.http_status) == (
        "wecom",
        40058,
        "invalid schedule_id",
        "r1",
        200,
    )
    assert str(exc) == "wecom error 40058: invalid schedule_id (HTTP 200, request_id=r1)"
    assert "NotFoundError(provider='wecom', code=40058" in repr(exc)
    assert isinstance(exc, wecal.ProviderError)
    assert exc.cursor is None


def test_rate_limit_error_says_when_to_retry() -> None:
    exc = wecal.RateLimitError(
        "api freq out of limit", provider="wecom", code=45009, retry_after=60
    )
    assert exc.retry_after == 60
    assert str(exc).endswith("retry after 60s")


def test_response_format_error_names_the_path() -> None:
    exc = wecal.ResponseFormatError(
        "expected int, got 'soon'", path="$.schedule_list[3].start_time"
    )
    assert exc.path == "$.schedule_list[3].start_time"
    assert str(exc) == "$.schedule_list[3].start_time: expected int, got 'soon'"


def test_unsupported_error_names_the_feature() -> None:
    exc = wecal.UnsupportedError("WeCom cannot repeat with COUNT=10", feature="COUNT")
    assert exc.feature == "COUNT"


def test_builtin_bases() -> None:
    assert issubclass(wecal.ValidationError, ValueError)
    assert issubclass(wecal.ClientClosedError, RuntimeError)


SECRET = "Zx9-s3cr3t-VALUE"
TOKEN = "tok_abcdef0123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret={SECRET}",
        f"POST /cgi-bin/oa/schedule/get?access_token={TOKEN} failed",
        f'{{"appkey": "k", "appsecret": "{SECRET}"}}',
        f"x-acs-dingtalk-access-token: {TOKEN}",
        f"/gettoken?appkey=k&appsecret={SECRET}&x=1",
        f"'appSecret': '{SECRET}'",
    ],
)
def test_secrets_never_reach_messages(text: str) -> None:
    for exc in (
        wecal.TransportError(text),
        wecal.ProviderError(text, provider="wecom", code=1),
        wecal.ResponseFormatError(text, path="$"),
    ):
        for rendered in (str(exc), repr(exc), exc.message):
            assert SECRET not in rendered
            assert TOKEN not in rendered
            assert "***" in rendered


def test_redact_masks_literal_secrets_anywhere() -> None:
    assert errors.redact(f"boom {SECRET} boom", [SECRET]) == "boom *** boom"
    assert errors.redact("nothing secret here") == "nothing secret here"
