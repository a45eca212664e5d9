"""
The Feishu / Lark calendar v4 emulator served by :mod:`wecal.sandbox`.

State lives in :func:`feishu` ``(sandbox)``: apps, the bot's and users'
calendars, events (masters with an RRULE body, exceptions ``{uid}_{original
start}``), attendees, a version counter for sync tokens. What it reproduces
(``reference/feishu.md`` §11):

- ``tenant_access_token/internal``: a flat answer whose ``expire`` is the
  *remaining* lifetime; the same token while ≥ 30 min remain, a new one below
  that (both stay valid); HTTP 200 ``10003`` / ``10014`` for bad input.
  Business calls take ``Authorization: Bearer``; an unknown, expired or
  revoked token is HTTP 400 ``99991663``, a missing one ``99991661``.
- ``{code, msg, data}`` envelopes, ``error.log_id`` and ``X-Tt-Logid`` on
  every answer, the HTTP status of the calendar error tables.
- The events list in both modes: ``anchor_time`` + ``page_token`` paging
  (page_size 50–1000, default 500) ending with ``has_more: false`` and a
  ``sync_token``; the window mode (``start_time``/``end_time``) returns **one
  batch cut at page_size, no page_token** — the silent truncation a client
  must never use. ``sync_token`` gives what changed since (deletions as
  ``status: "cancelled"``), ``page_size`` at a time, the rest behind a newer
  sync_token (``has_more: true``, no page_token); with ``start_time`` /
  ``end_time`` it is 190009, a foreign or garbled token 190008.
- ``instance_view``: occurrences in a window under 40 days (else 193103),
  fewer than 1000 (else 193104), no paging, cancelled exceptions included.
- Writes: create needs start and end, ``idempotency_key`` 32–128 characters
  replays the first answer per (app, calendar); COUNT with UNTIL is 190002;
  attendees through their own endpoint (≤ 1000 a call); only the organizer
  deletes (193002); a single occurrence without an exception cannot be
  patched (190002); deleting one makes a cancelled exception.
- ``calendars/primary`` (the caller's: the bot's), ``calendars/primarys``
  (1–10 users), ``freebusy/list`` (≤ 90 days, RFC 3339), ``reply``.
- Limits: 50 calls a second and 1000 a minute per app and API (HTTP 429,
  ``99991400``, ``x-ogw-ratelimit-limit`` / ``x-ogw-ratelimit-reset``); an
  optional monthly quota (``monthly_quota``): HTTP 429 ``99991403``.
- All-day events: ``all_day_end_write`` says how a written end date is read
  (``"inclusive"``: the last day, what Feishu's own CLI writes), answers give
  the end exclusive.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import random
import re
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from dateutil import rrule

from ..._zones import zone_for
from .._emulation._faults import FaultKind
from .._emulation._host import EmulatorHost
from .._emulation._json import json_copy
from ._errors import FEISHU_ERRORS

if TYPE_CHECKING:
    from starlette.routing import Route

    from .._emulation._faults import Fault

__all__ = [
    "CREDENTIALS",
    "PROVIDER",
    "RATE_LIMIT_CODE",
    "TOKEN_APIS",
    "FeishuEmulator",
    "api_name",
    "error_body",
    "fault_answer",
    "feishu",
    "paths",
    "populate",
    "request_token",
    "routes",
]

PROVIDER = "feishu"
RATE_LIMIT_CODE = 99991400
#: Token requests not counted by ``Faults.revoke_tokens_after``: none listed,
#: so a token request counts there like any call.
TOKEN_APIS: frozenset[str] = frozenset()
#: The app every fresh emulator knows (``add_app`` adds more).
CREDENTIALS = ("cli_sandboxfeishu01", "sandbox-feishu-app-secret-0123456789")
TOKEN_TTL = 7200
#: With less than this left, the token endpoint hands out a new token.
REUSE_MARGIN = 1800
PER_SECOND = 50
PER_MINUTE = 1000
MAX_VIEW_DAYS = 40
MAX_VIEW_INSTANCES = 1000
MAX_FREE_BUSY_DAYS = 90

_V4 = "/open-apis/calendar/v4"
_STATUS_OF = {
    190002: 400, 190003: 500, 190007: 404, 190008: 400, 190009: 400, 190014: 400,
    191000: 404, 191001: 400, 191002: 403, 193000: 400, 193001: 404, 193002: 403,
    193003: 403, 193103: 400, 193104: 400, 194000: 404, 198003: 400,
    99991400: 429, 99991403: 429, 99991661: 400, 99991663: 400,
}  # fmt: skip
_MESSAGES = {
    190002: "invalid parameters in request",
    190007: "app bot_id not found",
    190008: "page_token or sync_token expired",
    190009: "sync token cannot be used with other request restrictions",
    191000: "calendar not found",
    191002: "no calendar access_role",
    193001: "event not found",
    193002: "no permission to operate event",
    193003: "event deleted",
    193103: "the time range of the query exceeds 40 days",
    193104: "the number of instances exceeds 1000",
    99991400: "request trigger frequency limit",
    99991403: "This month's API call quota has been exceeded",
    99991661: "Missing access token for authorization",
    99991663: "Invalid access token for authorization. Please make a request with token attached.",
}


class FeishuError(Exception):
    """A refusal the emulator answers with ``{code, msg}`` and an HTTP status."""

    def __init__(self, code: int, msg: str | None = None, *, status: int | None = None) -> None:
        self.code = code
        self.msg = msg or _MESSAGES.get(code) or FEISHU_ERRORS[code].meaning
        self.status = status or _STATUS_OF.get(code, 400)
        super().__init__(self.msg)


def _bad(msg: str) -> FeishuError:
    return FeishuError(190002, f"invalid parameters in request: {msg}")


class FeishuEmulator:
    """
    One sandbox's Feishu state. Mutate it between requests to set up a
    scenario; everything is deterministic from the sandbox's seed.
    """

    def __init__(self, sandbox: EmulatorHost) -> None:
        self.sandbox = sandbox
        self.lock = threading.RLock()
        self.apps: dict[str, str] = {CREDENTIALS[0]: CREDENTIALS[1]}
        #: open_id → display name.
        self.users: dict[str, str] = {}
        #: calendar id → calendar object (as the API shows it).
        self.calendars: dict[str, dict[str, Any]] = {}
        #: calendar id → its owner: ``bot:{app_id}`` or an open_id.
        self.owners: dict[str, str] = {}
        #: calendar id → event id → the stored event (exceptions under their own id).
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        #: (calendar id, event id) → attendees.
        self.attendees: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: Whether the app may read users' primary calendars (else 191002;
        #: free/busy still works).
        self.share_user_calendars = True
        #: Switch the bot ability off: every calendar call is 404 190007.
        self.bot_enabled = True
        #: How a written all-day end date is read (answers are exclusive).
        self.all_day_end_write: Literal["inclusive", "exclusive"] = "inclusive"
        #: Feishu documents no order for the events list: None lists by id
        #: (a master before its exceptions), a number shuffles the rows with
        #: that seed (exceptions before their master, across pages).
        self.list_shuffle: int | None = None
        #: 50/s and 1000/min per app and API; False turns the limit off.
        self.rate_limits = True
        #: Calls a month across the tenant's apps (free edition: 10 000); None: no quota.
        self.monthly_quota: int | None = None
        self.calls_this_month: dict[str, int] = {}
        self._tokens: dict[str, tuple[str, float, bool]] = {}
        self._user_tokens: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, tuple[str, float, bool]] = {}
        self._codes: dict[str, str] = {}
        #: Refresh tokens redeemed so far (tests count them).
        self.refreshes = 0
        self._idem: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._version = 0
        self._versions: dict[tuple[str, str], int] = {}
        #: Sorted anchored listings by (calendar, anchor, version, size), for
        #: their later pages: a page costs the same however many events there are.
        self._listings: dict[tuple[str, int | None, int, int], list[dict[str, Any]]] = {}
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._counter = 0
        self._rng_state = sandbox.seed

    # -- ids, clock ---------------------------------------------------------

    def now(self) -> float:
        return float(self.sandbox.clock())

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _uid(self) -> str:
        # Deterministic UUID-shaped ids: seed and counter, hashed.
        digest = hashlib.sha256(f"{self._rng_state}:{self._next()}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def log_id(self) -> str:
        return f"{int(self.now())}{self._next():010d}FEISHU"

    # -- setup helpers (tests, data) ----------------------------------------

    def add_app(self, app_id: str, app_secret: str) -> None:
        with self.lock:
            self.apps[app_id] = app_secret

    def add_user(self, open_id: str, name: str = "") -> str:
        """A user with a primary calendar; returns that calendar's id."""
        with self.lock:
            self.users[open_id] = name or open_id
            return self._primary_of(open_id)

    def _primary_of(self, owner: str) -> str:
        for cal_id, who in self.owners.items():
            if who == owner and self.calendars[cal_id]["type"] == "primary":
                return cal_id
        cal_id = f"feishu.cn_{self._uid().replace('-', '')[:20]}@group.calendar.feishu.cn"
        name = self.users.get(owner, "日历机器人")
        self.calendars[cal_id] = {
            "calendar_id": cal_id,
            "summary": name,
            "description": "",
            "permissions": "private",
            "color": -1,
            "type": "primary",
            "summary_alias": "",
            "is_deleted": False,
            "is_third_party": False,
            "role": "owner",
        }
        self.owners[cal_id] = owner
        self.events[cal_id] = {}
        return cal_id

    def bot_calendar(self, app_id: str = CREDENTIALS[0]) -> str:
        """The app's bot's primary calendar (what ``primary`` means with its token)."""
        with self.lock:
            return self._primary_of(f"bot:{app_id}")

    def add_event(self, calendar_id: str, event: Mapping[str, Any]) -> str:
        """Store an event as given (no checks), stamped with a new version; returns its id."""
        with self.lock:
            stored = copy.deepcopy(dict(event))
            stored.setdefault("event_id", f"{self._uid()}_0")
            stored.setdefault("organizer_calendar_id", calendar_id)
            stored.setdefault("status", "confirmed")
            stored.setdefault("create_time", str(int(self.now())))
            self.events.setdefault(calendar_id, {})[stored["event_id"]] = stored
            self._touch(calendar_id, stored["event_id"])
            return str(stored["event_id"])

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (99991663)."""
        with self.lock:
            self._tokens = {t: (a, exp, True) for t, (a, exp, _) in self._tokens.items()}

    def revoke_token(self, header: str | None) -> None:
        """The ``revoke_token`` fault: the request's bearer token is refused from now on."""
        _scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        with self.lock:
            if token in self._tokens:
                app_id, expires, _dead = self._tokens[token]
                self._tokens[token] = (app_id, expires, True)
            self._user_tokens.pop(token, None)

    def drift(self, calendar_id: str, query: Mapping[str, str]) -> None:
        """
        The ``offset_drift`` fault: an event stored ahead of every other one in
        the events list's order (event ids), inside what the listing's
        ``anchor_time`` covers, before this page is served.
        """
        if calendar_id not in self.events:
            return
        try:
            anchor = int(query.get("anchor_time") or self.now())
        except ValueError:
            return
        event_id = f"00000000-0000-0000-0000-{self._next():012d}_0"
        start = max(anchor, int(self.now()))
        self.add_event(
            calendar_id,
            {
                "event_id": event_id,
                "summary": "插队日程 drift",
                "start_time": {"timestamp": str(start), "timezone": "Asia/Shanghai"},
                "end_time": {"timestamp": str(start + 1800), "timezone": "Asia/Shanghai"},
            },
        )

    def _touch(self, calendar_id: str, event_id: str) -> None:
        self._version += 1
        self._versions[(calendar_id, event_id)] = self._version

    # -- tokens ---------------------------------------------------------------

    def tenant_token(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("app_id") or not body.get("app_secret"):
            return {"code": 10003, "msg": "invalid param", "data": {}}
        app_id, secret = body["app_id"], body["app_secret"]
        if self.apps.get(app_id) is None:
            return {"code": 10014, "msg": "app id not exists"}
        if self.apps[app_id] != secret:
            return {"code": 10014, "msg": "app secret invalid"}
        now = self.now()
        for token, (owner, expires, dead) in self._tokens.items():
            if owner == app_id and not dead and expires - now >= REUSE_MARGIN:
                return {"code": 0, "msg": "ok", "tenant_access_token": token,
                        "expire": int(expires - now)}  # fmt: skip
        token = f"t-{self._uid().replace('-', '')}{self._next():06d}"
        ttl = getattr(self.sandbox, "token_ttl", TOKEN_TTL)
        self._tokens[token] = (app_id, now + ttl, False)
        return {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": int(ttl)}

    def authorize(self, header: str | None) -> str:
        """
        The identity of a good ``Authorization: Bearer`` token: the app id
        (tenant token: the app's bot) or ``user:{open_id}`` (a user token).
        """
        if not header:
            raise FeishuError(99991661)
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        user = self._user_tokens.get(token)
        if user is not None:
            open_id, expires = user
            if self.now() >= expires:
                raise FeishuError(99991677, "token expire", status=401)
            return f"user:{open_id}"
        if token.startswith("u-"):
            raise FeishuError(99991668, "Invalid access token for authorization (user token)")
        found = self._tokens.get(token)
        if found is None or found[2] or self.now() >= found[1]:
            raise FeishuError(99991663)
        return found[0]

    def _owner(self, identity: str) -> str:
        """The owner name of an identity's calendars: ``bot:{app}`` or the open_id."""
        return identity[5:] if identity.startswith("user:") else f"bot:{identity}"

    # -- user tokens (OAuth 2) ----------------------------------------------

    def authorization_code(self, open_id: str) -> str:
        """A one-time code, as Feishu's authorize page gives after the user agrees."""
        with self.lock:
            self.add_user(open_id, self.users.get(open_id, ""))
            code = f"code-{self._uid().replace('-', '')[:24]}"
            self._codes[code] = open_id
            return code

    def oauth_token(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``authen/v2/oauth/token``: a code or a refresh token → tokens (RFC 6749)."""

        def refuse(
            code: int, error: str, why: str, status: int = 400
        ) -> tuple[int, dict[str, Any]]:
            return status, {"code": code, "error": error, "error_description": why}

        if not isinstance(body, dict) or self.apps.get(str(body.get("client_id"))) is None:
            return refuse(20002, "invalid_client", "unknown client_id", 401)
        if self.apps[str(body["client_id"])] != body.get("client_secret"):
            return refuse(20002, "invalid_client", "client_secret does not match", 401)
        grant = body.get("grant_type")
        if grant == "authorization_code":
            open_id = self._codes.pop(str(body.get("code")), None)
            if open_id is None:
                return refuse(20003, "invalid_grant", "the code is unknown or used")
        elif grant == "refresh_token":
            token = str(body.get("refresh_token"))
            found = self._refresh.get(token)
            if found is None:
                return refuse(20064, "invalid_grant", "refresh token revoked")
            open_id, expires, used = found
            if used:
                # Used twice: the credential is gone (Feishu revokes it).
                return refuse(20064, "invalid_grant", "the refresh token can be used once")
            if self.now() >= expires:
                return refuse(20037, "invalid_grant", "refresh token expired")
            self._refresh[token] = (open_id, expires, True)
            self.refreshes += 1
            # The old access token stays valid one more minute.
            for access, (owner, until) in list(self._user_tokens.items()):
                if owner == open_id:
                    self._user_tokens[access] = (owner, min(until, self.now() + 60))
        else:
            return refuse(20001, "unsupported_grant_type", "grant_type")
        now = self.now()
        access = f"u-{self._uid().replace('-', '')}{self._next():06d}"
        refresh = f"r-{self._uid().replace('-', '')}{self._next():06d}"
        self._user_tokens[access] = (open_id, now + TOKEN_TTL)
        self._refresh[refresh] = (open_id, now + 30 * 86_400, False)
        return 200, {
            "code": 0,
            "access_token": access,
            "expires_in": TOKEN_TTL,
            "refresh_token": refresh,
            "refresh_token_expires_in": 30 * 86_400,
            "token_type": "Bearer",
            "scope": "calendar:calendar offline_access",
        }

    def count(self, app_id: str, api: str) -> dict[str, str] | None:
        """Apply the rate limits and the quota to one call; headers of a 429, else None."""
        now = self.now()
        if self.rate_limits:
            calls = self._calls.setdefault((app_id, api), deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            last_second = sum(1 for t in calls if t > now - 1)
            if last_second >= PER_SECOND or len(calls) >= PER_MINUTE:
                window_start = calls[-PER_SECOND] if last_second >= PER_SECOND else calls[0]
                reset = max(
                    1, math.ceil(window_start + (1 if last_second >= PER_SECOND else 60) - now)
                )
                raise _Limited(reset, PER_SECOND if last_second >= PER_SECOND else PER_MINUTE)
            calls.append(now)
        if self.monthly_quota is not None:
            month = datetime.fromtimestamp(now, UTC).strftime("%Y-%m")
            used = self.calls_this_month.get(month, 0)
            if used >= self.monthly_quota:
                raise FeishuError(99991403)
            self.calls_this_month[month] = used + 1
        return None

    # -- calendars ------------------------------------------------------------

    def calendar(self, app_id: str, cal: str, *, events: bool = True) -> str:
        """The calendar a path names (``primary``: the bot's), checked for access."""
        if not self.bot_enabled:
            raise FeishuError(190007)
        me = self._owner(app_id)
        cal_id = self._primary_of(me) if cal == "primary" else cal
        if cal_id not in self.calendars:
            raise FeishuError(191000)
        owner = self.owners[cal_id]
        if (
            events
            and owner != me
            and not owner.startswith("bot:")
            and not self.share_user_calendars
        ):
            raise FeishuError(191002)
        return cal_id

    def primarys(self, body: Any) -> dict[str, Any]:
        ids = body.get("user_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 10:
            raise _bad("user_ids must hold 1 to 10 ids")
        out = []
        for uid in ids:
            if isinstance(uid, str) and uid in self.users:
                out.append({"calendar": self.calendars[self._primary_of(uid)], "user_id": uid})
        return {"calendars": out}

    def list_calendars(self, app_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        size = _int(query, "page_size", 500, 50, 1000)
        me = self._owner(app_id)
        self._primary_of(me)
        visible = [
            c for cid, c in self.calendars.items()
            if self.owners[cid] == me or self.share_user_calendars
        ]  # fmt: skip
        offset = _offset(query.get("page_token"), "calendars")
        page = visible[offset : offset + size]
        more = offset + size < len(visible)
        data: dict[str, Any] = {"has_more": more, "calendar_list": page}
        if more:
            data["page_token"] = _token({"k": "calendars", "o": offset + size})
        data["sync_token"] = _token({"k": "calendars-sync", "v": self._version})
        return data

    # -- events: reading --------------------------------------------------------

    def _render(self, cal_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        # A copy (an answer must not change with a later write) of what a listing
        # shows, attendees left out; by a JSON round trip, see _emulation/_json.py.
        return json_copy({k: v for k, v in stored.items() if k != "attendees"})

    def _live(self, cal_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events.get(cal_id, {}).values() if not e.get("_deleted")]

    def list_events(self, cal_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        size = _int(query, "page_size", 500, 50, 1000)
        sync_token = query.get("sync_token")
        windowed = "start_time" in query or "end_time" in query
        if sync_token:
            if windowed or "anchor_time" in query:
                raise FeishuError(190009)
            since = _read_token(sync_token, "sync", cal_id).get("v")
            if not isinstance(since, int):
                raise FeishuError(190008)
            changed = sorted(
                (
                    (self._versions[(cal_id, eid)], e)
                    for eid, e in self.events.get(cal_id, {}).items()
                    if self._versions.get((cal_id, eid), 0) > since
                ),
                key=lambda pair: pair[0],
            )
            batch = changed[:size]
            items = [self._render(cal_id, e) for _, e in batch]
            for item, (_, e) in zip(items, batch, strict=True):
                if e.get("_deleted"):
                    item["status"] = "cancelled"
            more = len(changed) > size
            upto = batch[-1][0] if more else max(self._version, since)
            return {
                "has_more": more,
                "items": items,
                "sync_token": _token({"k": "sync", "c": cal_id, "v": upto}),
            }
        if windowed:
            if "anchor_time" in query or "page_token" in query:
                raise _bad("start_time/end_time cannot be used with anchor_time or page_token")
            lo = _int(query, "start_time", 0, 0, 2**40)
            hi = _int(query, "end_time", 2**40, 0, 2**40)
            hits = [e for e in self._live(cal_id) if _overlaps_raw(e, lo, hi)]
            hits.sort(key=lambda e: (_start_seconds(e), e["event_id"]))
            # The documented trap: one batch, cut at page_size, no page_token.
            return {"has_more": False, "items": [self._render(cal_id, e) for e in hits[:size]]}
        anchor = _int(query, "anchor_time", 0, 0, 2**40) if "anchor_time" in query else None
        page_token = query.get("page_token")
        if page_token and anchor is None:
            raise _bad("page_token needs anchor_time")
        offset = 0
        if page_token:
            data = _read_token(page_token, "page", cal_id)
            read_offset, read_anchor = data.get("o"), data.get("a")
            if not isinstance(read_offset, int) or not isinstance(read_anchor, int):
                raise FeishuError(190008)
            offset, anchor = read_offset, read_anchor
        stored = self.events.get(cal_id, {})
        version = (cal_id, anchor, self._version, len(stored))
        cached = self._listings.get(version) if offset else None
        if cached is None:
            rows = [e for e in stored.values() if _anchored(e, anchor)]
            rows.sort(key=lambda e: e["event_id"])
            if self.list_shuffle is not None:
                random.Random(self.list_shuffle).shuffle(rows)
            if len(self._listings) >= 64:
                self._listings.pop(next(iter(self._listings)))  # the oldest listing
            self._listings[version] = rows
        else:
            rows = cached
        page = rows[offset : offset + size]
        more = offset + size < len(rows)
        out: dict[str, Any] = {"has_more": more, "items": [self._render(cal_id, e) for e in page]}
        if anchor is None:
            return out  # neither anchor nor window: one page, nothing to continue with
        if more:
            out["page_token"] = _token({"k": "page", "c": cal_id, "o": offset + size, "a": anchor})
        else:
            out["sync_token"] = _token({"k": "sync", "c": cal_id, "v": self._version})
        return out

    def occurrences(self, cal_id: str, lo: int, hi: int) -> list[dict[str, Any]]:
        """Every instance overlapping ``[lo, hi]`` (epoch seconds), cancelled ones included."""
        stored = self._live(cal_id)
        exceptions = {e["event_id"]: e for e in stored if _suffix(e["event_id"])}
        out: list[dict[str, Any]] = []
        for event in stored:
            if _suffix(event["event_id"]):
                if _overlaps_raw(event, lo, hi):
                    out.append(self._instance(cal_id, event, exception=True))
                continue
            if not event.get("recurrence"):
                if _overlaps_raw(event, lo, hi):
                    out.append(self._instance(cal_id, event, exception=False))
                continue
            uid = event["event_id"].rpartition("_")[0]
            length = _end_seconds(event) - _start_seconds(event)
            for when in _expand(event, lo - length, hi):
                original = int(when.timestamp())
                eid = f"{uid}_{original}"
                if eid in exceptions:
                    continue  # the exception stands for it (listed above when it overlaps)
                begin, end = original, original + length
                if not (begin < hi and end > lo) and not (begin == end and lo <= begin < hi):
                    continue
                instance = self._instance(cal_id, event, exception=False)
                instance["event_id"] = eid
                instance["recurring_event_id"] = event["event_id"]
                _set_bounds(instance, event, begin, end)
                out.append(instance)
                if len(out) > MAX_VIEW_INSTANCES:
                    raise FeishuError(193104)
        if len(out) >= MAX_VIEW_INSTANCES:
            raise FeishuError(193104)
        out.sort(key=lambda e: (_start_seconds(e), e["event_id"]))
        return out

    def _instance(
        self, cal_id: str, event: Mapping[str, Any], *, exception: bool
    ) -> dict[str, Any]:
        out = self._render(cal_id, event)
        out.pop("recurrence", None)
        out["is_exception"] = exception
        return out

    def instance_view(self, cal_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        lo = _int(query, "start_time", None, 0, 2**40)
        hi = _int(query, "end_time", None, 0, 2**40)
        if hi <= lo:
            raise _bad("end_time must be after start_time")
        if hi - lo >= MAX_VIEW_DAYS * 86_400:
            raise FeishuError(193103)
        return {"items": self.occurrences(cal_id, lo, hi)}

    def get(self, cal_id: str, event_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        stored = self.events.get(cal_id, {}).get(event_id)
        if stored is None:
            raise FeishuError(193001)
        if stored.get("_deleted"):
            raise FeishuError(193003)
        out = self._render(cal_id, stored)
        if query.get("need_attendee") == "true":
            limit = _int(query, "max_attendee_num", 10, 1, 100)
            people = self.attendees.get((cal_id, event_id), [])
            out["attendees"] = copy.deepcopy(people[:limit])
            out["has_more_attendee"] = len(people) > limit
        return {"event": out}

    # -- events: writing --------------------------------------------------------

    def _check_body(self, body: Any, *, create: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        if create and (
            not isinstance(body.get("start_time"), dict)
            or not isinstance(body.get("end_time"), dict)
        ):
            raise _bad("start_time and end_time are required")
        summary = body.get("summary")
        if summary is not None and (not isinstance(summary, str) or len(summary) > 1000):
            raise _bad("summary must be at most 1000 characters")
        rule = body.get("recurrence")
        if rule:
            if not isinstance(rule, str) or len(rule) > 2000 or rule.upper().startswith("RRULE:"):
                raise _bad("recurrence must be an RRULE body without RRULE:")
            parts = {p.partition("=")[0].upper() for p in rule.split(";")}
            if "COUNT" in parts and "UNTIL" in parts:
                raise _bad("COUNT and UNTIL cannot both be set")
            try:
                rrule.rrulestr(
                    f"RRULE:{_until_utc(rule)}", dtstart=datetime(2024, 1, 1, tzinfo=UTC)
                )
            except (ValueError, TypeError):
                raise _bad(f"recurrence {rule!r} is not a rule") from None
        for key in ("start_time", "end_time"):
            if key in body:
                _check_time(body[key], key)
        for i, item in enumerate(body.get("reminders") or []):
            minutes = item.get("minutes") if isinstance(item, dict) else None
            if type(minutes) is not int or not -20160 <= minutes <= 20160:
                raise _bad(f"reminders[{i}].minutes out of range")
        return body

    def _apply(self, stored: dict[str, Any], body: Mapping[str, Any]) -> None:
        for key in ("summary", "description", "location", "reminders", "recurrence", "vchat",
                    "visibility", "free_busy_status", "color", "attendee_ability"):  # fmt: skip
            if key in body:
                stored[key] = copy.deepcopy(body[key])
        if "start_time" in body and "end_time" in body:
            start, end = copy.deepcopy(body["start_time"]), copy.deepcopy(body["end_time"])
            if start.get("date"):
                start, end = (
                    {"date": start["date"], "timezone": "UTC"},
                    {"date": end["date"], "timezone": "UTC"},
                )
                if self.all_day_end_write == "inclusive":
                    last = date.fromisoformat(end["date"]) + timedelta(days=1)
                    end["date"] = last.isoformat()
            else:
                start.setdefault("timezone", "Asia/Shanghai")
                end.setdefault("timezone", start["timezone"])
            stored["start_time"], stored["end_time"] = start, end
        if _end_seconds(stored) < _start_seconds(stored):
            raise _bad("end_time is before start_time")

    def create(
        self, app_id: str, cal_id: str, query: Mapping[str, str], body: Any
    ) -> dict[str, Any]:
        key = query.get("idempotency_key")
        if key is not None and not 32 <= len(key) <= 128:
            raise _bad("idempotency_key must be 32 to 128 characters")
        if key is not None and (app_id, cal_id, key) in self._idem:
            return copy.deepcopy(self._idem[(app_id, cal_id, key)])
        body = self._check_body(body, create=True)
        owner = self.owners[cal_id]
        stored: dict[str, Any] = {
            "event_id": f"{self._uid()}_0",
            "organizer_calendar_id": cal_id,
            "summary": "",
            "description": "",
            "status": "confirmed",
            "is_exception": False,
            "visibility": "default",
            "free_busy_status": "busy",
            "color": -1,
            "reminders": [],
            "create_time": str(int(self.now())),
            "event_organizer": {
                "user_id": "" if owner.startswith("bot:") else owner,
                "display_name": self.users.get(owner, "日历机器人"),
            },
        }
        self._apply(stored, body)
        self.events[cal_id][stored["event_id"]] = stored
        self._touch(cal_id, stored["event_id"])
        answer = {"event": self._render(cal_id, stored)}
        if key is not None:
            self._idem[(app_id, cal_id, key)] = copy.deepcopy(answer)
        return answer

    def _organizer(self, app_id: str, cal_id: str, stored: Mapping[str, Any]) -> None:
        organizer_cal = stored.get("organizer_calendar_id", cal_id)
        if self.owners.get(organizer_cal) != self._owner(app_id):
            raise FeishuError(193002)

    def patch(self, app_id: str, cal_id: str, event_id: str, body: Any) -> dict[str, Any]:
        stored = self.events.get(cal_id, {}).get(event_id)
        if stored is None:
            if _suffix(event_id):
                raise _bad("an occurrence without an exception cannot be patched on its own")
            raise FeishuError(193001)
        if stored.get("_deleted"):
            raise FeishuError(193003)
        self._organizer(app_id, cal_id, stored)
        self._apply(stored, self._check_body(body, create=False))
        self._touch(cal_id, event_id)
        return {"event": self._render(cal_id, stored)}

    def delete(self, app_id: str, cal_id: str, event_id: str) -> dict[str, Any]:
        stored = self.events.get(cal_id, {}).get(event_id)
        uid, original = event_id.rpartition("_")[0], _suffix(event_id)
        if stored is None and original:
            master = self.events.get(cal_id, {}).get(f"{uid}_0")
            if master is None or master.get("_deleted") or not master.get("recurrence"):
                raise FeishuError(193001)
            self._organizer(app_id, cal_id, master)
            # Removing one occurrence: a cancelled exception.
            stored = self._instance(cal_id, master, exception=True)
            stored["event_id"] = event_id
            stored["recurring_event_id"] = master["event_id"]
            length = _end_seconds(master) - _start_seconds(master)
            _set_bounds(stored, master, original, original + length)
            stored["status"] = "cancelled"
            self.events[cal_id][event_id] = stored
            self._touch(cal_id, event_id)
            return {}
        if stored is None:
            raise FeishuError(193001)
        if stored.get("_deleted"):
            raise FeishuError(193003)
        self._organizer(app_id, cal_id, stored)
        stored["_deleted"] = True
        stored["status"] = "cancelled"
        self._touch(cal_id, event_id)
        return {}

    def reply(self, cal_id: str, event_id: str, body: Any) -> dict[str, Any]:
        status = body.get("rsvp_status") if isinstance(body, dict) else None
        if status not in ("accept", "decline", "tentative"):
            raise _bad("rsvp_status must be accept, decline or tentative")
        stored = self.events.get(cal_id, {}).get(event_id)
        if stored is None or stored.get("_deleted"):
            raise FeishuError(193001)
        stored["self_rsvp_status"] = status
        self._touch(cal_id, event_id)
        return {}

    def add_attendees(self, cal_id: str, event_id: str, body: Any) -> dict[str, Any]:
        stored = self.events.get(cal_id, {}).get(event_id)
        if stored is None or stored.get("_deleted"):
            raise FeishuError(193001)
        items = body.get("attendees") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 1000:
            raise _bad("attendees must hold 1 to 1000 items")
        if sum(1 for a in items if isinstance(a, dict) and a.get("type") == "resource") > 100:
            raise _bad("at most 100 rooms a call")
        people = self.attendees.setdefault((cal_id, event_id), [])
        known = {_attendee_key(a) for a in people}
        for item in items:
            if not isinstance(item, dict) or item.get("type") not in (
                "user", "chat", "resource", "third_party",
            ):  # fmt: skip
                raise FeishuError(194004, "invalid attendee type")
            key = _attendee_key(item)
            if not key[1]:
                raise _bad("an attendee without an id")
            if key in known:
                continue
            known.add(key)
            person = {
                **copy.deepcopy(item),
                "attendee_id": f"{item['type']}_{self._next()}",
                "rsvp_status": "needs_action",
                "is_optional": bool(item.get("is_optional")),
                "is_organizer": False,
                "is_external": item["type"] == "third_party",
                "display_name": self.users.get(str(item.get("user_id")), ""),
            }
            people.append(person)
        if len(people) > 3000:
            raise _bad("at most 3000 attendees an event")
        self._touch(cal_id, event_id)
        return {"attendees": copy.deepcopy(people)}

    def list_attendees(
        self, cal_id: str, event_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        if event_id not in self.events.get(cal_id, {}):
            raise FeishuError(193001)
        size = _int(query, "page_size", 20, 10, 100)
        people = self.attendees.get((cal_id, event_id), [])
        offset = _offset(query.get("page_token"), "attendees")
        page = people[offset : offset + size]
        more = offset + size < len(people)
        data: dict[str, Any] = {"items": copy.deepcopy(page), "has_more": more}
        if more:
            data["page_token"] = _token({"k": "attendees", "o": offset + size})
        return data

    def delete_attendees(self, cal_id: str, event_id: str, body: Any) -> dict[str, Any]:
        if event_id not in self.events.get(cal_id, {}):
            raise FeishuError(193001)
        body = body if isinstance(body, dict) else {}
        ids = body.get("attendee_ids") or []
        others = body.get("delete_ids") or []
        if (
            not isinstance(ids, list)
            or not isinstance(others, list)
            or len(ids) + len(others) > 500
        ):
            raise _bad("at most 500 attendees a call")
        gone = {_attendee_key(a) for a in others if isinstance(a, dict)}
        people = self.attendees.get((cal_id, event_id), [])
        self.attendees[(cal_id, event_id)] = [
            a for a in people if a["attendee_id"] not in ids and _attendee_key(a) not in gone
        ]
        self._touch(cal_id, event_id)
        return {}

    def freebusy(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        try:
            lo = datetime.fromisoformat(str(body.get("time_min")))
            hi = datetime.fromisoformat(str(body.get("time_max")))
        except ValueError:
            raise FeishuError(198002, "invalid time format") from None
        if lo.utcoffset() is None or hi.utcoffset() is None:
            raise FeishuError(198002, "invalid time format")
        if not lo < hi or hi - lo > timedelta(days=MAX_FREE_BUSY_DAYS):
            raise FeishuError(198003, "invalid time range")
        user = body.get("user_id")
        if not isinstance(user, str) or user not in self.users:
            raise FeishuError(195100, "user not in tenant", status=404)
        cal_id = self._primary_of(user)
        zone = ZoneInfo("Asia/Shanghai")
        busy = []
        for item in self.occurrences(cal_id, int(lo.timestamp()), int(hi.timestamp())):
            if item.get("status") == "cancelled" or item.get("free_busy_status") == "free":
                continue
            busy.append(
                {
                    "start_time": datetime.fromtimestamp(_start_seconds(item), zone).isoformat(),
                    "end_time": datetime.fromtimestamp(_end_seconds(item), zone).isoformat(),
                }
            )
        return {"freebusy_list": busy}


class _Limited(Exception):
    def __init__(self, reset: int, limit: int) -> None:
        self.reset = reset
        self.limit = limit
        super().__init__("rate limited")


# -- helpers ---------------------------------------------------------------------

_TOKEN_PREFIX = "feishu-sandbox."


def _token(data: Mapping[str, Any]) -> str:
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _read_token(token: str, kind: str, cal_id: str) -> dict[str, Any]:
    if not token.startswith(_TOKEN_PREFIX):
        raise FeishuError(190008)
    try:
        data = json.loads(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :]))
    except (ValueError, binascii.Error):
        raise FeishuError(190008) from None
    if not isinstance(data, dict) or data.get("k") != kind or data.get("c") != cal_id:
        raise FeishuError(190008)
    return data


def _offset(token: str | None, kind: str) -> int:
    if not token:
        return 0
    if not token.startswith(_TOKEN_PREFIX):
        raise FeishuError(190008)
    try:
        data = json.loads(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :]))
    except (ValueError, binascii.Error):
        raise FeishuError(190008) from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("o"), int):
        raise FeishuError(190008)
    return int(data["o"])


def _int(query: Mapping[str, str], key: str, default: int | None, lo: int, hi: int) -> int:
    raw = query.get(key)
    if raw is None:
        if default is None:
            raise _bad(f"{key} is required")
        return default
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _bad(f"{key} must be an integer in {lo}..{hi}")
    return int(raw)


def _check_time(info: Any, key: str) -> None:
    if not isinstance(info, dict):
        raise _bad(f"{key} must be an object")
    stamp, day = info.get("timestamp"), info.get("date")
    if stamp:
        if not isinstance(stamp, str) or not stamp.isdigit() or not 1 <= int(stamp) <= 16725225600:
            raise _bad(f"{key}.timestamp must be epoch seconds as a string")
        zone = info.get("timezone")
        if zone is not None and (not isinstance(zone, str) or zone_for(zone) is None):
            raise _bad(f"{key}.timezone is unknown")
    elif day:
        try:
            date.fromisoformat(str(day))
        except ValueError:
            raise _bad(f"{key}.date must be YYYY-MM-DD") from None
    else:
        raise _bad(f"{key} needs timestamp or date")


def _suffix(event_id: str) -> int:
    tail = event_id.rpartition("_")[2]
    return int(tail) if tail.isascii() and tail.isdigit() else 0


def _start_seconds(event: Mapping[str, Any]) -> int:
    return _seconds_of(event["start_time"])


def _end_seconds(event: Mapping[str, Any]) -> int:
    return _seconds_of(event["end_time"])


def _seconds_of(info: Mapping[str, Any]) -> int:
    if info.get("timestamp"):
        return int(info["timestamp"])
    day = date.fromisoformat(info["date"])
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _set_bounds(target: dict[str, Any], model: Mapping[str, Any], begin: int, end: int) -> None:
    if model["start_time"].get("date"):

        def day(s: int) -> str:
            return datetime.fromtimestamp(s, UTC).date().isoformat()

        target["start_time"] = {"date": day(begin), "timezone": "UTC"}
        target["end_time"] = {"date": day(end), "timezone": "UTC"}
    else:
        zone = model["start_time"].get("timezone", "Asia/Shanghai")
        target["start_time"] = {"timestamp": str(begin), "timezone": zone}
        target["end_time"] = {
            "timestamp": str(end),
            "timezone": model["end_time"].get("timezone", zone),
        }


def _overlaps_raw(event: Mapping[str, Any], lo: int, hi: int) -> bool:
    begin, end = _start_seconds(event), _end_seconds(event)
    return (begin < hi and end > lo) or (begin == end and lo <= begin < hi)


def _anchored(event: Mapping[str, Any], anchor: int | None) -> bool:
    """What ``anchor_time`` lists: all series, singles ending after it, exceptions after it."""
    if event.get("_deleted"):
        return False
    if anchor is None:
        return True
    if event.get("recurrence") and not _suffix(event["event_id"]):
        return True  # every series, even one that ended before the anchor
    original = _suffix(event["event_id"])
    return _end_seconds(event) >= anchor or (original > 0 and original >= anchor)


def _until_utc(rule: str) -> str:
    # A date-only UNTIL with an aware start: dateutil wants it in UTC.
    return re.sub(r"UNTIL=(\d{8})(?=;|$)", r"UNTIL=\1T235959Z", rule, flags=re.IGNORECASE)


def _expand(event: Mapping[str, Any], lo: int, hi: int) -> list[datetime]:
    """A master's occurrence starts in ``[lo, hi)`` (dateutil; the wall clock of its zone)."""
    start_info = event["start_time"]
    if start_info.get("date"):
        tz: Any = UTC
    else:
        tz = zone_for(start_info.get("timezone") or "Asia/Shanghai") or UTC
    dtstart = datetime.fromtimestamp(_start_seconds(event), tz)
    text = _until_utc(event["recurrence"])
    rules: Any = rrule.rrulestr(f"RRULE:{text}", dtstart=dtstart)
    if rules.after(dtstart, inc=True) != dtstart:
        # The event's start is its first instance (RFC 5545: DTSTART is in the
        # set and counts toward COUNT even where the rule does not match it).
        count = re.search(r"COUNT=(\d+)", text, flags=re.IGNORECASE)
        rest = rrule.rruleset()
        if count is None or int(count[1]) > 1:
            if count is not None:
                text = re.sub(r"COUNT=\d+", f"COUNT={int(count[1]) - 1}", text, flags=re.I)
            single = rrule.rrulestr(f"RRULE:{text}", dtstart=dtstart)
            assert isinstance(single, rrule.rrule)  # one RRULE line: never a set
            rest.rrule(single)
        rest.rdate(dtstart)
        rules = rest
    after = datetime.fromtimestamp(lo, UTC)
    before = datetime.fromtimestamp(hi, UTC)
    found: list[datetime] = []
    for when in rules.xafter(after, inc=True):
        if when >= before:
            break
        found.append(when)
        if len(found) > MAX_VIEW_INSTANCES:
            break
    return found


def _attendee_key(item: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(item.get("type", ""))
    field = {"user": "user_id", "chat": "chat_id", "resource": "room_id",
             "third_party": "third_party_email"}.get(kind, "user_id")  # fmt: skip
    return kind, str(item.get(field) or "")


# -- per-sandbox state -------------------------------------------------------------


def feishu(sandbox: EmulatorHost) -> FeishuEmulator:
    """The Feishu state of ``sandbox`` (made on first use, under the registry name)."""
    return sandbox.state("feishu", FeishuEmulator)


# -- routes -----------------------------------------------------------------------

_CAL = r"/calendars/(?P<cal>[^/]+)"
_EVENT = _CAL + r"/events/(?P<event>[^/]+)"
_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    # (method, regex, starlette path, api name)
    ("POST", r"/open-apis/auth/v3/tenant_access_token/internal",
     "/open-apis/auth/v3/tenant_access_token/internal", "feishu.auth.tenant_access_token"),
    ("POST", r"/open-apis/authen/v2/oauth/token",
     "/open-apis/authen/v2/oauth/token", "feishu.authen.oauth_token"),
    ("POST", _V4 + r"/calendars/primary", _V4 + "/calendars/primary", "feishu.calendars.primary"),
    ("POST", _V4 + r"/calendars/primarys",
     _V4 + "/calendars/primarys", "feishu.calendars.primarys"),
    ("POST", _V4 + r"/freebusy/list", _V4 + "/freebusy/list", "feishu.freebusy.list"),
    ("GET", _V4 + r"/calendars", _V4 + "/calendars", "feishu.calendars.list"),
    ("GET", _V4 + _CAL + r"/events/instance_view",
     _V4 + "/calendars/{cal}/events/instance_view", "feishu.events.instance_view"),
    ("GET", _V4 + _CAL + r"/events", _V4 + "/calendars/{cal}/events", "feishu.events.list"),
    ("POST", _V4 + _CAL + r"/events", _V4 + "/calendars/{cal}/events", "feishu.events.create"),
    ("GET", _V4 + _EVENT + r"/attendees",
     _V4 + "/calendars/{cal}/events/{event}/attendees", "feishu.attendees.list"),
    ("POST", _V4 + _EVENT + r"/attendees/batch_delete",
     _V4 + "/calendars/{cal}/events/{event}/attendees/batch_delete", "feishu.attendees.delete"),
    ("POST", _V4 + _EVENT + r"/attendees",
     _V4 + "/calendars/{cal}/events/{event}/attendees", "feishu.attendees.create"),
    ("POST", _V4 + _EVENT + r"/reply",
     _V4 + "/calendars/{cal}/events/{event}/reply", "feishu.events.reply"),
    ("GET", _V4 + _EVENT, _V4 + "/calendars/{cal}/events/{event}", "feishu.events.get"),
    ("PATCH", _V4 + _EVENT, _V4 + "/calendars/{cal}/events/{event}", "feishu.events.patch"),
    ("DELETE", _V4 + _EVENT, _V4 + "/calendars/{cal}/events/{event}", "feishu.events.delete"),
    ("GET", _V4 + _CAL, _V4 + "/calendars/{cal}", "feishu.calendars.get"),
)  # fmt: skip
_COMPILED = tuple((m, re.compile(f"^{r}$"), name) for m, r, _, name in _ROUTES)


def _match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for verb, pattern, name in _COMPILED:
        found = pattern.match(path)
        if found is not None and verb == method:
            return name, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def api_name(path: str, method: str = "GET") -> str | None:
    """The API a request calls (``feishu.events.list``), None when not Feishu's."""
    hit = _match(method, path)
    return None if hit is None else hit[0]


def paths() -> list[str]:
    """The Starlette paths served."""
    return list(dict.fromkeys(p for _, _, p, _ in _ROUTES))


def _envelope(state: FeishuEmulator, code: int, msg: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if code == 0:
        body["data"] = {} if data is None else data
    else:
        body["error"] = {"log_id": state.log_id()}
    return body


def fault_answer(sandbox: EmulatorHost, fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """
    The HTTP status, body and headers of an injected error (busy, rate
    limited, any code). A rate-limited answer carries the gateway's
    ``x-ogw-ratelimit-*`` headers, as the emulator's own limit does: the
    per-second band, reset in one second.
    """
    state = feishu(sandbox)
    kind = str(fault.kind)
    headers: dict[str, str] = {}
    if kind == "busy":
        code = 190003
    elif kind == "rate_limited":
        code = RATE_LIMIT_CODE
        headers = {"x-ogw-ratelimit-limit": str(PER_SECOND), "x-ogw-ratelimit-reset": "1"}
    else:
        code = int(fault.errcode or 190003)
    status = _STATUS_OF.get(code, 500 if code in (190003, 1500, 5000) else 400)
    rule = FEISHU_ERRORS.get(code)
    msg = fault.errmsg or _MESSAGES.get(code) or (rule.meaning if rule else "error")
    return status, _envelope(state, code, msg), headers


def request_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The ``Authorization: Bearer`` token (the emulator keeps its tokens in its own state)."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def error_body(sandbox: EmulatorHost, code: int) -> dict[str, Any]:
    state = feishu(sandbox)
    return _envelope(state, code, _MESSAGES.get(code, "error"))


def _serve(
    state: FeishuEmulator,
    name: str,
    params: Mapping[str, str],
    query: Mapping[str, str],
    body: Any,
    authorization: str | None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One call (the caller holds the lock): (status, body, extra headers)."""
    if name == "feishu.auth.tenant_access_token":
        return 200, state.tenant_token(body), {}
    if name == "feishu.authen.oauth_token":
        status, answer = state.oauth_token(body)
        return status, answer, {}
    try:
        app_id = state.authorize(authorization)
        state.count(app_id, name)
        data = _dispatch(state, app_id, name, params, query, body)
    except _Limited as limited:
        headers = {"x-ogw-ratelimit-limit": str(limited.limit),
                   "x-ogw-ratelimit-reset": str(limited.reset)}  # fmt: skip
        return 429, _envelope(state, RATE_LIMIT_CODE, _MESSAGES[RATE_LIMIT_CODE]), headers
    except FeishuError as exc:
        return exc.status, _envelope(state, exc.code, exc.msg), {}
    return 200, _envelope(state, 0, "success", data), {}


def _dispatch(
    state: FeishuEmulator,
    app_id: str,
    name: str,
    params: Mapping[str, str],
    query: Mapping[str, str],
    body: Any,
) -> Any:
    if name == "feishu.calendars.primary":
        cal_id = state.calendar(app_id, "primary", events=False)
        return {"calendars": [{"calendar": state.calendars[cal_id], "user_id": ""}]}
    if name == "feishu.calendars.primarys":
        return state.primarys(body)
    if name == "feishu.calendars.list":
        return state.list_calendars(app_id, query)
    if name == "feishu.freebusy.list":
        return state.freebusy(body)
    if name == "feishu.calendars.get":
        return state.calendars[state.calendar(app_id, params["cal"], events=False)]
    cal_id = state.calendar(app_id, params["cal"])
    event = params.get("event", "")
    if name == "feishu.events.list":
        return state.list_events(cal_id, query)
    if name == "feishu.events.instance_view":
        return state.instance_view(cal_id, query)
    if name == "feishu.events.get":
        return state.get(cal_id, event, query)
    if name == "feishu.events.create":
        return state.create(app_id, cal_id, query, body)
    if name == "feishu.events.patch":
        return state.patch(app_id, cal_id, event, body)
    if name == "feishu.events.delete":
        return state.delete(app_id, cal_id, event)
    if name == "feishu.events.reply":
        return state.reply(cal_id, event, body)
    if name == "feishu.attendees.create":
        return state.add_attendees(cal_id, event, body)
    if name == "feishu.attendees.list":
        return state.list_attendees(cal_id, event, query)
    if name == "feishu.attendees.delete":
        return state.delete_attendees(cal_id, event, body)
    raise FeishuError(190002, f"unknown api {name}")  # pragma: no cover


def routes(sandbox: EmulatorHost, *_app_helpers: Any) -> list[Route]:
    """Starlette routes serving Feishu calendar v4 from ``sandbox``."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    state = feishu(sandbox)

    async def endpoint(request: Request) -> Response:
        hit = _match(request.method, request.url.path)
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        headers: dict[str, str]
        injected = request.scope.get("state", {})
        fault = injected.get("sandbox_fault")
        with state.lock:
            if fault is not None and fault.kind is FaultKind.REVOKE_TOKEN:
                state.revoke_token(request.headers.get("authorization"))
            if hit is None:  # pragma: no cover - routes only serve matched paths
                status, data, headers = 404, _envelope(state, 190002, "not an API"), {}
            else:
                name, params = hit
                if injected.get("sandbox_drift") and name == "feishu.events.list":
                    state.drift(params.get("cal", ""), request.query_params)
                status, data, headers = _serve(
                    state, name, params, dict(request.query_params), body,
                    request.headers.get("authorization"),
                )  # fmt: skip
            log_id = state.log_id()
        outcome = request.scope.get("state", {}).get("sandbox_outcome")
        if outcome is not None:
            outcome["errcode"] = data.get("code") or None
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(
            payload,
            status_code=status,
            media_type="application/json; charset=utf-8",
            headers={"x-tt-logid": log_id, **headers},
        )

    return [Route(p, endpoint, methods=["GET", "POST", "PATCH", "DELETE"]) for p in paths()]


# -- demo data ----------------------------------------------------------------------

_TITLES = ("周会 weekly sync", "需求评审", "1:1 with 李四", "客户拜访 🚗", "项目复盘", "团建",
           "招聘面试", "季度规划 Q3", "午餐会", "技术分享：日历同步")  # fmt: skip
_SHANGHAI = ZoneInfo("Asia/Shanghai")
_NAMES = ("张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十")


def populate(
    sandbox: EmulatorHost, *, seed: int = 0, sources: int = 2, size: int = 20
) -> tuple[str, ...]:
    """
    Fill ``sandbox`` with ``sources`` users' primary calendars (shared with
    the app) of ``size`` listed items each: a weekly series with a moved and a
    cancelled exception, timed and all-day events, attendees with every
    answer, Chinese text. Returns the calendar ids. Deterministic from ``seed``.
    """
    state = feishu(sandbox)
    rng = random.Random(f"feishu-demo:{seed}")
    # From 09:00 today in Shanghai (by the sandbox clock), as the other
    # providers' demo data: a week back, seven weeks ahead.
    today = datetime.fromtimestamp(sandbox.clock(), _SHANGHAI)
    base = today.replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=7)
    with state.lock:
        # Every calendar before any event: their ids do not change with ``size``.
        users = [f"ou_demo_{seed}_{s}" for s in range(sources)]
        calendars = [state.add_user(user, _NAMES[s % len(_NAMES)]) for s, user in enumerate(users)]
        for s, (user, cal) in enumerate(zip(users, calendars, strict=True)):
            k = 0
            if size >= 3:
                start = base + timedelta(days=rng.randrange(0, 7), hours=rng.randrange(0, 8))
                master = state.add_event(
                    cal,
                    {
                        **_demo_times(start, start + timedelta(hours=1)),
                        "summary": _TITLES[0],
                        "description": "每周同步进展 <b>议程</b> 见文档",
                        "recurrence": "FREQ=WEEKLY;COUNT=12",
                        "reminders": [{"minutes": 15}],
                        "vchat": {"vc_type": "vc", "meeting_url": "vc.feishu.cn/j/152568231"},
                    },
                )
                uid = master.removesuffix("_0")
                moved = start + timedelta(weeks=2)
                state.add_event(
                    cal,
                    {
                        **_demo_times(moved + timedelta(hours=2), moved + timedelta(hours=3)),
                        "event_id": f"{uid}_{int(moved.timestamp())}",
                        "is_exception": True,
                        "recurring_event_id": master,
                        "summary": _TITLES[0] + "（改期）",
                    },
                )
                gone = start + timedelta(weeks=4)
                state.add_event(
                    cal,
                    {
                        **_demo_times(gone, gone + timedelta(hours=1)),
                        "event_id": f"{uid}_{int(gone.timestamp())}",
                        "is_exception": True,
                        "recurring_event_id": master,
                        "summary": _TITLES[0],
                        "status": "cancelled",
                    },
                )
                k = 3
            for n in range(k, size):
                day = base + timedelta(days=rng.randrange(0, 60))
                if n % 4 == 3:
                    first = day.date()
                    times: dict[str, Any] = {
                        "start_time": {"date": first.isoformat(), "timezone": "UTC"},
                        "end_time": {
                            "date": (first + timedelta(days=rng.randrange(1, 3))).isoformat(),
                            "timezone": "UTC",
                        },
                    }
                else:
                    begin = day + timedelta(minutes=30 * rng.randrange(0, 18))
                    times = _demo_times(begin, begin + timedelta(minutes=30 * rng.randrange(1, 5)))
                event_id = state.add_event(
                    cal,
                    {
                        **times,
                        "summary": rng.choice(_TITLES),
                        "location": {"name": rng.choice(("3F 会议室", "上海", "线上"))},
                        "reminders": [{"minutes": rng.choice((5, 10, 15, 30))}],
                        "event_organizer": {"user_id": user, "display_name": _NAMES[s % 8]},
                    },
                )
                answers = ("accept", "decline", "tentative", "needs_action")
                state.attendees[(cal, event_id)] = [
                    {
                        "type": "user",
                        "user_id": f"ou_demo_guest_{g}",
                        "attendee_id": f"user_{g}",
                        "rsvp_status": answers[(n + g) % 4],
                        "is_optional": g == 2,
                        "display_name": _NAMES[g % 8],
                    }
                    for g in range(rng.randrange(0, 5))
                ]
    return tuple(calendars)


def _demo_times(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "start_time": {"timestamp": str(int(start.timestamp())), "timezone": "Asia/Shanghai"},
        "end_time": {"timestamp": str(int(end.timestamp())), "timezone": "Asia/Shanghai"},
    }
