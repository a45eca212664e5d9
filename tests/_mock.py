"""
A scripted fake provider behind ``httpx.MockTransport``, and the test secrets.

``FakeProvider`` answers the token endpoint of a dialect (checking the real
secret), checks the token on every business call like the provider would,
and replays scripted answers per path::

    fake = FakeProvider(WECOM)
    fake.script("/cgi-bin/x", ok({"a": 1}), wecom_error(-1), httpx.ConnectError("boom"))
    core = HttpCore(WECOM, CORP_ID, CORP_SECRET, transport=fake.transport(), ...)

Scripted answers are consumed in order; after that the route's default
answer (``fake.route(path, fn)``) or ``{"errcode": 0}`` is used.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from wecal._http import HttpCore
from wecal._ratelimit import RateLimitConfig
from wecal._retry import RetryConfig
from wecal._tokens import MemoryTokenStore
from wecal.providers._dialects import Dialect

CORP_ID = "ww-test-corp"
CORP_SECRET = "corpsecret-VALUE-7Hq9ZxA"
APP_KEY = "dingtestappkey"
APP_SECRET = "appsecret-VALUE-Pq3Lm8B"
TOKEN_MARK = "TOKENVALUE"
#: Every token the fakes ever hand out, across the test session.
ISSUED_TOKENS: list[str] = []
_serial = itertools.count(1)

Answer = httpx.Response | Exception | Callable[[httpx.Request], Awaitable[httpx.Response]]


def secrets_used() -> list[str]:
    """The literal secret strings the tests used: none may leak anywhere."""
    from tests.hostile import DING_SECRET, SECRET
    from tests.sandbox_fixtures import DINGTALK_APP_SECRET, WECOM_SECRET

    return [
        CORP_SECRET,
        APP_SECRET,
        WECOM_SECRET,
        DINGTALK_APP_SECRET,
        SECRET,
        DING_SECRET,
        *ISSUED_TOKENS,
    ]


def note_sandbox_tokens(sandbox: Any) -> None:
    """Count the tokens a ``wecal.sandbox.Sandbox`` issued among the secrets checked."""
    ISSUED_TOKENS.extend(t for t in sandbox._tokens if t not in ISSUED_TOKENS)


def ok(body: dict[str, Any] | None = None, status: int = 200) -> httpx.Response:
    """A success answer (``errcode: 0`` merged in for errcode dialects by the caller)."""
    return httpx.Response(status, json=body if body is not None else {"errcode": 0})


def wecom_error(code: int, message: str = "error") -> httpx.Response:
    """A WeCom/legacy DingTalk error: HTTP 200 with a non-zero errcode."""
    return httpx.Response(200, json={"errcode": code, "errmsg": message})


def v1_error(status: int, code: str, message: str = "error") -> httpx.Response:
    """A DingTalk v1.0 error: HTTP status plus ``{code, message, requestid}``."""
    return httpx.Response(status, json={"code": code, "message": message, "requestid": "req-1"})


class FakeClock:
    """Monotonic time that only moves when someone sleeps; sleeps are recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()  # other tasks run


class DilatedClock:
    """
    Real time, sped up: one real millisecond is one virtual second. Each task
    sleeps on its own (unlike :class:`FakeClock`), so a client-wide pause is
    observable: a task that did not sleep itself still arrives late.
    """

    def __init__(self, factor: float = 1000.0) -> None:
        self.factor = factor
        self._t0 = time.monotonic()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return (time.monotonic() - self._t0) * self.factor

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.sleep(max(seconds, 0.0) / self.factor)


class FakeProvider:
    """Token endpoint + token checks + scripted answers, for one dialect."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        secret: str | None = None,
        lifetime: Any = 7200,
        token_delay: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        self.dialect = dialect
        self.secret = secret or (CORP_SECRET if dialect.name == "wecom" else APP_SECRET)
        self.lifetime = lifetime
        self.token_delay = token_delay
        self.delay = delay
        self.token_requests = 0
        self.valid: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.routes: dict[str, Callable[[httpx.Request], Awaitable[httpx.Response]]] = {}
        self.token_answers: list[Answer] = []

    # -- scripting ---------------------------------------------------------

    def script(self, path: str, *answers: Answer) -> None:
        """Queue answers for ``path``; each is used once, in order."""
        self.scripts.setdefault(path, []).extend(answers)

    def route(self, path: str, fn: Callable[[httpx.Request], Awaitable[httpx.Response]]) -> None:
        """The answer for ``path`` once its script is spent."""
        self.routes[path] = fn

    def revoke_all(self) -> None:
        """The provider invalidates every token it issued (early revocation)."""
        self.valid.clear()

    def business_requests(self, path: str | None = None) -> list[httpx.Request]:
        """Requests other than token fetches (optionally to one path)."""
        return [
            r
            for r in self.requests
            if r.url.path != self.dialect.token_path and (path is None or r.url.path == path)
        ]

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that serves this fake."""
        return httpx.MockTransport(self.handle)

    # -- serving -----------------------------------------------------------

    def _token_of(self, request: httpx.Request) -> str | None:
        if self.dialect.token_header:
            return request.headers.get(self.dialect.token_header)
        assert self.dialect.token_query
        return request.url.params.get(self.dialect.token_query)

    async def _answer(self, answer: Answer, request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return await answer(request)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == self.dialect.token_path:
            return await self._token(request)
        token = self._token_of(request)
        if self.delay:
            await anyio.sleep(self.delay)  # answers take a while: calls overlap
        if token not in self.valid:
            if self.dialect.style == "body":
                return wecom_error(42001 if token else 41001, "access_token expired")
            return v1_error(401, "InvalidAuthentication", "不合法的access_token")
        script = self.scripts.get(request.url.path)
        if script:
            return await self._answer(script.pop(0), request)
        route = self.routes.get(request.url.path)
        if route is not None:
            return await route(request)
        return ok({"errcode": 0})

    async def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        if self.token_delay:
            await anyio.sleep(self.token_delay)
        if self.token_answers:
            return await self._answer(self.token_answers.pop(0), request)
        if request.method == "GET":
            secret = request.url.params.get(self.dialect.secret_name)
        else:
            secret = json.loads(request.content).get(self.dialect.secret_name)
        if secret != self.secret:
            if self.dialect.style == "body":
                return wecom_error(40001, "invalid credential")
            return v1_error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = f"{TOKEN_MARK}-{self.dialect.name}-{next(_serial)}-zq8"
        ISSUED_TOKENS.append(token)
        self.valid.add(token)
        if self.dialect.style == "body":
            body = {"errcode": 0, "errmsg": "ok", "access_token": token}
            if self.lifetime is not None:
                body[self.dialect.expires_field] = self.lifetime
        else:
            body = {"accessToken": token}
            if self.lifetime is not None:
                body[self.dialect.expires_field] = self.lifetime
        return httpx.Response(200, json=body)


def make_core(
    fake: FakeProvider,
    *,
    clock: FakeClock | DilatedClock | None = None,
    retry: RetryConfig | None = None,
    rate_limit: RateLimitConfig | bool | None = False,
    store: MemoryTokenStore | None = None,
    secret: str | None = None,
    jitter: float = 1.0,
    wall_clock: Callable[[], float] | None = None,
) -> HttpCore:
    """An HttpCore wired to ``fake`` with a fake clock and a private token store."""
    clock = clock or FakeClock()
    app_id = CORP_ID if fake.dialect.name == "wecom" else APP_KEY
    return HttpCore(
        fake.dialect,
        app_id,
        secret or fake.secret,
        transport=fake.transport(),
        retry=retry,
        rate_limit=rate_limit if rate_limit is not True else None,  # type: ignore[arg-type]
        token_store=store or MemoryTokenStore(),
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: jitter,
        wall_clock=wall_clock or time.time,
    )


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """
    Autouse (import it into a test module): every log record the test emits,
    from any logger (httpx, httpcore's children, uvicorn…) at any level, is
    checked — formatted, traceback included — for the secrets and tokens the
    fakes, the sandbox and the hostile server used.
    """
    caplog.set_level(logging.DEBUG)
    yield
    # The whole record as a handler would write it: message, logger name,
    # and an attached exception's traceback — from every logger, at any level.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    secrets = secrets_used()
    leaked = [
        text
        for text in map(formatter.format, caplog.records)
        if any(secret in text for secret in secrets)
    ]
    assert not leaked, f"secret in log records: {leaked[:3]}"
