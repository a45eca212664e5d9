"""
``wecal.DingTalkClient``: DingTalk's calendar API v1.0 (``api.dingtalk.com/v1.0/calendar``).

Endpoints (``reference/dingtalk.md`` §2.2; ``{u}`` is a unionId, the calendar
is always ``primary``)::

    POST /v1.0/oauth2/accessToken {appKey, appSecret}     token (header x-acs-dingtalk-access-token)
    GET  /v1.0/calendar/users/{u}/calendars/primary/events      nextToken paging, ≤ 100
    GET  /v1.0/calendar/users/{u}/calendars/primary/eventsview  occurrences in a window
    GET | PUT | DELETE …/events/{id}     POST …/events          POST …/events/{id}/respond
    POST …/events/{id}/attendees         POST …/events/{id}/attendees/batchRemove
    POST /v1.0/calendar/users/{u}/querySchedule                 free/busy, ≤ 20 users
    GET  /v1.0/calendar/users/{u}/calendars
    POST /topapi/v2/user/get, /topapi/user/getbyunionid         userid ↔ unionId (oapi host)

Writes carry an ``x-client-token`` made once per call and sent unchanged on
every retry of it, so a write DingTalk applied but answered with a 5xx is
replayed safely and never applied twice. Limits DingTalk documents are
checked before anything is sent (:class:`~wecal.ValidationError`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial
from typing import Any, Literal, Unpack
from urllib.parse import quote

from ..._client import BaseClient, ClientSettings
from ..._zones import day_start
from ...errors import (
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    ResponseFormatError,
    ValidationError,
    WecalError,
    _check_text,
    _describe,
)
from ...models import Attendee, Calendar, Event, Provider, ResponseStatus
from ...paging import NO_PROGRESS_PAGES, Paginator, TokenPaging, raw_id
from ...recurrence import expand as expand_event
from ...sync import SyncStream
from .._common import check_page_size, check_window, event_listing, gather, in_window, invitees
from .._readers import read_mapping, read_str, read_text
from .._wire import RawJSON
from ..dingtalk_legacy._errors import DINGTALK_LEGACY
from ._convert import (
    MAX_ATTENDEES_PER_CALL,
    RESPONSE_WIRE,
    BusySlot,
    attendees_to_dingtalk,
    busy_from_response,
    event_from_dingtalk,
    event_start,
    event_to_dingtalk,
    events_from_wire,
    page_from_response,
    wire_time,
)
from ._errors import DINGTALK_V1
from ._sync import sync_events
from ._wire import EventPage, decode_event_page

__all__ = ["DingTalkClient"]

#: ``maxResults`` of /events and /eventsview: default and maximum 100.
MAX_PAGE_SIZE = 100
#: ``querySchedule`` takes at most 20 users a call.
MAX_FREE_BUSY_USERS = 20
#: ``timeMin``/``timeMax`` may span at most a year.
MAX_WINDOW = timedelta(days=366)
# The windows a long listing is cut into: a year, well inside the limit.
_CHUNK = timedelta(days=365)
_PROVIDER = "dingtalk"
_PRIMARY = "primary"
# A wecal occurrence id: "{series id}_{UTC start}" or "{series id}_{date}".
_OCCURRENCE_RE = re.compile(r"^(?P<series>.+)_(?P<stamp>\d{8}(?:T\d{6}Z)?)$")
# userid → unionId lookups (legacy oapi errcode): "找不到该用户".
_NO_SUCH_USER = (60121, 60111, 40003, 33012)


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty string, got {_describe(value)}")
    _check_text(value, name)
    return quote(value, safe="")


def _windows(
    start: datetime | None, end: datetime | None
) -> list[tuple[datetime | None, datetime | None]]:
    """``[start, end)`` cut into windows DingTalk accepts (at most a year each)."""
    if start is None or end is None:
        return [(start, end)]
    out: list[tuple[datetime | None, datetime | None]] = []
    lo = start
    while end - lo > _CHUNK:
        out.append((lo, lo + _CHUNK))
        lo += _CHUNK
    out.append((lo, end))
    return out


def _split_position(position: str | None, windows: int) -> tuple[int, str]:
    if position is None:
        return 0, ""
    head, sep, token = position.partition("|")
    if not sep or not head.isdigit() or int(head) >= windows:
        raise ValidationError("invalid cursor: its position does not belong to this listing")
    return int(head), token


_raw_event_id = raw_id("id")


def _event_key(item: Any) -> Hashable:
    """A listed event's id for the paginator's progress guard, decoded or not."""
    return item[0].id if type(item) is tuple else _raw_event_id(item)


def _starts_before(item: Mapping[str, Any], moment: datetime) -> bool:
    """Whether a raw event starts before ``moment`` (False when its start is unreadable)."""
    try:
        start = event_start(item)
    except ResponseFormatError:
        return False  # the converter reports it, with its path
    return start < moment


def _as_instant(moment: datetime | date, zone: tzinfo | None) -> datetime:
    """``moment`` as an aware datetime (a day: its 00:00 in ``zone``)."""
    return moment if isinstance(moment, datetime) else day_start(moment, zone)


def _check_span(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end - start > MAX_WINDOW:
        raise ValidationError(
            f"the window {start.isoformat()} .. {end.isoformat()} is longer than a year, "
            "DingTalk's limit for timeMin/timeMax: list it a year at a time"
        )


class DingTalkClient(BaseClient):
    """
    DingTalk users' calendars through the v1.0 API: read, write, free/busy.

    ``user_id`` is always a unionId (:meth:`resolve_union_id` turns a staff
    userid into one)::

        async with wecal.DingTalkClient(app_key, app_secret) as ding:
            async for event in ding.list_events(user_id=union_id, start=t0, end=t1,
                                                expand=True):
                print(event.summary, event.start)

    Settings are those of every client (``base_url`` — which then serves the
    ``/topapi`` user lookups too — ``transport``, ``http_client``,
    ``timeout``, ``proxy``, ``retry``, ``rate_limit``, ``token_store``,
    ``max_response_bytes``, ``date_zone``; see :class:`~wecal.ClientSettings`).
    """

    dialect = DINGTALK_V1

    def __init__(self, app_key: str, app_secret: str, **settings: Unpack[ClientSettings]) -> None:
        self._lookup_base_url = settings.get("base_url")
        super().__init__(app_key, app_secret, **settings)
        self._union_ids: dict[str, str] = {}
        self._userids: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------

    def _user_path(self, user_id: str | None) -> str:
        if not isinstance(user_id, str) or not user_id:
            raise ValidationError(
                f"user_id must be the user's unionId, got {_describe(user_id)} "
                "(resolve_union_id turns a staff userid into one)"
            )
        return f"/v1.0/calendar/users/{_segment(user_id, 'user_id')}"

    def _events_path(self, user_id: str | None, calendar_id: str | None = None) -> str:
        if user_id is None and calendar_id is not None:
            # list_events("…") as WeCom's takes it: the one id given is the calendar.
            raise ValidationError(
                f"user_id= is required: the user's unionId (the first argument, "
                f"{calendar_id!r}, is a calendar id; without one, the user's primary "
                "calendar is listed)"
            )
        calendar = _segment(calendar_id or _PRIMARY, "calendar_id")
        return f"{self._user_path(user_id)}/calendars/{calendar}/events"

    async def _write(
        self,
        api: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        client_token: str | None = None,
    ) -> dict[str, Any]:
        """
        A write with its ``x-client-token`` (``client_token``, else a new one),
        the same on every retry of it. An outcome left unknown raises
        :class:`~wecal.OutcomeUnknownError` carrying that token.
        """
        token = client_token or uuid.uuid4().hex
        try:
            return await self._http.call(
                api,
                method,
                path,
                json=json,
                params=params,
                headers={"x-client-token": token},
                idempotent=True,
                write=True,
            )
        except OutcomeUnknownError as exc:
            exc.client_token = token
            raise

    # -- reading -----------------------------------------------------------------

    def list_events(
        self,
        calendar_id: str | None = None,
        *,
        user_id: str | None = None,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        expand: bool = False,
        page_size: int | None = None,
    ) -> Paginator[Event]:
        """
        A user's events, page by page (``nextToken``).

        dingtalk/v1.0 ListEvents — ``GET …/calendars/primary/events``;
        ``expand=True``: ListEventsView — ``GET …/eventsview`` (occurrences of
        series across the window, both bounds required).

        ``user_id`` is the unionId (required); ``calendar_id`` defaults to
        ``primary``. ``start``/``end`` go out as ``timeMin``/``timeMax`` (UTC
        with milliseconds). DingTalk takes at most a year between them: a
        longer window is listed a year at a time, in order, each item once
        (an occurrence overlapping two years belongs to the year it starts
        in). ``/events`` bounds the *start* of events, so the events that
        began before ``start`` and still run at it are found first, through
        ``/eventsview`` over ``start``'s first second (a series by its
        master, unless one of its occurrences starts inside the window, where
        ``/events`` lists it), and come with the first page. What is listed is
        kept when it overlaps ``[start, end)`` (``/eventsview`` also answers
        the events that end at ``start``). ``page_size`` is ``maxResults``:
        1..100, default 100.
        """
        events_path = self._events_path(user_id, calendar_id)
        start, end = check_window(
            start, end, expand=expand, provider=_PROVIDER, date_zone=self._date_zone
        )
        size = check_page_size(
            page_size, default=MAX_PAGE_SIZE, maximum=MAX_PAGE_SIZE, provider=_PROVIDER
        )
        path = events_path + ("view" if expand else "")
        windows = _windows(start, end)
        api = "events/view" if expand else "events/list"
        calendar = calendar_id or _PRIMARY

        async def running_at_start(lo: datetime) -> list[Any]:
            """The raw events (series: masters) that began before ``lo`` and run at it."""
            found: list[Any] = []
            series: dict[str, None] = {}
            token: str | None = None
            # A lying server (a nextToken again, pages with nothing new) ends
            # this with a ResponseFormatError instead of looping.
            tokens: set[str] = set()
            ids: set[str] = set()
            idle = 0
            while True:
                query: dict[str, Any] = {
                    "maxResults": size,
                    "timeMin": wire_time(lo),
                    "timeMax": wire_time(lo + timedelta(seconds=1)),
                }
                if token:
                    query["nextToken"] = token
                answer = await self._http.call(
                    "events/view", "GET", events_path + "view", params=query
                )
                items, token = page_from_response(answer)
                keys = [str(i.get("id")) if isinstance(i, Mapping) else None for i in items]
                fresh = {k for k in keys if k is not None} - ids
                ids |= fresh
                idle = 0 if fresh else idle + 1
                if token and (token in tokens or idle >= NO_PROGRESS_PAGES):
                    raise ResponseFormatError(
                        "the nextTokens go round without progress", path="$.nextToken"
                    )
                if token:
                    tokens.add(token)
                for key, item in zip(keys, items, strict=True):
                    if key is not None and key not in fresh:
                        continue  # listed already
                    fresh.discard(key or "")
                    if not _starts_before(item, lo):
                        continue  # /events lists it
                    master = item.get("seriesMasterId") if isinstance(item, Mapping) else None
                    if isinstance(master, str) and master:
                        series[master] = None
                    else:
                        found.append(item)
                if not token:
                    break
            for master_id in series:
                path = f"{events_path}/{_segment(master_id, 'event_id')}"
                raw = await self._http.call("events/get", "GET", path)
                master = event_from_dingtalk(raw, calendar_id=calendar)
                hi = end or lo + _CHUNK
                if not any(
                    _as_instant(o.start, self._date_zone) >= lo
                    for o in expand_event(master, lo, hi)
                ):
                    found.append(raw)
            return found

        async def fetch(position: str | None) -> tuple[Sequence[Any], str | None]:
            # A position is "{window index}|{DingTalk's nextToken}" (empty: the window's start).
            k, token = _split_position(position, len(windows))
            lo, hi = windows[k]
            query: dict[str, Any] = {"maxResults": size}
            if lo is not None:
                query["timeMin"] = wire_time(lo)
            if hi is not None:
                query["timeMax"] = wire_time(hi)
            if token:
                query["nextToken"] = token
            # Decoded into the wire Structs (_wire.py); an answer they do not
            # take comes back as the JSON object, for the dict readers.
            answer = await self._http.call(api, "GET", path, params=query, decode=decode_event_page)
            items: Sequence[Any]
            if isinstance(answer, EventPage):
                items, next_token = answer, answer.token
                if k > 0 and lo is not None:
                    items = EventPage(
                        [it for it in answer if not _starts_before(RawJSON(it[1]), lo)], None
                    )
            else:
                items, next_token = page_from_response(answer)
                if k > 0 and lo is not None:
                    # An item starting before this window was listed with the one before.
                    items = [item for item in items if not _starts_before(item, lo)]
            if position is None and start is not None and not expand:
                early = await running_at_start(start)
                if early:
                    if isinstance(items, EventPage):
                        # Back to JSON objects, to join the dict path with them.
                        items = [json.loads(bytes(raw)) for _wire, raw in items]
                    items = [*early, *items]
            if next_token:
                return items, f"{k}|{next_token}"
            if k + 1 < len(windows):
                return items, f"{k + 1}|"
            return items, None

        def transform(raw: Sequence[Any]) -> Iterable[Event]:
            if isinstance(raw, EventPage):
                events = events_from_wire(raw, calendar_id=calendar)
            else:
                events = [
                    event_from_dingtalk(item, path=f"$.events[{i}]", calendar_id=calendar)
                    for i, item in enumerate(raw)
                ]
            # The server expanded occurrences over the window (expand); its
            # overlap counts an event that ends at ``start``: [start, end) does not.
            return list(in_window(events, start, end, expand=False))

        return event_listing(
            TokenPaging(fetch),
            transform,
            id_field="id",
            raw_key=_event_key,
            query={
                "provider": "dingtalk-v1",
                "user_id": user_id,
                "calendar_id": calendar,
                "start": start,
                "end": end,
                "expand": expand,
            },
            provider=_PROVIDER,
        )

    def sync_events(
        self,
        calendar_id: str | None = None,
        *,
        user_id: str | None = None,
        state: str | None = None,
        page_size: int | None = None,
    ) -> SyncStream:
        """
        What changed in a user's calendar since the sync that gave ``state``.

        dingtalk/v1.0 ListEvents with ``syncToken`` and ``showDeleted`` (see
        :mod:`wecal.sync`): deleted and cancelled events come as DELETED; an
        expired or refused sync token starts over with a full listing,
        reported as a RESET change (``stream.resynced``), not as an error.
        """
        return sync_events(
            self._http,
            self._events_path(user_id, calendar_id),
            calendar_id,
            user_id=user_id,
            state=state,
            page_size=page_size,
            max_page_size=MAX_PAGE_SIZE,
        )

    async def get_event(self, event_id: str, *, user_id: str) -> Event:
        """
        One event by id: DingTalk's id, or a wecal occurrence id
        (``{series}_{UTC start}``, as ``expand`` gives), which is looked up
        among the series' occurrences.

        dingtalk/v1.0 GetEvent — ``GET …/events/{eventId}``.
        :class:`~wecal.NotFoundError` when it does not exist.
        """
        segment = _segment(event_id, "event_id")
        match = _OCCURRENCE_RE.match(event_id)
        if match is not None:
            found = await self._find_occurrence(match["series"], match["stamp"], user_id)
            if found is not None:
                return found
        path = f"{self._events_path(user_id)}/{segment}"
        answer = await self._http.call("events/get", "GET", path)
        return event_from_dingtalk(answer)

    async def _find_occurrence(self, series_id: str, stamp: str, user_id: str) -> Event | None:
        """The occurrence of ``series_id`` whose original start is ``stamp``, via eventsview."""
        if "T" in stamp:
            origin = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        else:
            origin = datetime.combine(
                date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8])), datetime.min.time(), UTC
            )
        wanted = f"{series_id}_{stamp}"
        # An occurrence may have been moved off its original start: look a day around it.
        window = self.list_events(
            user_id=user_id,
            start=origin - timedelta(days=1),
            end=origin + timedelta(days=2),
            expand=True,
        )
        async for event in window:
            if event.id == wanted:
                return event
        return None

    async def get_calendars(self, *, user_id: str) -> list[Calendar]:
        """A user's calendars (dingtalk/v1.0 ListCalendars — ``GET …/calendars``)."""
        body = await self._http.call(
            "calendars/list", "GET", f"{self._user_path(user_id)}/calendars"
        )
        response = read_mapping(body.get("response"), "$.response")
        items = response.get("calendars") or []
        if not isinstance(items, list):
            raise ResponseFormatError(
                f"expected an array, got {_describe(items)}", path="$.response.calendars"
            )
        calendars = []
        for i, item in enumerate(items):
            path = f"$.response.calendars[{i}]"
            item = read_mapping(item, path)
            zone = read_text(item, "timeZone", path) or None
            try:
                calendars.append(
                    Calendar(
                        provider=Provider.DINGTALK,
                        id=read_str(item.get("id"), f"{path}.id"),
                        summary=read_text(item, "summary", path),
                        description=read_text(item, "description", path),
                        timezone=zone,
                        readonly=read_text(item, "privilege", path) not in ("", "owner", "writer"),
                        raw=item,
                    )
                )
            except ValidationError as exc:
                raise ResponseFormatError(exc.message, path=path) from exc
        return calendars

    async def get_free_busy(
        self,
        user_ids: Iterable[str],
        *,
        start: datetime,
        end: datetime,
        user_id: str,
        missing: Literal["raise", "skip"] = "raise",
    ) -> dict[str, list[BusySlot]]:
        """
        When each of ``user_ids`` (unionIds) is busy in ``[start, end)``.

        dingtalk/v1.0 GetSchedule — ``POST …/users/{user_id}/querySchedule``,
        ≤ 20 users a call: more are batched, concurrently within the client's
        limits. ``user_id`` is the asking user. Returns every user asked for,
        with an empty list when free the whole time::

            busy = await ding.get_free_busy([me], start=t0, end=t1, user_id=me)
            free_at_3 = not any(slot.covers(three) for slot in busy[me])

        Users DingTalk does not know raise :class:`~wecal.NotFoundError`
        (``.missing``; ``.found`` holds ``(user, slots)`` pairs of the rest),
        or are left out with ``missing="skip"``.
        """
        path = f"{self._user_path(user_id)}/querySchedule"
        check_window(start, end, expand=True, provider=_PROVIDER)
        _check_span(start, end)
        wanted = list(dict.fromkeys(user_ids))
        for i, uid in enumerate(wanted):
            if not isinstance(uid, str) or not uid:
                raise ValidationError(f"user_ids[{i}] must be a unionId, got {_describe(uid)}")
        busy: dict[str, list[BusySlot]] = {}
        errors: dict[str, str] = {}

        async def fetch(batch: list[str]) -> None:
            body = await self._http.call(
                "schedule/query",
                "POST",
                path,
                json={"userIds": batch, "startTime": wire_time(start), "endTime": wire_time(end)},
            )
            slots, failed = busy_from_response(body)
            busy.update(slots)
            errors.update(failed)

        await gather(
            partial(fetch, wanted[k : k + MAX_FREE_BUSY_USERS])
            for k in range(0, len(wanted), MAX_FREE_BUSY_USERS)
        )
        result = {uid: sorted(busy.get(uid, []), key=lambda s: s.start) for uid in wanted}
        gone = tuple(uid for uid in wanted if uid in errors)
        if gone and missing == "raise":
            shown = ", ".join(f"{uid} ({errors[uid]})" for uid in gone[:5])
            raise NotFoundError(
                f"free/busy unknown for {len(gone)} of {len(wanted)} users: {shown}",
                provider=_PROVIDER,
                missing=gone,
                found=tuple((uid, result[uid]) for uid in wanted if uid not in errors),
            )
        for uid in gone:
            del result[uid]
        return result

    # -- writing -----------------------------------------------------------------

    async def create_event(
        self,
        event: Event,
        *,
        user_id: str,
        online_meeting: bool = False,
        client_token: str | None = None,
    ) -> Event:
        """
        Create ``event`` in ``user_id``'s calendar (the organizer) and return it
        as DingTalk stored it, with its id.

        dingtalk/v1.0 CreateEvent — ``POST …/events`` with ``x-client-token``.
        ``online_meeting=True`` asks DingTalk for a video conference (its link
        comes back as ``meeting_url``). ``event.reminders`` are sent as they
        are: an empty tuple means no reminder (DingTalk's own default, 15
        minutes before, applies only when the field is left out, which the
        model cannot say). Over a limit: ValidationError; what the
        pattern model cannot say: UnsupportedError — both before sending.

        ``client_token``: the ``x-client-token`` to send (default: a new
        one). Pass the ``client_token`` of an :class:`~wecal.OutcomeUnknownError`
        to retry that write: DingTalk applies it at most once (a token is
        remembered for a day). Every write method takes it.
        """
        token = _client_token(client_token)
        body = event_to_dingtalk(event)
        if online_meeting:
            body["onlineMeetingInfo"] = {"type": "dingtalk"}
        answer = await self._write(
            "events/create", "POST", self._events_path(user_id), json=body, client_token=token
        )
        return event_from_dingtalk(answer)

    def _target(self, event: Event | str) -> str:
        """
        DingTalk's own id of an event. An occurrence read from eventsview keeps
        it in ``raw``; one made by :func:`wecal.expand` carries its master's raw
        (whose id is the whole series'), so it is found by its wecal id instead.
        """
        if isinstance(event, str):
            return event
        if event.series_id is not None:
            raw_id = event.raw.get("id")
            is_instance = event.raw.get("seriesMasterId") == event.series_id
            if is_instance and isinstance(raw_id, str) and raw_id:
                return raw_id
        return event.id

    async def _resolve(self, event: Event | str, user_id: str) -> str:
        target = self._target(event)
        if _OCCURRENCE_RE.match(target):
            # A wecal occurrence id (from wecal.expand): find DingTalk's id for it.
            found = await self.get_event(target, user_id=user_id)
            return self._target(found)
        return target

    async def update_event(
        self, event: Event, *, user_id: str, client_token: str | None = None
    ) -> Event:
        """
        Write ``event``'s fields over the stored event and return the result.

        dingtalk/v1.0 PatchEvent — ``PUT …/events/{eventId}`` (partial: the
        model's fields are sent, the body repeats ``id``), with
        ``x-client-token``. Only the organizer may patch: ``user_id`` is the
        organizer's unionId (DingTalk refuses anyone else).
        An occurrence is addressed by DingTalk's id of it, which DingTalk may
        refuse to patch on its own.
        """
        token = _client_token(client_token)
        target = await self._resolve(event, user_id)
        body = {"id": target, **event_to_dingtalk(event)}
        segment = _segment(target, "event.id")
        answer = await self._write(
            "events/patch",
            "PUT",
            f"{self._events_path(user_id)}/{segment}",
            json=body,
            client_token=token,
        )
        answered = answer.get("id")
        if answered is not None and answered != target:
            raise ResponseFormatError(
                f"the update of event {target!r} answered another event's id {_describe(answered)}",
                path="$.id",
            )
        if "start" not in answer:  # the docs' response table is empty; the SDK's is the event
            return await self.get_event(target, user_id=user_id)
        return event_from_dingtalk(answer)

    async def delete_event(
        self,
        event: Event | str,
        *,
        user_id: str,
        push_notification: bool | None = None,
        client_token: str | None = None,
    ) -> None:
        """
        Delete an event (or one occurrence, given an occurrence).

        dingtalk/v1.0 DeleteEvent — ``DELETE …/events/{eventId}`` with
        ``x-client-token``. The organizer's delete cancels it for everyone; an
        attendee's removes it from their own calendar only.
        """
        token = _client_token(client_token)
        target = await self._resolve(event, user_id)
        params = {} if push_notification is None else {"pushNotification": push_notification}
        await self._write(
            "events/delete",
            "DELETE",
            f"{self._events_path(user_id)}/{_segment(target, 'event_id')}",
            params={k: str(v).lower() for k, v in params.items()},
            client_token=token,
        )

    async def respond_event(
        self, event: Event | str, response: ResponseStatus, *, user_id: str
    ) -> None:
        """
        Answer an invitation as ``user_id`` (an attendee's unionId).

        dingtalk/v1.0 RespondEvent — ``POST …/events/{eventId}/respond``.
        """
        answer = ResponseStatus(response)
        target = await self._resolve(event, user_id)
        await self._http.call(
            "events/respond",
            "POST",
            f"{self._events_path(user_id)}/{_segment(target, 'event_id')}/respond",
            json={"responseStatus": RESPONSE_WIRE[answer]},
            write=True,
        )

    async def add_attendees(
        self,
        event: Event | str,
        attendees: Iterable[str | Attendee],
        *,
        user_id: str,
        client_token: str | None = None,
    ) -> None:
        """
        Invite more people (unionIds, or Attendees for ``optional``).

        dingtalk/v1.0 AddAttendee — ``POST …/events/{eventId}/attendees``,
        ≤ 500 a call: more are sent in batches, in order, batch ``k`` with
        the x-client-token ``f"{client_token}.{k}"`` (the first with
        ``client_token`` itself). An error in a later batch carries
        ``.applied``, the ids of the batches applied before it; retrying
        the whole call with the error's ``client_token`` applies each batch
        at most once.
        """
        people = invitees(attendees, "unionId", article="a")
        target = await self._resolve(event, user_id)
        path = f"{self._events_path(user_id)}/{_segment(target, 'event_id')}/attendees"
        await self._batched(
            "attendees/add",
            path,
            people,
            lambda batch: {"attendeesToAdd": attendees_to_dingtalk(batch)},
            client_token,
        )

    async def remove_attendees(
        self,
        event: Event | str,
        attendees: Iterable[str | Attendee],
        *,
        user_id: str,
        client_token: str | None = None,
    ) -> None:
        """
        Uninvite people (dingtalk/v1.0 RemoveAttendee —
        ``POST …/events/{eventId}/attendees/batchRemove``, ≤ 500 a call,
        batched as :meth:`add_attendees`, with ``.applied`` and ``client_token``).
        """
        people = invitees(attendees, "unionId", article="a")
        target = await self._resolve(event, user_id)
        path = f"{self._events_path(user_id)}/{_segment(target, 'event_id')}/attendees/batchRemove"
        await self._batched(
            "attendees/remove",
            path,
            people,
            lambda batch: {"attendeesToRemove": [{"id": a.id} for a in batch]},
            client_token,
        )

    async def _batched(
        self,
        api: str,
        path: str,
        people: list[Attendee],
        body: Callable[[list[Attendee]], dict[str, Any]],
        client_token: str | None,
    ) -> None:
        """
        ``people`` in batches of 500, one write each, in order. Batch ``k``
        carries ``f"{base}.{k}"`` (batch 0 ``base`` itself), so a retry of
        the whole call with the same base replays the applied ones as no-ops.
        An error names the batches applied before it (``.applied``) and, when
        the outcome is unknown, carries the base as its ``client_token``.
        """
        base = _client_token(client_token) or uuid.uuid4().hex
        applied: list[str] = []
        for n, k in enumerate(range(0, len(people), MAX_ATTENDEES_PER_CALL)):
            batch = people[k : k + MAX_ATTENDEES_PER_CALL]
            token = base if n == 0 else f"{base}.{n}"
            try:
                await self._write(api, "POST", path, json=body(batch), client_token=token)
            except WecalError as exc:
                exc.applied = tuple(applied)
                if isinstance(exc, OutcomeUnknownError):
                    exc.client_token = base
                if applied:
                    exc.add_note(
                        f"{len(applied)} of {len(people)} attendees were applied before this "
                        f"batch (exc.applied)"
                    )
                raise
            applied.extend(a.id for a in batch)

    # -- identities --------------------------------------------------------------

    async def _lookup(self, api: str, path: str, body: dict[str, str], field: str) -> str:
        core = self._core_for(DINGTALK_LEGACY, base_url=self._lookup_base_url)
        try:
            answer = await core.call(api, "POST", path, json=body)
        except ProviderError as exc:
            if exc.code in _NO_SUCH_USER:
                raise NotFoundError(
                    exc.message,
                    provider=_PROVIDER,
                    code=exc.code,
                    request_id=exc.request_id,
                    http_status=exc.http_status,
                ) from exc
            raise
        result = read_mapping(answer.get("result"), "$.result")
        return read_str(result.get(field), f"$.result.{field}")

    async def resolve_union_id(self, userid: str) -> str:
        """
        A staff ``userid`` → the user's unionId (cached for the client's life).

        dingtalk/oapi ``POST /topapi/v2/user/get {userid}`` → ``result.unionid``.
        :class:`~wecal.NotFoundError` for an unknown user.
        """
        _segment(userid, "userid")
        found = self._union_ids.get(userid)
        if found is None:
            found = await self._lookup(
                "user/get", "/topapi/v2/user/get", {"userid": userid}, "unionid"
            )
            self._union_ids[userid] = found
            self._userids[found] = userid
        return found

    async def resolve_userid(self, union_id: str) -> str:
        """
        A unionId → the staff ``userid`` (cached; needs ``qyapi_get_member``).

        dingtalk/oapi ``POST /topapi/user/getbyunionid {unionid}`` → ``result.userid``.
        """
        _segment(union_id, "union_id")
        found = self._userids.get(union_id)
        if found is None:
            found = await self._lookup(
                "user/getbyunionid", "/topapi/user/getbyunionid", {"unionid": union_id}, "userid"
            )
            self._userids[union_id] = found
            self._union_ids[found] = union_id
        return found


#: An ``x-client-token`` a caller passes: what DingTalk documents as a UUID-like
#: string; visible ASCII without spaces, so it is a valid header value.
_CLIENT_TOKEN_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _client_token(value: object) -> str | None:
    """``client_token`` checked (None: a new one per write), ValidationError otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_TOKEN_RE.match(value):
        raise ValidationError(
            "client_token must be 1-64 characters of A-Z a-z 0-9 . _ : - "
            f"(the client_token of an OutcomeUnknownError), got {_describe(value)}"
        )
    return value
