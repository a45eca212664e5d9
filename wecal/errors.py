"""The exceptions wecal raises. Nothing else escapes the SDK.

Every error is a :class:`WecalError`; catch that to catch them all::

    WecalError                      root; .cursor = where a paginator can resume;
    │                                 .applied = what a batched write applied before it
    ├── ValidationError             a model built from invalid values (also a ValueError)
    ├── ClientClosedError           a client used after aclose() (also a RuntimeError)
    ├── ConfigurationError          the client's setup looks wrong: a base URL that does
    │                                 not resolve or is not the provider's; not retried
    ├── TransportError              no usable HTTP answer after retries: network, timeout
    ├── ProviderError               the provider said no: .provider .code .message
    │   │                             .request_id .http_status
    │   ├── AuthenticationError     bad credentials, or a token refused after a refresh
    │   ├── PermissionDeniedError   the app may not do this (scope, IP allow-list, other app)
    │   ├── NotFoundError           the calendar / schedule / event does not exist
    │   ├── RateLimitError          throttled and out of retries; .retry_after (seconds)
    │   ├── QuotaExceededError      a daily/monthly quota is spent; retrying will not help
    │   ├── InvalidRequestError     the request itself is wrong (parameters, limits, cursor)
    │   └── OutcomeUnknownError     a write that may or may not have been applied;
    │                                 .client_token = what a safe retry passes back
    ├── ResponseFormatError         malformed payload: not JSON, field missing or mistyped;
    │                                 .path names where (``$.schedule_list[3].start_time``)
    └── UnsupportedError            a model the target provider cannot represent; .feature

No message, ``repr()`` or attribute of these classes ever holds a secret: text
that reaches them passes through :func:`redact` (:mod:`wecal._redact`) first.
"""

from __future__ import annotations

from typing import Any, Required, Self, TypedDict, Unpack

from ._redact import REDACTED as REDACTED
from ._redact import _register_secret as _register_secret
from ._redact import redact as redact

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseFormatError",
    "TransportError",
    "UnsupportedError",
    "ValidationError",
    "WecalError",
    "redact",
]


class WecalError(Exception):
    """
    The root of every error wecal raises.

    ``cursor`` is set when the error interrupted a paginator: pass it to
    ``by_page(cursor=...)`` to resume exactly where the iteration stopped::

        try:
            async for page in client.list_events(cal_id).by_page():
                save(page)
        except wecal.WecalError as exc:
            resume_from = exc.cursor
    """

    #: Where an interrupted paginator resumes (``by_page(cursor=...)``), or None.
    cursor: str | None = None
    #: Set when the error interrupted a write sent in batches (DingTalk's
    #: attendee changes, 500 a call): the ids of the batches that were applied
    #: before it. The rest were not, or (an :class:`OutcomeUnknownError`) may have been.
    applied: tuple[str, ...] = ()

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return redact(self.message)

    def __repr__(self) -> str:
        return redact(f"{type(self).__name__}({self.message!r})")

    def _fresh(self) -> Self:
        """
        A copy of this error for another caller: same class, message and
        details, its own ``cursor`` (unset) and traceback. Used where one
        failure answers several tasks (a shared token fetch).
        """
        new = type(self).__new__(type(self), *self.args)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("cursor", None)
        new.__cause__ = self.__cause__
        new.__suppress_context__ = True
        return new


class ValidationError(WecalError, ValueError):
    """
    A model was built from values it cannot hold.

    >>> Event(provider=Provider.WECOM, id="x", start=datetime(2024, 1, 1), end=...)
    Traceback (most recent call last):
    wecal.errors.ValidationError: Event.start: naive datetime 2024-01-01 00:00:00; ...
    """


class ClientClosedError(WecalError, RuntimeError):
    """A client was used after ``aclose()`` or after its ``async with`` block ended."""


class ConfigurationError(WecalError):
    """
    The client's setup looks wrong, so retrying (now or later) will not help:
    the host of ``base_url`` does not resolve (DNS), or what answers there is
    not the provider's API (an HTML page or a 404 at the token path, often a
    ``base_url`` with a path in it). Nothing was retried; the message names
    the URL (its credentials masked) and what to check.
    """


class TransportError(WecalError):
    """
    No usable HTTP answer: connection refused or dropped, a timeout, a TLS
    failure — raised once the retries are spent. The original ``httpx``
    exception is chained as ``__cause__`` (its URL is redacted in the message).
    """


class _Details(TypedDict, total=False):
    """The keyword arguments of :class:`ProviderError`, for its subclasses."""

    provider: Required[str]
    code: int | str | None
    sub_code: str | None
    request_id: str | None
    http_status: int | None


class ProviderError(WecalError):
    """
    The provider answered with an error.

    Attributes say what it answered, so callers need not parse the message::

        except wecal.ProviderError as exc:
            log.warning("%s said %s (%s)", exc.provider, exc.code, exc.request_id)

    ``code`` is WeCom's / legacy DingTalk's integer ``errcode`` or DingTalk
    v1.0's string ``code``; ``sub_code`` is what an envelope code says
    inside it (legacy DingTalk's errcode 88 carries ``sub_code``/``sub_msg``:
    ``"60011"``, ``"40014"``…), else None; ``http_status`` is the HTTP status
    (WeCom reports most errors inside HTTP 200).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: int | str | None = None,
        sub_code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.provider = provider
        # Whatever the server sent back is redacted: a server that echoes the
        # request puts its URL (and the token) in request ids and codes.
        self.code = redact(code) if isinstance(code, str) else code
        self.sub_code = redact(sub_code) if isinstance(sub_code, str) else sub_code
        self.request_id = redact(request_id) if isinstance(request_id, str) else request_id
        self.http_status = http_status
        super().__init__(message)

    def __str__(self) -> str:
        head = f"{self.provider}"
        if self.code is not None:
            head += f" error {self.code}"
        if self.sub_code is not None:
            head += f"/{self.sub_code}"
        details = []
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        tail = f" ({', '.join(details)})" if details else ""
        return redact(f"{head}: {self.message}{tail}")

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(provider={self.provider!r}, code={self.code!r}, "
            f"sub_code={self.sub_code!r}, message={self.message!r}, "
            f"request_id={self.request_id!r}, "
            f"http_status={self.http_status!r})"
        )


class AuthenticationError(ProviderError):
    """
    The credentials are wrong (WeCom 40001 at ``gettoken``, DingTalk
    ``invalidClientIdOrSecret``), or a fresh token was refused too. Not retried.
    """


class PermissionDeniedError(ProviderError):
    """
    The app may not do this: missing API scope, caller IP not on the trusted
    list (WeCom 60020), or an object created by another app (WeCom 301002).
    """


class NotFoundError(ProviderError):
    """
    The calendar, schedule or event named does not exist (or is not visible).

    ``missing`` lists the ids that were not found, when a call asked for many
    (``get_events``); ``found`` holds what was found, in request order::

        except wecal.NotFoundError as exc:
            events, gone = exc.found, exc.missing
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        found: tuple[Any, ...] = (),
        **details: Unpack[_Details],
    ) -> None:
        self.missing = missing
        self.found = found
        super().__init__(message, **details)


class RateLimitError(ProviderError):
    """
    Throttled, and waiting longer would pass the client's deadline.

    ``retry_after`` is how many seconds the provider asks to wait (WeCom's
    45009 blocks for 60 s), or None when it did not say::

        except wecal.RateLimitError as exc:
            await anyio.sleep(exc.retry_after or 1)
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, **details: Unpack[_Details]
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **details)

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g}s"
        return text


class QuotaExceededError(ProviderError):
    """
    A quota that does not reset within the client's deadline is spent: WeCom's
    20 000 schedules per app per day, DingTalk's monthly call quota (90020),
    DingTalk ``flowLimit`` (100 events per user per day). Not retried.
    """


class InvalidRequestError(ProviderError):
    """
    The request is wrong: a bad or missing parameter, a limit exceeded, an
    occurrence that does not exist, or a paginator cursor from another query.
    """


class OutcomeUnknownError(ProviderError):
    """
    A write that may or may not have been applied: the request went out and
    no answer said what became of it — the retry deadline passed after it
    was sent, the connection was lost after it was sent, the provider failed
    in a way that may follow the change (a 5xx, "system busy"), or DingTalk
    still answered ``idempotencyProcessing`` when the retries ran out.

    ``client_token`` is the idempotency key the write carried (DingTalk's
    ``x-client-token``, valid a day): pass it back as the write method's
    ``client_token=`` and the retry is applied at most once — DingTalk
    answers it with the first write's result if that one was applied::

        try:
            created = await ding.create_event(event, user_id=uid)
        except wecal.OutcomeUnknownError as exc:
            created = await ding.create_event(event, user_id=uid, client_token=exc.client_token)

    None where the provider has no idempotency key (WeCom's creates): look
    the object up before writing it again. ``code`` and ``http_status`` are
    those of the last answer, if any came; the cause is chained.
    """

    def __init__(
        self, message: str, *, client_token: str | None = None, **details: Unpack[_Details]
    ) -> None:
        self.client_token = client_token
        super().__init__(message, **details)

    def __str__(self) -> str:
        text = super().__str__()
        if self.client_token:
            text += f"; retry with client_token={self.client_token!r} to apply it at most once"
        else:
            text += "; no idempotency key: check whether it was applied before writing again"
        return text


class ResponseFormatError(WecalError):
    """
    A payload wecal cannot read: not JSON, a required field missing or of the
    wrong type, an unknown code, a recurrence rule that is not a rule.

    ``path`` is a JSON path to the offending value when one is known::

        ResponseFormatError: $.schedule_list[3].start_time: expected int, got 'soon'
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnsupportedError(WecalError):
    """
    The model holds something the target provider cannot store — checked
    before any request is sent. ``feature`` names the part::

        UnsupportedError: WeCom cannot repeat with COUNT=10 (feature='COUNT')
    """

    def __init__(self, message: str, *, feature: str | None = None) -> None:
        self.feature = feature
        super().__init__(message)


def _bad_text(value: Any, path: str = "$") -> tuple[str, str] | None:
    """
    Where in ``value`` (JSON-like: strings, mappings, lists, tuples) a string
    is not valid Unicode text — a lone surrogate, as Python makes of bytes
    that are not UTF-8 (``os.fsdecode``, ``sys.argv``) — as a JSON path, or
    None; with the string. Mapping keys count too. Iterative: any depth.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return where, item
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not _is_text(key):
                    return f"{where}.{key!r}", key
                stack.append((inner, f"{where}.{key}"))
        elif isinstance(item, list | tuple):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))
    return None


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(value: Any, what: str) -> None:
    """A :class:`ValidationError` when a string in ``value`` is not valid Unicode text."""
    found = _bad_text(value)
    if found is not None:
        where, text = found
        at = "" if where == "$" else f" at {where}"
        raise ValidationError(
            f"{what}{at} is not valid Unicode text (a lone surrogate, as undecodable "
            f"bytes become): {_describe(text)}; nothing was sent"
        )


def _describe(value: Any, limit: int = 60) -> str:
    """A short, redacted ``repr`` of a value for error messages."""
    try:
        text = redact(repr(value))
    except RecursionError:  # a hostile payload nested deeper than the stack
        return f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
