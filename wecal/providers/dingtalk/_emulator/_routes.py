"""The v1.0 emulator's HTTP side: paths, scopes, the dispatch and the Starlette routes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..._emulation._host import EmulatorHost
from ..._emulation._json import json_bytes
from ._common import (
    MAX_ATTENDEES_GET,
    MAX_ATTENDEES_LIST,
    SCOPE_CALENDAR,
    SCOPE_READ,
    SCOPE_SCHEDULE,
    SCOPE_WRITE,
    V1Error,
    _int_param,
    _invalid,
    _not_found,
)
from ._notify import notify_call
from ._state import DingTalkV1, v1

# ------------------------------------------------------------------ HTTP

_USER = r"/v1\.0/calendar/users/(?P<user>[^/]+)"
_EVENTS = _USER + r"/calendars/(?P<cal>[^/]+)/events"
_PATHS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/v1\.0/oauth2/accessToken"), "dingtalk.v1.oauth2.accessToken"),
    ("GET", re.compile(_USER + r"/calendars"), "dingtalk.v1.calendars.list"),
    ("GET", re.compile(_EVENTS), "dingtalk.v1.events.list"),
    ("POST", re.compile(_EVENTS), "dingtalk.v1.events.create"),
    ("GET", re.compile(_USER + r"/calendars/(?P<cal>[^/]+)/eventsview"), "dingtalk.v1.events.view"),
    ("GET", re.compile(_EVENTS + r"/(?P<event>[^/]+)"), "dingtalk.v1.events.get"),
    ("PUT", re.compile(_EVENTS + r"/(?P<event>[^/]+)"), "dingtalk.v1.events.patch"),
    ("DELETE", re.compile(_EVENTS + r"/(?P<event>[^/]+)"), "dingtalk.v1.events.delete"),
    ("POST", re.compile(_EVENTS + r"/(?P<event>[^/]+)/respond"), "dingtalk.v1.events.respond"),
    ("GET", re.compile(_EVENTS + r"/(?P<event>[^/]+)/attendees"), "dingtalk.v1.attendees.list"),
    ("POST", re.compile(_EVENTS + r"/(?P<event>[^/]+)/attendees"), "dingtalk.v1.attendees.add"),
    (
        "POST",
        re.compile(_EVENTS + r"/(?P<event>[^/]+)/attendees/batchRemove"),
        "dingtalk.v1.attendees.remove",
    ),
    ("POST", re.compile(_USER + r"/(?:querySchedule|getSchedule)"), "dingtalk.v1.schedule.query"),
    ("POST", re.compile(r"/topapi/v2/user/get"), "dingtalk.user.get"),
    ("POST", re.compile(r"/topapi/user/getbyunionid"), "dingtalk.user.getbyunionid"),
]
#: Writes: they take ``x-client-token``.
WRITES = frozenset({
    "dingtalk.v1.events.create",
    "dingtalk.v1.events.patch",
    "dingtalk.v1.events.delete",
    "dingtalk.v1.attendees.add",
    "dingtalk.v1.attendees.remove",
})  # fmt: skip
_SCOPES = {
    "dingtalk.v1.calendars.list": SCOPE_CALENDAR,
    "dingtalk.v1.events.list": SCOPE_READ,
    "dingtalk.v1.events.view": SCOPE_READ,
    "dingtalk.v1.events.get": SCOPE_READ,
    "dingtalk.v1.attendees.list": SCOPE_READ,
    "dingtalk.v1.events.respond": SCOPE_WRITE,
    "dingtalk.v1.schedule.query": SCOPE_SCHEDULE,
    **{name: SCOPE_WRITE for name in WRITES},
}


def _match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for verb, pattern, name in _PATHS:
        m = pattern.fullmatch(path)
        if m is not None and verb == method:
            return name, m.groupdict()
    return None


def api_name(path: str, method: str = "GET") -> str | None:
    """The API name of a v1.0 (or user-lookup) request, e.g. ``"dingtalk.v1.events.list"``."""
    hit = _match(method, path)
    return None if hit is None else hit[0]


def paths() -> list[str]:
    """The route templates this module serves (for the app's routing table)."""
    return [
        "/v1.0/oauth2/accessToken",
        "/v1.0/calendar/users/{user}/calendars",
        "/v1.0/calendar/users/{user}/calendars/{cal}/events",
        "/v1.0/calendar/users/{user}/calendars/{cal}/eventsview",
        "/v1.0/calendar/users/{user}/calendars/{cal}/events/{event}",
        "/v1.0/calendar/users/{user}/calendars/{cal}/events/{event}/respond",
        "/v1.0/calendar/users/{user}/calendars/{cal}/events/{event}/attendees",
        "/v1.0/calendar/users/{user}/calendars/{cal}/events/{event}/attendees/batchRemove",
        "/v1.0/calendar/users/{user}/querySchedule",
        "/v1.0/calendar/users/{user}/getSchedule",
        "/topapi/v2/user/get",
        "/topapi/user/getbyunionid",
    ]


def _serve(
    state: DingTalkV1, name: str, params: Mapping[str, str], query: Mapping[str, str], body: Any
) -> tuple[int, Any]:
    """Apply one API call (the caller holds the lock and has checked the token)."""
    user = params.get("user", "")
    if "cal" in params and params["cal"] != "primary":
        state._user(user)
        raise _not_found(f"calendar {params['cal']}")
    event = params.get("event", "")
    if name == "dingtalk.v1.calendars.list":
        return 200, state.calendars_of(user)
    if name in ("dingtalk.v1.events.list", "dingtalk.v1.events.view"):
        return 200, state.list_events(user, query, view=name.endswith("view"))
    if name == "dingtalk.v1.events.get":
        limit = _int_param(query, "maxAttendees", MAX_ATTENDEES_LIST, 1, MAX_ATTENDEES_GET)
        return 200, state._get(user, event, max_attendees=limit)
    if name == "dingtalk.v1.events.create":
        state._user(user)
        created = state._create(user, body)
        return 200, state._render(created, user, MAX_ATTENDEES_GET)
    if name == "dingtalk.v1.events.patch":
        return 200, state._patch(user, event, body)
    if name == "dingtalk.v1.events.delete":
        state._delete(user, event)
        return 200, None
    if name == "dingtalk.v1.events.respond":
        state._respond(user, event, body)
        return 200, {"result": True}
    if name == "dingtalk.v1.attendees.list":
        return 200, state.list_attendees(user, event, query)
    if name == "dingtalk.v1.attendees.add":
        state._add_attendees(user, event, body)
        return 200, None
    if name == "dingtalk.v1.attendees.remove":
        state._remove_attendees(user, event, body)
        return 200, None
    if name == "dingtalk.v1.schedule.query":
        return 200, state.query_schedule(user, body)
    raise _not_found(name)  # pragma: no cover - every routed name is handled above


async def handle(
    sandbox: EmulatorHost,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    drift: bool = False,
) -> tuple[int, Any]:
    """Serve one request: (HTTP status, JSON body or None for an empty body)."""
    state = v1(sandbox)
    hit = _match(method, path)
    if hit is None:
        return 404, {"code": "NotFound", "message": f"{method} {path} is not an API"}
    name, params = hit
    try:
        body: Any = (
            json.loads(raw_body) if raw_body else ({} if method in ("GET", "DELETE") else None)
        )
    except ValueError:
        body = None
    if name.startswith("dingtalk.user."):
        with sandbox.lock:
            code, app_id = sandbox.check_token("dingtalk", query.get("access_token"))
            if app_id is None:
                return 200, state._legacy_error(
                    40014 if code == 41001 else code,
                    "不合法的access_token" if code != 42001 else "access_token超时",
                )
            if name == "dingtalk.user.get":
                return 200, state.user_get(body)
            return 200, state.user_by_union_id(body)
    client_token = headers.get("x-client-token") if name in WRITES else None
    fingerprint = hashlib.sha256(
        json.dumps([method, path, body], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    try:
        with sandbox.lock:
            if name == "dingtalk.v1.oauth2.accessToken":
                return state.access_token(body)
            state.authorize(headers.get("x-acs-dingtalk-access-token"), _SCOPES.get(name))
            if method in ("POST", "PUT") and body is None:
                raise _invalid("the body must be JSON")
            if client_token:
                replay = state.idem_begin(client_token, fingerprint)
                if replay is not None:
                    return replay
            if drift and name in ("dingtalk.v1.events.list", "dingtalk.v1.events.view"):
                state.drift(params["user"], query, view=name.endswith("view"))
        if client_token and state.apply_delay > 0:
            await anyio.sleep(state.apply_delay)
        with sandbox.lock:
            try:
                answer = _serve(state, name, params, query, body)
            except BaseException:
                if client_token:
                    state.idem_end(client_token, None)
                raise
            if client_token:
                state.idem_end(client_token, answer)
            notify_call(sandbox, name, params, answer)
            return answer
    except V1Error as exc:
        with sandbox.lock:
            return exc.status, state.error_body(exc)


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # Chinese as UTF-8, not \\u escapes, as the provider sends it.
        return json_bytes(content)


def routes(sandbox: EmulatorHost, *_app_helpers: Any) -> list[Route]:
    """
    Starlette routes serving the v1.0 API (and the user lookups) of ``sandbox``.
    The app's JSON helpers are not needed: answers carry their own status.
    """

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        status, data = await handle(
            sandbox,
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            raw,
            drift=bool(request.scope.get("state", {}).get("sandbox_drift")),
        )
        outcome = request.scope.get("state", {}).get("sandbox_outcome")
        if outcome is not None and isinstance(data, dict):
            outcome["errcode"] = data.get("errcode")
            outcome["code"] = data.get("code")
        if data is None:
            return Response(status_code=status)
        return _JSON(data, status_code=status)

    methods = ["GET", "POST", "PUT", "DELETE"]
    return [Route(p, endpoint, methods=methods) for p in paths()]
