"""
``wecal.WeComClient``: WeCom (企业微信) schedules and calendars.

Endpoints (all ``POST /cgi-bin/<path>?access_token=…``, JSON bodies; see
``reference/wecom.md`` §1.2): ``oa/schedule/{get_by_calendar,get,add,update,
del,add_attendees,del_attendees}`` and ``oa/calendar/{add,update,get,del}``.
WeCom sees only calendars and schedules the calling app created.

What WeCom does not do, wecal does client-side: there is no time window on
``get_by_calendar`` (events are filtered, and expanded, here), no incremental
update (``update_event`` reads, merges and writes back the whole schedule) and
no recurrence id (an occurrence is addressed by ``op_start_time``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any, Literal, Unpack

import attrs

from ..._client import BaseClient, ClientSettings
from ...errors import (
    InvalidRequestError,
    NotFoundError,
    ResponseFormatError,
    ValidationError,
    _describe,
)
from ...models import Calendar, Event
from ...paging import OffsetPaging, Paginator, raw_id
from ...sync import Confirmed, SyncStream, snapshot_sync
from .._common import (
    check_instance,
    check_page_size,
    check_window,
    event_listing,
    gather,
    id_list,
    in_window,
)
from ._convert import (
    _MIDNIGHT,
    _seconds,
    _zone_for_write,
    calendar_from_wecom,
    calendar_to_wecom,
    event_to_schedule,
    schedule_to_event,
    schedules_from_wire,
    share_failures,
    wecom_schedule_page,
    with_callers_zone,
)
from ._errors import WECOM
from ._wire import SchedulePage, decode_schedule_page

__all__ = ["WeComClient"]

log = logging.getLogger("wecal")

#: ``get_by_calendar`` ``limit`` and ``schedule/get`` / ``calendar/get`` id lists: 1..1000.
MAX_BATCH = 1000
_PROVIDER = "wecom"


_schedule_id = raw_id("schedule_id")


def _schedule_key(item: Any) -> Hashable:
    """A listed schedule's id for the paginator's progress guard, decoded or not."""
    return item[0].schedule_id if type(item) is tuple else _schedule_id(item)


class WeComClient(BaseClient):
    """
    A WeCom app's schedules and calendars, normalized.

    ``corp_id`` and ``corp_secret`` are the app's credentials (each app of a
    corp has its own secret and its own token). Everything else is keyword-only::

        async with wecal.WeComClient(corp_id, corp_secret) as wecom:
            async for event in wecom.list_events(cal_id, start=t0, end=t1):
                print(event.summary, event.start)

    Args:
        base_url: another host (a private deployment, ``wecal.sandbox``).
        transport / http_client: bring your own httpx transport or client.
        timeout: seconds per request (httpx semantics), default 10.
        proxy: WeCom only answers trusted IPs (60020): send through this proxy.
        retry: :class:`~wecal.RetryConfig` (attempts, backoff, deadline).
        rate_limit: :class:`~wecal.RateLimitConfig`; ``None`` = WeCom's
            documented per-API limits, ``False`` = off.
        token_store: share tokens between processes (default: in memory).
        max_response_bytes: the largest response body read (default 64 MiB).
        date_zone: the zone a ``date`` window bound is read in (default
            ``Asia/Shanghai``). All of them: :class:`~wecal.ClientSettings`.
    """

    dialect = WECOM

    def __init__(self, corp_id: str, corp_secret: str, **settings: Unpack[ClientSettings]) -> None:
        super().__init__(corp_id, corp_secret, **settings)

    async def _post(
        self, api: str, body: Mapping[str, Any], *, idempotent: bool = True, write: bool = False
    ) -> Any:
        return await self._http.call(
            api, "POST", f"/cgi-bin/oa/{api}", json=body, idempotent=idempotent, write=write
        )

    async def _keyed_write(
        self,
        api: str,
        body: Mapping[str, Any],
        *,
        kind: str,
        key: str,
        exists: Callable[[str], Awaitable[object]],
    ) -> Any:
        """
        A write addressed by one id (``key``) among other fields.

        WeCom answers 40058 ("invalid parameter") both for an unknown id and
        for a bad field. On 40058 the id is looked up (``exists`` raises
        :class:`~wecal.NotFoundError` when it is gone): an unknown id is
        :class:`~wecal.NotFoundError`, whatever the code; else the answer
        stands as the :class:`~wecal.InvalidRequestError` it is.
        """
        try:
            return await self._post(api, body, write=True)
        except InvalidRequestError as exc:
            if exc.code != 40058:
                raise
            try:
                await exists(key)
            except NotFoundError:
                raise NotFoundError(
                    f"{api}: no such {kind} {key!r} ({exc.message})",
                    provider=_PROVIDER,
                    code=exc.code,
                    request_id=exc.request_id,
                    http_status=exc.http_status,
                    missing=(key,),
                ) from exc
            raise

    # -- reading ---------------------------------------------------------------

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
        The events of a calendar this app created, page by page.

        wecom/oa.schedule.get_by_calendar — ``POST /cgi-bin/oa/schedule/get_by_calendar``
        (offset/limit; an empty ``schedule_list`` ends it; no time filter).

        With ``start``/``end`` an event is kept when it overlaps ``[start, end)``
        (a recurring one when any occurrence does); ``expand=True`` yields the
        occurrences inside the window instead (both bounds required).
        ``page_size`` is WeCom's ``limit``: 1 to 1000, default 1000.
        ``user_id`` is not supported: WeCom lists by calendar.
        """
        if user_id is not None:
            raise ValidationError(
                "WeCom lists schedules by calendar: pass calendar_id, not user_id",
            )
        if not isinstance(calendar_id, str) or not calendar_id:
            raise ValidationError(
                f"calendar_id must be a WeCom cal_id, got {_describe(calendar_id)}",
            )
        start, end = check_window(
            start, end, expand=expand, provider=_PROVIDER, date_zone=self._date_zone
        )
        limit = check_page_size(page_size, default=MAX_BATCH, maximum=MAX_BATCH, provider=_PROVIDER)

        async def fetch(offset: int, size: int) -> Sequence[Any]:
            # Decoded into the wire Structs (_wire.py); an answer they do not
            # take comes back as the JSON object, for the dict readers.
            body = await self._http.call(
                "schedule/get_by_calendar",
                "POST",
                "/cgi-bin/oa/schedule/get_by_calendar",
                json={"cal_id": calendar_id, "offset": offset, "limit": size},
                decode=decode_schedule_page,
            )
            return body if isinstance(body, SchedulePage) else wecom_schedule_page(body)

        def transform(raw: Sequence[Any]) -> Iterable[Event]:
            if isinstance(raw, SchedulePage):
                events = schedules_from_wire(raw)
            else:
                events = [
                    schedule_to_event(item, path=f"$.schedule_list[{i}]")
                    for i, item in enumerate(raw)
                ]
            return list(in_window(events, start, end, expand=expand))

        return event_listing(
            OffsetPaging(fetch, page_size=limit),
            transform,
            id_field="schedule_id",
            raw_key=_schedule_key,
            query={
                "provider": _PROVIDER,
                "calendar_id": calendar_id,
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
        What changed in a calendar since the sync that gave ``state``.

        WeCom has no sync API: the whole calendar is listed and compared with
        the per-event fingerprints ``state`` holds (see :mod:`wecal.sync`).
        Without ``state`` the sync starts with a RESET and reports every
        schedule as CREATED. Save ``stream.state`` once the stream is consumed.

        A schedule missing from the listing is looked up by id before it is
        reported DELETED: offset paging skips a live schedule when another is
        deleted while the sync pages. The state is bound to this corp and
        ``base_url`` as well as to the calendar: another's is a ValidationError.
        """
        listing = self.list_events(calendar_id, user_id=user_id, page_size=page_size)

        async def confirm(candidates: frozenset[str]) -> Confirmed:
            found = await self.get_events(sorted(candidates), missing="skip")
            alive = {e.id: e for e in found if e.calendar_id == calendar_id}
            return alive, candidates - alive.keys()

        scope = {
            "provider": _PROVIDER,
            "app": self._http.app_id,
            "base_url": self._http.base_url,
            "calendar_id": calendar_id,
        }
        return snapshot_sync(listing, scope=scope, state=state, confirm=confirm)

    async def get_events(
        self, ids: Iterable[str], *, missing: Literal["raise", "skip"] = "raise"
    ) -> list[Event]:
        """
        Schedules by id, in the order asked; any number of ids.

        wecom/oa.schedule.get — ``POST /cgi-bin/oa/schedule/get`` (≤ 1000 ids a
        call): batches are fetched concurrently within the client's limits.
        Cancelled schedules are returned too (``status`` CANCELLED).

        Unknown ids are reported, not dropped: with ``missing="raise"``
        (default) a :class:`~wecal.NotFoundError` lists them in ``.missing``
        and carries the rest in ``.found``; ``missing="skip"`` returns the
        found ones only. WeCom refuses a whole batch for one unknown id
        (40058), so such a batch is split in halves until the unknown ids are
        isolated — O(k·log n) calls for k unknown ids.
        """
        wanted = id_list(ids, "schedule_id")
        found: dict[str, Event] = {}

        def read(body: Mapping[str, Any]) -> None:
            for i, item in enumerate(wecom_schedule_page(body)):
                event = schedule_to_event(item, path=f"$.schedule_list[{i}]")
                found[event.id] = event

        await self._get_by_ids("schedule/get", "schedule_id_list", wanted, read)
        result = [found[sid] for sid in wanted if sid in found]
        gone = tuple(sid for sid in wanted if sid not in found)
        if gone and missing == "raise":
            shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
            raise NotFoundError(
                f"{len(gone)} of {len(wanted)} schedules not found: {shown}",
                provider=_PROVIDER,
                missing=gone,
                found=tuple(result),
            )
        return result

    async def _get_by_ids(
        self,
        api: str,
        key: str,
        wanted: list[str],
        read: Callable[[Mapping[str, Any]], None],
    ) -> None:
        """
        ``read`` every answer of ``api`` for ``wanted``, ≤ 1000 ids a call.

        WeCom refuses a whole batch for one unknown id (40058), so such a batch
        is split in halves until the unknown ids stand alone (and are left
        out) — O(k·log n) calls for k unknown ids. Errors come out as
        themselves, not wrapped in an ExceptionGroup (see ``_common.gather``).
        """

        async def fetch(batch: list[str]) -> None:
            try:
                body = await self._post(api, {key: batch})
            except NotFoundError as exc:
                if exc.code != 40058:
                    raise
                if len(batch) == 1:
                    return  # unknown: the caller reports what is not found
                half = len(batch) // 2
                await gather([partial(fetch, batch[:half]), partial(fetch, batch[half:])])
                return
            read(body)

        await gather(
            partial(fetch, wanted[k : k + MAX_BATCH]) for k in range(0, len(wanted), MAX_BATCH)
        )

    async def get_event(self, event_id: str) -> Event:
        """One schedule by id; :class:`~wecal.NotFoundError` if it does not exist."""
        (event,) = await self.get_events([event_id])
        return event

    # -- writing ---------------------------------------------------------------

    async def create_event(self, event: Event, *, calendar_id: str | None = None) -> Event:
        """
        Create a schedule and return it as WeCom stored it (with its new id).

        wecom/oa.schedule.add — ``POST /cgi-bin/oa/schedule/add``. Never
        replayed after an ambiguous failure (WeCom has no idempotency key):
        :class:`~wecal.OutcomeUnknownError` then means "maybe created" — list
        the calendar to see before creating it again.
        ``calendar_id`` (or ``event.calendar_id``) must be a calendar of this
        app; without one WeCom uses the app's default calendar. What WeCom
        cannot store raises :class:`~wecal.UnsupportedError` before sending.

        WeCom stores a fixed UTC offset, not a zone name: an IANA zone is
        sent as its offset at the start (whole hours only). The returned event
        keeps the caller's IANA zone (``event.timezone``, else its start's
        ``ZoneInfo``) when that zone has the stored offset — all year, for a
        recurring event — and says the offset (``"+08:00"``) otherwise; a
        later ``get_event`` or listing always says the offset.
        """
        check_instance(event, Event, "event")
        schedule = event_to_schedule(event, calendar_id=calendar_id)
        schedule.pop("schedule_id", None)
        body = await self._post(
            "schedule/add", {"schedule": schedule}, idempotent=False, write=True
        )
        new_id = body.get("schedule_id")
        if not isinstance(new_id, str) or not new_id:
            raise ResponseFormatError(
                f"expected the new schedule_id, got {_describe(new_id)}", path="$.schedule_id"
            )
        return with_callers_zone(await self.get_event(new_id), event)

    def _op(
        self, event: Event, occurrence: datetime | date | None, following: bool
    ) -> tuple[str, dict[str, Any]]:
        """The target schedule id and the op_mode fields for an occurrence edit."""
        target = event.id
        if occurrence is None and event.series_id is not None:
            target, occurrence = event.series_id, event.recurrence_id
        if occurrence is None:
            if following:
                raise ValidationError(
                    "following=True needs an occurrence (or an occurrence event)",
                )
            return target, {}
        if isinstance(occurrence, datetime):
            seconds = _seconds(occurrence, "op_start_time")
        else:
            seconds = _seconds(
                datetime.combine(occurrence, _MIDNIGHT, _zone_for_write(event)), "op_start_time"
            )
        return target, {"op_mode": 2 if following else 1, "op_start_time": seconds}

    async def update_event(
        self,
        event: Event,
        *,
        occurrence: datetime | date | None = None,
        following: bool = False,
    ) -> Event:
        """
        Write ``event`` over the stored schedule and return the result.

        wecom/oa.schedule.update — ``POST /cgi-bin/oa/schedule/update``.
        WeCom updates overwrite: wecal reads the stored schedule first and
        sends a full body, so fields the model does not carry (``admins``) are
        kept, and ``skip_attendees=1`` when the attendees did not change.

        ``occurrence`` (its original start; implied for an occurrence event
        from ``expand``) edits one occurrence (``op_mode=1``) or, with
        ``following=True``, it and the ones after (``op_mode=2``). WeCom then
        splits off a new schedule: its id is the returned event's id. The
        returned event keeps the caller's IANA zone as ``create_event``'s does.
        """
        check_instance(event, Event, "event")
        target, op = self._op(event, occurrence, following)
        (current,) = await self.get_events([target])
        if event.calendar_id is not None and event.calendar_id != current.calendar_id:
            raise ValidationError(
                "WeCom cannot move a schedule to another calendar (cal_id is not updatable)",
            )
        merged = attrs.evolve(
            event,
            id=target,
            series_id=None,
            recurrence_id=None,
            calendar_id=current.calendar_id,
            raw={**current.raw, **event.raw},
        )
        schedule = event_to_schedule(merged)
        schedule.pop("cal_id", None)  # not updatable; WeCom rejects it on update
        body: dict[str, Any] = {"schedule": schedule, **op}
        if {a.id for a in event.attendees} == {a.id for a in current.attendees}:
            body["skip_attendees"] = 1
            schedule.pop("attendees", None)
        answer = await self._keyed_write(
            "schedule/update", body, kind="schedule", key=target, exists=self.get_event
        )
        new_id = answer.get("schedule_id") or target
        if not isinstance(new_id, str):
            raise ResponseFormatError(
                f"expected a schedule_id string, got {_describe(new_id)}", path="$.schedule_id"
            )
        if not op and new_id != target:
            # Only an occurrence edit (op_mode) splits off a schedule with a new id.
            raise ResponseFormatError(
                f"the update of schedule {target!r} answered another schedule's id "
                f"{_describe(new_id)}",
                path="$.schedule_id",
            )
        return with_callers_zone(await self.get_event(new_id), event)

    async def delete_event(
        self,
        event: Event | str,
        *,
        occurrence: datetime | date | None = None,
        following: bool = False,
    ) -> None:
        """
        Cancel a schedule, one occurrence of it, or an occurrence and the rest.

        wecom/oa.schedule.del — ``POST /cgi-bin/oa/schedule/del`` (``op_mode``
        as in :meth:`update_event`; for a plain id pass ``occurrence`` as an
        aware datetime).
        """
        if isinstance(event, str):
            if occurrence is not None and not isinstance(occurrence, datetime):
                raise ValidationError(
                    "with a plain schedule id, occurrence must be an aware datetime",
                )
            target = event
            op: dict[str, Any] = {}
            if occurrence is not None:
                op = {
                    "op_mode": 2 if following else 1,
                    "op_start_time": _seconds(occurrence, "op_start_time"),
                }
        else:
            check_instance(event, Event, "event")
            target, op = self._op(event, occurrence, following)
        await self._post("schedule/del", {"schedule_id": target, **op}, write=True)

    async def add_attendees(self, event: Event | str, user_ids: Iterable[str]) -> None:
        """Invite more people (incremental; ``oa/schedule/add_attendees``)."""
        await self._attendees("schedule/add_attendees", event, user_ids)

    async def remove_attendees(self, event: Event | str, user_ids: Iterable[str]) -> None:
        """Uninvite people (incremental; ``oa/schedule/del_attendees``)."""
        await self._attendees("schedule/del_attendees", event, user_ids)

    async def _attendees(self, api: str, event: Event | str, user_ids: Iterable[str]) -> None:
        if not isinstance(event, str):
            check_instance(event, Event, "event")
        target = event if isinstance(event, str) else (event.series_id or event.id)
        users = id_list(user_ids, "userid")
        if not users:
            raise ValidationError("user_ids must be one or more userid strings")
        await self._keyed_write(
            api,
            {"schedule_id": target, "attendees": [{"userid": u} for u in users]},
            kind="schedule",
            key=target,
            exists=self.get_event,
        )

    # -- calendars -------------------------------------------------------------

    def _report_share_failures(self, body: Mapping[str, Any], cal_id: str, strict: bool) -> None:
        failures = share_failures(body)
        if not failures:
            return
        text = ", ".join(f"{user} ({code} {msg})" for user, code, msg in failures)
        if strict:
            raise InvalidRequestError(
                f"calendar {cal_id} was saved, but sharing failed for: {text}",
                provider=_PROVIDER,
            )
        log.warning("wecom calendar %s saved, sharing failed for: %s", cal_id, text)

    async def create_calendar(self, calendar: Calendar, *, strict_shares: bool = False) -> Calendar:
        """
        Create a calendar owned by this app; returns it as stored.

        wecom/oa.calendar.add. Members WeCom could not share it with
        (``fail_result``) are logged as a warning on the ``wecal`` logger, or
        raise :class:`~wecal.InvalidRequestError` with ``strict_shares=True``
        (the calendar exists either way: its id is in the message).
        """
        check_instance(calendar, Calendar, "calendar")
        body = await self._post(
            "calendar/add", {"calendar": calendar_to_wecom(calendar)}, idempotent=False, write=True
        )
        cal_id = body.get("cal_id")
        if not isinstance(cal_id, str) or not cal_id:
            raise ResponseFormatError(
                f"expected the new cal_id, got {_describe(cal_id)}", path="$.cal_id"
            )
        self._report_share_failures(body, cal_id, strict_shares)
        (created,) = await self.get_calendars([cal_id])
        return created

    async def update_calendar(self, calendar: Calendar, *, strict_shares: bool = False) -> Calendar:
        """
        Overwrite a calendar's summary, color, description, admins and shares.

        wecom/oa.calendar.update (overwrite-style: send the whole calendar).
        ``is_public`` and ``is_corp_calendar`` cannot change after creation.
        """
        check_instance(calendar, Calendar, "calendar")
        body = await self._keyed_write(
            "calendar/update",
            {"calendar": calendar_to_wecom(calendar, for_update=True)},
            kind="calendar",
            key=calendar.id,
            exists=lambda cal_id: self.get_calendars([cal_id]),
        )
        self._report_share_failures(body, calendar.id, strict_shares)
        (updated,) = await self.get_calendars([calendar.id])
        return updated

    async def get_calendars(self, ids: Iterable[str]) -> list[Calendar]:
        """
        Calendars by id, in the order asked (``oa/calendar/get``, ≤ 1000 a call).

        Unknown ids raise :class:`~wecal.NotFoundError` with ``.missing`` and
        the calendars that were found in ``.found`` (as :meth:`get_events`).
        """
        wanted = id_list(ids, "cal_id")
        found: dict[str, Calendar] = {}

        def read(body: Mapping[str, Any]) -> None:
            items = body.get("calendar_list")
            if not isinstance(items, list):
                raise ResponseFormatError(
                    f"expected an array, got {_describe(items)}", path="$.calendar_list"
                )
            for i, item in enumerate(items):
                cal = calendar_from_wecom(item, path=f"$.calendar_list[{i}]")
                found[cal.id] = cal

        await self._get_by_ids("calendar/get", "cal_id_list", wanted, read)
        gone = tuple(c for c in wanted if c not in found)
        if gone:
            raise NotFoundError(
                f"calendars not found: {', '.join(gone[:5])}",
                provider=_PROVIDER,
                missing=gone,
                found=tuple(found[c] for c in wanted if c in found),
            )
        return [found[c] for c in wanted]

    async def delete_calendar(self, calendar: Calendar | str) -> None:
        """Delete a calendar and its schedules (``oa/calendar/del``)."""
        if not isinstance(calendar, str):
            check_instance(calendar, Calendar, "calendar")
        cal_id = calendar if isinstance(calendar, str) else calendar.id
        await self._post("calendar/del", {"cal_id": cal_id}, write=True)
