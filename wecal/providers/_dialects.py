"""
Per-provider wire rules: how to fetch a token, where to put it, how errors look.

A :class:`Dialect` is pure data plus pure functions — it never sends. The HTTP
core asks it three things: the token request for a set of app credentials,
how to read the token answer, and whether an HTTP answer is an error (and
which :class:`~wecal._dialect.CodeRule` applies). It satisfies the core's
:class:`wecal._dialect.Dialect` protocol, which is all the send loop reads.

One dialect per API family, each in its provider's folder (``_errors.py`` or
``_dialect.py``), which names everything provider-shaped: the token request's
path and fields, where the token goes, the code tables, which of the two
styles its errors take and the body fields they live in, and its quirks as
hooks. This module knows none of it::

    style "body"    errors in HTTP 200 bodies: an integer code (``body_code``)
                    and a message (``body_message``), 0 for success
    style "status"  the HTTP status plus ``{code, message, requestid}``
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._dialect import CodeRule, Failure, TokenRequest, rule_for_status
from ..errors import NotFoundError, ProviderError, ResponseFormatError, _describe
from ._readers import as_text as _text

__all__ = ["DEFAULT_TOKEN_LIFETIME", "Dialect", "Failure", "TokenRequest"]

#: Tokens live 7200 s on every provider; used when ``expires_in`` is missing or
#: not positive (a DingTalk field bug once caused refresh loops).
DEFAULT_TOKEN_LIFETIME = 7200.0

_NOT_FOUND_RE = re.compile(r"not[._-]?(?:found|exists?)", re.IGNORECASE)
_NOT_FOUND = CodeRule(NotFoundError, meaning="not found")
# A success status whose body says the call failed ({"result": false}).
_REFUSED = CodeRule(ProviderError, meaning="the provider answered that the call failed")
# The fields of any error answer; a success status with nothing else (and the
# dialect's own error_fields) is one.
_ERROR_FIELDS = frozenset(
    {
        "code",
        "Code",
        "message",
        "Message",
        "msg",
        "requestid",
        "requestId",
        "RequestId",
        "request_id",
        "success",
        "result",
    }
)
_SUCCESS_CODES = frozenset({"0", "ok", "success", "200"})


@attrs.frozen
class Dialect:
    """
    The wire rules of one provider API.

    ``provider`` is the name errors carry (``ProviderError.provider``);
    ``default_rate`` is the documented per-app, per-API limit in calls per
    second (WeCom: 10 000/min per corp and API; DingTalk: 20 QPS);
    ``default_per_minute`` / ``default_per_hour`` the per-app, per-API bands
    above it, ``default_egress_limit`` the per-egress-IP band (calls,
    seconds), applied when a client names its egress
    (``RateLimitConfig(egress=…)``).
    """

    name: str
    provider: str
    default_base_url: str
    default_rate: float
    #: "body" (errors inside HTTP 200 bodies: ``body_code`` ≠ 0) or "status"
    #: (the HTTP status plus ``{code, message}``).
    style: str
    token_method: str
    token_path: str
    #: Names of the two credentials in the token request.
    id_name: str
    secret_name: str
    token_field: str
    expires_field: str
    #: Where the token goes on business calls: a query parameter or a header.
    token_query: str | None = None
    token_header: str | None = None
    #: Or ``Authorization: <token_scheme> <token>`` ("Bearer").
    token_scheme: str | None = None
    int_codes: Mapping[int, CodeRule] = attrs.field(factory=dict, repr=False)
    str_codes: Mapping[str, CodeRule] = attrs.field(factory=dict, repr=False)
    prefixes: tuple[tuple[str, CodeRule], ...] = attrs.field(default=(), repr=False)
    #: Headers of a 429/503 saying how many seconds to wait, tried in order.
    retry_after_headers: tuple[str, ...] = ("retry-after",)
    #: A body code that is an envelope: the body's ``sub_code``/``sub_msg``
    #: say what failed (legacy DingTalk's 88), read with ``sub_codes``.
    envelope_code: int | None = None
    sub_codes: Mapping[str, CodeRule] = attrs.field(factory=dict, repr=False)
    #: The provider's quirks, as hooks from its folder: an answer read before
    #: anything else (a gateway's own ban), an envelope's ``(sub_code,
    #: sub_msg)``, a request id written into the message, and a suffix for
    #: the message of a status-style error.
    before: Callable[[int, Mapping[str, Any]], Failure | None] | None = attrs.field(
        default=None, repr=False
    )
    envelope_reader: Callable[[Mapping[str, Any], str], tuple[str | None, str]] | None = (
        attrs.field(default=None, repr=False)
    )
    request_id_in_message: Callable[[str], str | None] | None = attrs.field(
        default=None, repr=False
    )
    message_suffix: Callable[[Mapping[str, Any]], str] | None = attrs.field(
        default=None, repr=False
    )
    #: Per-API readings of a code, tried first: WeCom answers 40058 ("invalid
    #: parameter") for an unknown id on the calls keyed by one.
    api_codes: Mapping[str, Mapping[int, CodeRule]] = attrs.field(factory=dict, repr=False)
    default_per_minute: int | None = None
    default_per_hour: int | None = None
    default_egress_limit: tuple[int, float] | None = None
    #: The body fields of a "body"-style error: the integer code and the
    #: message. A "status"-style API names them too when its gateway may
    #: answer in that form (a non-zero code in a success is then its error).
    body_code: str | None = attrs.field(default=None, repr=False)
    body_message: str | None = attrs.field(default=None, repr=False)
    #: Fields an error answer of this API may carry besides everyone's (code,
    #: message, msg, request id, success, result): a success status with
    #: nothing else is an error.
    error_fields: frozenset[str] = attrs.field(default=frozenset(), repr=False)

    def token_request(self, app_id: str, secret: str) -> TokenRequest:
        """The request that trades app credentials for an access token."""
        credentials = {self.id_name: app_id, self.secret_name: secret}
        if self.token_method == "GET":
            return TokenRequest("GET", self.token_path, params=credentials)
        return TokenRequest("POST", self.token_path, json=credentials)

    def parse_token(self, body: Mapping[str, Any]) -> tuple[str, float]:
        """
        ``(token, lifetime_seconds)`` from a token answer.

        A missing or non-positive lifetime counts as 7200 s.
        """
        token = body.get(self.token_field)
        if not isinstance(token, str) or not token:
            raise ResponseFormatError(
                f"token answer has no token string (got {type(token).__name__})",
                path=f"$.{self.token_field}",
            )
        raw = body.get(self.expires_field)
        try:
            lifetime = float(raw) if raw is not None and not isinstance(raw, bool) else 0.0
        except (TypeError, ValueError):
            lifetime = 0.0
        if not lifetime > 0 or lifetime != lifetime:  # NaN is not > 0 either
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, lifetime

    def place_token(self, token: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        """Put ``token`` where this API expects it on a business call."""
        if self.token_query:
            params[self.token_query] = token
        if self.token_header:
            headers[self.token_header] = token
        if self.token_scheme:
            headers["Authorization"] = f"{self.token_scheme} {token}"

    @property
    def error_keys(self) -> tuple[str, ...]:
        """Body keys that hold an error code: both styles' (a gateway may answer in either)."""
        body = (self.body_code,) if self.body_code else ()
        return (*body, "code", "Code")

    @property
    def empty_success(self) -> bool:
        """Where the HTTP status is the verdict, an empty 2xx body is an answer without fields."""
        return self.style == "status"

    def classify(
        self, status: int, body: Mapping[str, Any] | None, api: str | None = None
    ) -> Failure | None:
        """
        None when the answer is a success, else the :class:`Failure` it is.

        ``body`` is the decoded JSON object, or None when the body was not
        JSON (the caller decides what a non-JSON success means). ``api``
        names the call (``"schedule/get"``) for per-API code readings.
        """
        if body is not None and self.before is not None:
            early = self.before(status, body)
            if early is not None:
                return early
        if self.style == "body":
            failure = self._classify_body(status, body, api)
        else:
            failure = self._classify_status(status, body)
        if failure is None and body is not None:
            failure = self._error_in_success(status, body, api)
        return failure

    def _error_in_success(
        self, status: int, body: Mapping[str, Any], api: str | None
    ) -> Failure | None:
        """
        An error answered with a success status: a status-style ``{"code":
        "InternalError", "message": …}`` body (nothing but an error's fields),
        ``{"result": false}`` / ``{"success": false}``, or a ``body_code`` ≠ 0
        where the HTTP status is the verdict. The provider's error, never a
        success nor a format error.
        """
        field = self.body_code
        if (
            self.style == "status"
            and field is not None
            and field in body
            and _int_code(body[field], field) != 0
        ):
            return self._classify_body(status, body, api)
        code = body.get("code", body.get("Code"))
        if (
            isinstance(code, str)
            and code.strip()
            and code.strip().lower() not in _SUCCESS_CODES
            and set(body) <= _ERROR_FIELDS | self.error_fields
        ):
            # Read as the server error such an answer stands for (an unknown
            # code is then a retried, ambiguous 5xx), with the real status.
            failure = self._classify_status(500, body)
            if failure is not None:
                return attrs.evolve(failure, http_status=status)
        if body.get("result") is False or body.get("success") is False:
            field = "result" if body.get("result") is False else "success"
            message = _text(_first(body, "message", self.body_message)) or (
                f"answered {field}: false"
            )
            code = _first(body, "code", self.body_code)
            return Failure(
                _REFUSED,
                code if isinstance(code, int | str) and not isinstance(code, bool) else None,
                message,
                _text(body.get("requestid", body.get("request_id"))) or None,
                status,
            )
        return None

    def _classify_body(
        self, status: int, body: Mapping[str, Any] | None, api: str | None
    ) -> Failure | None:
        field = self.body_code
        code = 0 if body is None or field is None else _int_code(body.get(field, 0), field)
        if code != 0:
            assert body is not None
            message = _text(body.get(self.body_message)) if self.body_message else ""
            request_id = _text(body.get("request_id")) or None
            if request_id is None and self.request_id_in_message is not None:
                request_id = self.request_id_in_message(message)
            rule = self.api_codes.get(api or "", {}).get(code) or self.int_codes.get(code)
            sub_code: str | None = None
            if code == self.envelope_code and self.envelope_reader is not None:
                # An envelope code: the hook reads what failed inside it.
                sub_code, sub_message = self.envelope_reader(body, message)
                if sub_code is not None:
                    rule = self._sub_rule(sub_code) or rule
                    message = sub_message or message
            if rule is None:
                rule = (rule_for_status(status) if status >= 500 else None) or _unknown(code)
            return Failure(rule, code, message or rule.meaning, request_id, status, sub_code)
        if status >= 400 and body is not None and self.str_codes:
            # A gateway in front of a body-style API may answer in the status
            # style (a 403 whose string code is a rate limit): read it with
            # the dialect's string codes when one of them matches.
            failure = self._classify_status(status, body)
            if failure is not None and failure.code in self.str_codes:
                return failure
        status_rule = rule_for_status(status)
        if status_rule is not None:
            return Failure(status_rule, None, status_rule.meaning, None, status)
        return None

    def _sub_rule(self, sub_code: str) -> CodeRule | None:
        """The rule of an envelope's sub-code: as given, else its number ("isp.90002")."""
        rule = self.sub_codes.get(sub_code)
        if rule is None:
            tail = sub_code.rpartition(".")[2]
            rule = self.sub_codes.get(tail) if tail.isdecimal() else None
        return rule

    def _classify_status(self, status: int, body: Mapping[str, Any] | None) -> Failure | None:
        if status < 400:
            return None
        body = body or {}
        code = _text(body.get("code", body.get("Code"))) or None
        message = _text(body.get("message", body.get("Message")))
        request_id = _text(body.get("requestid", body.get("RequestId"))) or None
        rule: CodeRule | None = None
        if code is not None:
            rule = self.str_codes.get(code)
            if rule is None:
                rule = next((r for p, r in self.prefixes if code.startswith(p)), None)
        if rule is None and code is not None and _NOT_FOUND_RE.search(code):
            # "instanceNotExist", "resource.notFound"…: not found whatever the code.
            rule = _NOT_FOUND
        if rule is None:
            rule = rule_for_status(status) or _unknown(code)
        assert rule is not None
        message = message or rule.meaning
        if self.message_suffix is not None:
            message += self.message_suffix(body)
        return Failure(rule, code, message, request_id, status)


def _unknown(code: object) -> CodeRule:
    return CodeRule(ProviderError, meaning=f"unknown error {code}")


def _first(body: Mapping[str, Any], key: str, fallback: str | None) -> Any:
    """``body[key]`` if present, else ``body[fallback]`` (None if neither)."""
    if key in body or fallback is None:
        return body.get(key)
    return body.get(fallback)


def _int_code(value: Any, field: str) -> int:
    # Some gateways send the code as "0"; accept an integer in a string too.
    if isinstance(value, bool):
        raise ResponseFormatError(f"expected an integer, got {_describe(value)}", path=f"$.{field}")
    if isinstance(value, str):
        digits = value.strip()
        # ASCII digits only ("²".isdigit() is true, int("²") is not), and no
        # more than an int64 has: int() of thousands of digits is refused.
        if digits.removeprefix("-").isdecimal() and digits.isascii() and len(digits) <= 20:
            value = int(digits)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    raise ResponseFormatError(f"expected an integer, got {_describe(value)}", path=f"$.{field}")
