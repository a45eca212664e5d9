"""The v1.0 emulator's constants, its error answer and the small readers every part uses."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil import rrule

# What the sandbox app asks of an emulator module (see wecal/sandbox/_app.py).
#: The provider label of recorded requests.
PROVIDER = "dingtalk_v1"
#: Legacy errcode of a "rate limited" fault (v1.0 answers it by ``fault_answer``).
RATE_LIMIT_CODE = 90018
#: Token requests: not counted by ``Faults.revoke_tokens_after``.
TOKEN_APIS = frozenset({"dingtalk.v1.oauth2.accessToken"})
#: The module of this emulator's demo data (``demo_data``, ``DEMO_STREAM``: see
#: wecal/providers/_emulation/_data.py): a name, as that module builds on this one.
DEMO_DATA = "wecal.providers.dingtalk._emulator._data"
#: The demo app: v1.0 and legacy share DingTalk's app key and secret.
CREDENTIALS = ("dingsandboxappkey", "sandbox-dingtalk-secret")

#: This emulator's name in the registry (its state's key in the sandbox).
NAME = "dingtalk"

#: Limits of the reference §2.3/§2.4.
MAX_RESULTS = 100
MAX_ATTENDEES_LIST = 100
MAX_ATTENDEES_GET = 500
MAX_ATTENDEES_PER_CALL = 500
MAX_ATTENDEES_PER_EVENT = 5000
MAX_SUMMARY = 2048
MAX_DESCRIPTION = 5000
MAX_FREE_BUSY_USERS = 20
MAX_WINDOW = timedelta(days=366)
IDEMPOTENCY_TTL = 86_400.0
#: Occurrences expanded per series at most, and the look-ahead of an open window.
MAX_OCCURRENCES = 5_000
OPEN_HORIZON = timedelta(days=366)

SCOPE_READ = "Calendar.Event.Read"
SCOPE_WRITE = "Calendar.Event.Write"
SCOPE_SCHEDULE = "Calendar.EventSchedule.Read"
SCOPE_CALENDAR = "Calendar.Calendar.Read"

_ALNUM = string.ascii_letters + string.digits
_STRICT_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RRULE_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_PATTERNS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly")
_RANGES = ("noEnd", "endDate", "numbered")
_RESPONSES = ("needsAction", "accepted", "declined", "tentative")
DEFAULT_ZONE = "Asia/Shanghai"


class V1Error(Exception):
    """Internal: an error answer (never leaves the app)."""

    def __init__(
        self, status: int, code: str, message: str, *, detail: dict[str, Any] | None = None
    ) -> None:
        self.status, self.code, self.message, self.detail = status, code, message, detail
        super().__init__(status, code, message)


def _invalid(message: str) -> V1Error:
    return V1Error(400, "invalidParameter", message)


def _not_found(what: str) -> V1Error:
    return V1Error(404, "itemNotFound", f"{what} not found")


# ------------------------------------------------------------------ helpers


def parse_time(raw: str, where: str, *, naive_zone: tzinfo | None = None) -> datetime:
    """
    An ISO 8601 date-time with an offset (``Z`` or ``±hh:mm``; milliseconds
    optional). A naive one is read in ``naive_zone`` when given, else refused.
    """
    try:
        value = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or (value.tzinfo is None and naive_zone is None):
        raise V1Error(
            400,
            "InvalidParameter.ParsedISO8601TimestampError",
            f"{where}: {raw!r} is not an ISO 8601 date-time with an offset",
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=naive_zone)


def _int_param(query: Mapping[str, str], key: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(f"{key} must be an integer") from None
    if not lo <= value <= hi:
        raise _invalid(f"{key} must be within [{lo}, {hi}]")
    return value


def _bool_param(query: Mapping[str, str], key: str) -> bool:
    raw = query.get(key, "false").lower()
    if raw not in ("true", "false"):
        raise _invalid(f"{key} must be true or false")
    return raw == "true"


def _query_key(union_id: str, view: bool, query: Mapping[str, str]) -> str:
    fields = {k: query.get(k) for k in ("timeMin", "timeMax", "showDeleted", "syncToken",
                                         "seriesMasterId", "maxAttendees")}  # fmt: skip
    raw = json.dumps([union_id, view, fields], sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, name: str, key: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = isinstance(data, dict) and data.get("k") == key
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise _invalid(f"{name} is invalid for this query")
    assert isinstance(data, dict)
    return data


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _instant(obj: Mapping[str, Any]) -> datetime:
    """A stored start/end → an aware instant (all-day dates: UTC midnight)."""
    if "dateTime" in obj:
        return datetime.fromisoformat(obj["dateTime"])
    return datetime.combine(date.fromisoformat(obj["date"]), time(0), UTC)


def _days(raw: Any, where: str) -> list[int]:
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid(f"{where} is required (comma-separated lower-case weekday names)")
    names = [d.strip() for d in raw.split(",")]
    if not all(n in _WEEKDAYS for n in names):
        raise _invalid(f"{where} {raw!r} has a name that is not a weekday")
    return [_WEEKDAYS.index(n) for n in names]


def _range_end(raw: str) -> date | datetime:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    return parse_time(raw, "recurrence.range.endDate")
