"""The emulator's state: apps, tokens, calendars, events, the request log."""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ValidationError, WecalError
from ..providers._emulation._faults import Faults
from ..providers.dingtalk._emulator import DingTalkV1, v1
from ..providers.dingtalk_legacy._emulator import list_items
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
_ID_ALPHABET = string.ascii_letters + string.digits


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
        self.wecom_calendars: dict[str, dict[str, Any]] = {}
        self.wecom_schedules: dict[str, dict[str, Any]] = {}
        #: WeCom userids known to the corp; empty means "accept any userid".
        self.wecom_users: set[str] = set()
        self.dingtalk_users: dict[str, dict[str, str]] = {}
        self.dingtalk_events: dict[str, dict[str, dict[str, Any]]] = {}
        # Reentrant: handlers run under it and call helpers that take it too.
        # A threading lock because uvicorn serves from its own thread.
        self._lock = threading.RLock()
        self._rng = random.Random(f"sandbox:{seed}")
        self._apps: dict[str, _App] = {}
        self._tokens: dict[str, _Token] = {}
        self._calendar_owner: dict[str, str] = {}
        self._default_calendar: dict[str, str] = {}
        self._sequence: dict[str, int] = {}
        self._next_sequence = 1
        self._request_counter = 0
        self._app: Starlette | None = None
        #: Signed, encrypted change callbacks to subscribed URLs (``_notify``).
        self.notifications = SandboxNotifications(self)
        self._dingtalk_v1: DingTalkV1 | None = None

    def __repr__(self) -> str:
        return (
            f"<Sandbox seed={self.seed} apps={len(self._apps)} "
            f"wecom_schedules={len(self.wecom_schedules)} "
            f"dingtalk_users={len(self.dingtalk_users)} requests={len(self.requests)}>"
        )

    # ------------------------------------------------------------ apps, tokens

    @property
    def app(self) -> Starlette:
        """The ASGI application (created on first use)."""
        if self._app is None:
            self._app = create_app(self)
        return self._app

    @property
    def dingtalk_v1(self) -> DingTalkV1:
        """The DingTalk v1.0 emulator's state: users (unionIds), events, knobs."""
        return v1(self)

    def add_wecom_app(self, corp_id: str, secret: str) -> str:
        """
        Register a WeCom app (a corp may have several, each with its own
        secret). Returns its app id, which owns the calendars it creates.
        """
        return self._add_app("wecom", corp_id, secret)

    def add_dingtalk_app(self, app_key: str, app_secret: str) -> str:
        """Register a DingTalk internal app; returns its app id."""
        return self._add_app("dingtalk", app_key, app_secret)

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

    def _issue_token(self, provider: str, app_id: str) -> str:
        now = self.clock()
        if provider == "dingtalk":
            # DingTalk: "有效期内重复获取返回相同结果并自动续期" — same token, renewed.
            for token, rec in self._tokens.items():
                if rec.app_id == app_id and rec.dead is None and rec.expires_at > now:
                    rec.expires_at = now + self.token_ttl
                    return token
        # WeCom does not promise idempotent gettoken: hand out a fresh token;
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
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def _new_id(self, kind: str) -> str:
        taken: Mapping[str, Any]
        for _ in range(1000):  # bounded: a collision in 32 random chars is ~never
            if kind == "calendar":
                new = "wcjgew" + self._random(_ID_ALPHABET, 23) + "AAA"
                taken = self.wecom_calendars
            elif kind == "schedule":
                new = self._random("0123456789abcdef", 29) + "AAA"
                taken = self.wecom_schedules
            else:
                new = self._random("0123456789abcdefghijklmnopqrstuv", 26)
                taken = {e: 1 for events in self.dingtalk_events.values() for e in events}
            if new not in taken:
                return new
        raise WecalError("Sandbox: could not find a free id")  # pragma: no cover

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
            cal = copy.deepcopy(dict(calendar))
            cal_id = str(cal.get("cal_id") or self._new_id("calendar"))
            cal["cal_id"] = cal_id
            self.wecom_calendars[cal_id] = cal
            self._calendar_owner[cal_id] = owner
            if default:
                self._default_calendar[owner] = cal_id
            return cal_id

    def add_wecom_schedule(self, schedule: Mapping[str, Any]) -> str:
        """
        Store a schedule directly (no validation; ``cal_id`` must exist);
        returns its ``schedule_id``. It gets the next ``sequence`` number.
        """
        with self._lock:
            sched = copy.deepcopy(dict(schedule))
            if sched.get("cal_id") not in self.wecom_calendars:
                raise ValidationError(
                    f"Sandbox.add_wecom_schedule: unknown cal_id {sched.get('cal_id')!r}"
                )
            sid = str(sched.get("schedule_id") or self._new_id("schedule"))
            sched["schedule_id"] = sid
            self.wecom_schedules[sid] = sched
            self._sequence[sid] = self._next_sequence
            self._next_sequence += 1
            return sid

    def _calendar_listing(self, cal_id: str) -> list[dict[str, Any]]:
        """The calendar's schedules in ``get_by_calendar`` order: start_time, then sequence."""
        rows = [s for s in self.wecom_schedules.values() if s.get("cal_id") == cal_id]
        rows.sort(key=lambda s: (int(s["start_time"]), self._sequence[s["schedule_id"]]))
        return rows

    def wecom_ground_truth(self, cal_id: str) -> list[dict[str, Any]]:
        """
        Every schedule of a calendar, in ``get_by_calendar`` order, as it would
        return them (with ``sequence``; cancelled ones included) — deep copies.
        """
        with self._lock:
            return [
                {**copy.deepcopy(s), "sequence": self._sequence[s["schedule_id"]]}
                for s in self._calendar_listing(cal_id)
            ]

    # ------------------------------------------------------------ DingTalk state

    def add_dingtalk_user(
        self, user_id: str, display_name: str, *, folder_id: str | None = None
    ) -> None:
        """Add a DingTalk staff member (``userid``) with one calendar folder."""
        with self._lock:
            self.dingtalk_users[user_id] = {
                "display_name": display_name,
                "folder_id": folder_id or self._random("0123456789abcdefghijklmnopqrstuv", 26),
            }
            self.dingtalk_events.setdefault(user_id, {})

    def add_dingtalk_event(self, user_id: str, item: Mapping[str, Any]) -> str:
        """
        Store a DingTalk event for ``user_id`` (no validation). ``recurrence``,
        if any, is a clean list of RFC 5545 lines; the API renders it in the
        seed's quirky forms. Returns the event ``id``.
        """
        with self._lock:
            if user_id not in self.dingtalk_users:
                raise ValidationError(f"Sandbox.add_dingtalk_event: unknown user {user_id!r}")
            ev = copy.deepcopy(dict(item))
            ev_id = str(ev.get("id") or self._new_id("event"))
            ev["id"] = ev_id
            ev.setdefault("unique_id", ev_id)
            self.dingtalk_events[user_id][ev_id] = ev
            return ev_id

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
            return list_items(self, user_id, start, end, expand=expand, quirks=False)

    def populate(self, **kwargs: Any) -> Any:
        """Shorthand for :func:`wecal.sandbox.generate` ``(self, **kwargs)``."""
        return generate(self, **kwargs)
