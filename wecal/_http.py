"""
The HTTP core: the one place in wecal that sends requests, sleeps and reads
HTTP status codes.

Every provider call goes through :meth:`HttpCore.call`::

    client-wide pause (45009) → token (single flight) → rate limit slot
      → httpx send → classify (dialect) → token replay / retry / error

One decision site: an attempt (:meth:`HttpCore._attempt`) sends once and
reports an outcome; :meth:`HttpCore._send` alone decides to return, replay
with a fresh token, sleep and retry, or raise. A provider plugs in through
its :class:`~wecal._dialect.Dialect` (token request and placement,
error classification) and the per-call ``headers``, sent unchanged on every
attempt (an idempotency key such as ``x-client-token`` is reused on retries).

Bounds against hostile servers:

- the retry deadline bounds each whole attempt — pool slot, connect, send,
  every byte of the body (httpx's timeouts apply per network operation, so a
  trickled body would outlive them) — and so the whole call;
- bodies are read as a stream, at most ``max_response_bytes`` (decoded);
- a body that is not JSON, nested past the stack, or with an integer past
  4300 digits is a ``ResponseFormatError``;
- a call may pass ``decode``, a provider's typed reader of a success body
  (msgspec, into its wire Structs): it is tried first on a 2xx answer and
  says None for anything but a plain success of the expected shape, which
  then takes the path above (classification, ``json.loads``) unchanged;
- ``aclose()`` cancels the calls in flight (``ClientClosedError``) and no
  httpx client is created after it; a core belongs to the event loop it was
  first used in;
- pool slots that httpcore loses to cancelled requests are reclaimed
  (:func:`_reclaim_orphans`, encode/httpcore#1093).

What is retried (``wecal._retry`` decides when):

- network failures and timeouts, 5xx, 429, and the transient provider codes
  of each dialect's code table (busy, QPS limits, version conflicts);
- a token-invalid answer replays the call once with a fresh token.

Ambiguous failures. A call made with ``idempotent=False`` (a WeCom
``schedule/add``: no idempotency key) is replayed only when the provider
surely did not act on it:

- *not sent*: connection refused or timed out, no pool slot, proxy refused
  (``httpx.ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``ProxyError``);
- *refused before processing*: rate-limit and token-invalid answers.

Everything else — read/write timeouts, dropped connections, protocol
errors after the request went out, 5xx and "system busy" answers, a success
status with an unreadable body — may hide a created object, so it is raised
instead of replayed. DingTalk v1.0 writes carry ``x-client-token`` and are
sent with ``idempotent=True``.

Secrets (app secret, tokens, a proxy password) never reach a message,
``repr`` or log record: they are registered with :func:`wecal._redact.redact`,
which masks them literally wherever they appear (echoed in a request id, a
header, a body); errors are built from redacted text and render redacted;
wrapped ``httpx`` errors are replaced by redacted copies; and a filter on
every logger httpx and httpcore log through (:data:`FILTERED_LOGGERS`)
masks them in log records (httpx's URL line, httpcore's DEBUG headers).
A ``base_url`` with credentials in it is refused.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json as jsonlib
import logging
import random
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

import anyio
import anyio.lowlevel
import attrs
import httpx

from ._dialect import Dialect, Failure
from ._ratelimit import RateLimitConfig, RateLimiter
from ._redact import _register_secret, redact
from ._retry import RETRY_AFTER_TOO_LONG, Decision, RetryConfig, decide
from ._shared import MemoryState, SharedState
from ._tokens import DEFAULT_STORE, SharedTokenManager, TokenManager, TokenStore, token_key
from .errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    OutcomeUnknownError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
    TransportError,
    ValidationError,
    WecalError,
    _bad_text,
    _check_text,
    _describe,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "FILTERED_LOGGERS",
    "CallStats",
    "HttpCore",
    "logger",
]

_T = TypeVar("_T")

#: Debug lines: method, path (never the query), api, attempt, status, code, latency.
logger = logging.getLogger("wecal")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Bound the pause loop: a pause extended more often than this is a bug upstream.
_MAX_PAUSE_ROUNDS = 64
#: Default ``max_response_bytes``: far above any real page (a full WeCom page
#: of 1000 schedules is a few MB), far below what would hurt a process.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class _TooLarge(Exception):
    """A response body passed ``max_response_bytes`` (internal to the send loop)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; credentials in it are refused (masked)."""
    if not isinstance(base_url, str):
        raise ValidationError(f"base_url must be a string, got {type(base_url).__name__}")
    url = base_url.rstrip("/")
    if _bad_text(url) is not None:
        raise ValidationError(
            f"base_url is not valid Unicode text (a lone surrogate, as undecodable bytes "
            f"become): {_mask_userinfo(url.encode('utf-8', 'backslashreplace').decode())!r}"
        )
    if not url.startswith(("http://", "https://")):
        raise ValidationError(
            f"base_url must start with http:// or https://, got {_mask_userinfo(url)!r}"
        )
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        raise ValidationError(
            f"base_url must not carry credentials (user:password@): {_mask_userinfo(url)!r}; "
            "wecal authenticates with the app's id and secret"
        )
    return url


def _mask_userinfo(url: str) -> str:
    """
    ``url`` with whatever stands before an ``@`` in its authority masked,
    whatever the scheme, and without one (``ftp://u:pw@h``, ``u:pw@h``,
    ``http:u:pw@h``): a password must not be echoed by the error that refuses it.
    A text without a ``scheme://host`` (a typo: ``http//u:pw@h``,
    ``redis:/:pw@h``, ``http:///u:pw@h``) has no authority to tell where the
    password ends: everything before its last ``@`` (up to a query or
    fragment) is masked.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if not sep or rest[:1] in ("", "/", "?", "#"):
        head = min((i for i in map(rest.find, "?#") if i >= 0), default=len(rest))
        at = rest.rfind("@", 0, head)
        if at >= 0:
            return redact(scheme + sep + "***" + rest[at:])
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return redact(scheme + sep + authority + tail)


class _RedactFilter(logging.Filter):
    """
    Masks tokens and secrets in log records (httpx's URL line, httpcore's
    response headers at DEBUG). It rewrites a record only when it held one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


#: The loggers the redaction filter is added to. A filter on a logger applies
#: to records logged *on that logger* only, not to its children's records, so
#: every logger that httpx, httpcore and the HTTP/2 stack log through is named.
#: Nothing else changes: no handler, no level, no global record factory.
FILTERED_LOGGERS = (
    "wecal",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
    "hpack.hpack",
    "hpack.table",
    "h2",
)


def _install_log_filter() -> None:
    for name in FILTERED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactFilter) for f in target.filters):
            target.addFilter(_RedactFilter())


_install_log_filter()


def _retry_after(
    response: httpx.Response,
    now: Callable[[], float] = time.time,
    names: tuple[str, ...] = ("retry-after",),
) -> float | None:
    """
    Seconds the first wait header present asks for (``names``: the dialect's,
    ``Retry-After`` by default; delta-seconds or an HTTP date), None when
    absent or unreadable. Any length is returned: ``RetryConfig.max_retry_after``
    decides whether it is waited out or raised.
    """
    value = next((response.headers[n] for n in names if n in response.headers), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = max(0.0, when.timestamp() - now())
    return seconds if 0 <= seconds < float("inf") else None


@attrs.frozen
class _Request:
    """One call as the caller asked for it: the same on every attempt."""

    api: str
    method: str
    path: str
    url: str
    params: Mapping[str, Any]
    json: Any
    headers: Mapping[str, str]


@attrs.frozen
class _Outcome:
    """
    What one attempt came to. :meth:`HttpCore._send` alone acts on it.

    ``body``: success. Otherwise ``fail(verdict, attempts)`` builds the error
    to raise when the call stops here; ``retryable`` says whether another
    attempt may follow, ``hint`` is a wait the provider asked for,
    ``blocked`` that a client-wide pause was set (waited out before the next
    attempt instead of sleeping), ``stale_token`` a token the provider refused
    (dropped, and the call replayed once with a fresh one).
    """

    #: The decoded JSON object, or what the call's ``decode`` made of it.
    body: Any = None
    fail: Callable[[Decision, int], WecalError] | None = None
    retryable: bool = False
    hint: float | None = None
    blocked: bool = False
    stale_token: str | None = None
    #: A provider block to share: (seconds, code, whether it bans the egress IP).
    share_block: tuple[float, int | str | None, bool] | None = None
    #: The request may have reached the provider and been acted on, with no
    #: answer saying so: lost after sending, a deadline after sending, a 5xx or
    #: "busy" answer, a success status with an unreadable body.
    maybe_applied: bool = False
    #: The provider answered with a definite refusal (a code that is not
    #: "busy"): whatever earlier attempts did, this is the answer.
    answered: bool = False


@attrs.define
class CallStats:
    """
    Counters of what a client's send loop did, for progress displays and logs.

    ``requests``: HTTP requests sent (token fetches included); ``retries``:
    requests repeated after a transient failure; ``rate_limited``: answers that
    were rate limits (each also counts as a retry when retried);
    ``token_refreshes``: tokens dropped and refetched after a token-invalid answer.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    token_refreshes: int = 0

    def __add__(self, other: CallStats) -> CallStats:
        pairs = zip(attrs.astuple(self), attrs.astuple(other), strict=True)
        return CallStats(*(a + b for a, b in pairs))


class HttpCore:
    """
    Sends one provider API's calls: token, limits, retries, errors, redaction.

    Built by a client; ``dialect`` says how the API handles tokens and errors::

        core = HttpCore(WECOM, corp_id, corp_secret, transport=httpx.MockTransport(handler))
        body = await core.call("schedule/get", "POST", "/cgi-bin/oa/schedule/get",
                               json={"schedule_id_list": ids})

    ``rate_limit=None`` applies the provider's documented defaults, ``False``
    switches limiting off. ``clock``, ``sleep``, ``jitter`` and ``wall_clock``
    are injectable for tests (monotonic seconds, an async sleep, a uniform
    draw in [0, 1], epoch seconds for token expiry).
    """

    def __init__(
        self,
        dialect: Dialect,
        app_id: str,
        secret: str,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = 10.0,
        proxy: str | httpx.Proxy | None = None,
        retry: RetryConfig | None = None,
        rate_limit: RateLimitConfig | Literal[False] | None = None,
        token_store: TokenStore | None = None,
        shared: SharedState | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
        provider: str | None = None,
    ) -> None:
        _check_settings(
            base_url=base_url,
            transport=transport,
            http_client=http_client,
            timeout=timeout,
            proxy=proxy,
            retry=retry,
            rate_limit=rate_limit,
            token_store=token_store,
            shared=shared,
        )
        if not isinstance(app_id, str) or not app_id:
            raise ValidationError("app id must be a non-empty string")
        if not isinstance(secret, str) or not secret:
            raise ValidationError("secret must be a non-empty string")
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ValidationError(
                f"max_response_bytes must be a positive int, got {max_response_bytes!r}"
            )
        self.dialect = dialect
        #: The name every error of this core carries: the client's, so one
        #: client speaks of one provider whichever API family it calls.
        self.provider = provider or dialect.provider
        self.app_id = app_id
        self._secret = secret
        _register_secret(secret)
        self.base_url = _check_base_url(base_url or dialect.default_base_url)
        #: Largest response body read (decoded bytes); a longer one is a ResponseFormatError.
        self.max_response_bytes = max_response_bytes
        self._transport = transport
        self._client = http_client
        self._owns_client = http_client is None
        self._timeout = timeout
        self._proxy = proxy
        if proxy is not None:
            # A proxy's password is a secret too (it shows in ProxyError texts).
            with contextlib.suppress(Exception):  # a bad URL is httpx's to report
                _register_secret(httpx.URL(str(getattr(proxy, "url", proxy))).password or "")
        self.retry = retry or RetryConfig()
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        if rate_limit is False:
            limits, default_rate = RateLimitConfig(max_concurrency=None), float("inf")
            per_minute = per_hour = egress_limit = None
        else:
            limits, default_rate = rate_limit or RateLimitConfig(), dialect.default_rate
            per_minute, per_hour = dialect.default_per_minute, dialect.default_per_hour
            egress_limit = dialect.default_egress_limit
        #: Where limits, quotas and blocks are kept: ``shared=``, else this
        #: core's own :class:`~wecal.MemoryState`.
        self.shared: SharedState = (
            shared if shared is not None else MemoryState(clock=clock, wall_clock=wall_clock)
        )
        # The budget's name: provider API family, app, host (no secret in it).
        scope = f"{dialect.name}:{app_id}@{self.base_url.split('://', 1)[-1]}"
        self._limiter = RateLimiter(
            limits,
            default_rate,
            clock=clock,
            sleep=sleep,
            state=self.shared,
            scope=scope,
            provider=self.provider,
            per_minute=per_minute,
            per_hour=per_hour,
            egress_limit=egress_limit,
            wall_clock=wall_clock,
        )
        key = token_key(dialect.name, app_id, secret, self.base_url)
        self.tokens: TokenManager | SharedTokenManager
        if token_store is None and shared is not None:
            self.tokens = SharedTokenManager(
                key,
                self._fetch_token,
                state=shared,
                provider=self.provider,
                clock=wall_clock,
                sleep=sleep,
                lock_ttl=float(getattr(shared, "token_lock_ttl", 15.0)),
            )
        else:
            self.tokens = TokenManager(
                key,
                self._fetch_token,
                store=token_store if token_store is not None else DEFAULT_STORE,
                clock=wall_clock,
            )
        self._closed = False
        # Scopes of the calls in flight: aclose() cancels them.
        self._calls: set[anyio.CancelScope] = set()
        # The event loop this core was first used in (its httpx client and
        # locks belong to it).
        self._loop: anyio.lowlevel.EventLoopToken | None = None
        #: What the send loop did so far (requests, retries, rate limits, refreshes).
        self.stats = CallStats()
        # Client-wide pause (monotonic time) set by a block hint such as 45009.
        self._paused_until = 0.0
        self._pause_code: int | str | None = None
        # Tokens seen lately: masked literally wherever they might appear.
        self._recent_tokens: deque[str] = deque(maxlen=4)

    def __repr__(self) -> str:
        return f"HttpCore({self.dialect.name}, app_id={self.app_id!r}, base_url={self.base_url!r})"

    # -- lifecycle ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` ran."""
        return self._closed

    def check_open(self) -> None:
        """Raise :class:`~wecal.ClientClosedError` if the core was closed."""
        if self._closed:
            raise ClientClosedError(
                f"this {self.provider} client is closed; create a new one "
                "(or use it inside its `async with` block)"
            )

    def _check_loop(self) -> None:
        """Raise a clear WecalError when called from another event loop than the first one."""
        try:
            current = anyio.lowlevel.current_token()
        except Exception:  # no anyio-supported loop: httpx will say so itself
            return
        if self._loop is None:
            self._loop = current
        elif current != self._loop:
            raise WecalError(
                f"this {self.dialect.provider} client was first used in another event loop "
                "(each asyncio.run() / trio.run() has its own); create one client per event "
                "loop, inside it"
            )

    def _http(self) -> httpx.AsyncClient:
        # Never create a client behind the user's back once closed.
        self.check_open()
        if self._client is None:
            # Created lazily so that building a client needs no event loop.
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout, proxy=self._proxy
            )
        return self._client

    async def aclose(self) -> None:
        """
        Close the httpx client if this core created it (an injected one stays
        open). Calls in flight end with :class:`~wecal.ClientClosedError`.
        """
        self._closed = True
        for scope in list(self._calls):
            scope.cancel()
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.aclose()

    # -- redaction ---------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with this app's secret, recent tokens and known secret fields masked."""
        return redact(text, (self._secret, *self._recent_tokens))

    # -- tokens ------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        request = self.dialect.token_request(self.app_id, self._secret)
        body = await self._send(
            "gettoken",
            request.method,
            request.path,
            params=dict(request.params),
            json=dict(request.json) if request.json is not None else None,
            headers=None,
            authenticated=False,
            idempotent=True,
            token_call=True,
        )
        token, lifetime = self.dialect.parse_token(body)
        _register_secret(token, kind="token")
        self._recent_tokens.append(token)
        return token, lifetime

    # -- the send loop -----------------------------------------------------

    async def call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        idempotent: bool = True,
        write: bool = False,
        decode: Callable[[bytes], _T | None] | None = None,
    ) -> _T | dict[str, Any]:
        """
        Send one call and return its decoded JSON object after the error check.

        ``decode(body_bytes)``, when given, reads a 2xx body first: what it
        returns (not None) is the call's result, with no further check — it
        must return None for anything but a plain success (an error code, a
        gateway ban, a shape it does not expect) and never raise; that body
        is then decoded and classified as without it, and the result is the
        JSON object. Providers use it to decode pages straight into typed
        Structs (``providers/wecom/_wire.py``).

        ``api`` names the API for rate limiting and logs (``"schedule/get"``).
        ``idempotent=False`` forbids replays after ambiguous failures (see
        the module docstring). ``write=True`` marks a call that changes
        something: when it ends without knowing whether the change was made,
        it raises :class:`~wecal.OutcomeUnknownError` (the caller fills in
        its ``client_token``). Raises a :class:`~wecal.WecalError` subclass:
        :class:`~wecal.ProviderError` subclasses from the dialect's code table,
        :class:`~wecal.TransportError` after network failures,
        :class:`~wecal.ResponseFormatError` for a body that is not a JSON object.
        """
        self.check_open()
        self._check_loop()
        # Text that cannot go on the wire (a lone surrogate) is the caller's
        # mistake, said before anything is sent, not a UnicodeEncodeError.
        _check_text(path, f"{method} request path")
        _check_text(dict(params or {}), f"{method} {path}: query")
        _check_text(dict(headers or {}), f"{method} {path}: headers")
        # The body is checked when it is encoded (see _attempt): no walk over it here.
        result: _T | dict[str, Any] = await self._send(
            api,
            method,
            path,
            params=dict(params or {}),
            json=json,
            headers=dict(headers or {}),
            authenticated=authenticated,
            idempotent=idempotent,
            token_call=False,
            decode=decode,
            write=write,
        )
        return result

    async def _wait_pause(self, start: float) -> None:
        """Sit out a client-wide block; raise RateLimitError if it outlasts the deadline."""
        for _ in range(_MAX_PAUSE_ROUNDS):
            wait = self._paused_until - self._clock()
            if wait <= 0:
                return
            deadline = self.retry.deadline
            cap = self.retry.max_retry_after
            if (deadline is not None and self._clock() - start + wait > deadline) or (
                cap is not None and wait > cap
            ):
                raise RateLimitError(
                    f"{self.provider} blocks this app's calls for {wait:.0f}s more, "
                    "longer than the retry deadline or max_retry_after",
                    provider=self.provider,
                    code=self._pause_code,
                    retry_after=wait,
                )
            await self._sleep(wait)
        raise RateLimitError(
            "client-wide pause kept being extended",
            provider=self.provider,
            code=self._pause_code,
            retry_after=max(0.0, self._paused_until - self._clock()),
        )

    async def _send(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any],
        json: Any,
        headers: dict[str, str] | None,
        authenticated: bool,
        idempotent: bool,
        token_call: bool,
        decode: Callable[[bytes], Any] | None = None,
        write: bool = False,
    ) -> Any:
        """
        The one decision site: run attempts, and after each decide whether to
        return, replay with a fresh token, sleep and retry, or raise.

        An attempt (:meth:`_attempt`) never sleeps nor retries; it reports an
        :class:`_Outcome`. ``params``, ``json`` and ``headers`` are sent
        unchanged on every attempt, so an idempotency key placed in them (a
        DingTalk ``x-client-token``) is the same on every retry of a write.
        """
        start = self._clock()
        attempt = 0
        token_replayed = False
        # Whether an attempt of this call may have been applied without an
        # answer saying so (a write then ends in OutcomeUnknownError).
        maybe_applied = False
        request = _Request(api, method, path, self.base_url + path, params, json, headers or {})
        # aclose() cancels this scope: the call then ends with ClientClosedError.
        with anyio.CancelScope() as call_scope:
            self._calls.add(call_scope)
            try:
                # Bounded: `attempt` grows on every pass but the single token
                # replay, and decide() stops at max_attempts.
                while True:
                    attempt += 1
                    self.check_open()
                    try:
                        await self._wait_pause(start)
                        token = await self._token(request, start) if authenticated else None
                        outcome = await self._attempt(
                            request,
                            token,
                            attempt=attempt,
                            start=start,
                            idempotent=idempotent,
                            token_call=token_call,
                            decode=decode,
                        )
                    except (RateLimitError, QuotaExceededError, TransportError) as exc:
                        # Not sent this time (a pause, the limiter, the token),
                        # but an earlier attempt may have been applied.
                        if write and maybe_applied:
                            raise self._outcome_unknown(request, exc, attempt - 1) from exc
                        raise
                    if outcome.body is not None:
                        return outcome.body
                    maybe_applied = maybe_applied or outcome.maybe_applied
                    self.check_open()  # closed meanwhile: say so, not what it broke
                    if outcome.share_block is not None:
                        # Every process sharing the state pauses, not just this one.
                        seconds, code, wide = outcome.share_block
                        await self._limiter.share_block(seconds, code, egress_wide=wide)
                    if outcome.stale_token is not None and not token_replayed:
                        # Drop only the token that failed (others may have
                        # refreshed it already), then replay once with a fresh one.
                        token_replayed = True
                        self.stats.token_refreshes += 1
                        await self.tokens.invalidate(outcome.stale_token)
                        attempt -= 1
                        continue
                    verdict = decide(
                        self.retry,
                        attempt=attempt,
                        elapsed=self._clock() - start,
                        retryable=outcome.retryable,
                        hint=outcome.hint,
                        jitter=self._jitter(),
                    )
                    if verdict.retry:
                        self.stats.retries += 1
                        if logger.isEnabledFor(logging.INFO):
                            self._log_retry(outcome, verdict, attempt, start)
                        if not outcome.blocked:
                            await self._sleep(verdict.delay)
                        continue  # a block is waited out by _wait_pause
                    assert outcome.fail is not None
                    error = outcome.fail(verdict, attempt)
                    if write and maybe_applied and not outcome.answered:
                        raise self._outcome_unknown(request, error, attempt) from error
                    raise error
            finally:
                self._calls.discard(call_scope)
        # Only aclose() cancels call_scope.
        self.check_open()
        raise ClientClosedError(f"{method} {path}: cancelled")  # pragma: no cover

    def _log_retry(self, outcome: _Outcome, verdict: Decision, attempt: int, start: float) -> None:
        """
        One INFO line per retry: what failed and why (the error the call would
        raise, redacted like every error), which attempt of how many, and when
        the next one goes (after a client-wide pause, if the provider set one).
        """
        assert outcome.fail is not None
        error = outcome.fail(attrs.evolve(verdict, reason="retrying"), attempt)
        wait = verdict.delay
        if outcome.blocked:
            wait = max(wait, self._paused_until - self._clock())
        logger.info(
            "retrying in %.2fs (attempt %d of %d failed): %s: %s",
            wait,
            attempt,
            self.retry.max_attempts,
            type(error).__name__,
            error,
        )

    def _outcome_unknown(
        self, request: _Request, error: WecalError, attempts: int
    ) -> OutcomeUnknownError:
        """The error of a write that may have been applied: what ended it, and what it is."""
        why = str(error.message if isinstance(error, ProviderError) else error)
        prefix = f"{request.method} {request.path}: "
        why = why.removeprefix(prefix)
        details: dict[str, Any] = {}
        if isinstance(error, ProviderError):
            details = {
                "code": error.code,
                "sub_code": error.sub_code,
                "request_id": error.request_id,
                "http_status": error.http_status,
            }
        return OutcomeUnknownError(
            self.redact(
                f"{prefix}the write may or may not have been applied "
                f"({attempts} attempt{'s' if attempts != 1 else ''}; last: "
                f"{type(error).__name__}: {why})"
            ),
            provider=self.provider,
            **details,
        )

    def _time_left(self, start: float) -> float | None:
        """Seconds left of the retry deadline of a call that began at ``start`` (None: no bound)."""
        deadline = self.retry.deadline
        return None if deadline is None else max(0.0, deadline - (self._clock() - start))

    async def _token(self, request: _Request, start: float) -> str:
        """A token for the call, waited for (or fetched) within the call's deadline."""
        # Only a deadline ends this block without a return; aclose() and the
        # caller's own cancellations propagate.
        with anyio.move_on_after(self._time_left(start)):
            return await self.tokens.get()
        raise TransportError(
            f"{request.method} {request.path}: the retry deadline "
            f"({self.retry.deadline:g}s) passed while waiting for an access token"
        )

    async def _attempt(
        self,
        request: _Request,
        token: str | None,
        *,
        attempt: int,
        start: float,
        idempotent: bool,
        token_call: bool,
        decode: Callable[[bytes], Any] | None = None,
    ) -> _Outcome:
        """
        Send ``request`` once and classify what came back; never sleeps, never
        retries. The whole exchange — pool slot, connect, send, every byte of
        the body — must end within what is left of the retry deadline.
        """
        method, path, api = request.method, request.path, request.api
        params, headers = dict(request.params), dict(request.headers)
        if token is not None:
            self.dialect.place_token(token, params, headers)
        deadline = self.retry.deadline
        left = self._time_left(start)
        response: httpx.Response | None = None
        content = b""
        error: httpx.HTTPError | None = None
        too_large: int | None = None
        sent_at = self._clock()
        try:
            built = self._http().build_request(
                method, _parsed_url(request.url), params=params, json=request.json, headers=headers
            )
        except httpx.InvalidURL as exc:
            message = f"{method} {path}: invalid URL: {self.redact(str(exc))}"
            raise ValidationError(message) from None
        except UnicodeEncodeError:
            # Text that cannot be UTF-8 (a lone surrogate) in the body: name where.
            _check_text(request.json, f"{method} {path}: body")
            raise ValidationError(f"{method} {path}: the request is not valid text") from None
        body_stream = _Body(built.content)
        built.stream = body_stream
        with anyio.move_on_after(left) as deadline_scope:
            async with self._limiter.slot(api, left, counted=not token_call):
                sent_at = self._clock()
                self.stats.requests += 1
                try:
                    response, content = await self._exchange(built)
                except _TooLarge as exc:
                    too_large = exc.size
                except httpx.HTTPError as exc:
                    error = exc
        latency = self._clock() - sent_at

        if deadline_scope.cancelled_caught:
            logger.debug(
                "%s %s api=%s attempt=%d deadline latency=%.3fs",
                method,
                path,
                api,
                attempt,
                latency,
            )
            message = (
                f"{method} {path}: the retry deadline ({deadline:g}s) passed before the "
                f"answer was complete ({attempt} attempt{'s' if attempt > 1 else ''})"
            )
            return _Outcome(
                fail=lambda verdict, attempts: TransportError(message),
                maybe_applied=body_stream.started,
            )
        if too_large is not None:
            message = (
                f"{method} {path}: response body exceeds max_response_bytes="
                f"{self.max_response_bytes} (read {too_large} bytes, then stopped)"
            )
            return _Outcome(
                fail=lambda verdict, attempts: ResponseFormatError(message, path="$"),
                maybe_applied=True,
            )
        if error is not None:
            logger.debug(
                "%s %s api=%s attempt=%d error=%s latency=%.3fs",
                method, path, api, attempt, type(error).__name__, latency,
            )  # fmt: skip
            failed = error
            if _dns_failure(error):
                # The host does not resolve: retrying, now or later, will not help.
                return _Outcome(
                    fail=lambda verdict, attempts: self._unresolvable(method, path, failed),
                )
            return _Outcome(
                retryable=isinstance(error, _NOT_SENT)
                or (idempotent and isinstance(error, _MAYBE_SENT)),
                fail=lambda verdict, attempts: self._transport_error(
                    method, path, failed, attempts, verdict.reason
                ),
                maybe_applied=isinstance(error, _MAYBE_SENT) and not isinstance(error, _NOT_SENT),
            )

        assert response is not None
        if decode is not None and 200 <= response.status_code < 300:
            typed = decode(content)
            if typed is not None:
                logger.debug(
                    "%s %s api=%s attempt=%d status=%d code=0 latency=%.3fs",
                    method, path, api, attempt, response.status_code, latency,
                )  # fmt: skip
                return _Outcome(body=typed)
        failure, body = self._classify(response.status_code, content, api)
        if token_call and self._not_the_provider(response, body):
            wrong = self._wrong_server(method, path, response)
            return _Outcome(fail=lambda verdict, attempts: wrong)
        logger.debug(
            "%s %s api=%s attempt=%d status=%d code=%s latency=%.3fs",
            method, path, api, attempt, response.status_code,
            failure.code if failure else 0, latency,
        )  # fmt: skip
        if failure is None and body is not None:
            return _Outcome(body=body)
        if failure is None and not content and self.dialect.empty_success and method != "GET":
            # Where the HTTP status says success (the dialect says so), an empty
            # body is an answer without fields: delete, respond, attendee changes.
            # Never a read's: an empty listing or event is not an empty answer.
            return _Outcome(body={})
        if failure is None:
            # A success status with a body that is not a JSON object.
            message = (
                f"{method} {path}: HTTP {response.status_code} body is not a JSON object: "
                f"{self.redact(_snippet(content))}"
            )
            return _Outcome(
                retryable=idempotent,
                fail=lambda verdict, attempts: ResponseFormatError(message, path="$"),
                maybe_applied=True,
            )
        return self._failure_outcome(request, failure, response, token, idempotent, token_call)

    async def _exchange(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """
        Send ``request`` and read its body as a stream, at most
        ``max_response_bytes`` of it (decoded): a longer one raises
        :class:`_TooLarge` as soon as the limit is passed, and the connection
        is dropped instead of drained.
        """
        limit = self.max_response_bytes
        client = self._http()
        await _reclaim_orphans(client, only_when_full=True)
        try:
            response = await client.send(request, stream=True)
        except BaseException:
            # A cancelled send may have left a pool slot behind (see _reclaim_orphans).
            with anyio.CancelScope(shield=True):
                await _reclaim_orphans(client)
            raise
        chunks: list[bytes] = []
        size = 0
        stream = response.aiter_bytes()
        read_to_end = False
        try:
            # A plain body declared too large is not read at all.
            declared = response.headers.get("content-length", "")
            if (
                "content-encoding" not in response.headers
                and declared.isascii()
                and declared.isdecimal()
                and int(declared[:20]) > limit
            ):
                raise _TooLarge(0)
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise _TooLarge(size)
                chunks.append(chunk)
            read_to_end = True
        finally:
            # Shielded: a close cut short by a cancellation would leave the
            # connection counted as busy in httpcore's pool.
            with anyio.CancelScope(shield=True):
                await response.aclose()
                if not read_to_end:  # a stream read to its end has no generator left open
                    await _finish(stream)
        return response, b"".join(chunks)

    def _failure_outcome(
        self,
        request: _Request,
        failure: Failure,
        response: httpx.Response,
        token: str | None,
        idempotent: bool,
        token_call: bool,
    ) -> _Outcome:
        """The outcome of an answer the dialect classified as an error."""
        method, path = request.method, request.path
        rule = failure.rule
        if rule.token_invalid:
            if token_call:
                error = self._provider_error(
                    failure, method, path, cls=AuthenticationError, note="credentials refused"
                )
                return _Outcome(fail=lambda verdict, attempts: error, answered=True)
            refused = self._provider_error(
                failure, method, path, note="token refused after a refresh"
            )
            return _Outcome(
                stale_token=token, fail=lambda verdict, attempts: refused, answered=True
            )

        if issubclass(rule.error, RateLimitError):
            self.stats.rate_limited += 1
        hint = rule.block
        if hint is None and response.status_code in (429, 503):
            hint = _retry_after(response, self._wall_clock, self.dialect.retry_after_headers)
        if rule.block is not None:
            # A provider block applies to the app, not to this task: pause
            # every task of this client.
            self._paused_until = max(self._paused_until, self._clock() + rule.block)
            self._pause_code = failure.code

        def fail(verdict: Decision, attempts: int) -> WecalError:
            if verdict.reason == RETRY_AFTER_TOO_LONG:
                # Asked to wait longer than max_retry_after: the caller schedules it.
                return self._provider_error(
                    failure,
                    method,
                    path,
                    cls=rule.error if issubclass(rule.error, RateLimitError) else RateLimitError,
                    note=f"the server asks to wait {hint:g}s, over max_retry_after="
                    f"{self.retry.max_retry_after:g}s",
                    retry_after=hint,
                )
            blocked = verdict.reason == "deadline" or rule.block is not None
            return self._provider_error(
                failure, method, path, retry_after=hint if blocked else None
            )

        return _Outcome(
            retryable=rule.retry and (idempotent or not rule.ambiguous),
            hint=hint,
            blocked=rule.block is not None,
            fail=fail,
            share_block=None
            if rule.block is None
            else (rule.block, failure.code, rule.egress_wide),
            maybe_applied=rule.ambiguous,
            answered=not rule.ambiguous,
        )

    def _classify(
        self, status: int, content: bytes, api: str
    ) -> tuple[Failure | None, dict[str, Any] | None]:
        body: dict[str, Any] | None = None
        try:
            decoded = jsonlib.loads(content) if content else None
        except (ValueError, RecursionError):
            # Not JSON, truncated JSON (UnicodeDecodeError is a ValueError), an
            # integer of more than 4300 digits, or nesting deeper than Python's stack.
            decoded = None
        if isinstance(decoded, dict):
            body = decoded
        try:
            return self.dialect.classify(status, body, api), body
        except RecursionError:  # str() of a deeply nested errmsg
            raise ResponseFormatError("error body nested too deeply", path="$") from None

    def _provider_error(
        self,
        failure: Failure,
        method: str,
        path: str,
        *,
        cls: type[ProviderError] | None = None,
        note: str = "",
        retry_after: float | None = None,
    ) -> ProviderError:
        cls = cls or failure.rule.error
        message = f"{method} {path}: {failure.message}"
        if note:
            message += f" ({note})"
        kwargs: dict[str, Any] = {
            "provider": self.provider,
            "code": failure.code,
            "sub_code": failure.sub_code,
            "request_id": failure.request_id,
            "http_status": failure.http_status,
        }
        if issubclass(cls, RateLimitError):
            kwargs["retry_after"] = retry_after
        return cls(self.redact(message), **kwargs)

    def _not_the_provider(self, response: httpx.Response, body: dict[str, Any] | None) -> bool:
        """
        Whether a token endpoint's answer comes from something else than the
        provider: a page that is not a JSON object (HTML, text) where the API
        answers JSON whatever happens — short of a 5xx or a 429, which a
        provider's own gateway may send as a page — or a 404/405 whose JSON
        names neither a token nor an error code.
        """
        status = response.status_code
        if status >= 500 or status == 429:
            return False
        if body is None:
            return True
        known = (self.dialect.token_field, *self.dialect.error_keys)
        return status in (404, 405) and not any(key in body for key in known)

    def _wrong_server(self, method: str, path: str, response: httpx.Response) -> WecalError:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
        url = httpx.URL(self.base_url)
        hint = ""
        if url.path not in ("", "/"):
            hint = (
                f"; base_url has a path ({url.path!r}) but wecal adds the API's own paths "
                f"({path}): try {_mask_userinfo(str(url.copy_with(path='')).rstrip('/'))!r}"
            )
        return ConfigurationError(
            self.redact(
                f"{method} {path}: the server at base_url {_mask_userinfo(self.base_url)!r} "
                f"answered HTTP {response.status_code} ({kind}), not {self.provider}'s API: "
                f"the base URL looks wrong{hint}"
            )
        )

    def _unresolvable(self, method: str, path: str, error: httpx.HTTPError) -> WecalError:
        host = httpx.URL(self.base_url).host
        exc = ConfigurationError(
            self.redact(
                f"{method} {path}: the host {host!r} of base_url does not resolve (DNS: "
                f"{_dns_detail(error)}): check base_url, or the DNS of this network; not retried"
            )
        )
        exc.__cause__ = httpx.ConnectError(self.redact(str(error)))
        return exc

    def _transport_error(
        self, method: str, path: str, error: httpx.HTTPError, attempts: int, reason: str
    ) -> TransportError:
        detail = self.redact(str(error)) or type(error).__name__
        why = reason
        if reason == "not retryable":
            why = "not retried: the request may have been processed"
        exc = TransportError(
            f"{method} {path}: {type(error).__name__}: {detail} "
            f"({attempts} attempt{'s' if attempts > 1 else ''}; {why})"
        )
        # Chain a redacted copy, not the original: its message and request
        # carry the URL with the token.
        try:
            clean: BaseException = type(error)(detail)
        except Exception:
            clean = httpx.TransportError(detail)
        exc.__cause__ = clean
        return exc


def _dns_failure(error: BaseException) -> bool:
    """Whether a transport error is a name-resolution failure (``socket.gaierror`` inside)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, socket.gaierror):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _dns_detail(error: BaseException) -> str:
    current: BaseException | None = error
    while current is not None and not isinstance(current, socket.gaierror):
        current = current.__cause__ or current.__context__
    return str(current or error)


def _check_settings(
    *,
    base_url: object,
    transport: object,
    http_client: object,
    timeout: object,
    proxy: object,
    retry: object,
    rate_limit: object,
    token_store: object = None,
    shared: object = None,
) -> None:
    """A :class:`~wecal.ValidationError` for a client setting of the wrong type."""
    expected: tuple[tuple[str, object, tuple[type, ...], str], ...] = (
        ("base_url", base_url, (str,), "a URL string"),
        ("transport", transport, (httpx.AsyncBaseTransport,), "an httpx.AsyncBaseTransport"),
        ("http_client", http_client, (httpx.AsyncClient,), "an httpx.AsyncClient"),
        ("timeout", timeout, (int, float, httpx.Timeout), "seconds or an httpx.Timeout"),
        ("proxy", proxy, (str, httpx.Proxy, httpx.URL), "a proxy URL or an httpx.Proxy"),
        ("retry", retry, (RetryConfig,), "a wecal.RetryConfig"),
        ("rate_limit", rate_limit, (RateLimitConfig,), "a wecal.RateLimitConfig or False"),
    )
    for name, value, types, what in expected:
        if value is None or (name == "rate_limit" and value is False):
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValidationError(f"{name} must be {what}, got {_describe(value)}")
    protocols: tuple[tuple[str, object, type, str], ...] = (
        ("token_store", token_store, TokenStore, "a wecal.TokenStore"),
        ("shared", shared, SharedState, "a wecal.SharedState (wecal.MemoryState(), RedisBackend)"),
    )
    for name, value, proto, what in protocols:
        if value is not None and not isinstance(value, proto):
            raise ValidationError(f"{name} must be {what}, got {_describe(value)}")
    if isinstance(timeout, int | float) and not timeout > 0:
        # httpx would time every request out at once (or never): each call
        # would end in a TransportError after all its retries.
        raise ValidationError(
            f"timeout must be a positive number of seconds (None: no timeout), got {timeout!r}"
        )


class _Body(httpx.AsyncByteStream):
    """
    A request body whose iterator is an object, not an async generator:
    httpx's own (``ByteStream.__aiter__``) is left suspended when a send is
    cancelled mid-upload, and trio warns about it when it is collected.

    ``started`` tells that the transport began sending the body — after the
    request line and headers: from then on the provider may act on the
    request whatever happens to the answer.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        return _Once(self._data)


class _Once:
    """An async iterator over one chunk of bytes."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data


async def _finish(stream: AsyncIterator[bytes]) -> None:
    """
    Run a closed response's byte stream to its end. httpx nests three async
    generators in ``aiter_bytes()``; left suspended (we stopped reading at
    the size limit), trio warns about each when it is collected. Once the
    response is closed, the next step of the innermost one fails, which ends
    them all; whatever they still held in memory is discarded.
    """
    with anyio.move_on_after(5):
        try:
            async for _ in stream:
                pass
        except Exception:  # the expected end: the stream is closed
            return


async def _reclaim_orphans(client: httpx.AsyncClient, *, only_when_full: bool = False) -> None:
    """
    Give back pool slots that httpcore lost to a cancelled request.

    httpcore's pool (1.0.x, encode/httpcore#1093) hands a queued request a
    connection of its own and keeps it in the pool while the request uses
    it. A request cancelled at the wrong moment leaves that connection
    behind, claimed by no request and usable by none:

    - cancelled before it starts connecting: a connection that never
      connects (``CONNECTING`` for ever);
    - cancelled after the connect, at the next checkpoint (the connection's
      state lock): a connected HTTP/1.1 connection still ``NEW`` — neither
      idle nor available, so never reused and never closed.

    Each holds a slot; with ``max_connections`` of them every later request
    waits for a connection that never comes (cancellation storms — listings
    abandoned while requests are in flight — produce thousands).

    A connection that no queued or running request holds and that is
    neither idle, available nor closed is such an orphan, whatever its inner
    state: this removes each from the pool, lets the pool hand the freed
    slots to the requests waiting, and closes them. It reads httpcore
    internals (only of httpx's own HTTP transport; anything else is left
    alone), guarded so that another httpcore version makes it a no-op.
    ``only_when_full``: look only when every slot is taken (the cheap check
    before each send); after a failed or cancelled send, always.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    connections = getattr(pool, "_connections", None)
    requests = getattr(pool, "_requests", None)
    lock = getattr(pool, "_optional_thread_lock", None)
    assign = getattr(pool, "_assign_requests_to_connections", None)
    if not isinstance(connections, list) or not isinstance(requests, list) or lock is None:
        return
    if only_when_full and len(connections) < (getattr(pool, "_max_connections", 0) or 1):
        return
    closing: list[Any] = []
    with lock:
        claimed = {id(getattr(r, "connection", None)) for r in requests}
        orphans = [c for c in connections if id(c) not in claimed and _stuck(c)]
        if not orphans:
            return
        for connection in orphans:
            connections.remove(connection)
        logger.debug("reclaimed %d orphaned connection pool slot(s)", len(orphans))
        if callable(assign):
            closing = list(assign())
    with anyio.CancelScope(shield=True):
        for connection in (*orphans, *closing):
            with contextlib.suppress(Exception):
                await connection.aclose()


def _stuck(connection: Any) -> bool:
    """Whether a pool connection can neither serve a request nor be dropped by the pool."""
    try:
        return not (connection.is_idle() or connection.is_available() or connection.is_closed())
    except Exception:  # not an httpcore connection as we know it: leave it alone
        return False


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """
    ``httpx.URL(url)``, once per distinct URL: a listing sends many pages to one
    URL, and httpx parses a URL given as text character by character on every
    request (given an ``httpx.URL`` it only adds the query). URLs are immutable;
    a URL httpx refuses raises ``InvalidURL`` each time (never cached).
    """
    return httpx.URL(url)


def _snippet(content: bytes, limit: int = 80) -> str:
    text = content[:limit].decode("utf-8", "replace")
    more = "…" if len(content) > limit else ""
    return f"{len(content)} bytes {text!r}{more}"
