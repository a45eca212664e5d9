"""
Feishu / Lark error codes (``reference/feishu.md`` §1.3, §7, §8) and how wecal treats them.

Every answer is ``{code, msg, data?, error?}``; ``code`` 0 is success. The
code comes in HTTP 200 (the token endpoints) and in 4xx/5xx (the calendar
API: 400/403/404/429/500 per its tables), so the code decides, not the
status: :func:`classify` reads the code first and falls back on the status
only for a body without one. The request id is the ``X-Tt-Logid`` header or
``error.log_id``.

- 99991663/99991664/99991665/99991668/99991677: the access token is dead —
  drop it, fetch a new one, replay once.
- 99991400 (HTTP 429, some older APIs 400), 190004/190005 and the older
  1000004/1000005: rate limited — wait ``x-ogw-ratelimit-reset`` seconds
  (:func:`retry_after`) and retry.
- 99991403: the free edition's monthly call quota is spent —
  :class:`~wecal.QuotaExceededError`, never retried, although it is an HTTP 429.
- 190003, 1500/5000 and 20072 are internal errors worth a retry; 190010
  (contention) and 2200 (busy) are soft rate limits.
- The calendar families 190xxx–198xxx and the older 100xxxx map onto
  NotFoundError / PermissionDeniedError / InvalidRequestError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
    _describe,
)
from .._dialects import Failure
from .._errors import BUSY, CodeRule, code_table, rule_for_status

__all__ = [
    "FEISHU_ERRORS",
    "RATE_LIMIT_RESET_HEADER",
    "REQUEST_ID_HEADER",
    "classify",
    "retry_after",
]

#: Seconds until a rate-limit window resets, on a 429 (``频控策略``).
RATE_LIMIT_RESET_HEADER = "x-ogw-ratelimit-reset"
#: The log id support asks for.
REQUEST_ID_HEADER = "x-tt-logid"

_RATE = CodeRule(RateLimitError, retry=True, meaning="request trigger frequency limit")
_TOKEN = CodeRule(AuthenticationError, token_invalid=True, meaning="access token invalid")
_CONFIG = CodeRule(AuthenticationError, meaning="app credentials or tenant refused")
_USER = CodeRule(AuthenticationError, meaning="user authorization gone: the user must re-authorize")


def _bad(meaning: str) -> CodeRule:
    return CodeRule(InvalidRequestError, meaning=meaning)


def _gone(meaning: str) -> CodeRule:
    return CodeRule(NotFoundError, meaning=meaning)


def _denied(meaning: str) -> CodeRule:
    return CodeRule(PermissionDeniedError, meaning=meaning)


#: Every code of the reference's tables → its rule.
FEISHU_ERRORS: Mapping[int, CodeRule] = code_table(
    {
        # -- platform: tokens and credentials (§1.3) --
        99991661: CodeRule(AuthenticationError, meaning="no access token sent"),
        99991663: _TOKEN,
        99991664: CodeRule(AuthenticationError, token_invalid=True, meaning="invalid app token"),
        99991665: CodeRule(AuthenticationError, token_invalid=True, meaning="invalid tenant token"),
        99991668: CodeRule(
            AuthenticationError,
            token_invalid=True,
            meaning="user access token invalid, or not accepted by this API",
        ),
        99991671: CodeRule(AuthenticationError, meaning="malformed access token"),
        99991677: CodeRule(AuthenticationError, token_invalid=True, meaning="token expired"),
        99991672: _denied("the app lacks the API scope"),
        99991679: _denied("the user has not granted the scope"),
        99991543: CodeRule(AuthenticationError, meaning="bad app_id or app_secret"),
        99991662: _denied("app not in use in this tenant"),
        99991673: _denied("app not authorized in this tenant"),
        99991401: _denied("caller ip denied by the app's allow-list"),
        10003: CodeRule(AuthenticationError, meaning="invalid token request parameter"),
        10012: CodeRule(AuthenticationError, meaning="app_ticket invalid"),
        10014: CodeRule(AuthenticationError, meaning="app id does not exist"),
        # -- user tokens (§1.2) --
        20037: _USER,
        20064: CodeRule(
            AuthenticationError,
            meaning="refresh token revoked (it can be used once): the user must re-authorize",
        ),
        20073: CodeRule(
            AuthenticationError,
            meaning="refresh token already used: the user must re-authorize",
        ),
        20074: CodeRule(AuthenticationError, meaning="token refresh not enabled for the app"),
        20010: _denied("user lacks the app permission"),
        20072: CodeRule(ProviderError, retry=True, ambiguous=True, meaning="service unavailable"),
        # -- limits and quota (§7.3, §8) --
        99991400: _RATE,
        99991403: CodeRule(
            QuotaExceededError, meaning="this month's API call quota (free edition) is spent"
        ),
        190004: CodeRule(RateLimitError, retry=True, meaning="method rate limited"),
        190005: CodeRule(RateLimitError, retry=True, meaning="app rate limited"),
        1000004: CodeRule(RateLimitError, retry=True, meaning="method rate limited"),
        1000005: CodeRule(RateLimitError, retry=True, meaning="app rate limited"),
        190010: CodeRule(
            RateLimitError, retry=True, ambiguous=True, meaning="contention on a shared resource"
        ),
        2200: CodeRule(RateLimitError, retry=True, ambiguous=True, meaning="busy, call less often"),
        190003: CodeRule(ProviderError, retry=True, ambiguous=True, meaning="internal error"),
        1500: BUSY,
        5000: BUSY,
        # -- calendar v4 (§7.2) --
        190002: _bad("invalid parameters"),
        190006: _CONFIG,
        190007: _denied("app bot_id not found: enable the app's bot ability"),
        190008: _bad("page_token or sync_token expired"),
        190009: _bad("sync_token cannot be used with other request restrictions"),
        190011: _denied("tenant encrypt key deleted"),
        190012: _denied("tenant decrypt key deleted"),
        190013: _bad("content at risk"),
        190014: _bad("invalid request parameters"),
        191000: _gone("calendar not found"),
        191001: _gone("invalid calendar id"),
        191002: _denied("no access role on the calendar"),
        191003: _gone("calendar deleted"),
        191004: _bad("calendar of the wrong type"),
        193000: _gone("invalid event id"),
        193001: _gone("event not found"),
        193002: _denied("no permission to operate event"),
        193003: _gone("event deleted"),
        193101: _bad("a bot organizer cannot assign hosts"),
        193102: _bad("only the organizer may assign hosts"),
        193103: _bad("instance_view window over 40 days"),
        193104: _bad("instance_view window over 1000 instances"),
        193105: _bad("attachment token invalid"),
        193106: _bad("attachments over 25 MB"),
        193107: _denied("no access to the attachment"),
        194000: _gone("attendee not found"),
        194001: _denied("no permission to list attendees"),
        194002: _denied("no permission to add attendees"),
        194003: _denied("no permission to delete attendees"),
        194004: _bad("invalid attendee type"),
        195100: _gone("user resigned or not in the tenant"),
        195112: _bad("invalid meeting password"),
        195113: _bad("only the organizer may set a meeting password"),
        198001: _bad("free/busy: too many users"),
        198002: _bad("free/busy: bad time format"),
        198003: _bad("free/busy: bad time range"),
        198004: _bad("free/busy: bad time zone"),
        198007: _bad("too many calendar ids"),
        # -- the older calendar family (§7.2, 通用错误码) --
        1001001: _gone("invalid calendar id"),
        1001002: _denied("no access role on the calendar"),
        1001004: _bad("invalid calendar type"),
        1003001: _gone("event not found"),
        1003003: _gone("event deleted"),
        1004000: _gone("attendee not found"),
        1004004: _bad("invalid attendee type"),
    }
)


def _code(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str:
        text = value.strip()
        digits = text.removeprefix("-")
        if 0 < len(digits) <= 19 and digits.isascii() and digits.isdigit():
            return int(text)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _details(body: Mapping[str, Any]) -> str:
    """What ``error`` adds: 190014's ``details``, the scopes 99991672 wants."""
    error = body.get("error")
    if not isinstance(error, Mapping):
        return ""
    parts: list[str] = []
    for key, field in (("details", "value"), ("field_violations", "description")):
        items = error.get(key)
        if isinstance(items, list):
            parts += [_text(item.get(field)) for item in items[:5] if isinstance(item, Mapping)]
    violations = error.get("permission_violations")
    if isinstance(violations, list):
        scopes = [
            _text(item.get("subject")) for item in violations[:10] if isinstance(item, Mapping)
        ]
        if any(scopes):
            parts.append("required scope: " + ", ".join(s for s in scopes if s))
    return "; ".join(p for p in parts if p)


def request_id(body: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> str | None:
    """The log id: the ``X-Tt-Logid`` header, else ``error.log_id``."""
    if headers is not None:
        found = headers.get(REQUEST_ID_HEADER)
        if found:
            return found
    error = body.get("error") if body is not None else None
    if isinstance(error, Mapping):
        return _text(error.get("log_id")) or None
    return None


def classify(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> Failure | None:
    """
    None when the answer is a success, else the :class:`Failure` it is.

    The body's ``code`` decides; a body without one (not JSON, ``{}``) is
    judged by the HTTP status.

    >>> classify(200, {"code": 0, "msg": "success", "data": {}}) is None
    True
    >>> classify(429, {"code": 99991403, "msg": "quota"}).rule.error.__name__
    'QuotaExceededError'
    """
    raw = body.get("code") if body is not None else None
    code = _code(raw)
    if raw is not None and code is None:
        raise ResponseFormatError(f"expected an integer code, got {_describe(raw)}", path="$.code")
    if code == 0 and status < 400:
        return None
    if code == 0:
        # A success code with an error status: the status is the verdict.
        code = None
    if code is not None:
        assert body is not None
        rule = FEISHU_ERRORS.get(code)
        if rule is None:
            rule = rule_for_status(status) or CodeRule(
                ProviderError, meaning=f"unknown error {code}"
            )
        message = _text(body.get("msg")) or rule.meaning
        extra = _details(body)
        if extra:
            message += f" ({extra})"
        return Failure(rule, code, message, request_id(body, headers), status)
    status_rule = rule_for_status(status)
    if status_rule is not None:
        return Failure(status_rule, None, status_rule.meaning, request_id(body, headers), status)
    if status >= 400:
        rule = CodeRule(ProviderError, meaning=f"HTTP {status}")
        return Failure(rule, None, rule.meaning, request_id(body, headers), status)
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """
    Seconds ``x-ogw-ratelimit-reset`` asks to wait, else ``Retry-After``'s;
    None when neither is a number of seconds below a day.

    >>> retry_after({"x-ogw-ratelimit-reset": "52"})
    52.0
    """
    for name in (RATE_LIMIT_RESET_HEADER, "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip())
        except ValueError:
            continue
        if 0 <= seconds < 86_400:
            return seconds
    return None
