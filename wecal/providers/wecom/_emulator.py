"""
WeCom ``gettoken`` and ``oa/calendar/*`` / ``oa/schedule/*`` on sandbox state.

Errcodes are WeCom's global ones where the docs name them. Where they are
silent the sandbox picks one and says so:

* unknown ``cal_id`` / ``schedule_id`` → **40058** (不合法的参数), errmsg
  ``"invalid parameter: cal_id ... not found"``;
* a calendar or schedule of another app of the same corp → **301002**
  ("not allow operate another agent with this accesstoken");
* missing or mistyped fields, limits (``limit`` outside 1–1000, more than 1000
  ids, more than 1000 attendees, text too long), ``end_time`` before
  ``start_time`` → **40058**; a body that is not a JSON object → **47001**.

Errors are JSON with HTTP 200, errmsg in WeCom's shape
(``"..., hint: [...], from ip: ..., more info at ...?e=<code>"``).
"""

from __future__ import annotations

import copy
import re
import string
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import ValidationError, WecalError
from .._emulation._faults import Fault, FaultKind
from .._emulation._host import EmulatorHost
from .._emulation._json import json_copy
from ._emulator_recur import wecom_is_occurrence, wecom_previous_occurrence

__all__ = [
    "CREDENTIALS",
    "DEMO_DATA",
    "PROVIDER",
    "RATE_LIMIT_CODE",
    "TOKEN_APIS",
    "ApiError",
    "WeComState",
    "api_name",
    "error_body",
    "fault_answer",
    "gettoken",
    "handle",
    "notify_event",
    "notify_write",
    "request_token",
    "routes",
    "seal_notification",
    "state",
    "user_delete_schedule",
    "user_respond_schedule",
    "user_update_schedule",
]

#: The app credentials the sandbox serves by default (see :func:`wecal.sandbox.generate`).
CREDENTIALS = ("ww_sandbox_corp", "sandbox-wecom-secret")

#: This emulator's name in the registry (its state's key in the sandbox).
NAME = "wecom"

_ID_ALPHABET = string.ascii_letters + string.digits


class WeComState:
    """
    The WeCom emulator's state: calendars and schedules (id → the dict WeCom
    returns), the corp's userids, which app owns each calendar, each app's
    default calendar and the order schedules were stored in.
    """

    def __init__(self, host: EmulatorHost) -> None:
        self.host = host
        self.calendars: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        #: WeCom userids known to the corp; empty means "accept any userid".
        self.users: set[str] = set()
        #: cal_id → the app id that owns it.
        self.owner: dict[str, str] = {}
        #: app id → its default cal_id.
        self.default: dict[str, str] = {}
        #: schedule_id → its storage order (``sequence``).
        self.sequence: dict[str, int] = {}
        self._next_sequence = 1
        #: Recent listings by (cal_id, schedules stored, next sequence), for
        #: their later pages.
        self._listings: dict[tuple[str, int, int], list[dict[str, Any]]] = {}

    def _new_id(self, kind: str) -> str:
        taken: Mapping[str, Any]
        for _ in range(1000):  # bounded: a collision in 32 random chars is ~never
            if kind == "calendar":
                new = "wcjgew" + self.host.random(_ID_ALPHABET, 23) + "AAA"
                taken = self.calendars
            else:
                new = self.host.random("0123456789abcdef", 29) + "AAA"
                taken = self.schedules
            if new not in taken:
                return new
        raise WecalError("Sandbox: could not find a free id")  # pragma: no cover

    def add_calendar(self, calendar: Mapping[str, Any], *, owner: str, default: bool) -> str:
        """Store a calendar for app ``owner``; its ``cal_id`` (taken from it if set)."""
        with self.host.lock:
            cal = copy.deepcopy(dict(calendar))
            cal_id = str(cal.get("cal_id") or self._new_id("calendar"))
            cal["cal_id"] = cal_id
            self.calendars[cal_id] = cal
            self.owner[cal_id] = owner
            if default:
                self.default[owner] = cal_id
            return cal_id

    def add_schedule(self, schedule: Mapping[str, Any], *, keep: bool = False) -> str:
        """
        Store a schedule (``cal_id`` must exist); its ``schedule_id``, next
        ``sequence``. ``keep=True`` stores the dict itself, not a copy (the
        data generator's fresh dicts: copying was a third of the demo's time).
        """
        with self.host.lock:
            sched = (
                schedule if keep and isinstance(schedule, dict) else copy.deepcopy(dict(schedule))
            )
            if sched.get("cal_id") not in self.calendars:
                raise ValidationError(
                    f"Sandbox.add_wecom_schedule: unknown cal_id {sched.get('cal_id')!r}"
                )
            sid = str(sched.get("schedule_id") or self._new_id("schedule"))
            sched["schedule_id"] = sid
            self.schedules[sid] = sched
            self.sequence[sid] = self._next_sequence
            self._next_sequence += 1
            return sid

    def listing(self, cal_id: str) -> list[dict[str, Any]]:
        """The calendar's schedules in ``get_by_calendar`` order: start_time, then sequence."""
        rows = [s for s in self.schedules.values() if s.get("cal_id") == cal_id]
        rows.sort(key=lambda s: (int(s["start_time"]), self.sequence[s["schedule_id"]]))
        return rows

    def page(self, cal_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """
        ``limit`` schedules of the calendar's listing from ``offset`` (the
        stored dicts). A later page reuses the listing its first page sorted
        while no schedule was added or removed (an edited one is served as it
        is now), so a page costs the same however many schedules there are.
        """
        version = (cal_id, len(self.schedules), self._next_sequence)
        listing = self._listings.get(version) if offset else None
        if listing is None:
            listing = self.listing(cal_id)
            if len(self._listings) >= 64:
                self._listings.pop(next(iter(self._listings)))  # the oldest listing
            self._listings[version] = listing
        return listing[offset : offset + limit]

    def ground_truth(self, cal_id: str) -> list[dict[str, Any]]:
        """Every schedule of a calendar as ``get_by_calendar`` returns them (deep copies)."""
        with self.host.lock:
            return [
                {**copy.deepcopy(s), "sequence": self.sequence[s["schedule_id"]]}
                for s in self.listing(cal_id)
            ]


def state(host: EmulatorHost) -> WeComState:
    """The WeCom emulator's state in ``host`` (made on first use)."""
    return host.state(NAME, WeComState)


MESSAGES = {
    -1: "system busy",
    40001: "invalid secret",
    40013: "invalid corpid",
    40014: "invalid access_token",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    47001: "data format error",
    40058: "invalid parameter",
    60111: "userid not found",
    90482: "op_start_time is not an occurrence of the schedule",
    90484: "op_mode 1 cannot make a repeating schedule",
    90485: "op_mode 1 or 2 needs a repeating schedule",
    301002: "not allow operate another agent with this accesstoken",
}


class ApiError(Exception):
    """Internal: a provider error answer (never leaves the app)."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        self.errcode = errcode
        self.detail = detail
        super().__init__(errcode, detail)


def error_body(sandbox: EmulatorHost, errcode: int, detail: str = "") -> dict[str, Any]:
    """A WeCom error answer: ``{errcode, errmsg}`` with the hint/more-info tail."""
    text = MESSAGES.get(errcode, "error")
    if detail:
        text = f"{text}: {detail}"
    return {
        "errcode": errcode,
        "errmsg": (
            f"{text}, hint: [{sandbox.request_hint()}], from ip: 127.0.0.1, more info at "
            f"https://open.work.weixin.qq.com/devtool/query?e={errcode}"
        ),
    }


def gettoken(sandbox: EmulatorHost, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /cgi-bin/gettoken?corpid=&corpsecret=``."""
    corp_id, secret = query.get("corpid", ""), query.get("corpsecret", "")
    if not corp_id:
        return error_body(sandbox, 41002)
    if not secret:
        return error_body(sandbox, 41004)
    known, app_id = sandbox.find_app("wecom", corp_id, secret)
    if not known:
        return error_body(sandbox, 40013)
    if app_id is None:
        return error_body(sandbox, 40001)
    token = sandbox.issue_token("wecom", app_id)
    return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": sandbox.token_ttl}


# ------------------------------------------------------------------ validation


def _int(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    *,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
    choices: tuple[int, ...] = (),
) -> int:
    value = obj.get(key, default)
    if value is None:
        raise ApiError(40058, f"{path}.{key} is required")
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        raise ApiError(40058, f"{path}.{key} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(40058, f"{path}.{key} out of range")
    if choices and value not in choices:
        raise ApiError(40058, f"{path}.{key} must be one of {list(choices)}")
    return value


def _str(
    obj: Mapping[str, Any], key: str, path: str, *, max_len: int, required: bool = False
) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ApiError(40058, f"{path}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(40058, f"{path}.{key} must be a string")
    if len(value) > max_len:
        raise ApiError(40058, f"{path}.{key} longer than {max_len} characters")
    return value


def _obj(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        if required:
            raise ApiError(40058, f"{path}.{key} is required")
        return {}
    if not isinstance(value, dict):
        raise ApiError(40058, f"{path}.{key} must be an object")
    return value


def _list(obj: Mapping[str, Any], key: str, path: str, *, max_len: int) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(40058, f"{path}.{key} must be an array")
    if len(value) > max_len:
        raise ApiError(40058, f"{path}.{key} has more than {max_len} entries")
    return value


def _str_list(obj: Mapping[str, Any], key: str, path: str, *, max_len: int) -> list[str]:
    values = _list(obj, key, path, max_len=max_len)
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            raise ApiError(40058, f"{path}.{key}[{i}] must be a non-empty string")
    return values


def _int_list(obj: Mapping[str, Any], key: str, path: str, lo: int, hi: int) -> list[int]:
    values = _list(obj, key, path, max_len=366)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ApiError(40058, f"{path}.{key}[{i}] must be an integer in {lo}..{hi}")
    return values


def _userids(obj: Mapping[str, Any], key: str, path: str, *, max_len: int) -> list[str]:
    out: list[str] = []
    for i, entry in enumerate(_list(obj, key, path, max_len=max_len)):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("userid"), str)
            or not (entry["userid"])
        ):
            raise ApiError(40058, f"{path}.{key}[{i}].userid is required")
        if entry["userid"] not in out:
            out.append(entry["userid"])
    return out


_UINT32 = 2**32 - 1
_REMIND_SECS = (0, 300, 900, 3600, 86400)
_REPEAT_TYPES = (0, 1, 2, 5, 7)


def _parse_reminders(raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    p = f"{path}.reminders"
    rem = {
        "is_remind": _int(raw, "is_remind", p, default=0, choices=(0, 1)),
        "is_repeat": _int(raw, "is_repeat", p, default=0, choices=(0, 1)),
        "remind_before_event_secs": _int(
            raw, "remind_before_event_secs", p, default=0, choices=_REMIND_SECS
        ),
        "remind_time_diffs": _int_list(raw, "remind_time_diffs", p, -604800, 86399),
        "repeat_type": _int(raw, "repeat_type", p, default=0, choices=_REPEAT_TYPES),
        "repeat_until": _int(raw, "repeat_until", p, default=0, lo=0, hi=_UINT32),
        "is_custom_repeat": _int(raw, "is_custom_repeat", p, default=0, choices=(0, 1)),
        "repeat_interval": _int(raw, "repeat_interval", p, default=0, lo=0, hi=999),
        "repeat_day_of_week": _int_list(raw, "repeat_day_of_week", p, 1, 7),
        "repeat_day_of_month": _int_list(raw, "repeat_day_of_month", p, 1, 31),
        "timezone": _int(raw, "timezone", p, default=8, lo=-12, hi=12),
        "exclude_time_list": [],
    }
    if rem["is_custom_repeat"] and rem["repeat_interval"] == 0:
        rem["repeat_interval"] = 1
    return rem


def _parse_schedule(raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The writable fields of a schedule, every omitted one reset (overwrite semantics)."""
    start = _int(raw, "start_time", path, lo=0, hi=_UINT32)
    end = _int(raw, "end_time", path, lo=0, hi=_UINT32)
    if end < start:
        raise ApiError(40058, f"{path}.end_time is before {path}.start_time")
    sched: dict[str, Any] = {
        "admins": _str_list(raw, "admins", path, max_len=3),
        "attendees": [
            {"userid": u, "response_status": 0}
            for u in _userids(raw, "attendees", path, max_len=1000)
        ],
        "summary": _str(raw, "summary", path, max_len=128),
        "description": _str(raw, "description", path, max_len=1000),
        "reminders": _parse_reminders(_obj(raw, "reminders", path), path),
        "location": _str(raw, "location", path, max_len=128),
        "start_time": start,
        "end_time": end,
        "status": 0,
        "is_whole_day": _int(raw, "is_whole_day", path, default=0, choices=(0, 1)),
    }
    until = sched["reminders"]["repeat_until"]
    if sched["reminders"]["is_repeat"] and until and until < start:
        raise ApiError(40058, f"{path}.reminders.repeat_until is before {path}.start_time")
    return sched


# ------------------------------------------------------------------ lookups


def _calendar(sandbox: EmulatorHost, app_id: str, cal_id: Any, path: str) -> dict[str, Any]:
    if not isinstance(cal_id, str) or not cal_id:
        raise ApiError(40058, f"{path} is required")
    cal = state(sandbox).calendars.get(cal_id)
    if cal is None:
        raise ApiError(40058, f"{path} {cal_id} not found")
    if state(sandbox).owner.get(cal_id) != app_id:
        raise ApiError(301002)
    return cal


def _schedule(sandbox: EmulatorHost, app_id: str, sid: Any, path: str) -> dict[str, Any]:
    if not isinstance(sid, str) or not sid:
        raise ApiError(40058, f"{path} is required")
    sched = state(sandbox).schedules.get(sid)
    if sched is None:
        raise ApiError(40058, f"{path} {sid} not found")
    if state(sandbox).owner.get(sched["cal_id"]) != app_id:
        raise ApiError(301002)
    return sched


def _id_list(body: Mapping[str, Any], key: str) -> list[str]:
    ids = body.get(key)
    if not isinstance(ids, list) or not ids:
        raise ApiError(40058, f"{key} is required")
    if len(ids) > 1000:
        raise ApiError(40058, f"{key} has more than 1000 ids")
    return ids


# ------------------------------------------------------------------ calendars

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _parse_calendar(
    sandbox: EmulatorHost, raw: Mapping[str, Any], path: str, *, adding: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """
    (calendar fields, fail_result.shares) — unknown share members fail one by
    one. "admins must be share members" is a rule of ``calendar/add`` only
    (reference/wecom.md §1.2): ``calendar/update`` does not check it.
    """
    summary = _str(raw, "summary", path, max_len=128, required=True)
    if not summary:
        raise ApiError(40058, f"{path}.summary must not be empty")
    color = _str(raw, "color", path, max_len=7, required=True)
    if not _COLOR.match(color):
        raise ApiError(40058, f"{path}.color must look like #RRGGBB")
    shares: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for i, entry in enumerate(_list(raw, "shares", path, max_len=2000)):
        if not isinstance(entry, dict) or not isinstance(entry.get("userid"), str):
            raise ApiError(40058, f"{path}.shares[{i}].userid is required")
        permission = _int(entry, "permission", f"{path}.shares[{i}]", default=1, choices=(1, 3))
        userid = entry["userid"]
        if state(sandbox).users and userid not in state(sandbox).users:
            failed.append({"errcode": 60111, "errmsg": MESSAGES[60111], "userid": userid})
        elif all(s["userid"] != userid for s in shares):
            shares.append({"userid": userid, "permission": permission})
    admins = _str_list(raw, "admins", path, max_len=3)
    shared = {s["userid"] for s in shares}
    for i, admin in enumerate(admins):
        if adding and admin not in shared:
            raise ApiError(40058, f"{path}.admins[{i}] must also be in {path}.shares")
    public_range = _obj(raw, "public_range", path)
    cal = {
        "admins": admins,
        "summary": summary,
        "color": color,
        "description": _str(raw, "description", path, max_len=512),
        "shares": shares,
        "public_range": {
            "userids": _str_list(public_range, "userids", f"{path}.public_range", max_len=1000),
            "partyids": [
                _int({"p": p}, "p", f"{path}.public_range.partyids[{i}]", lo=0)
                for i, p in enumerate(
                    _list(public_range, "partyids", f"{path}.public_range", max_len=100)
                )
            ],
        },
    }
    return cal, failed


def _calendar_add(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    raw = _obj(body, "calendar", "calendar", required=True)
    cal, failed = _parse_calendar(sandbox, raw, "calendar", adding=True)
    cal["is_public"] = _int(raw, "is_public", "calendar", default=0, choices=(0, 1))
    cal["is_corp_calendar"] = _int(raw, "is_corp_calendar", "calendar", default=0, choices=(0, 1))
    default = _int(raw, "set_as_default", "calendar", default=0, choices=(0, 1))
    cal_id = state(sandbox).add_calendar(
        {"cal_id": None, **cal}, owner=app_id, default=bool(default)
    )
    return {"errcode": 0, "errmsg": "ok", "cal_id": cal_id, "fail_result": {"shares": failed}}


def _calendar_update(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    raw = _obj(body, "calendar", "calendar", required=True)
    old = _calendar(sandbox, app_id, raw.get("cal_id"), "calendar.cal_id")
    skip_range = _int(body, "skip_public_range", "$", default=0, choices=(0, 1))
    cal, failed = _parse_calendar(sandbox, raw, "calendar", adding=False)
    if skip_range:
        cal["public_range"] = old["public_range"]
    # is_public / is_corp_calendar are not updatable: keep them.
    old.update(cal)
    return {"errcode": 0, "errmsg": "ok", "fail_result": {"shares": failed}}


def _calendar_get(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    ids = _id_list(body, "cal_id_list")
    cals = [_calendar(sandbox, app_id, c, f"cal_id_list[{i}]") for i, c in enumerate(ids)]
    return {"errcode": 0, "errmsg": "ok", "calendar_list": copy.deepcopy(cals)}


def _calendar_del(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    cal_id = _calendar(sandbox, app_id, body.get("cal_id"), "cal_id")["cal_id"]
    del state(sandbox).calendars[cal_id]
    del state(sandbox).owner[cal_id]
    if state(sandbox).default.get(app_id) == cal_id:
        del state(sandbox).default[app_id]
    for sid in [s for s, v in state(sandbox).schedules.items() if v["cal_id"] == cal_id]:
        del state(sandbox).schedules[sid]
    return {"errcode": 0, "errmsg": "ok"}


# ------------------------------------------------------------------ schedules


def _schedule_add(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    raw = _obj(body, "schedule", "schedule", required=True)
    sched = _parse_schedule(raw, "schedule")
    if raw.get("cal_id") is None:
        # "if omitted → the app's default calendar"
        cal_id = state(sandbox).default.get(app_id)
        if cal_id is None:
            raise ApiError(40058, "schedule.cal_id is required: the app has no default calendar")
    else:
        cal_id = _calendar(sandbox, app_id, raw.get("cal_id"), "schedule.cal_id")["cal_id"]
    sid = state(sandbox).add_schedule({"schedule_id": None, **sched, "cal_id": cal_id})
    return {"errcode": 0, "errmsg": "ok", "schedule_id": sid}


def _order(sched: dict[str, Any], schedule_id: str, cal_id: str) -> dict[str, Any]:
    """Key order of the documented example (cosmetic, helps humans reading dumps)."""
    keys = (
        "schedule_id",
        "admins",
        "attendees",
        "summary",
        "description",
        "reminders",
        "location",
        "cal_id",
        "start_time",
        "end_time",
        "status",
        "is_whole_day",
    )
    full = {**sched, "schedule_id": schedule_id, "cal_id": cal_id}
    return {k: full[k] for k in keys}


def _op_args(body: Mapping[str, Any], master: Mapping[str, Any]) -> tuple[int, int]:
    op_mode = _int(body, "op_mode", "$", default=0, choices=(0, 1, 2))
    if op_mode == 0:
        return 0, 0
    if not master["reminders"]["is_repeat"]:
        raise ApiError(90485)
    op_start = _int(body, "op_start_time", "$", lo=0, hi=_UINT32)
    if not wecom_is_occurrence(master, op_start):
        raise ApiError(90482)
    return op_mode, op_start


def _split_off(master: dict[str, Any], op_start: int) -> None:
    """op_mode 2: end the master's series before ``op_start``."""
    prev = wecom_previous_occurrence(master, op_start)
    rem = master["reminders"]
    rem["repeat_until"] = prev if prev is not None else op_start - 1
    rem["exclude_time_list"] = [x for x in rem["exclude_time_list"] if x["start_time"] < op_start]


def _schedule_update(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    raw = _obj(body, "schedule", "schedule", required=True)
    master = _schedule(sandbox, app_id, raw.get("schedule_id"), "schedule.schedule_id")
    skip_attendees = _int(body, "skip_attendees", "$", default=0, choices=(0, 1))
    new = _parse_schedule(raw, "schedule")
    op_mode, op_start = _op_args(body, master)
    # Attendees keep their answers when they stay on the schedule.
    answers = {a["userid"]: a["response_status"] for a in master["attendees"]}
    if skip_attendees:
        new["attendees"] = copy.deepcopy(master["attendees"])
    else:
        for a in new["attendees"]:
            a["response_status"] = answers.get(a["userid"], 0)
    if op_mode == 2 and op_start == master["start_time"]:
        op_mode = 0  # "mode 2 from the first occurrence behaves as modify-all"
    sid, cal_id = master["schedule_id"], master["cal_id"]
    if op_mode == 0:
        if new["reminders"]["is_repeat"]:
            # exclude_time_list is server-managed: an edit of the whole series keeps it.
            new["reminders"]["exclude_time_list"] = master["reminders"]["exclude_time_list"]
        new["status"] = master["status"]
        master.clear()
        master.update(_order(new, sid, cal_id))
        return {"errcode": 0, "errmsg": "ok", "schedule_id": sid}
    if op_mode == 1:
        if new["reminders"]["is_repeat"]:
            raise ApiError(90484)
        master["reminders"]["exclude_time_list"].append({"start_time": op_start})
        master["reminders"]["exclude_time_list"].sort(key=lambda x: x["start_time"])
    else:
        _split_off(master, op_start)
    new_id = state(sandbox).add_schedule(_order(new, "", cal_id) | {"schedule_id": None})
    return {"errcode": 0, "errmsg": "ok", "schedule_id": new_id}


def _schedule_del(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    master = _schedule(sandbox, app_id, body.get("schedule_id"), "schedule_id")
    op_mode, op_start = _op_args(body, master)
    if op_mode == 2 and op_start == master["start_time"]:
        op_mode = 0
    if op_mode == 0:
        master["status"] = 1  # cancelled schedules stay readable
    elif op_mode == 1:
        master["reminders"]["exclude_time_list"].append({"start_time": op_start})
        master["reminders"]["exclude_time_list"].sort(key=lambda x: x["start_time"])
    else:
        _split_off(master, op_start)
    return {"errcode": 0, "errmsg": "ok"}


def _schedule_get(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    ids = _id_list(body, "schedule_id_list")
    rows = [_schedule(sandbox, app_id, s, f"schedule_id_list[{i}]") for i, s in enumerate(ids)]
    return {"errcode": 0, "errmsg": "ok", "schedule_list": copy.deepcopy(rows)}


def _get_by_calendar(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    cal_id = _calendar(sandbox, app_id, body.get("cal_id"), "cal_id")["cal_id"]
    offset = _int(body, "offset", "$", default=0, lo=0, hi=_UINT32)
    limit = _int(body, "limit", "$", default=500, lo=1, hi=1000)
    rows = state(sandbox).page(cal_id, offset, limit)
    return {
        "errcode": 0,
        "errmsg": "ok",
        "schedule_list": [
            {**json_copy(s), "sequence": state(sandbox).sequence[s["schedule_id"]]} for s in rows
        ],
    }


def drift(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> None:
    """Offset drift: insert a schedule ahead of every other in the listed calendar."""
    cal_id = body.get("cal_id")
    if not isinstance(cal_id, str) or state(sandbox).owner.get(cal_id) != app_id:
        return  # the request will fail on its own
    rows = state(sandbox).listing(cal_id)
    start = int(rows[0]["start_time"]) - 3600 if rows else int(sandbox.clock())
    sched = _parse_schedule(
        {"start_time": start, "end_time": start + 1800, "summary": "插队日程 drift ⏩"}, "schedule"
    )
    state(sandbox).add_schedule({"schedule_id": None, **sched, "cal_id": cal_id})


def _attendees_add(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    sched = _schedule(sandbox, app_id, body.get("schedule_id"), "schedule_id")
    have = {a["userid"] for a in sched["attendees"]}
    new = [u for u in _userids(body, "attendees", "$", max_len=1000) if u not in have]
    if len(have) + len(new) > 1000:
        raise ApiError(40058, "attendees: a schedule holds at most 1000 attendees")
    sched["attendees"].extend({"userid": u, "response_status": 0} for u in new)
    return {"errcode": 0, "errmsg": "ok"}


def _attendees_del(sandbox: EmulatorHost, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    sched = _schedule(sandbox, app_id, body.get("schedule_id"), "schedule_id")
    gone = set(_userids(body, "attendees", "$", max_len=1000))
    sched["attendees"] = [a for a in sched["attendees"] if a["userid"] not in gone]
    return {"errcode": 0, "errmsg": "ok"}


HANDLERS = {
    "calendar.add": _calendar_add,
    "calendar.update": _calendar_update,
    "calendar.get": _calendar_get,
    "calendar.del": _calendar_del,
    "schedule.add": _schedule_add,
    "schedule.update": _schedule_update,
    "schedule.get": _schedule_get,
    "schedule.del": _schedule_del,
    "schedule.get_by_calendar": _get_by_calendar,
    "schedule.add_attendees": _attendees_add,
    "schedule.del_attendees": _attendees_del,
}


# -- change callbacks (sent by the sandbox's notifier when an app subscribed) ---------

#: Schedule writes (``oa/<op>``) whose callback event is not named after them.
_SCHEDULE_EVENTS = {
    "schedule.add_attendees": "modify_schedule",
    "schedule.del_attendees": "modify_schedule",
}


def notify_write(
    sandbox: EmulatorHost, op: str, body: Mapping[str, Any], result: Mapping[str, Any]
) -> None:
    """The callbacks a successful ``oa/<op>`` write causes (when subscribed)."""
    if not sandbox.notifications.subscribed(NAME) or result.get("errcode") != 0:
        return
    schedules = state(sandbox).schedules
    if op == "calendar.update":
        notify_event(sandbox, "modify_calendar", str(body["calendar"]["cal_id"]))
    elif op == "calendar.del":
        notify_event(sandbox, "delete_calendar", str(body["cal_id"]))
    elif op == "schedule.add":
        sid = str(result["schedule_id"])
        notify_event(sandbox, "add_schedule", schedules[sid]["cal_id"], sid)
    elif op == "schedule.update":
        target = str(body["schedule"]["schedule_id"])
        notify_event(sandbox, "modify_schedule", schedules[target]["cal_id"], target)
        new = str(result.get("schedule_id") or target)
        if new != target:  # op_mode 1/2 split off a new schedule
            notify_event(sandbox, "add_schedule", schedules[new]["cal_id"], new)
    elif op == "schedule.del":
        sid = str(body["schedule_id"])
        cancelled = schedules[sid].get("status") == 1
        event = "delete_schedule" if cancelled else "modify_schedule"
        notify_event(sandbox, event, schedules[sid]["cal_id"], sid)
    elif op in _SCHEDULE_EVENTS:
        sid = str(body["schedule_id"])
        notify_event(sandbox, _SCHEDULE_EVENTS[op], schedules[sid]["cal_id"], sid)


def notify_event(
    sandbox: EmulatorHost,
    event: str,
    cal_id: str,
    schedule_id: str | None = None,
    *,
    user: str = "sys",
) -> None:
    """Send one calendar callback (``event`` as in reference/wecom.md §1.5)."""
    message = {
        "ToUserName": sandbox.notifications.subscribed_key(NAME) or "",
        "FromUserName": user,
        "CreateTime": str(int(time.time())),
        "MsgType": "event",
        "Event": event,
        "CalId": cal_id,
    }
    if schedule_id is not None:
        message["ScheduleId"] = schedule_id
    sandbox.notifications.send(NAME, message)


def user_update_schedule(sandbox: EmulatorHost, schedule_id: str, **fields: Any) -> None:
    """A member edits a schedule in the app: ``fields`` overwrite it."""
    with sandbox.lock:
        sched = state(sandbox).schedules[schedule_id]
        sched.update(fields)
        cal_id = sched["cal_id"]
    notify_event(sandbox, "modify_schedule", cal_id, schedule_id)


def user_delete_schedule(sandbox: EmulatorHost, schedule_id: str) -> None:
    """A member cancels a schedule in the app."""
    with sandbox.lock:
        sched = state(sandbox).schedules[schedule_id]
        sched["status"] = 1
        cal_id = sched["cal_id"]
    notify_event(sandbox, "delete_schedule", cal_id, schedule_id)


def user_respond_schedule(
    sandbox: EmulatorHost, schedule_id: str, userid: str, status: int
) -> None:
    """Attendee ``userid`` answers (``response_status`` 1-4)."""
    with sandbox.lock:
        sched = state(sandbox).schedules[schedule_id]
        for attendee in sched["attendees"]:
            if attendee["userid"] == userid:
                attendee["response_status"] = status
        cal_id = sched["cal_id"]
    notify_event(sandbox, "respond_schedule", cal_id, schedule_id, user=userid)


def seal_notification(callback: Any, message: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The ``(body, query)`` of a callback POST: the message as XML, sealed by ``callback``."""
    xml = "".join(
        f"<{k}><![CDATA[{v}]]></{k}>" if k != "CreateTime" else f"<{k}>{v}</{k}>"
        for k, v in message.items()
    )
    sealed: tuple[bytes, dict[str, str]] = callback.seal(f"<xml>{xml}</xml>".encode())
    return sealed


def handle(
    sandbox: EmulatorHost, op: str, token: str | None, body: Any, *, drift_first: bool = False
) -> dict[str, Any]:
    """Serve one ``oa/<op>`` call (op like ``"schedule.get"``); the caller holds the lock."""
    code, app_id = sandbox.check_token("wecom", token)
    if app_id is None:
        return error_body(sandbox, code)
    if not isinstance(body, dict):
        return error_body(sandbox, 47001, "body must be a JSON object")
    try:
        if drift_first:
            drift(sandbox, app_id, body)
        result = HANDLERS[op](sandbox, app_id, body)
        notify_write(sandbox, op, body, result)
        return result
    except ApiError as exc:
        return error_body(sandbox, exc.errcode, exc.detail)


# --------------------------------------------------------------------------
# What the sandbox app asks of an emulator module (see wecal/sandbox/_app.py)
# --------------------------------------------------------------------------

#: The provider label of recorded requests and tokens.
PROVIDER = NAME
#: The errcode of a "rate limited" fault.
RATE_LIMIT_CODE = 45009
#: Token requests: not counted by ``Faults.revoke_tokens_after``.
TOKEN_APIS = frozenset({"wecom.gettoken"})
#: The module of this emulator's demo data (``demo_data``, ``DEMO_STREAM``: see
#: wecal/providers/_emulation/_data.py): a name, as that module builds on this one.
DEMO_DATA = "wecal.providers.wecom._emulator_data"


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


_OPS = {f"/cgi-bin/oa/{op.replace('.', '/')}": op for op in HANDLERS}


def api_name(path: str, method: str = "POST") -> str | None:
    """The api name of a WeCom path (``wecom.schedule.get``), None for other paths."""
    if path == "/cgi-bin/gettoken":
        return "wecom.gettoken"
    op = _OPS.get(path)
    return None if op is None else f"wecom.{op}"


def routes(
    sandbox: EmulatorHost,
    finish: Callable[[Request, dict[str, Any]], Response],
    read_json: Callable[[Request], Awaitable[Any]],
) -> list[Route]:
    """The Starlette routes of the WeCom emulator."""

    async def token(request: Request) -> Response:
        with sandbox.lock:
            return finish(request, gettoken(sandbox, request.query_params))

    async def api(request: Request) -> Response:
        op = _OPS[request.url.path]
        body = await read_json(request)
        drift = bool(request.scope.get("state", {}).get("sandbox_drift"))
        with sandbox.lock:
            access_token = request.query_params.get("access_token")
            data = handle(
                sandbox,
                op,
                access_token,
                body,
                drift_first=drift and op == "schedule.get_by_calendar",
            )
            return finish(request, data)

    return [
        Route("/cgi-bin/gettoken", token, methods=["GET"]),
        *(Route(path, api, methods=["POST"]) for path in _OPS),
    ]
