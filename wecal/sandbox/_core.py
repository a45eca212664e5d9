"""
The sandbox's shared state, below everything else in it: apps, tokens, the
clock, the seeded ids, the request log and each emulator's state.

:class:`SandboxCore` is what the emulators (through
:class:`~wecal.providers._emulation._host.EmulatorHost`), the app
(``_app``), the data generator (``_data``) and the notifier (``_notify``)
use; :class:`~wecal.sandbox.Sandbox` (``_state``) builds on it and composes
them. Nothing here imports those modules, so the sandbox has no import circle.
"""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import attrs

from ..errors import ValidationError
from ..providers._emulation._faults import Faults
from ..providers._emulation._host import EmulatorHost
from ._record import RecordedRequest

__all__ = ["TOKEN_TTL", "FakeClock", "SandboxCore"]

#: Token lifetime the providers document (seconds).
TOKEN_TTL = 7200


class FakeClock:
    """
    A clock for tests: ``clock()`` returns the current time, ``advance()`` moves it.

    >>> clock = FakeClock(1_700_000_000.0)
    >>> sandbox = Sandbox(clock=clock)
    >>> clock.advance(7201)   # every token issued so far has now expired
    """

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


@attrs.define
class _Token:
    family: str
    app_id: str
    expires_at: float
    #: The code answered once the token was revoked (40014 / 42001), else None.
    dead: int | None = None


@attrs.define
class _App:
    family: str
    app_id: str
    key: str  # the app's public key (corp id, app key, ...)
    secret: str = attrs.field(repr=False)


_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"

T = TypeVar("T")


class SandboxCore:
    """
    The state every part of the sandbox shares; an :class:`EmulatorHost`.

    Apps are grouped by *family* (the name an emulator registers its apps
    under); tokens belong to one family's app.
    """

    #: The change-callback sender (set by :class:`~wecal.sandbox.Sandbox`).
    notifications: Any

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        token_ttl: int = TOKEN_TTL,
    ) -> None:
        self.seed = seed
        self.clock: Callable[[], float] = clock or time.time
        self.token_ttl = token_ttl
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        # Reentrant: handlers run under it and call helpers that take it too.
        # A threading lock because uvicorn serves from its own thread.
        self._lock = threading.RLock()
        self._rng = random.Random(f"sandbox:{seed}")
        self._apps: dict[str, _App] = {}
        self._tokens: dict[str, _Token] = {}
        self._request_counter = 0
        #: Each emulator's state, by registry name (made on first use).
        self._states: dict[str, Any] = {}

    # ------------------------------------------------------------ the emulators' host
    # What an emulator may use of the sandbox (EmulatorHost, in
    # wecal/providers/_emulation/_host.py); nothing else of it.

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """The state lock (reentrant): the emulators' handlers run under it."""
        return self._lock

    def random(self, alphabet: str, n: int) -> str:
        """``n`` characters of ``alphabet`` from the sandbox's seeded generator."""
        return "".join(self._rng.choices(alphabet, k=n))

    def request_hint(self) -> str:
        """A fresh request id (clock, counter, random)."""
        self._request_counter += 1
        return f"{int(self.clock())}_{self._request_counter}_{self.random('0123456789abcdef', 8)}"

    def find_app(self, family: str, key: str, secret: str) -> tuple[bool, str | None]:
        """(``key`` known, the app id when ``secret`` matches too) among ``family``'s apps."""
        known = False
        for app in self._apps.values():
            if app.family == family and app.key == key:
                known = True
                if app.secret == secret:
                    return True, app.app_id
        return known, None

    def issue_token(self, family: str, app_id: str, *, renew: bool = False) -> str:
        """A fresh token for ``app_id``, or with ``renew`` its live one, renewed."""
        now = self.clock()
        if renew:
            # An emulator whose provider answers a repeated request with the
            # same token, renewed, asks for it (the caller says which).
            for token, rec in self._tokens.items():
                if rec.app_id == app_id and rec.dead is None and rec.expires_at > now:
                    rec.expires_at = now + self.token_ttl
                    return token
        # Else a fresh token; earlier ones stay valid until they expire.
        token = self.random(_TOKEN_ALPHABET, 64)
        self._tokens[token] = _Token(family, app_id, now + self.token_ttl)
        return token

    def check_token(self, family: str, token: str | None) -> tuple[int, str | None]:
        """(0, app id) for a good token, else (41001/40014/42001/its revocation, None)."""
        if not token:
            return 41001, None
        rec = self._tokens.get(token)
        if rec is None or rec.family != family:
            return 40014, None
        if rec.dead is not None:
            return rec.dead, None
        if self.clock() >= rec.expires_at:
            return 42001, None
        return 0, rec.app_id

    def revoked_as(self, token: str) -> int | None:
        """The code a revoked token answers, None if it was not revoked (or is unknown)."""
        rec = self._tokens.get(token)
        return None if rec is None else rec.dead

    def state(self, name: str, factory: Callable[[EmulatorHost], T]) -> T:
        """Emulator ``name``'s (registry name) state, made by ``factory`` on first use."""
        with self._lock:
            if name not in self._states:
                self._states[name] = factory(self)
            found: T = self._states[name]
            return found

    # ------------------------------------------------------------ apps, tokens

    def add_app(self, family: str, key: str, secret: str) -> str:
        """
        Register an app of ``family`` (the credential family an emulator checks
        with ``find_app``) by its key and secret; returns its app id (the same
        key and secret again: the same app).
        """
        if not key or not secret:
            raise ValidationError(f"Sandbox.add_{family}_app: key and secret must be non-empty")
        with self._lock:
            for app in self._apps.values():
                if app.family == family and app.key == key and app.secret == secret:
                    return app.app_id
            app_id = f"{family}-app-{len(self._apps) + 1}"
            self._apps[app_id] = _App(family, app_id, key, secret)
            return app_id

    def first_app(self, family: str) -> str | None:
        """The id of ``family``'s first app, None when it has none."""
        return next((a.app_id for a in self._apps.values() if a.family == family), None)

    def app_key(self, app_id: str) -> str:
        """The key (corp id, app key, ...) of app ``app_id``."""
        return self._apps[app_id].key

    def revoke_all(self, code: int) -> None:
        """Revoke every token issued so far: from now on each answers ``code``."""
        with self._lock:
            for rec in self._tokens.values():
                if rec.dead is None:
                    rec.dead = code

    def revoke_token(self, token: str, code: int) -> None:
        """Revoke one token: from now on it answers ``code``."""
        with self._lock:
            rec = self._tokens.get(token)
            if rec is not None and rec.dead is None:
                rec.dead = code

    def app_key_of(self, token: str | None, credentials: Mapping[str, Any]) -> str | None:
        """The app key a request is for: its token's app, else the credentials it sends."""
        with self._lock:
            rec = self._tokens.get(token or "")
            if rec is not None and rec.app_id in self._apps:
                return self._apps[rec.app_id].key
            # A token request names its app among its credentials.
            sent = {v for v in credentials.values() if isinstance(v, str)}
            for app in self._apps.values():
                if app.key in sent:
                    return app.key
        return None

    # ------------------------------------------------------------ the request log

    def record(self, req: RecordedRequest) -> None:
        """Add one request to the log."""
        with self._lock:
            self.requests.append(req)

    def arrivals(self, *, api: str | None = None, app: str | None = None) -> list[float]:
        """
        When the requests of ``api`` for ``app`` arrived (``clock()`` times, in
        order): what a test measures rates on, at the server. None: any.
        """
        with self._lock:
            return [
                r.at
                for r in self.requests
                if (api is None or r.api == api) and (app is None or r.app == app)
            ]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()
