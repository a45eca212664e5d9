"""
``wecal.FeishuClient``: Feishu (飞书) / Lark calendar v4 (``/open-apis/calendar/v4``).

Endpoints (``reference/feishu.md`` §2–§5; ``{c}`` is a calendar id, ``primary``
the current identity's own — with the app's tenant token, the *bot's*)::

    POST /open-apis/auth/v3/tenant_access_token/internal    token (Authorization: Bearer)
    GET  …/calendars/{c}/events/instance_view   occurrences, windows < 40 days, no paging
    GET  …/calendars/{c}/events                 anchor_time + page_token → sync_token
    GET | PATCH | DELETE …/events/{id}          POST …/events?idempotency_key=
    POST …/events/{id}/attendees                GET …/attendees   POST …/attendees/batch_delete
    POST …/events/{id}/reply                    POST /open-apis/calendar/v4/freebusy/list
    GET  …/calendars   POST …/calendars/primary   POST …/calendars/primarys

The window mode of the events list (``start_time``/``end_time``) returns one
batch of at most ``page_size`` items and silently drops the rest: this client
never uses it. Windows go through ``instance_view`` (split under 40 days, a
window Feishu refuses with 193103/193104 halved, occurrences met twice
yielded once); masters through ``anchor_time`` paging.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Literal, Protocol, Unpack
from urllib.parse import quote

import attrs

from ..._client import BaseClient, ClientSettings
from ...errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ResponseFormatError,
    ValidationError,
    _describe,
)
from ...models import Attendee, BusySlot, Calendar, Event, EventStatus, ResponseStatus
from ...paging import NO_PROGRESS_PAGES, Paginator, RawPage
from ...sync import SyncStream, TokenPage, TokenSync
from .._common import check_page_size, check_window, event_listing, gather, in_window, invitees
from .._readers import read_mapping
from ._convert import (
    MAX_ATTENDEES_PER_CALL,
    RESPONSE_WIRE,
    attendees_from_feishu,
    attendees_to_feishu,
    calendar_from_feishu,
    event_from_feishu,
    event_to_feishu,
    events_from_page,
    list_page,
    split_event_id,
    with_exceptions,
)
from ._dialect import FEISHU, LARK_BASE_URL
from ._wire import EventPage, FreeBusyData, PrimaryItem, decode, decode_event_page

__all__ = ["FeishuClient", "UserTokens", "feishu_event_id"]

_PROVIDER = "feishu"
_PRIMARY = "primary"
_V4 = "/open-apis/calendar/v4"
#: ``page_size`` of the events list: 50–1000, default 500.
MIN_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
#: ``instance_view`` takes windows under 40 days; 39 leaves a margin.
VIEW_WINDOW = timedelta(days=39)
#: A window Feishu refuses as too full is halved down to this.
MIN_VIEW_WINDOW = timedelta(hours=2)
#: ``calendars/primarys`` takes 1–10 users; ``freebusy/list`` one user, ≤ 90 days.
MAX_PRIMARY_USERS = 10
MAX_FREE_BUSY_WINDOW = timedelta(days=90)
MAX_ATTENDEES_DELETE = 500
#: An event holds at most 3000 attendees: 30 pages of 100; more pages is a loop.
MAX_ATTENDEE_PAGES = 40
_TOO_WIDE = (193103, 193104)
#: A user token Feishu no longer takes: refresh it and replay once.
_USER_TOKEN_DEAD = (99991668, 99991677)
# A wecal occurrence id: "{series id}_{UTC start}" or "{series id}_{date}".
_OCCURRENCE_RE = re.compile(r"^(?P<series>.+_0)_(?P<stamp>\d{8}(?:T\d{6}Z)?)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty string, got {_describe(value)}")
    return quote(value, safe="")


def _seconds(moment: datetime) -> str:
    return str((moment - _EPOCH) // timedelta(seconds=1))


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    lo = start
    while end - lo > VIEW_WINDOW:
        out.append((lo, lo + VIEW_WINDOW))
        lo += VIEW_WINDOW
    out.append((lo, end))
    return out


class _MasterPage(list[Event]):
    """A master-mode page: its events, and the positions of masters held back."""

    __slots__ = ("held",)

    def __init__(self, events: list[Event]) -> None:
        super().__init__(events)
        #: Positions of the masters not yielded with this page (see ``_master_listing``).
        self.held: list[int] = []

    def yielded(self) -> list[Event]:
        """The page's events but the masters held back."""
        if not self.held:
            return list(self)
        skip = set(self.held)
        return [e for k, e in enumerate(self) if k not in skip]


def _event_key(event: Event) -> Hashable:
    return event.id


def _original_seconds(moment: datetime | date) -> int:
    """An exception's original start as its id ends: epoch seconds (a day: 00:00 UTC)."""
    if isinstance(moment, datetime):
        return (moment - _EPOCH) // timedelta(seconds=1)
    return (moment - _EPOCH.date()).days * 86_400


def _read_position(position: str | None) -> tuple[str | None, set[str], dict[str, set[int]]]:
    """
    ``(Feishu page token, held masters' ids, {master id: exception original starts})``.

    A position is Feishu's page token alone while nothing is held (so a
    cursor of an earlier wecal still resumes), else a JSON object.
    """
    if not position or not position.startswith("{"):
        return position, set(), {}
    try:
        data = json.loads(position)
        token, held, originals = data["t"], data["h"], data["x"]
        if not isinstance(token, str) or not isinstance(held, list):
            raise TypeError
        return (
            token,
            {str(sid) for sid in held},
            {str(sid): {int(t) for t in times} for sid, times in dict(originals).items()},
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValidationError("invalid cursor: not a position of this listing") from None


def _write_position(token: str, held: set[str], originals: dict[str, set[int]]) -> str:
    if not held and not originals:
        return token
    return json.dumps(
        {"t": token, "h": sorted(held), "x": {u: sorted(t) for u, t in sorted(originals.items())}},
        separators=(",", ":"),
    )


class _PositionPaging:
    """
    Token paging whose position is this client's own: the master listing's
    (see ``_master_listing``) or the occurrence view's; no length limit, as
    the master listing's position carries what it holds back.
    """

    kind = "token"
    initial: str | None = None

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[tuple[Sequence[Event], str | None]]]
    ) -> None:
        self._fetch = fetch

    async def fetch(self, position: str | None) -> RawPage[Event]:
        items, following = await self._fetch(position)
        return RawPage(items, following, following is None)


def feishu_event_id(event_id: str) -> str:
    """
    Feishu's own id of an event given wecal's: an occurrence id
    ``{uid}_0_{UTC start}`` becomes the instance id ``{uid}_{epoch seconds}``.

    >>> feishu_event_id("abc_0_20240603T020000Z")
    'abc_1717380000'
    """
    match = _OCCURRENCE_RE.match(event_id)
    if match is None:
        return event_id
    stamp = match["stamp"]
    if "T" in stamp:
        moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    else:
        moment = datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=UTC)
    uid, _ = split_event_id(match["series"])
    return f"{uid}_{_seconds(moment)}"


class UserTokens(Protocol):
    """
    What :meth:`FeishuClient.as_user` needs of its ``auth``: a user's access
    token, and a way to drop one Feishu refused (a :class:`~wecal.FeishuUserAuth`).
    """

    async def access_token(self, user: str) -> str:
        """A valid access token of ``user``."""
        ...

    async def invalidate(self, user: str, token: str) -> None:
        """Feishu refused ``token``: the next :meth:`access_token` gets another."""
        ...


class FeishuClient(BaseClient):
    """
    Feishu (``brand="feishu"``, open.feishu.cn) or Lark (``brand="lark"``,
    open.larksuite.com) calendars through calendar v4, as the app::

        async with wecal.FeishuClient(app_id, app_secret) as feishu:
            calendars = await feishu.get_primary_calendars([open_id])
            async for event in feishu.list_events(calendars[open_id], start=t0, end=t1,
                                                  expand=True):
                print(event.summary, event.start)

    The app's tenant token acts as the app's *bot*: ``calendar_id="primary"``
    (the default) is the bot's own calendar, not a user's. A user's primary
    calendar is found with :meth:`get_primary_calendars` (``user_id=`` on the
    listing calls does it for you), and is readable when the user shared it
    with the app. User ids are ``open_id``\\ s.

    Settings are those of every client (``base_url``, ``transport``,
    ``http_client``, ``timeout``, ``proxy``, ``retry``, ``rate_limit``,
    ``token_store``, ``max_response_bytes``, ``date_zone``; see
    :class:`~wecal.ClientSettings`). The default limits are Feishu's: 50
    calls a second and 1000 a minute per API; on the free edition add its
    10,000 calls a month across the tenant's apps with
    ``rate_limit=wecal.RateLimitConfig(monthly_quota=10_000, quota_scope=tenant)``
    and a shared state (``shared=``).
    """

    dialect = FEISHU

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        brand: Literal["feishu", "lark"] = "feishu",
        **settings: Unpack[ClientSettings],
    ) -> None:
        if brand not in ("feishu", "lark"):
            raise ValidationError(f"brand must be 'feishu' or 'lark', got {_describe(brand)}")
        if brand == "lark" and settings.get("base_url") is None:
            settings["base_url"] = LARK_BASE_URL
        super().__init__(app_id, app_secret, **settings)
        #: ``feishu`` or ``lark``.
        self.brand = brand
        self._primary: dict[str, str] = {}
        self._user: tuple[UserTokens, str] | None = None

    def as_user(self, auth: UserTokens, user_id: str) -> FeishuClient:
        """
        This client speaking as ``user_id`` (an open_id who authorized the app
        through ``auth``): ``primary`` is then their calendar, and what they
        create they organize. The view shares this client's connections and
        limits; close the client, not the view. A user token Feishu refuses
        (99991668/99991677) is refreshed and the call replayed once.
        """
        _segment(user_id, "user_id")
        view = copy.copy(self)
        view._primary = {}
        view._user = (auth, user_id)
        return view

    # -- plumbing ----------------------------------------------------------------

    def _calendar(self, calendar_id: str | None) -> str:
        return _segment(calendar_id or _PRIMARY, "calendar_id")

    async def _calendar_for(self, calendar_id: str | None, user_id: str | None) -> str:
        if calendar_id is not None or user_id is None:
            return calendar_id or _PRIMARY
        found = await self.get_primary_calendars([user_id])
        return found[user_id]

    async def _body(self, api: str, method: str, path: str, **kwargs: Any) -> Any:
        if self._user is None:
            return await self._http.call(api, method, path, **kwargs)
        return await self._as_user(api, method, path, kwargs)

    async def _data(self, api: str, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        body = await self._body(api, method, path, **kwargs)
        data = body.get("data")
        return {} if data is None else read_mapping(data, "$.data")

    async def _as_user(self, api: str, method: str, path: str, kwargs: dict[str, Any]) -> Any:
        assert self._user is not None
        auth, user = self._user
        for attempt in (1, 2):
            token = await auth.access_token(user)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                return await self._http.call(
                    api, method, path, headers=headers, authenticated=False, **kwargs
                )
            except AuthenticationError as exc:
                if attempt == 2 or exc.code not in _USER_TOKEN_DEAD:
                    raise
                await auth.invalidate(user, token)
        raise AssertionError("unreachable")  # pragma: no cover

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
        Events of a calendar (``primary``, the bot's, by default; ``user_id``:
        that user's primary calendar).

        ``expand=True`` (a window is required): calendar v4 ``instance_view``,
        one ``Event`` per occurrence, under 40 days a call (a longer window is
        listed in slices, in order; one Feishu refuses as too full is halved),
        cancelled occurrences left out, each occurrence once. ``page_size`` is
        not used (the view does not page). A room (resource) calendar, which
        the view does not serve, is listed by its masters and expanded here.

        ``expand=False``: the events list with ``anchor_time`` (the window's
        start, else the beginning) paged by ``page_token`` (``page_size``
        50–1000, default 500): single events, series masters and their
        exceptions (occurrences; a cancelled one is a removed occurrence, with
        ``status`` CANCELLED), kept when they overlap ``[start, end)``. Each
        master comes after the last page, with its exceptions' original
        starts as EXDATEs: :func:`wecal.expand` of it and the exceptions
        beside it hold each occurrence once.
        """
        start_dt, end_dt = check_window(
            start, end, expand=expand, provider=_PROVIDER, date_zone=self._date_zone
        )
        if page_size is not None and not expand:
            check_page_size(page_size, default=500, maximum=MAX_PAGE_SIZE, provider=_PROVIDER)
            if page_size < MIN_PAGE_SIZE:
                raise ValidationError(
                    f"page_size must be {MIN_PAGE_SIZE}…{MAX_PAGE_SIZE} for Feishu"
                )
        if calendar_id is not None:
            _segment(calendar_id, "calendar_id")
        if user_id is not None:
            _segment(user_id, "user_id")
        state: dict[str, str] = {}

        async def calendar() -> str:
            if "id" not in state:
                state["id"] = await self._calendar_for(calendar_id, user_id)
            return state["id"]

        query = {
            "provider": "feishu",
            "calendar_id": calendar_id,
            "user_id": user_id,
            "start": start_dt,
            "end": end_dt,
            "expand": expand,
        }
        if expand:
            assert start_dt is not None
            assert end_dt is not None
            return self._view_listing(calendar, start_dt, end_dt, query)
        return self._master_listing(calendar, start_dt, end_dt, page_size or 500, query)

    def _master_listing(
        self,
        calendar: Callable[[], Awaitable[str]],
        start: datetime | None,
        end: datetime | None,
        size: int,
        query: Mapping[str, Any],
    ) -> Paginator[Event]:
        """
        The events list by ``anchor_time`` and ``page_token``, series held back.

        Feishu lists a series' exceptions (moved, or cancelled: removed) as
        events of their own, on any page, beside a master that has no
        EXDATE; :func:`wecal.expand` of that master would list each of those
        occurrences a second time. So single events and exceptions are
        yielded as they come, and masters after the last page, with their
        exceptions' original starts as EXDATEs. What is held travels in the
        position (Feishu's page token, the held series' uids, the original
        starts met), so a cursor resumes with it: a master held before the
        cursor is read again by id at the end.
        """
        fetch = self._master_pages(calendar, start, size)

        def transform(page: Sequence[Event]) -> Iterable[Event]:
            assert isinstance(page, _MasterPage)
            return list(in_window(page.yielded(), start, end, expand=False))

        return event_listing(
            _PositionPaging(fetch),
            transform,
            id_field="event_id",
            query=query,
            provider=_PROVIDER,
            raw_key=_event_key,
        )

    def _master_pages(
        self, calendar: Callable[[], Awaitable[str]], start: datetime | None, size: int
    ) -> Callable[[str | None], Awaitable[tuple[_MasterPage, str | None]]]:
        """The fetch of :meth:`_master_listing`: a page and the next position."""
        masters: dict[str, Event] = {}  # master id → master, read in this process

        async def fetch(position: str | None) -> tuple[_MasterPage, str | None]:
            token, held, originals = _read_position(position)
            cal = await calendar()
            params: dict[str, Any] = {"page_size": size}
            params["anchor_time"] = _seconds(start) if start is not None else "0"
            if token:
                params["page_token"] = token
            events, has_more, page_token, _ = await self._events_page(
                "events/list", f"{_V4}/calendars/{_segment(cal, 'calendar_id')}/events", params, cal
            )
            if has_more and not page_token:
                raise ResponseFormatError(
                    "has_more is true but there is no page_token", path="$.data.page_token"
                )
            page = _MasterPage(events)
            for k, event in enumerate(events):
                if event.series_id is not None:
                    # An exception: its series' id and its original start.
                    assert event.recurrence_id is not None
                    originals.setdefault(event.series_id, set()).add(
                        _original_seconds(event.recurrence_id)
                    )
                elif event.recurrence is not None:
                    held.add(event.id)
                    masters[event.id] = event
                    page.held.append(k)
            if has_more:
                assert page_token is not None
                return page, _write_position(page_token, held, originals)
            for master_id in sorted(held):
                master = masters.get(master_id) or await self._master_by_id(cal, master_id)
                if master is None:
                    continue  # deleted since it was listed
                page.append(with_exceptions(master, originals.get(master_id, ())))
            return page, None

        return fetch

    async def _is_room_calendar(self, cal: str) -> bool:
        """Whether Feishu says ``cal`` is a resource (meeting room) calendar."""
        try:
            data = await self._data(
                "calendars/get", "GET", f"{_V4}/calendars/{self._calendar(cal)}"
            )
        except (InvalidRequestError, PermissionDeniedError, NotFoundError):
            return False
        return data.get("type") == "resource"

    async def _master_by_id(self, cal: str, event_id: str) -> Event | None:
        path = f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(event_id, 'event_id')}"
        try:
            data = await self._data("events/get", "GET", path)
        except NotFoundError:
            return None
        raw = read_mapping(data.get("event"), "$.data.event")
        return event_from_feishu(raw, path="$.data.event", calendar_id=cal)

    async def _events_page(
        self, api: str, path: str, params: Mapping[str, Any], cal: str
    ) -> tuple[list[Event], bool, str | None, str | None]:
        """
        ``(events, has_more, page_token, sync_token)`` of one listing page, read by the
        wire Structs (``_wire.decode_event_page``) straight from the bytes;
        an answer they do not take is read as JSON by the dict readers.
        """
        body = await self._body(api, "GET", path, params=params, decode=decode_event_page)
        if isinstance(body, EventPage):
            events = events_from_page(body, calendar_id=cal)
            return events, body.has_more, body.page_token, body.sync_token
        data = body.get("data")
        items, has_more, page_token, sync_token = list_page(
            {} if data is None else read_mapping(data, "$.data")
        )
        events = [
            event_from_feishu(item, path=f"$.data.items[{i}]", calendar_id=cal)
            for i, item in enumerate(items)
        ]
        return events, has_more, page_token, sync_token

    def _view_listing(
        self,
        calendar: Callable[[], Awaitable[str]],
        start: datetime,
        end: datetime,
        query: Mapping[str, Any],
    ) -> Paginator[Event]:
        windows = _windows(start, end)

        async def view(cal: str, lo: datetime, hi: datetime) -> list[Event]:
            try:
                events, _, _, _ = await self._events_page(
                    "events/instance_view",
                    f"{_V4}/calendars/{_segment(cal, 'calendar_id')}/events/instance_view",
                    {"start_time": _seconds(lo), "end_time": _seconds(hi)},
                    cal,
                )
            except InvalidRequestError as exc:
                if exc.code not in _TOO_WIDE or hi - lo <= MIN_VIEW_WINDOW:
                    raise
                middle = lo + (hi - lo) / 2
                return [*await view(cal, lo, middle), *await view(cal, middle, hi)]
            return events

        # A room (resource) calendar has no occurrence view (reference §2:
        # instance_view serves primary and shared calendars): its series are
        # listed as masters from the window's start and expanded here.
        masters = self._master_pages(calendar, start, MAX_PAGE_SIZE)

        async def by_masters(position: str | None) -> tuple[Sequence[Event], str | None]:
            page, following = await masters(position)
            return page, None if following is None else f"m{following}"

        async def fetch(position: str | None) -> tuple[Sequence[Event], str | None]:
            if position is not None and position.startswith("m"):
                return await by_masters(position[1:] or None)
            k = 0
            if position is not None:
                if not position.isdigit() or int(position) >= len(windows):
                    raise ValidationError("invalid cursor: not a position of this listing")
                k = int(position)
            lo, hi = windows[k]
            cal = await calendar()
            try:
                events = await view(cal, lo, hi)
            except (InvalidRequestError, PermissionDeniedError):
                if k != 0 or not await self._is_room_calendar(cal):
                    raise
                return await by_masters(None)
            return events, str(k + 1) if k + 1 < len(windows) else None

        def transform(events: Sequence[Event]) -> Iterable[Event]:
            if isinstance(events, _MasterPage):
                events = events.yielded()
            live = [e for e in events if e.status is not EventStatus.CANCELLED]
            return list(in_window(live, start, end, expand=True))

        return event_listing(
            _PositionPaging(fetch),
            transform,
            id_field="event_id",
            query=query,
            provider=_PROVIDER,
            raw_key=_event_key,
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
        What changed in a calendar since the sync that gave ``state``.

        The first sync pages the whole calendar (``anchor_time`` 0) and keeps
        the ``sync_token`` of its last page; later ones send it and get what
        changed, deletions as ``status: "cancelled"`` (DELETED). A token Feishu
        refuses (190008 expired, or any other bad-parameter answer) starts
        over with a full listing, reported as a RESET change, not raised.
        """
        size = check_page_size(page_size, default=500, maximum=MAX_PAGE_SIZE, provider=_PROVIDER)
        resolved: dict[str, str] = {}

        async def fetch(sync_token: str | None, next_token: str | None) -> TokenPage:
            if "id" not in resolved:
                resolved["id"] = await self._calendar_for(calendar_id, user_id)
            cal = resolved["id"]
            params: dict[str, Any] = {"page_size": max(size, MIN_PAGE_SIZE)}
            kind, _, value = (next_token or "").partition(":")
            if kind == "s":
                params["sync_token"] = value
            elif sync_token is not None:
                params["sync_token"] = sync_token
                if kind == "p":
                    params["page_token"] = value
            else:
                params["anchor_time"] = "0"
                if kind == "p":
                    params["page_token"] = value
            events, has_more, page_token, new_sync = await self._events_page(
                "events/list", f"{_V4}/calendars/{_segment(cal, 'calendar_id')}/events", params, cal
            )
            following = None
            if has_more:
                if page_token:
                    following = f"p:{page_token}"
                elif new_sync:  # incremental pulls page by their newer sync_token
                    following = f"s:{new_sync}"
                else:
                    raise ResponseFormatError(
                        "has_more is true but there is no page_token or sync_token",
                        path="$.data.page_token",
                    )
            return events, following, None if has_more else new_sync

        engine = TokenSync(
            fetch,
            scope={"provider": "feishu", "calendar_id": calendar_id, "user_id": user_id},
            rejected=lambda exc: isinstance(exc, InvalidRequestError),
            is_deleted=lambda event: event.status is EventStatus.CANCELLED,
        )
        return engine.stream(state)

    async def get_event(self, event_id: str, *, calendar_id: str | None = None) -> Event:
        """
        One event by id: Feishu's (``{uid}_0``, an exception's
        ``{uid}_{original start}``) or a wecal occurrence id (as
        ``expand=True`` gives), read with its attendees.

        calendar v4 ``GET …/events/{event_id}?need_attendee=true`` (Feishu
        inlines 100 attendees; past that the attendee list gives them all); an
        occurrence Feishu does not store on its own is found through
        ``instance_view`` around its original start.
        :class:`~wecal.NotFoundError` when it does not exist.
        """
        _segment(event_id, "event_id")
        cal = calendar_id or _PRIMARY
        target = feishu_event_id(event_id)
        path = f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event_id')}"
        try:
            data = await self._data(
                "events/get", "GET", path,
                params={"need_attendee": "true", "max_attendee_num": 100},
            )  # fmt: skip
        except NotFoundError:
            _, original = split_event_id(target)
            if not original:
                raise
            found = await self._find_occurrence(event_id, cal, original)
            if found is None:
                raise
            return found
        raw = read_mapping(data.get("event"), "$.data.event")
        event = event_from_feishu(raw, path="$.data.event", calendar_id=cal)
        if raw.get("has_more_attendee") is True:
            # Feishu inlines at most 100: the rest come from the attendee list.
            everyone = await self._invitees(cal, raw.get("event_id") or target)
            event = attrs.evolve(event, attendees=everyone)
        return event

    async def _invitees(self, cal: str, event_id: str) -> tuple[Attendee, ...]:
        """Every attendee of an event: calendar v4 ``GET …/attendees``, 100 a page."""
        path = (
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(event_id, 'event_id')}"
            "/attendees"
        )
        people: list[Attendee] = []
        token: str | None = None
        for _ in range(MAX_ATTENDEE_PAGES):
            params: dict[str, Any] = {"page_size": 100}
            if token:
                params["page_token"] = token
            data = await self._data("attendees/list", "GET", path, params=params)
            items = data.get("items") or []
            if not isinstance(items, list):
                raise ResponseFormatError("expected an array", path="$.data.items")
            people += attendees_from_feishu(items)
            following = data.get("page_token") if data.get("has_more") else None
            if not isinstance(following, str) or not following or following == token:
                break
            token = following
        return tuple(people)

    async def _find_occurrence(self, wanted: str, calendar_id: str, original: int) -> Event | None:
        origin = _EPOCH + timedelta(seconds=original)
        # A moved occurrence may start elsewhere: look a day around it.
        window = self.list_events(
            calendar_id, start=origin - timedelta(days=1), end=origin + timedelta(days=2),
            expand=True,
        )  # fmt: skip
        async for event in window:
            if event.id == wanted or event.raw.get("event_id") == feishu_event_id(wanted):
                return event
        return None

    async def get_calendars(self) -> list[Calendar]:
        """
        The calendars the app (its bot) has subscribed to.

        calendar v4 ``GET /calendars`` (``calendar_list``, paged 500 a page);
        a calendar Feishu marks ``is_deleted`` is left out.
        """
        calendars: list[Calendar] = []
        token: str | None = None
        seen: set[str] = set()
        idle = 0
        for _ in range(10_000):  # bounded: 5 million calendars
            params: dict[str, Any] = {"page_size": 500}
            if token:
                params["page_token"] = token
            data = await self._data("calendars/list", "GET", f"{_V4}/calendars", params=params)
            items = data.get("calendar_list") or []
            if not isinstance(items, list):
                raise ResponseFormatError("not an array", path="$.data.calendar_list")
            page = [
                calendar_from_feishu(item, path=f"$.data.calendar_list[{i}]")
                for i, item in enumerate(items)
            ]
            calendars += [
                c for c in page if c.raw.get("is_deleted") is not True and c.id not in seen
            ]
            token = data.get("page_token") if data.get("has_more") else None
            if not isinstance(token, str) or not token:
                break
            # A page that brings no calendar not seen before (the same page again,
            # a token cycle, empty pages with fresh tokens) is no progress.
            fresh = {c.id for c in page} - seen
            seen |= fresh
            idle = 0 if fresh else idle + 1
            if idle >= NO_PROGRESS_PAGES:
                raise ResponseFormatError(
                    f"{idle} pages in a row brought no new calendar: the listing would not end",
                    path="$.data.page_token",
                )
        return calendars

    async def get_primary_calendar(self) -> Calendar:
        """The app's own (its bot's) primary calendar: ``POST /calendars/primary``."""
        data = await self._data("calendars/primary", "POST", f"{_V4}/calendars/primary")
        items = data.get("calendars") or []
        if not isinstance(items, list) or not items:
            raise NotFoundError("no primary calendar", provider=_PROVIDER)
        decode(items[0], PrimaryItem, path="$.data.calendars[0]")
        return calendar_from_feishu(items[0]["calendar"], path="$.data.calendars[0].calendar")

    async def get_primary_calendars(self, user_ids: Iterable[str]) -> dict[str, str]:
        """
        Each user's primary calendar id (``open_id`` → ``calendar_id``), cached.

        calendar v4 ``POST /calendars/primarys``, ≤ 10 users a call (more
        are batched). :class:`~wecal.NotFoundError` (``.missing``) for users
        Feishu gives no calendar for.
        """
        if isinstance(user_ids, str):
            raise ValidationError("user_ids must be a list of open_ids, not one string")
        wanted = list(dict.fromkeys(user_ids))
        for i, uid in enumerate(wanted):
            _segment(uid, f"user_ids[{i}]")
        missing = [uid for uid in wanted if uid not in self._primary]

        async def fetch(batch: list[str]) -> None:
            data = await self._data(
                "calendars/primarys", "POST", f"{_V4}/calendars/primarys",
                params={"user_id_type": "open_id"}, json={"user_ids": batch},
            )  # fmt: skip
            items = data.get("calendars") or []
            if not isinstance(items, list):
                raise ResponseFormatError("not an array", path="$.data.calendars")
            for i, raw in enumerate(items):
                item = decode(raw, PrimaryItem, path=f"$.data.calendars[{i}]")
                if item.user_id and item.calendar.calendar_id:
                    self._primary[item.user_id] = item.calendar.calendar_id

        if missing:
            await gather(
                partial(fetch, missing[k : k + MAX_PRIMARY_USERS])
                for k in range(0, len(missing), MAX_PRIMARY_USERS)
            )
        gone = tuple(uid for uid in wanted if uid not in self._primary)
        if gone:
            raise NotFoundError(
                f"no primary calendar for {len(gone)} of {len(wanted)} users: "
                + ", ".join(gone[:5]),
                provider=_PROVIDER,
                missing=gone,
            )
        return {uid: self._primary[uid] for uid in wanted}

    async def get_free_busy(
        self, user_ids: Iterable[str], *, start: datetime, end: datetime
    ) -> dict[str, list[BusySlot]]:
        """
        When each user (``open_id``) is busy in ``[start, end)``, from their
        primary calendars.

        calendar v4 ``POST /freebusy/list``: one user a call (concurrently,
        within the client's limits), at most 90 days. Every user asked for is
        in the answer, with an empty list when free the whole time.
        """
        check_window(start, end, expand=True, provider=_PROVIDER)
        if end - start > MAX_FREE_BUSY_WINDOW:
            raise ValidationError(
                f"the window {start.isoformat()} .. {end.isoformat()} is over 90 days, "
                "Feishu's limit for free/busy"
            )
        if isinstance(user_ids, str):
            raise ValidationError("user_ids must be a list of open_ids, not one string")
        wanted = list(dict.fromkeys(user_ids))
        for i, uid in enumerate(wanted):
            _segment(uid, f"user_ids[{i}]")
        busy: dict[str, list[BusySlot]] = {}

        async def fetch(uid: str) -> None:
            data = await self._data(
                "freebusy/list", "POST", f"{_V4}/freebusy/list",
                params={"user_id_type": "open_id"},
                json={
                    "time_min": start.astimezone(UTC).isoformat(timespec="seconds"),
                    "time_max": end.astimezone(UTC).isoformat(timespec="seconds"),
                    "user_id": uid,
                },
            )  # fmt: skip
            items = decode(data, FreeBusyData, path="$.data").freebusy_list or []
            slots = []
            for i, item in enumerate(items):
                where = f"$.data.freebusy_list[{i}]"
                slots.append(
                    BusySlot(
                        start=_rfc3339(item.start_time, f"{where}.start_time"),
                        end=_rfc3339(item.end_time, f"{where}.end_time"),
                        tentative=item.rsvp_status in ("needs_action", "tentative"),
                    )
                )
            busy[uid] = sorted(slots, key=lambda s: s.start)

        await gather(partial(fetch, uid) for uid in wanted)
        return {uid: busy.get(uid, []) for uid in wanted}

    # -- writing -----------------------------------------------------------------

    async def create_event(
        self,
        event: Event,
        *,
        calendar_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        """
        Create ``event`` in a calendar (``primary``: the bot's, which is then
        the organizer) and return it as Feishu stored it, with its id.

        calendar v4 ``POST …/events?idempotency_key=``: the key (a fresh UUID
        unless given; Feishu wants 32–128 characters, unique per app and
        calendar) is the same on every retry, so a create Feishu applied but
        answered with a 5xx is not applied twice. Feishu adds attendees
        through their own endpoint: ``event.attendees`` are added after the
        create (:meth:`add_attendees`); if that fails, the event is deleted
        again and the error raised. Over a limit: ValidationError; what Feishu
        cannot store: UnsupportedError — both before sending.
        """
        body = event_to_feishu(event)
        key = idempotency_key or str(uuid.uuid4())
        if not isinstance(key, str) or not 32 <= len(key) <= 128:
            raise ValidationError("idempotency_key must be 32–128 characters")
        cal = calendar_id or _PRIMARY
        data = await self._data(
            "events/create", "POST", f"{_V4}/calendars/{self._calendar(cal)}/events",
            params={"idempotency_key": key}, json=body, idempotent=True,
        )  # fmt: skip
        created = event_from_feishu(
            read_mapping(data.get("event"), "$.data.event"), path="$.data.event", calendar_id=cal
        )
        if event.attendees:
            try:
                await self.add_attendees(created, event.attendees, calendar_id=cal)
            except BaseException:
                # Feishu's own CLI does the same: no half-made event is left behind.
                await self.delete_event(created, calendar_id=cal)
                raise
            return await self.get_event(created.id, calendar_id=cal)
        return created

    def _target(self, event: Event | str) -> str:
        if isinstance(event, str):
            return feishu_event_id(event)
        raw_id = event.raw.get("event_id")
        if (
            isinstance(raw_id, str)
            and raw_id
            and (event.series_id is None or split_event_id(raw_id)[1])
        ):
            return raw_id
        return feishu_event_id(event.id)

    async def update_event(self, event: Event, *, calendar_id: str | None = None) -> Event:
        """
        Write ``event``'s fields over the stored event and return the result.

        calendar v4 ``PATCH …/events/{event_id}`` (the model's fields; an
        exception of a series is patched by its own id — Feishu cannot patch a
        single occurrence that has no exception yet). Safe to retry: the
        same fields are written again.
        """
        target = self._target(event)
        cal = calendar_id or event.calendar_id or _PRIMARY
        data = await self._data(
            "events/patch", "PATCH",
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event.id')}",
            json=event_to_feishu(event), idempotent=True,
        )  # fmt: skip
        raw = data.get("event")
        if raw is None:
            return await self.get_event(target, calendar_id=cal)
        return event_from_feishu(read_mapping(raw, "$.data.event"), calendar_id=cal)

    async def delete_event(
        self, event: Event | str, *, calendar_id: str | None = None, notify: bool | None = None
    ) -> None:
        """
        Delete an event (only its organizer may): calendar v4 ``DELETE
        …/events/{event_id}``; ``notify`` is ``need_notification``.
        """
        target = self._target(event)
        cal = calendar_id or (event.calendar_id if isinstance(event, Event) else None) or _PRIMARY
        params = {} if notify is None else {"need_notification": str(notify).lower()}
        await self._data(
            "events/delete", "DELETE",
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event_id')}",
            params=params, idempotent=True,
        )  # fmt: skip

    async def respond_event(
        self, event: Event | str, response: ResponseStatus, *, calendar_id: str | None = None
    ) -> None:
        """
        Answer an invitation as the current identity: calendar v4 ``POST
        …/events/{event_id}/reply`` (accept, tentative, decline).
        """
        answer = ResponseStatus(response)
        wire = RESPONSE_WIRE.get(answer)
        if wire is None:
            raise ValidationError("response must be ACCEPTED, TENTATIVE or DECLINED")
        target = self._target(event)
        cal = calendar_id or (event.calendar_id if isinstance(event, Event) else None) or _PRIMARY
        await self._data(
            "events/reply", "POST",
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event_id')}/reply",
            json={"rsvp_status": wire},
        )  # fmt: skip

    async def add_attendees(
        self,
        event: Event | str,
        attendees: Iterable[str | Attendee],
        *,
        calendar_id: str | None = None,
    ) -> None:
        """
        Invite people (open_ids), group chats (``oc_…``), rooms (``omm_…``)
        or outside addresses (e-mail): calendar v4 ``POST
        …/events/{event_id}/attendees``, ≤ 1000 a call (more are batched).
        """
        people = invitees(attendees, "id", article="an")
        target = self._target(event)
        cal = calendar_id or (event.calendar_id if isinstance(event, Event) else None) or _PRIMARY
        path = (
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event_id')}/attendees"
        )
        for k in range(0, len(people), MAX_ATTENDEES_PER_CALL):
            batch = attendees_to_feishu(people[k : k + MAX_ATTENDEES_PER_CALL])
            await self._data(
                "attendees/create", "POST", path,
                params={"user_id_type": "open_id"}, json={"attendees": batch}, idempotent=True,
            )  # fmt: skip

    async def remove_attendees(
        self,
        event: Event | str,
        attendees: Iterable[str | Attendee],
        *,
        calendar_id: str | None = None,
    ) -> None:
        """
        Uninvite: calendar v4 ``POST …/events/{event_id}/attendees/batch_delete``
        (``delete_ids``), ≤ 500 a call.
        """
        people = invitees(attendees, "id", article="an")
        target = self._target(event)
        cal = calendar_id or (event.calendar_id if isinstance(event, Event) else None) or _PRIMARY
        path = (
            f"{_V4}/calendars/{self._calendar(cal)}/events/{_segment(target, 'event_id')}"
            "/attendees/batch_delete"
        )
        for k in range(0, len(people), MAX_ATTENDEES_DELETE):
            batch = attendees_to_feishu(people[k : k + MAX_ATTENDEES_DELETE])
            await self._data(
                "attendees/delete", "POST", path,
                params={"user_id_type": "open_id"}, json={"delete_ids": batch}, idempotent=True,
            )  # fmt: skip


def _rfc3339(text: str, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseFormatError(
            f"expected an RFC 3339 time, got {_describe(text)}", path=path
        ) from None
    if moment.utcoffset() is None:
        raise ResponseFormatError(f"{text!r} has no UTC offset", path=path)
    return moment
