"""
DingTalk legacy ``GET /gettoken`` and ``POST /topapi/calendar/list`` on sandbox state.

Errcodes: bad or missing ``appkey``/``appsecret`` → **40001**; missing or
unknown token → **40014**, expired → **42001**; TOP-style argument errors as
the legacy gateway answers them (mingyoung/dingtalk#52): **40** ``Missing
required arguments:<name>``, **41** ``Invalid arguments:<name>`` (bad time,
``max_results`` outside 1–2500, a page token from another query, an unknown
``calendar_folder_id``); unknown ``user_id`` → **60121** (找不到该用户).

Listing order is event start, then id. ``next_page_token`` is omitted on the
last page. ``recurrence`` is rendered in one of the seed's four forms, fixed
per event id: ``{"string": [lines]}``, a bare list, bare rules without
``RRULE:``/``FREQ=``, or (the seed's own quirk) bare rules split at commas in
the ``{"string": [...]}`` wrapper.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import zlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import ValidationError, WecalError
from .._emulation._faults import Fault, FaultKind
from .._emulation._host import EmulatorHost
from .._emulation._json import json_copy
from ._emulator_recur import ding_expand, ding_moment

__all__ = [
    "CREDENTIALS",
    "DEMO_DATA",
    "PROVIDER",
    "RATE_LIMIT_CODE",
    "TOKEN_APIS",
    "DingTalkLegacyState",
    "api_name",
    "error_body",
    "fault_answer",
    "gettoken",
    "handle",
    "list_items",
    "render_recurrence",
    "request_token",
    "routes",
    "state",
]

#: The app credentials the sandbox serves by default (see :func:`wecal.sandbox.generate`).
#: The same DingTalk app serves the legacy and the v1.0 API.
CREDENTIALS = ("dingsandboxappkey", "sandbox-dingtalk-secret")

#: This emulator's name in the registry (its state's key in the sandbox).
NAME = "dingtalk-legacy"


class DingTalkLegacyState:
    """
    The legacy emulator's state: staff members (``userid`` → display name and
    calendar folder) and their events (``userid`` → event id → the item, its
    recurrence a clean list of ``RRULE:``/``EXDATE:`` lines).
    """

    def __init__(self, host: EmulatorHost) -> None:
        self.host = host
        self.users: dict[str, dict[str, str]] = {}
        self.events: dict[str, dict[str, dict[str, Any]]] = {}
        #: Recent listings by (page key, the user's number of events), for
        #: their later pages.
        self.listings: dict[tuple[str, int], list[_Row]] = {}

    def _new_id(self) -> str:
        for _ in range(1000):  # bounded: a collision in 26 random chars is ~never
            new = self.host.random("0123456789abcdefghijklmnopqrstuv", 26)
            if all(new not in events for events in self.events.values()):
                return new
        raise WecalError("Sandbox: could not find a free id")  # pragma: no cover

    def add_user(self, user_id: str, display_name: str, *, folder_id: str | None = None) -> None:
        """Add a staff member with one calendar folder."""
        with self.host.lock:
            self.users[user_id] = {
                "display_name": display_name,
                "folder_id": folder_id or self.host.random("0123456789abcdefghijklmnopqrstuv", 26),
            }
            self.events.setdefault(user_id, {})

    def add_event(self, user_id: str, item: Mapping[str, Any], *, keep: bool = False) -> str:
        """
        Store an event for ``user_id`` (no validation); its ``id``.
        ``keep=True`` stores the dict itself, not a copy (the data generator's).
        """
        with self.host.lock:
            if user_id not in self.users:
                raise ValidationError(f"Sandbox.add_dingtalk_event: unknown user {user_id!r}")
            ev = item if keep and isinstance(item, dict) else copy.deepcopy(dict(item))
            ev_id = str(ev.get("id") or self._new_id())
            ev["id"] = ev_id
            ev.setdefault("unique_id", ev_id)
            self.events[user_id][ev_id] = ev
            return ev_id


def state(host: EmulatorHost) -> DingTalkLegacyState:
    """The legacy emulator's state in ``host`` (made on first use)."""
    return host.state(NAME, DingTalkLegacyState)


MESSAGES = {
    -1: "系统繁忙",
    40: "Missing required arguments",
    41: "Invalid arguments",
    40001: "获取access_token时Secret错误，或者access_token无效",
    40014: "不合法的access_token",
    42001: "access_token超时",
    60121: "找不到该用户",
    90018: "当前应用调用该接口的频率超过了每秒的限制",
}

#: Occurrences expanded per series at most, and how far an unbounded
#: ``single_events`` listing without ``time_max`` looks ahead.
MAX_OCCURRENCES = 5_000
OPEN_HORIZON = timedelta(days=366)


class _ArgError(Exception):
    def __init__(self, errcode: int, name: str) -> None:
        self.errcode, self.name = errcode, name
        super().__init__(errcode, name)


def error_body(sandbox: EmulatorHost, errcode: int, detail: str = "") -> dict[str, Any]:
    """A legacy DingTalk error answer."""
    text = MESSAGES.get(errcode, "error")
    if detail:
        text = f"{text}:{detail}"
    return {"errcode": errcode, "errmsg": text, "request_id": sandbox.request_hint()}


def gettoken(sandbox: EmulatorHost, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /gettoken?appkey=&appsecret=``: same token while valid, renewed on each call."""
    _known, app_id = sandbox.find_app(PROVIDER, query.get("appkey", ""), query.get("appsecret", ""))
    if app_id is None:
        return error_body(sandbox, 40001)
    token = sandbox.issue_token(PROVIDER, app_id, renew=True)
    return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": sandbox.token_ttl}


# ------------------------------------------------------------------ rendering


def _fmt(dt: datetime) -> str:
    """``2019-03-01T23:08:53+0800``: the seed's RFC 822 offset, no colon."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")


def render_recurrence(event_id: str, lines: list[str]) -> Any:
    """The stored clean lines in this event's quirky wire form (fixed per id)."""
    form = zlib.crc32(event_id.encode()) % 4
    simple = len(lines) == 1 and lines[0].startswith("RRULE:FREQ=")
    if form == 0 or (form == 3 and not simple):
        return {"string": list(lines)}
    if form == 1:
        return list(lines)
    bare = [ln.removeprefix("RRULE:").removeprefix("FREQ=") for ln in lines]
    if form == 2:
        return bare
    return {"string": bare[0].split(",")}


def _occurrence_id(item: Mapping[str, Any], start: datetime) -> str:
    # The seed's shape: an occurrence's id is neither its master's id nor
    # {master id}_{start}, but a number before the series' unique_id
    # ("id":"1k3io5…" beside "unique_id":"k3io5…"); here the minutes from the
    # series' start, plus one, so each occurrence has its own.
    first, _ = ding_moment(item["start"])
    minutes = int((start - first).total_seconds() // 60) + 1
    return f"{minutes}{item.get('unique_id') or item['id']}"


def _occurrence(item: Mapping[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    occ = json_copy({k: v for k, v in item.items() if k != "recurrence"})
    occ["id"] = _occurrence_id(item, start)
    if "date" in item["start"]:
        occ["start"] = {**item["start"], "date": start.date().isoformat()}
        occ["end"] = {**item["end"], "date": end.date().isoformat()}
    else:
        occ["start"] = {**item["start"], "date_time": _fmt(start)}
        occ["end"] = {**item["end"], "date_time": _fmt(end)}
    occ["recurrence_id"] = str(int(start.timestamp() * 1000))
    return occ


#: A listing row: (start, id, a function that renders the item as served).
_Row = tuple[datetime, str, Callable[[], dict[str, Any]]]


def _master(item: Mapping[str, Any], lines: list[str], quirks: bool) -> dict[str, Any]:
    master = json_copy(item)
    if quirks:
        master["recurrence"] = render_recurrence(item["id"], lines)
    return master


def _rows(
    sandbox: EmulatorHost,
    user_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    *,
    expand: bool,
    quirks: bool,
) -> list[_Row]:
    """The listing in order; each item is copied only when it is rendered."""
    rows: list[_Row] = []
    for item in state(sandbox).events.get(user_id, {}).values():
        lines = item.get("recurrence")
        start, _ = ding_moment(item["start"])
        end, _ = ding_moment(item["end"])
        if not lines:
            if (window_end is None or start < window_end) and (
                window_start is None or end > window_start
            ):
                rows.append((start, item["id"], functools.partial(json_copy, item)))
            continue
        if expand:
            horizon = window_end or (window_start or start) + OPEN_HORIZON
            for occ_start, occ_end in ding_expand(
                item, lines, window_start, horizon, limit=MAX_OCCURRENCES
            ):
                make = functools.partial(_occurrence, item, occ_start, occ_end)
                rows.append((occ_start, _occurrence_id(item, occ_start), make))
            continue
        # A series is listed when any occurrence overlaps the window.
        if (
            next(
                iter(ding_expand(item, lines, window_start, window_end, limit=MAX_OCCURRENCES)),
                None,
            )
            is not None
        ):
            rows.append((start, item["id"], functools.partial(_master, item, lines, quirks)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def list_items(
    sandbox: EmulatorHost,
    user_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    *,
    expand: bool,
    quirks: bool = True,
) -> list[dict[str, Any]]:
    """Every item of the listing in order (no paging). Overlap: start < max and end > min."""
    rows = _rows(sandbox, user_id, window_start, window_end, expand=expand, quirks=quirks)
    return [make() for _start, _id, make in rows]


# ------------------------------------------------------------------ request


def _window_bound(body: Mapping[str, Any], key: str) -> datetime | None:
    raw = body.get(key)
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("date_time"), str)
        or not isinstance(raw.get("time_zone", ""), str)
    ):
        raise _ArgError(41, key)
    try:
        value = datetime.strptime(raw["date_time"], "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            # No offset: the wall time is in ``time_zone``.
            zone = ZoneInfo(raw.get("time_zone") or "Asia/Shanghai")
            value = datetime.strptime(raw["date_time"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone)
        except (ValueError, ZoneInfoNotFoundError):
            raise _ArgError(41, key) from None
    return value


def _page_key(body: Mapping[str, Any]) -> str:
    fields = {
        k: body.get(k)
        for k in ("user_id", "calendar_folder_id", "time_min", "time_max", "single_events")
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _encode_token(offset: int, key: str) -> str:
    raw = json.dumps({"o": offset, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: Any, key: str) -> int:
    if not isinstance(token, str):
        raise _ArgError(41, "page_token")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = data["o"]
        ok = data["k"] == key and isinstance(offset, int) and offset >= 0
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise _ArgError(41, "page_token")
    return int(offset)


def drift(sandbox: EmulatorHost, body: Mapping[str, Any]) -> None:
    """Offset drift: insert an event ahead of every other one in this listing."""
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or user_id not in state(sandbox).users:
        return
    try:
        lo, hi = _window_bound(body, "time_min"), _window_bound(body, "time_max")
    except _ArgError:
        return
    items = list_items(sandbox, user_id, lo, hi, expand=False, quirks=False)
    if items:
        start, _ = ding_moment(items[0]["start"])
        end, _ = ding_moment(items[0]["end"])
        start = start - timedelta(minutes=1)
    else:
        start = lo or datetime.fromtimestamp(sandbox.clock(), UTC)
        end = start + timedelta(minutes=30)
    zone = ZoneInfo("Asia/Shanghai")
    stamp = {"date_time": _fmt(start.astimezone(zone)), "time_zone": "Asia/Shanghai"}
    state(sandbox).add_event(
        user_id,
        {
            "summary": "插队日程 drift ⏩",
            "description": "",
            "location": "",
            "organizer": {
                "self": True,
                "userid": user_id,
                "display_name": state(sandbox).users[user_id]["display_name"],
            },
            "start": stamp,
            "end": {"date_time": _fmt(end.astimezone(zone)), "time_zone": "Asia/Shanghai"},
            "created": stamp,
            "updated": stamp,
            "status": "confirmed",
            "response_status": "accepted",
        },
    )


def _list(sandbox: EmulatorHost, body: Mapping[str, Any]) -> dict[str, Any]:
    user_id = body.get("user_id")
    if user_id is None or user_id == "":
        raise _ArgError(40, "user_id")
    if not isinstance(user_id, str):
        raise _ArgError(41, "user_id")
    user = state(sandbox).users.get(user_id)
    if user is None:
        raise _ArgError(60121, "")
    folder = body.get("calendar_folder_id")
    if folder is not None and folder != user["folder_id"]:
        raise _ArgError(41, "calendar_folder_id")
    lo, hi = _window_bound(body, "time_min"), _window_bound(body, "time_max")
    if lo is not None and hi is not None and hi < lo:
        raise _ArgError(41, "time_max")
    single = body.get("single_events", False)
    if isinstance(single, str) and single.lower() in ("true", "false"):
        single = single.lower() == "true"  # TOP gateways accept the string form too
    if not isinstance(single, bool):
        raise _ArgError(41, "single_events")
    max_results = body.get("max_results", 250)
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not (1 <= max_results <= 2500)
    ):
        raise _ArgError(41, "max_results")
    key = _page_key(body)
    offset = 0 if body.get("page_token") in (None, "") else _decode_token(body["page_token"], key)
    # Later pages reuse the listing's rows while the user's events are the
    # same in number (an edited event is rendered as it is now), and only a
    # page's items are copied: a page costs the same however many events
    # the user has.
    listings = state(sandbox).listings
    version = (key, len(state(sandbox).events.get(user_id, {})))
    rows = listings.get(version) if offset else None
    if rows is None:
        rows = _rows(sandbox, user_id, lo, hi, expand=single, quirks=True)
        if len(listings) >= 64:
            listings.pop(next(iter(listings)))  # the oldest listing
        listings[version] = rows
    page = [make() for _start, _id, make in rows[offset : offset + max_results]]
    result: dict[str, Any] = {"summary": f"{user['display_name']}的日程", "items": page}
    if offset + max_results < len(rows):
        result["next_page_token"] = _encode_token(offset + max_results, key)
    return {
        "result": result,
        "success": True,
        "errmsg": "ok",
        "errcode": 0,
        "request_id": sandbox.request_hint(),
    }


def handle(
    sandbox: EmulatorHost, token: str | None, body: Any, *, drift_first: bool = False
) -> dict[str, Any]:
    """Serve one ``topapi/calendar/list`` call; the caller holds the lock."""
    code, app_id = sandbox.check_token(PROVIDER, token)
    if app_id is None:
        return error_body(sandbox, 40014 if code == 41001 else code)
    if not isinstance(body, dict):
        return error_body(sandbox, 41, "body")
    try:
        if drift_first:
            drift(sandbox, body)
        return _list(sandbox, body)
    except _ArgError as exc:
        return error_body(sandbox, exc.errcode, exc.name)


# --------------------------------------------------------------------------
# What the sandbox app asks of an emulator module (see wecal/sandbox/_app.py)
# --------------------------------------------------------------------------

#: The provider label of recorded requests and tokens.
PROVIDER = "dingtalk"
#: The errcode of a "rate limited" fault.
RATE_LIMIT_CODE = 90018
#: Token requests: not counted by ``Faults.revoke_tokens_after``.
TOKEN_APIS = frozenset({"dingtalk.gettoken"})
#: The module of this emulator's demo data (``demo_data``, ``DEMO_STREAM``: see
#: wecal/providers/_emulation/_data.py): a name, as that module builds on this one.
DEMO_DATA = "wecal.providers.dingtalk_legacy._emulator_data"


def fault_answer(host: EmulatorHost, fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A ``busy``, ``rate_limited`` or ``error`` fault: HTTP 200 with its errcode (and errmsg)."""
    code = RATE_LIMIT_CODE if fault.kind is FaultKind.RATE_LIMITED else fault.errcode
    assert code is not None  # set by every constructor of the other kinds
    err = error_body(host, code)
    if fault.errmsg is not None:
        err["errmsg"] = fault.errmsg
    return 200, err, {}


def request_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The ``access_token`` query parameter."""
    return query.get("access_token")


_APIS = {"/gettoken": "dingtalk.gettoken", "/topapi/calendar/list": "dingtalk.calendar.list"}


def api_name(path: str, method: str = "POST") -> str | None:
    """The api name of a DingTalk legacy path, None for other paths."""
    return _APIS.get(path)


def routes(
    sandbox: EmulatorHost,
    finish: Callable[[Request, dict[str, Any]], Response],
    read_json: Callable[[Request], Awaitable[Any]],
) -> list[Route]:
    """The Starlette routes of the DingTalk legacy emulator."""

    async def token(request: Request) -> Response:
        with sandbox.lock:
            return finish(request, gettoken(sandbox, request.query_params))

    async def calendar_list(request: Request) -> Response:
        body = await read_json(request)
        drift = bool(request.scope.get("state", {}).get("sandbox_drift"))
        with sandbox.lock:
            access_token = request.query_params.get("access_token")
            return finish(request, handle(sandbox, access_token, body, drift_first=drift))

    return [
        Route("/gettoken", token, methods=["GET"]),
        Route("/topapi/calendar/list", calendar_list, methods=["POST"]),
    ]
