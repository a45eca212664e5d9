"""The v1.0 emulator's state (users, events, calendars, idempotency) and its behaviours."""

from __future__ import annotations

import bisect
import copy
import functools
import hashlib
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import attrs

from ....errors import ValidationError, WecalError
from ..._emulation._faults import Fault, FaultKind
from ..._emulation._host import EmulatorHost
from ..._emulation._json import json_copy
from ._common import (
    _ALNUM,
    _RESPONSES,
    _STRICT_TIME,
    DEFAULT_ZONE,
    IDEMPOTENCY_TTL,
    MAX_ATTENDEES_GET,
    MAX_ATTENDEES_LIST,
    MAX_ATTENDEES_PER_EVENT,
    MAX_DESCRIPTION,
    MAX_FREE_BUSY_USERS,
    MAX_RESULTS,
    MAX_SUMMARY,
    MAX_WINDOW,
    NAME,
    OPEN_HORIZON,
    V1Error,
    _bool_param,
    _decode,
    _encode,
    _instant,
    _int_param,
    _invalid,
    _ms,
    _not_found,
    _query_key,
    parse_time,
)
from ._recurrence import _is_occurrence, _occurrence, _starts_within, expand_occurrences
from ._validation import _Validation

# ------------------------------------------------------------------ state


@attrs.define
class _Entry:
    """One event in one user's calendar."""

    seq: int
    removed: bool = False


@attrs.define
class _Stored:
    """An event as stored: the canonical wire dict plus what the API does not show."""

    event: dict[str, Any]
    seq: int
    #: originStart instants (UTC) of deleted occurrences.
    exdates: set[datetime] = attrs.field(factory=set)
    #: Deleted by its organizer (cancelled for everyone).
    deleted: bool = False


@attrs.define
class _Idem:
    fingerprint: str
    at: float
    answer: tuple[int, Any] | None = None  # None while being applied


class DingTalkV1(_Validation):
    """
    The v1.0 emulator's state, one per :class:`~wecal.sandbox.Sandbox`
    (``v1(sandbox)``). Ground truth is public: ``users`` (unionId → ``{"userid",
    "name"}``), ``events`` (event id → stored wire dict, as the API shows it to
    its organizer, without ``self`` flags) and ``calendars`` (unionId → the
    event ids in that user's calendar). Knobs tests may set:

    ``apply_delay``
        seconds a write with an ``x-client-token`` stays "processing" before it
        is applied (a duplicate meanwhile gets ``idempotencyProcessing``);
    ``daily_create_limit``
        creates per organizer per day (Asia/Shanghai, sandbox clock) before
        ``flowLimit`` (default 100, the documented limit);
    ``monthly_quota``
        calendar API calls the org may make before
        ``Forbidden.AccessDenied.ApiCountLimitForOrg`` (None: unlimited);
    ``token_quirk``
        ``"zero"`` / ``"missing"``: the token answer's ``expireIn`` is 0 / absent;
    ``strict_times``
        window bounds (``timeMin``/``timeMax``, ``startTime``/``endTime``) must
        be UTC with milliseconds (``2026-03-24T07:02:48.000Z``), as a
        practitioner reports the live API demands (reference §2.3); default
        off, as the docs' own examples send ``+08:00``.
    """

    def __init__(self, sandbox: EmulatorHost) -> None:
        self.sandbox = sandbox
        self.users: dict[str, dict[str, str]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.calendars: dict[str, dict[str, _Entry]] = {}
        self.apply_delay = 0.0
        self.daily_create_limit = 100
        self.monthly_quota: int | None = None
        self.token_quirk: Literal["zero", "missing"] | None = None
        self.strict_times = False
        self._stored: dict[str, _Stored] = {}
        self._by_userid: dict[str, str] = {}
        self._seq = 0
        self._idem: dict[str, _Idem] = {}
        self._creates: dict[tuple[str, date], int] = {}
        self._calls = 0
        self._denied_scopes: set[str] = set()
        self._sync_epoch = 0
        # Listings by (query key, store version): later pages of a listing
        # reuse its sorted rows, whichever other listings ran in between.
        self._rows_cache: dict[tuple[str, int], list[_Row]] = {}

    # -------------------------------------------------------------- setup

    def add_user(self, name: str, *, userid: str | None = None, union_id: str | None = None) -> str:
        """Add a user (``userid``/``unionId`` made up when not given); returns the unionId."""
        with self.sandbox.lock:
            union = union_id or self._new_union_id()
            if union in self.users:
                raise ValidationError(f"DingTalkV1.add_user: unionId {union!r} exists")
            staff = userid or self._new_userid()
            if staff in self._by_userid:
                raise ValidationError(f"DingTalkV1.add_user: userid {staff!r} exists")
            self.users[union] = {"userid": staff, "name": name}
            self._by_userid[staff] = union
            self.calendars.setdefault(union, {})
            return union

    def union_id_of(self, userid: str) -> str | None:
        """The unionId of a staff userid, or None."""
        return self._by_userid.get(userid)

    def deny_scope(self, scope: str) -> None:
        """Take a permission scope (``"Calendar.Event.Write"``, …) away from every app."""
        with self.sandbox.lock:
            self._denied_scopes.add(scope)

    def expire_sync_tokens(self) -> None:
        """Make every ``syncToken`` handed out so far invalid (``invalidParameter``)."""
        with self.sandbox.lock:
            self._sync_epoch += 1

    def grant_all_scopes(self) -> None:
        """Give back every scope taken with :meth:`deny_scope`."""
        with self.sandbox.lock:
            self._denied_scopes.clear()

    def add_event(self, organizer: str, event: Mapping[str, Any]) -> str:
        """
        Store an event (a v1.0 create body, validated as the API does) for
        ``organizer``; its attendees who are sandbox users get it in their
        calendars. ``status``, ``createTime``/``updateTime`` and attendees'
        ``responseStatus`` may be given (seeding). Returns the event id.
        """
        with self.sandbox.lock:
            if organizer not in self.users:
                raise ValidationError(f"DingTalkV1.add_event: unknown user {organizer!r}")
            try:
                stored = self._create(organizer, dict(event), seeding=True)
            except V1Error as exc:
                raise ValidationError(f"DingTalkV1.add_event: {exc.message}") from None
            return str(stored["id"])

    def event_for(self, union_id: str, event_id: str) -> dict[str, Any] | None:
        """The event as ``GET`` shows it to ``union_id`` (None when absent or deleted for them)."""
        with self.sandbox.lock:
            try:
                return self._get(union_id, event_id, max_attendees=MAX_ATTENDEES_PER_EVENT)
            except V1Error:
                return None

    def ground_truth(
        self,
        union_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        view: bool = False,
    ) -> list[dict[str, Any]]:
        """
        Every item ``/events`` (``view=False``) or ``/eventsview`` (``view=True``)
        returns for ``union_id`` over all pages, in order, for the window.
        """
        with self.sandbox.lock:
            rows = (
                self._view_rows(union_id, start, end)
                if view
                else self._list_rows(union_id, start, end, show_deleted=False)
            )
            return [make() for _t, _id, make in rows]

    # -------------------------------------------------------------- ids

    def _new_union_id(self) -> str:
        for _ in range(1000):  # bounded: a collision in 24 random chars is ~never
            new = "iiiP" + self.sandbox.random(_ALNUM, 20) + "iEiE"
            if new not in self.users:
                return new
        raise WecalError("Sandbox: could not find a free unionId")  # pragma: no cover

    def _new_userid(self) -> str:
        for _ in range(1000):
            new = self.sandbox.random(string.digits, 1) + self.sandbox.random(string.digits, 14)
            new = "0" + new[1:] if new[0] != "0" else new
            if new not in self._by_userid:
                return new
        raise WecalError("Sandbox: could not find a free userid")  # pragma: no cover

    def _new_event_id(self) -> str:
        for _ in range(1000):
            new = self.sandbox.random(_ALNUM, 28) + "QT09"
            if new not in self._stored:
                return new
        raise WecalError("Sandbox: could not find a free event id")  # pragma: no cover

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.sandbox.clock(), UTC)

    def _stamp(self) -> str:
        return self._now().astimezone(ZoneInfo(DEFAULT_ZONE)).isoformat(timespec="seconds")

    # -------------------------------------------------------------- auth

    def authorize(self, token: str | None, scope: str | None) -> str:
        """The app id of a usable token, else the v1.0 auth error."""
        code, app_id = self.sandbox.check_token("dingtalk", token)
        if app_id is None:
            if code == 41001:
                raise V1Error(401, "Unauthorized", "access_token is missing")
            if code == 42001 and self.sandbox.revoked_as(token or "") == 42001:
                raise V1Error(401, "Unauthorized", "access_token is invalid")
            message = (
                "access_token过期或者不存在，需要重新获取"
                if code == 42001
                else "不合法的access_token"
            )
            raise V1Error(400, "InvalidAuthentication", message)
        if scope is not None and scope in self._denied_scopes:
            raise V1Error(
                403,
                "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                f"没有调用该接口的权限，接口权限申请参考: {scope}",
                detail={"requiredScopes": [scope]},
            )
        if scope is not None and self.monthly_quota is not None:
            if self._calls >= self.monthly_quota:
                raise V1Error(
                    403,
                    "Forbidden.AccessDenied.ApiCountLimitForOrg",
                    "企业调用接口的次数超过了本月的限制",
                )
            self._calls += 1
        return app_id

    def access_token(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /v1.0/oauth2/accessToken``."""
        if not isinstance(body, dict):
            raise _invalid("body must be a JSON object")
        key, secret = body.get("appKey"), body.get("appSecret")
        if not isinstance(key, str) or not isinstance(secret, str):
            raise V1Error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        _known, app_id = self.sandbox.find_app("dingtalk", key, secret)
        if app_id is None:
            raise V1Error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = self.sandbox.issue_token("dingtalk", app_id, renew=True)
        answer: dict[str, Any] = {"accessToken": token, "expireIn": self.sandbox.token_ttl}
        if self.token_quirk == "zero":
            answer["expireIn"] = 0
        elif self.token_quirk == "missing":
            del answer["expireIn"]
        return 200, answer

    # -------------------------------------------------------------- users

    def _user(self, union_id: str) -> dict[str, str]:
        user = self.users.get(union_id)
        if user is None:
            raise _not_found(f"user {union_id}")
        return user

    def _person(self, union_id: str, response: str = "needsAction") -> dict[str, Any]:
        user = self.users.get(union_id)
        return {
            "id": union_id,
            "displayName": user["name"] if user else union_id[-6:],
            "responseStatus": response,
        }

    def _create(self, organizer: str, body: Any, *, seeding: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("Event must be provided.")
        self._text(body, "summary", MAX_SUMMARY, required=True)
        self._text(body, "description", MAX_DESCRIPTION, required=False)
        start, end, all_day = self._times(body, None)
        event: dict[str, Any] = {
            "id": self._new_event_id(),
            "summary": body["summary"],
            "description": body.get("description", ""),
            "start": start,
            "end": end,
            "isAllDay": all_day,
        }
        if body.get("recurrence") is not None:
            event["recurrence"] = self._recurrence(body["recurrence"])
        attendees = self._attendee_list(body.get("attendees", []), "attendees")
        people: dict[str, dict[str, Any]] = {}
        given = {a["id"]: a for a in body.get("attendees", []) if isinstance(a, dict)}
        for a in attendees:
            person = {**self._person(a["id"]), "isOptional": a["isOptional"]}
            if seeding:
                seen = given[a["id"]]
                if seen.get("responseStatus") in _RESPONSES:
                    person["responseStatus"] = seen["responseStatus"]
                if isinstance(seen.get("displayName"), str):
                    person["displayName"] = seen["displayName"]
            people[a["id"]] = person
        self._check_event_size(len(people))
        event["attendees"] = list(people.values())
        event["organizer"] = self._person(organizer, "accepted")
        location = body.get("location")
        if location is not None:
            if not isinstance(location, dict):
                raise _invalid("location must be an object")
            event["location"] = {"displayName": str(location.get("displayName") or "")}
        event["reminders"] = (
            self._reminders(body["reminders"])
            if body.get("reminders") is not None
            else [{"method": "dingtalk", "minutes": "15" if not all_day else "900"}]
        )
        if isinstance(body.get("onlineMeetingInfo"), dict):
            event["onlineMeetingInfo"] = self._meeting()
        for key in ("uiConfigs", "richTextDescription", "categories", "extendedProperties"):
            if body.get(key) is not None:
                event[key] = copy.deepcopy(body[key])
        status = body.get("status", "confirmed") if seeding else "confirmed"
        event["status"] = (
            status if status in ("confirmed", "cancelled", "tentative") else "confirmed"
        )
        now = self._stamp()
        event["createTime"] = body.get("createTime", now) if seeding else now
        event["updateTime"] = body.get("updateTime", event["createTime"]) if seeding else now
        if not seeding:
            self._count_create(organizer)
        seq = self._bump()
        self._stored[event["id"]] = _Stored(event, seq)
        self.events[event["id"]] = event
        for union_id in {p["id"] for p in event["attendees"]} | {organizer}:
            if union_id in self.users:
                self.calendars.setdefault(union_id, {})[event["id"]] = _Entry(seq)
        return event

    def _meeting(self) -> dict[str, Any]:
        conf = self.sandbox.random("0123456789abcdef", 32)
        return {
            "type": "dingtalk",
            "conferenceId": conf,
            "url": f"dingtalk://dingtalkclient/page/videoConfFromCalendar?confId={conf}",
            "extraInfo": {},
        }

    def _count_create(self, organizer: str) -> None:
        day = self._now().astimezone(ZoneInfo(DEFAULT_ZONE)).date()
        n = self._creates.get((organizer, day), 0)
        if n >= self.daily_create_limit:
            raise V1Error(400, "flowLimit", "current user can not create events exceed 100 per day")
        self._creates[(organizer, day)] = n + 1

    def _master(self, union_id: str, event_id: str) -> tuple[_Stored, datetime | None]:
        """(the stored series/event, the occurrence's originStart for an instance id)."""
        self._user(union_id)
        master_id, _, suffix = event_id.partition("_")
        stored = self._stored.get(master_id)
        entry = self.calendars.get(union_id, {}).get(master_id)
        if stored is None or entry is None:
            raise _not_found(f"event {event_id}")
        if entry.removed:
            raise V1Error(400, "instanceNotExist", f"event {event_id} does not exist")
        if not suffix:
            return stored, None
        if not suffix.isdigit() or "recurrence" not in stored.event:
            raise _not_found(f"event {event_id}")
        origin = datetime.fromtimestamp(int(suffix) / 1000, UTC)
        if origin in stored.exdates or not _is_occurrence(stored.event, origin):
            raise V1Error(400, "instanceNotExist", f"event {event_id} does not exist")
        return stored, origin

    def _get(self, union_id: str, event_id: str, *, max_attendees: int) -> dict[str, Any]:
        stored, origin = self._master(union_id, event_id)
        if origin is None:
            return self._render(stored.event, union_id, max_attendees)
        occ = _occurrence(stored.event, origin)
        return self._render(occ, union_id, max_attendees)

    def _patch(self, union_id: str, event_id: str, body: Any) -> dict[str, Any]:
        stored, origin = self._master(union_id, event_id)
        if not isinstance(body, dict):
            raise _invalid("Event must be provided.")
        if body.get("id") != event_id:
            raise _invalid("id in the body must repeat the event id of the path")
        if origin is not None:
            raise _invalid("the sandbox cannot modify a single occurrence of a series")
        event = stored.event
        if event["organizer"]["id"] != union_id:
            raise V1Error(400, "permissionDeny", "only the organizer can modify the event")
        if stored.deleted:
            raise V1Error(400, "instanceNotExist", f"event {event_id} does not exist")
        new = copy.deepcopy(event)
        if "summary" in body:
            self._text(body, "summary", MAX_SUMMARY, required=True)
            new["summary"] = body["summary"]
        if "description" in body:
            self._text(body, "description", MAX_DESCRIPTION, required=False)
            new["description"] = body["description"] or ""
        if any(k in body for k in ("start", "end", "isAllDay")):
            new["start"], new["end"], new["isAllDay"] = self._times(body, event)
        if "recurrence" in body:
            if body["recurrence"] is None:
                new.pop("recurrence", None)
                stored.exdates.clear()
            else:
                new["recurrence"] = self._recurrence(body["recurrence"])
        if "location" in body:
            loc = body["location"]
            if loc is not None and not isinstance(loc, dict):
                raise _invalid("location must be an object")
            new["location"] = {"displayName": str((loc or {}).get("displayName") or "")}
        if "reminders" in body:
            new["reminders"] = self._reminders(body["reminders"] or [])
        if isinstance(body.get("onlineMeetingInfo"), dict):
            new["onlineMeetingInfo"] = self._meeting()  # a new meeting replaces the old
        if "attendees" in body:
            wanted = self._attendee_list(body["attendees"], "attendees")
            old = {a["id"]: a for a in event["attendees"]}
            people = [
                {**(old.get(a["id"]) or self._person(a["id"])), "isOptional": a["isOptional"]}
                for a in wanted
            ]
            self._check_event_size(len(people))
            new["attendees"] = people
        for key in ("uiConfigs", "richTextDescription", "categories", "extendedProperties"):
            if key in body:
                new[key] = copy.deepcopy(body[key])
        new["updateTime"] = self._stamp()
        self._replace(stored, new)
        return self._render(new, union_id, MAX_ATTENDEES_GET)

    def _check_event_size(self, n: int) -> None:
        if n > MAX_ATTENDEES_PER_EVENT:
            raise V1Error(400, "exceedMaxReceiverSize", "日程人数超过上限")

    def _replace(self, stored: _Stored, new: dict[str, Any]) -> None:
        """
        Store a new version of an event: bump its seq, sync attendees'
        calendars (a person newly invited gets it back even after deleting it).
        """
        before = {p["id"] for p in stored.event["attendees"]}
        seq = self._bump()
        stored.event = new
        stored.seq = seq
        self.events[new["id"]] = new
        members = {p["id"] for p in new["attendees"]} | {new["organizer"]["id"]}
        for union_id in members:
            if union_id in self.users:
                cal = self.calendars.setdefault(union_id, {})
                entry = cal.get(new["id"])
                if entry is None or (entry.removed and union_id not in before):
                    cal[new["id"]] = _Entry(seq)
                elif not entry.removed:
                    entry.seq = seq
        for union_id, cal in self.calendars.items():
            entry = cal.get(new["id"])
            if entry is not None and union_id not in members and not entry.removed:
                entry.removed = True
                entry.seq = seq

    def _delete(self, union_id: str, event_id: str) -> None:
        stored, origin = self._master(union_id, event_id)
        if origin is not None:
            stored.exdates.add(origin)
            new = copy.deepcopy(stored.event)
            new["updateTime"] = self._stamp()
            self._replace(stored, new)
            return
        entry = self.calendars[union_id][stored.event["id"]]
        seq = self._bump()
        if stored.event["organizer"]["id"] == union_id:
            stored.deleted = True
            new = copy.deepcopy(stored.event)
            new["status"] = "cancelled"
            new["updateTime"] = self._stamp()
            stored.event = new
            stored.seq = seq
            self.events[new["id"]] = new
            for cal in self.calendars.values():
                other = cal.get(new["id"])
                if other is not None:
                    other.seq = seq
        entry.removed = True
        entry.seq = seq

    def _respond(self, union_id: str, event_id: str, body: Any) -> None:
        stored, _origin = self._master(union_id, event_id)
        status = body.get("responseStatus") if isinstance(body, dict) else None
        if status not in _RESPONSES:
            raise _invalid(f"responseStatus must be one of {', '.join(_RESPONSES)}")
        new = copy.deepcopy(stored.event)
        found = new["organizer"]["id"] == union_id
        if found:
            new["organizer"]["responseStatus"] = status
        for person in new["attendees"]:
            if person["id"] == union_id:
                person["responseStatus"] = status
                found = True
        if not found:
            raise V1Error(400, "permissionDeny", "only an attendee can respond to the event")
        new["updateTime"] = self._stamp()
        self._replace(stored, new)

    def _attendee_change(
        self, union_id: str, event_id: str, body: Any, key: str
    ) -> tuple[_Stored, list[dict[str, Any]]]:
        """The series an attendee add/remove applies to, and its checked ``key`` list."""
        stored, origin = self._master(union_id, event_id)
        if origin is not None:
            raise _invalid("attendees are changed on the series, not on one occurrence")
        if not isinstance(body, dict):
            raise _invalid("body must be a JSON object")
        return stored, self._attendee_list(body.get(key), key)

    def _add_attendees(self, union_id: str, event_id: str, body: Any) -> None:
        stored, wanted = self._attendee_change(union_id, event_id, body, "attendeesToAdd")
        new = copy.deepcopy(stored.event)
        have = {p["id"] for p in new["attendees"]}
        for a in wanted:
            if a["id"] not in have:
                new["attendees"].append({**self._person(a["id"]), "isOptional": a["isOptional"]})
                have.add(a["id"])
        self._check_event_size(len(new["attendees"]))
        new["updateTime"] = self._stamp()
        self._replace(stored, new)

    def _remove_attendees(self, union_id: str, event_id: str, body: Any) -> None:
        stored, wanted = self._attendee_change(union_id, event_id, body, "attendeesToRemove")
        gone = {a["id"] for a in wanted}
        new = copy.deepcopy(stored.event)
        new["attendees"] = [p for p in new["attendees"] if p["id"] not in gone]
        new["updateTime"] = self._stamp()
        self._replace(stored, new)

    # -------------------------------------------------------------- rendering

    def _render(
        self,
        event: Mapping[str, Any],
        viewer: str,
        max_attendees: int,
        *,
        cancelled: bool = False,
    ) -> dict[str, Any]:
        out = json_copy(event)
        out["attendees"] = [
            {**p, "self": p["id"] == viewer} for p in out.get("attendees", [])[:max_attendees]
        ]
        out["organizer"] = {**out["organizer"], "self": out["organizer"]["id"] == viewer}
        if cancelled:
            out["status"] = "cancelled"
        return out

    def _render_occurrence(
        self, event: Mapping[str, Any], start: datetime, viewer: str, max_attendees: int
    ) -> dict[str, Any]:
        return self._render(_occurrence(event, start), viewer, max_attendees)

    # -------------------------------------------------------------- listing

    def _visible(self, union_id: str, *, show_deleted: bool) -> Iterator[tuple[_Stored, _Entry]]:
        for event_id, entry in self.calendars.get(union_id, {}).items():
            if entry.removed and not show_deleted:
                continue
            yield self._stored[event_id], entry

    def _list_rows(
        self,
        union_id: str,
        lo: datetime | None,
        hi: datetime | None,
        *,
        show_deleted: bool,
        since: int | None = None,
        series: str | None = None,
        max_attendees: int = MAX_ATTENDEES_LIST,
    ) -> list[_Row]:
        rows: list[_Row] = []
        for stored, entry in self._visible(
            union_id, show_deleted=show_deleted or since is not None
        ):
            event = stored.event
            if series is not None and event["id"] != series:
                continue
            if since is not None:
                if entry.seq <= since:
                    continue
            elif not _starts_within(event, stored.exdates, lo, hi):
                continue
            make = functools.partial(
                self._render, event, union_id, max_attendees, cancelled=entry.removed
            )
            rows.append((_ms(_instant(event["start"])), event["id"], make))
        rows.sort(key=_row_key)
        return rows

    def _view_rows(
        self,
        union_id: str,
        lo: datetime | None,
        hi: datetime | None,
        max_attendees: int = MAX_ATTENDEES_LIST,
    ) -> list[_Row]:
        rows: list[_Row] = []
        horizon = hi or (lo or self._now()) + OPEN_HORIZON
        for stored, _entry in self._visible(union_id, show_deleted=False):
            event = stored.event
            if "recurrence" not in event:
                s, e = _instant(event["start"]), _instant(event["end"])
                if (lo is None or e >= lo) and (hi is None or s < hi):
                    make = functools.partial(self._render, event, union_id, max_attendees)
                    rows.append((_ms(s), event["id"], make))
                continue
            for s, e in expand_occurrences(event, stored.exdates, lo, horizon):
                if lo is not None and e < lo:
                    continue
                # The occurrence is built when its page is served (_occurrence's id).
                make = functools.partial(self._render_occurrence, event, s, union_id, max_attendees)
                rows.append((_ms(s), f"{event['id']}_{_ms(s)}", make))
        rows.sort(key=_row_key)
        return rows

    def _query_time(self, raw: str, where: str) -> datetime:
        """A window bound; with ``strict_times``, only UTC with milliseconds passes."""
        if self.strict_times and not _STRICT_TIME.fullmatch(raw):
            raise V1Error(
                400,
                "InvalidParameter.ParsedISO8601TimestampError",
                f"{where}: {raw!r} is not yyyy-MM-ddTHH:mm:ss.SSSZ",
            )
        return parse_time(raw, where)

    def _window(self, query: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
        lo = self._query_time(query["timeMin"], "timeMin") if query.get("timeMin") else None
        hi = self._query_time(query["timeMax"], "timeMax") if query.get("timeMax") else None
        return lo, hi

    def drift(self, union_id: str, query: Mapping[str, str], *, view: bool) -> None:
        """The ``offset_drift`` fault: a new event ahead of everything this listing shows."""
        if union_id not in self.users:
            return
        try:
            lo, hi = self._window(query)
        except V1Error:
            return
        rows = (
            self._view_rows(union_id, lo, hi)
            if view
            else self._list_rows(union_id, lo, hi, show_deleted=False)
        )
        start = (
            datetime.fromtimestamp(rows[0][0] / 1000, UTC) - timedelta(minutes=1)
            if rows
            else (lo or self._now())
        )
        zone = ZoneInfo(DEFAULT_ZONE)
        moment = {"dateTime": start.astimezone(zone).isoformat(), "timeZone": DEFAULT_ZONE}
        end = {
            "dateTime": (start + timedelta(minutes=30)).astimezone(zone).isoformat(),
            "timeZone": DEFAULT_ZONE,
        }
        self._create(union_id, {"summary": "插队日程 drift ⏩", "start": moment, "end": end},
                     seeding=True)  # fmt: skip

    def list_events(self, union_id: str, query: Mapping[str, str], *, view: bool) -> dict[str, Any]:
        """``GET …/events`` (``view=False``) or ``…/eventsview``: one page."""
        self._user(union_id)
        lo, hi = self._window(query)
        if lo is not None and hi is not None:
            if hi < lo:
                raise _invalid("timeMax must not be before timeMin")
            if hi - lo > MAX_WINDOW:
                raise _invalid("timeMin and timeMax may span at most one year")
        max_results = _int_param(query, "maxResults", MAX_RESULTS, 1, MAX_RESULTS)
        max_attendees = _int_param(query, "maxAttendees", MAX_ATTENDEES_LIST, 1, MAX_ATTENDEES_LIST)
        show_deleted = _bool_param(query, "showDeleted") if not view else False
        series = query.get("seriesMasterId") or None if not view else None
        since: int | None = None
        if not view and query.get("syncToken"):
            sync = _decode(query["syncToken"], "syncToken", union_id)
            if sync.get("e") != self._sync_epoch:
                raise _invalid("syncToken has expired: list again without it (a full sync)")
            since = int(sync["s"])
        key = _query_key(union_id, view, query)
        if query.get("nextToken"):
            cursor = _decode(query["nextToken"], "nextToken", key)
            issued = int(cursor["i"])
            after: tuple[int, str] | None = (int(cursor["t"]), str(cursor["d"]))
        else:
            issued, after = self._seq, None
        # Later pages of an unchanged calendar reuse the first page's sorted
        # rows, found by bisection, and only a page's events are rendered: a
        # page costs the same however many events the calendar holds. A first
        # page is always computed afresh.
        cache_key = (key, self._seq)
        cached = self._rows_cache.get(cache_key) if after is not None else None
        if cached is not None:
            rows = cached
        elif view:
            rows = self._view_rows(union_id, lo, hi, max_attendees)
        else:
            rows = self._list_rows(
                union_id, lo, hi, show_deleted=show_deleted, since=since, series=series,
                max_attendees=max_attendees,
            )  # fmt: skip
        if cached is None:
            if len(self._rows_cache) >= _ROWS_CACHE_SIZE:
                self._rows_cache.pop(next(iter(self._rows_cache)))  # the oldest listing
            self._rows_cache[cache_key] = rows
        first = 0 if after is None else bisect.bisect_right(rows, after, key=_row_key)
        page = rows[first : first + max_results]
        answer: dict[str, Any] = {"events": [make() for _t, _id, make in page]}
        if len(rows) - first > max_results:
            last = page[-1]
            answer["nextToken"] = _encode({"k": key, "t": last[0], "d": last[1], "i": issued})
        elif not view and hi is None:
            answer["syncToken"] = _encode({"k": union_id, "s": issued, "e": self._sync_epoch})
        return answer

    def list_attendees(
        self, union_id: str, event_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        """``GET …/events/{eventId}/attendees``: attendees in pages of ≤ 500."""
        stored, _origin = self._master(union_id, event_id)
        max_results = _int_param(query, "maxResults", 100, 1, 500)
        key = f"attendees:{union_id}:{stored.event['id']}"
        offset = (
            int(_decode(query["nextToken"], "nextToken", key)["o"]) if query.get("nextToken") else 0
        )
        people = self._render(stored.event, union_id, MAX_ATTENDEES_PER_EVENT)["attendees"]
        answer: dict[str, Any] = {"attendees": people[offset : offset + max_results]}
        if offset + max_results < len(people):
            answer["nextToken"] = _encode({"k": key, "o": offset + max_results})
        return answer

    def calendars_of(self, union_id: str) -> dict[str, Any]:
        """``GET /v1.0/calendar/users/{unionId}/calendars``."""
        user = self._user(union_id)
        etag = hashlib.sha256(f"{union_id}:{self._seq}".encode()).hexdigest()[:16]
        return {
            "response": {
                "calendars": [
                    {
                        "id": "primary",
                        "summary": f"{user['name']}的日历",
                        "description": "",
                        "timeZone": DEFAULT_ZONE,
                        "eTag": etag,
                        "type": "primary",
                        "privilege": "owner",
                    }
                ]
            }
        }

    def query_schedule(self, union_id: str, body: Any) -> dict[str, Any]:
        """``POST …/querySchedule``: free/busy of ≤ 20 users."""
        self._user(union_id)
        if not isinstance(body, dict):
            raise V1Error(400, "paramIllegal", "PARAM ILLEGAL: body must be a JSON object")
        users = body.get("userIds")
        if not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users):
            raise V1Error(400, "paramIllegal", "PARAM ILLEGAL: userIds must be unionIds")
        if len(users) > MAX_FREE_BUSY_USERS:
            raise V1Error(
                400, "paramIllegal", f"PARAM ILLEGAL: at most {MAX_FREE_BUSY_USERS} userIds"
            )
        for key in ("startTime", "endTime"):
            if not isinstance(body.get(key), str):
                raise V1Error(400, "paramIllegal", f"PARAM ILLEGAL: {key} is required")
        lo = self._query_time(body["startTime"], "startTime")
        hi = self._query_time(body["endTime"], "endTime")
        if hi < lo:
            raise V1Error(400, "paramIllegal", "PARAM ILLEGAL: endTime before startTime")
        if hi - lo > MAX_WINDOW:
            raise V1Error(400, "paramIllegal", "PARAM ILLEGAL: the window may span at most a year")
        info = []
        for user in users:
            if user not in self.users:
                info.append({"userId": user, "error": "用户不存在", "scheduleItems": []})
                continue
            items = []
            for _t, _id, make in self._view_rows(user, lo, hi, MAX_ATTENDEES_PER_EVENT):
                ev = make()
                s, e = _instant(ev["start"]), _instant(ev["end"])
                if not (s < hi and e > lo) or ev.get("status") == "cancelled":
                    continue
                me = next((p for p in ev["attendees"] if p["id"] == user), None)
                answer = "accepted" if ev["organizer"]["id"] == user else (
                    me["responseStatus"] if me else "accepted"
                )  # fmt: skip
                if answer == "declined":
                    continue
                status = "BUSY" if answer == "accepted" else "TENTATIVE"
                items.append({"status": status, "start": ev["start"], "end": ev["end"]})
            info.append({"userId": user, "scheduleItems": items})
        return {"scheduleInformation": info}

    # -------------------------------------------------------------- idempotency

    def idem_begin(self, token: str, fingerprint: str) -> tuple[int, Any] | None:
        """
        Register a write's ``x-client-token``. Returns the stored answer to
        replay, or None when this write should be applied (then call
        :meth:`idem_end`). Raises the idempotency errors.
        """
        now = self.sandbox.clock()
        for key in [k for k, v in self._idem.items() if now - v.at > IDEMPOTENCY_TTL]:
            del self._idem[key]
        rec = self._idem.get(token)
        if rec is None:
            self._idem[token] = _Idem(fingerprint, now)
            return None
        if rec.fingerprint != fingerprint:
            raise V1Error(
                400,
                "IdempotentParameterMismatch",
                "Request parameters do not match the request that first used this x-client-token",
            )
        if rec.answer is None:
            raise V1Error(400, "idempotencyProcessing", "Idempotency processing")
        return rec.answer

    def idem_end(self, token: str, answer: tuple[int, Any] | None) -> None:
        """Store the answer of a write (None: it failed, so the token is free again)."""
        if answer is None or answer[0] >= 500:
            self._idem.pop(token, None)
            return
        rec = self._idem.get(token)
        if rec is not None:
            rec.answer = answer

    # -------------------------------------------------------------- legacy host

    def user_get(self, body: Any) -> dict[str, Any]:
        """``POST /topapi/v2/user/get {userid}`` (legacy envelope)."""
        userid = body.get("userid") if isinstance(body, dict) else None
        if not isinstance(userid, str) or not userid:
            return self._legacy_error(40, "Missing required arguments:userid")
        union = self._by_userid.get(userid)
        if union is None:
            return self._legacy_error(60121, "找不到该用户")
        user = self.users[union]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"userid": userid, "unionid": union, "name": user["name"], "active": True},
            "request_id": self.sandbox.request_hint(),
        }

    def user_by_union_id(self, body: Any) -> dict[str, Any]:
        """``POST /topapi/user/getbyunionid {unionid}`` (legacy envelope)."""
        union = body.get("unionid") if isinstance(body, dict) else None
        if not isinstance(union, str) or not union:
            return self._legacy_error(40, "Missing required arguments:unionid")
        user = self.users.get(union)
        if user is None:
            return self._legacy_error(60121, "找不到该用户")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"contact_type": 0, "userid": user["userid"]},
            "request_id": self.sandbox.request_hint(),
        }

    def _legacy_error(self, errcode: int, errmsg: str) -> dict[str, Any]:
        return {"errcode": errcode, "errmsg": errmsg, "request_id": self.sandbox.request_hint()}

    # -------------------------------------------------------------- dispatch

    def error_body(self, exc: V1Error) -> dict[str, Any]:
        """The v1.0 error JSON of ``exc``."""
        body: dict[str, Any] = {
            "code": exc.code,
            "message": exc.message,
            "requestid": self.sandbox.request_hint(),
        }
        if exc.detail is not None:
            body["accessdenieddetail"] = exc.detail
        return body


def v1(sandbox: EmulatorHost) -> DingTalkV1:
    """The v1.0 emulator state of ``sandbox`` (created on first use)."""
    return sandbox.state(NAME, DingTalkV1)


def error_body(sandbox: EmulatorHost, errcode: int) -> dict[str, Any]:
    """A v1.0 error body for a legacy-style errcode (``systemError``, the errcode named)."""
    with sandbox.lock:
        return v1(sandbox).error_body(V1Error(500, "systemError", f"errcode {errcode}"))


def fault_answer(sandbox: EmulatorHost, fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The v1.0 answer of a ``busy``, ``rate_limited`` or ``error`` fault."""
    if fault.kind is FaultKind.BUSY:
        exc = V1Error(429, "system.busy", "系统繁忙，请稍后重试")
    elif fault.kind is FaultKind.RATE_LIMITED:
        exc = V1Error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "调用该接口触发了限流")
    elif fault.code is not None:
        exc = V1Error(fault.status, fault.code, fault.errmsg or fault.code)
    else:
        exc = V1Error(500, "systemError", fault.errmsg or f"errcode {fault.errcode}")
    with sandbox.lock:
        return exc.status, v1(sandbox).error_body(exc), {}


def request_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The ``x-acs-dingtalk-access-token`` header, else (the legacy-host lookups) the query's."""
    return query.get("access_token") or headers.get("x-acs-dingtalk-access-token")


#: A listing row: (start in epoch ms, id, a function that renders the item).
_Row = tuple[int, str, Callable[[], dict[str, Any]]]
#: How many listings' rows are kept for their later pages.
_ROWS_CACHE_SIZE = 64


def _row_key(row: _Row) -> tuple[int, str]:
    return row[0], row[1]


def source_lines(sandbox: EmulatorHost, ids: Sequence[str]) -> list[str]:
    """
    The banner's lines about the demo's users: each one's staff id (what a
    DingTalk robot names a message's sender, and ``resolve_union_id`` takes)
    beside the unionId the calendar API wants.
    """
    users = v1(sandbox).users
    known = [union for union in ids if union in users]
    if not known:
        return []
    return [
        "  staff ids (what a robot message names; resolve_union_id gives the unionId):",
        *(f"    {users[union]['userid']} → {union}" for union in known),
    ]
