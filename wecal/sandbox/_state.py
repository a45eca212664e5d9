"""The emulator's state: apps, tokens, calendars, events, the request log."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ..errors import ValidationError
from ..providers._emulation._faults import Faults
from ..providers._emulation._host import EmulatorHost
from ..providers.dingtalk import _emulator as _dingtalk_v1
from ..providers.dingtalk_legacy import _emulator as _dingtalk_legacy
from ..providers.wecom import _emulator as _wecom
from ._app import create_app
from ._data import generate
from ._notify import SandboxNotifications
from ._record import RecordedRequest

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["FakeClock", "RecordedRequest", "Sandbox"]

#: Token lifetime both providers document (seconds).
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
    provider: str
    app_id: str
    expires_at: float
    #: errcode answered once the token was revoked (40014 / 42001), else None.
    dead: int | None = None


@attrs.define
class _App:
    provider: str
    app_id: str
    key: str  # corp_id (WeCom) or app_key (DingTalk)
    secret: str = attrs.field(repr=False)


_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"

T = TypeVar("T")


class Sandbox:
    """
    An in-memory WeCom + DingTalk (legacy) provider: state, faults, request log.

    Everything is deterministic from ``seed`` and the order of requests. Pass a
    ``clock`` (e.g. :class:`FakeClock`) to control token expiry in tests.
    ``token_ttl`` is the ``expires_in`` handed out by both ``gettoken``\\ s.

    Ground-truth state is public and holds plain JSON dicts exactly as the
    providers return them: ``wecom_calendars`` / ``wecom_schedules`` (id → dict)
    and ``dingtalk_events`` (user id → event id → dict, recurrence as a clean
    list of ``RRULE:``/``EXDATE:`` lines). Read them, or mutate them between
    requests to set up a scenario.
    """

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
        self._app: Starlette | None = None
        #: Signed, encrypted change callbacks to subscribed URLs (``_notify``).
        self.notifications = SandboxNotifications(self)

    def __repr__(self) -> str:
        return (
            f"<Sandbox seed={self.seed} apps={len(self._apps)} "
            f"wecom_schedules={len(self.wecom_schedules)} "
            f"dingtalk_users={len(self.dingtalk_users)} requests={len(self.requests)}>"
        )

    # ------------------------------------------------------------ the emulators' host
    # What an emulator may use of the sandbox (EmulatorHost, in
    # wecal/providers/_emulation/_host.py); nothing else of it.

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """The state lock (reentrant): the emulators' handlers run under it."""
        return self._lock

    def random(self, alphabet: str, n: int) -> str:
        """``n`` characters of ``alphabet`` from the sandbox's seeded generator."""
        return self._random(alphabet, n)

    def request_hint(self) -> str:
        """A fresh request id (clock, counter, random)."""
        return self._hint()

    def find_app(self, family: str, key: str, secret: str) -> tuple[bool, str | None]:
        """(``key`` known, the app id when ``secret`` matches too) among ``family``'s apps."""
        return self._find_app(family, key, secret)

    def issue_token(self, family: str, app_id: str, *, renew: bool = False) -> str:
        """A fresh token for ``app_id``, or with ``renew`` its live one, renewed."""
        return self._issue_token(family, app_id, renew=renew)

    def check_token(self, family: str, token: str | None) -> tuple[int, str | None]:
        """(0, app id) for a good token, else (41001/40014/42001/its revocation, None)."""
        return self._check_token(family, token)

    def revoked_as(self, token: str) -> int | None:
        """The errcode a revoked token answers, None if it was not revoked (or is unknown)."""
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

    @property
    def app(self) -> Starlette:
        """The ASGI application (created on first use)."""
        if self._app is None:
            self._app = create_app(self)
        return self._app

    @property
    def dingtalk_v1(self) -> _dingtalk_v1.DingTalkV1:
        """The DingTalk v1.0 emulator's state: users (unionIds), events, knobs."""
        return _dingtalk_v1.v1(self)

    @property
    def wecom_calendars(self) -> dict[str, dict[str, Any]]:
        """WeCom calendars: ``cal_id`` → the dict WeCom returns."""
        return _wecom.state(self).calendars

    @property
    def wecom_schedules(self) -> dict[str, dict[str, Any]]:
        """WeCom schedules: ``schedule_id`` → the dict WeCom returns."""
        return _wecom.state(self).schedules

    @property
    def wecom_users(self) -> set[str]:
        """WeCom userids known to the corp; empty means "accept any userid"."""
        return _wecom.state(self).users

    @property
    def dingtalk_users(self) -> dict[str, dict[str, str]]:
        """DingTalk (legacy) staff: ``userid`` → display name and calendar folder."""
        return _dingtalk_legacy.state(self).users

    @property
    def dingtalk_events(self) -> dict[str, dict[str, dict[str, Any]]]:
        """DingTalk (legacy) events: ``userid`` → event id → the item."""
        return _dingtalk_legacy.state(self).events

    def add_wecom_app(self, corp_id: str, secret: str) -> str:
        """
        Register a WeCom app (a corp may have several, each with its own
        secret). Returns its app id, which owns the calendars it creates.
        """
        return self._add_app("wecom", corp_id, secret)

    def add_dingtalk_app(self, app_key: str, app_secret: str) -> str:
        """Register a DingTalk internal app; returns its app id."""
        return self._add_app("dingtalk", app_key, app_secret)

    def add_app(self, family: str, key: str, secret: str) -> str:
        """
        Register an app of ``family`` (the credential family an emulator checks
        with ``find_app``) by its key and secret; returns its app id.
        """
        return self._add_app(family, key, secret)

    def _add_app(self, provider: str, key: str, secret: str) -> str:
        if not key or not secret:
            raise ValidationError(f"Sandbox.add_{provider}_app: key and secret must be non-empty")
        with self._lock:
            for app in self._apps.values():
                if app.provider == provider and app.key == key and app.secret == secret:
                    return app.app_id
            app_id = f"{provider}-app-{len(self._apps) + 1}"
            self._apps[app_id] = _App(provider, app_id, key, secret)
            return app_id

    def _find_app(self, provider: str, key: str, secret: str) -> tuple[bool, str | None]:
        """(key known, app id when the secret matches too)."""
        known = False
        for app in self._apps.values():
            if app.provider == provider and app.key == key:
                known = True
                if app.secret == secret:
                    return True, app.app_id
        return known, None

    def _first_app(self, provider: str) -> str | None:
        return next((a.app_id for a in self._apps.values() if a.provider == provider), None)

    def _issue_token(self, provider: str, app_id: str, *, renew: bool = False) -> str:
        now = self.clock()
        if renew:
            # The emulator says its provider answers a repeated request with the
            # same token, renewed (DingTalk: "有效期内重复获取返回相同结果并自动续期").
            for token, rec in self._tokens.items():
                if rec.app_id == app_id and rec.dead is None and rec.expires_at > now:
                    rec.expires_at = now + self.token_ttl
                    return token
        # Else (WeCom does not promise idempotent gettoken) a fresh token;
        # earlier ones stay valid until they expire.
        token = self._random(_TOKEN_ALPHABET, 64)
        self._tokens[token] = _Token(provider, app_id, now + self.token_ttl)
        return token

    def _check_token(self, provider: str, token: str | None) -> tuple[int, str | None]:
        """(0, app id) for a good token, else (errcode, None): 41001/40014/42001 or a revocation."""
        if not token:
            return 41001, None
        rec = self._tokens.get(token)
        if rec is None or rec.provider != provider:
            return 40014, None
        if rec.dead is not None:
            return rec.dead, None
        if self.clock() >= rec.expires_at:
            return 42001, None
        return 0, rec.app_id

    def revoke_tokens(self, errcode: int = 40014) -> None:
        """
        Invalidate every token issued so far, as providers may do early. Later
        calls with them answer ``errcode`` (40014 invalid, or 42001 expired).
        """
        with self._lock:
            for rec in self._tokens.values():
                if rec.dead is None:
                    rec.dead = errcode

    def _revoke_token(self, token: str, errcode: int) -> None:
        with self._lock:
            rec = self._tokens.get(token)
            if rec is not None and rec.dead is None:
                rec.dead = errcode

    # ------------------------------------------------------------ ids, log

    def _random(self, alphabet: str, n: int) -> str:
        return "".join(self._rng.choices(alphabet, k=n))

    def _hint(self) -> str:
        self._request_counter += 1
        return f"{int(self.clock())}_{self._request_counter}_{self._random('0123456789abcdef', 8)}"

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

    def _app_key_of(self, token: str | None, credentials: Mapping[str, Any]) -> str | None:
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

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    # ------------------------------------------------------------ WeCom state

    def add_wecom_calendar(
        self, calendar: Mapping[str, Any], *, app_id: str | None = None, default: bool = False
    ) -> str:
        """
        Store a calendar directly (no validation) for ``app_id`` (default: the
        first WeCom app); returns its ``cal_id`` (taken from ``calendar`` if set).
        """
        with self._lock:
            owner = app_id or self._first_app("wecom")
            if owner is None:
                raise ValidationError("Sandbox.add_wecom_calendar: add a WeCom app first")
            return _wecom.state(self).add_calendar(calendar, owner=owner, default=default)

    def add_wecom_schedule(self, schedule: Mapping[str, Any]) -> str:
        """
        Store a schedule directly (no validation; ``cal_id`` must exist);
        returns its ``schedule_id``. It gets the next ``sequence`` number.
        """
        return _wecom.state(self).add_schedule(schedule)

    def wecom_ground_truth(self, cal_id: str) -> list[dict[str, Any]]:
        """
        Every schedule of a calendar, in ``get_by_calendar`` order, as it would
        return them (with ``sequence``; cancelled ones included) — deep copies.
        """
        return _wecom.state(self).ground_truth(cal_id)

    # ------------------------------------------------------------ DingTalk state

    def add_dingtalk_user(
        self, user_id: str, display_name: str, *, folder_id: str | None = None
    ) -> None:
        """Add a DingTalk staff member (``userid``) with one calendar folder."""
        _dingtalk_legacy.state(self).add_user(user_id, display_name, folder_id=folder_id)

    def add_dingtalk_event(self, user_id: str, item: Mapping[str, Any]) -> str:
        """
        Store a DingTalk event for ``user_id`` (no validation). ``recurrence``,
        if any, is a clean list of RFC 5545 lines; the API renders it in the
        seed's quirky forms. Returns the event ``id``.
        """
        return _dingtalk_legacy.state(self).add_event(user_id, item)

    def dingtalk_ground_truth(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        expand: bool = False,
    ) -> list[dict[str, Any]]:
        """
        The items ``topapi/calendar/list`` returns for ``user_id`` over all
        pages, in order, for the window ``[start, end)`` (overlap) — with
        ``recurrence`` as a clean list of lines rather than the quirky wire forms.
        """
        with self._lock:
            return _dingtalk_legacy.list_items(
                self, user_id, start, end, expand=expand, quirks=False
            )

    def populate(self, **kwargs: Any) -> Any:
        """Shorthand for :func:`wecal.sandbox.generate` ``(self, **kwargs)``."""
        return generate(self, **kwargs)
