"""
``wecal.DingTalkLegacyClient``: DingTalk's legacy ``dingtalk.oapi.calendar.list``.

``POST /topapi/calendar/list?access_token=…`` (``seeds/dingtalk-calendar-list.txt``):
a staff member's events in a window, token-paged with ``page_token`` ←
``next_page_token``, ``max_results`` ≤ 2500, recurring events expanded by the
server with ``single_events``. The token comes from ``GET /gettoken`` with the
app's ``appkey``/``appsecret``. Read-only: the legacy write APIs can no longer
be granted to new apps (``reference/dingtalk.md`` §1.2).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, Unpack
from zoneinfo import ZoneInfo

from ..._client import BaseClient, ClientSettings
from ...errors import ValidationError, _describe
from ...models import Event
from ...paging import Paginator, TokenPaging, raw_id
from ...sync import Confirmed, SyncStream, relist_until_agreed, snapshot_sync
from .._common import check_page_size, check_window, event_listing
from ._convert import item_to_event, items_from_wire, page_from_response
from ._errors import DINGTALK_LEGACY
from ._wire import ItemPage, decode_item_page

__all__ = ["DingTalkLegacyClient"]

#: ``max_results``: default 250, at most 2500 (the seed document).
DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 2500
_PROVIDER = "dingtalk-legacy"


def _wire_time(moment: datetime) -> dict[str, str]:
    """``{date_time: '2019-03-01T23:08:53+0800', time_zone: 'Asia/Shanghai'}`` as the seed shows."""
    value: dict[str, str] = {"date_time": moment.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if isinstance(moment.tzinfo, ZoneInfo):
        value["time_zone"] = moment.tzinfo.key
    return value


_raw_item_id = raw_id("id")


def _item_key(item: Any) -> Hashable:
    """A listed item's id for the paginator's progress guard, decoded or not."""
    return item[0].id if type(item) is tuple else _raw_item_id(item)


class DingTalkLegacyClient(BaseClient):
    """
    Staff members' DingTalk calendars through the legacy ``calendar/list`` API.

    ::

        async with wecal.DingTalkLegacyClient(app_key, app_secret) as ding:
            async for event in ding.list_events(user_id="123134568", start=t0, end=t1,
                                                expand=True):
                print(event.summary, event.start)

    Settings are those of :class:`wecal.WeComClient` (``base_url``,
    ``transport``, ``http_client``, ``timeout``, ``proxy``, ``retry``,
    ``rate_limit`` — default 20 QPS per API as DingTalk documents —
    ``token_store``, ``max_response_bytes``, ``date_zone``; see
    :class:`~wecal.ClientSettings`).
    """

    dialect = DINGTALK_LEGACY

    def __init__(self, app_key: str, app_secret: str, **settings: Unpack[ClientSettings]) -> None:
        super().__init__(app_key, app_secret, **settings)

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
        A staff member's events, page by page.

        dingtalk/oapi.calendar.list — ``POST /topapi/calendar/list``
        (``page_token`` paging; ``max_results`` 1..2500, default 250).

        ``user_id`` is the staff ``userid`` (required); ``calendar_id`` the
        calendar folder (``calendar_folder_id``; default: the user's own).
        ``start``/``end`` go to the server as ``time_min``/``time_max`` (it
        returns the events overlapping them); ``expand=True`` asks it for
        single occurrences (``single_events``) — both bounds required.
        """
        if user_id is None and isinstance(calendar_id, str):
            # list_events("…") as WeCom's takes it: the one id given is the folder.
            raise ValidationError(
                f"user_id= is required: the user's staff userid (the first argument, "
                f"{calendar_id!r}, is a calendar folder id; without one, the user's own "
                "calendar is listed)"
            )
        if not isinstance(user_id, str) or not user_id:
            raise ValidationError(
                f"user_id must be a DingTalk staff userid, got {_describe(user_id)}",
            )
        if calendar_id is not None and (not isinstance(calendar_id, str) or not calendar_id):
            raise ValidationError(
                f"calendar_id must be a folder id string, got {_describe(calendar_id)}",
            )
        start, end = check_window(
            start, end, expand=expand, provider=_PROVIDER, date_zone=self._date_zone
        )
        size = check_page_size(
            page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE, provider=_PROVIDER
        )
        request: dict[str, Any] = {"user_id": user_id, "max_results": size}
        if calendar_id is not None:
            request["calendar_folder_id"] = calendar_id
        if start is not None:
            request["time_min"] = _wire_time(start)
        if end is not None:
            request["time_max"] = _wire_time(end)
        if expand:
            request["single_events"] = True

        async def fetch(token: str | None) -> tuple[Sequence[Any], str | None]:
            body = dict(request)
            if token is not None:
                body["page_token"] = token
            # Decoded into the wire Structs (_wire.py); an answer they do not
            # take comes back as the JSON object, for the dict readers.
            answer = await self._http.call(
                "calendar/list", "POST", "/topapi/calendar/list", json=body,
                decode=decode_item_page,
            )  # fmt: skip
            if isinstance(answer, ItemPage):
                return answer, answer.token
            return page_from_response(answer)

        def transform(raw: Sequence[Any]) -> Iterable[Event]:
            if isinstance(raw, ItemPage):
                return items_from_wire(raw, calendar_id=calendar_id, user_id=user_id)
            return [
                item_to_event(
                    item,
                    path=f"$.result.items[{i}]",
                    calendar_id=calendar_id,
                    user_id=user_id,
                )
                for i, item in enumerate(raw)
            ]

        return event_listing(
            TokenPaging(fetch),
            transform,
            id_field="id",
            raw_key=_item_key,
            query={
                "provider": "dingtalk-legacy",
                "user_id": user_id,
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
        start: datetime | None = None,
        end: datetime | None = None,
        state: str | None = None,
        page_size: int | None = None,
    ) -> SyncStream:
        """
        What changed in a staff member's calendar (within ``start``/``end``)
        since the sync that gave ``state``.

        The legacy API has no sync token: the events are listed and compared
        with the per-event fingerprints ``state`` holds (see :mod:`wecal.sync`);
        an event that moved out of the window is reported as DELETED.

        Page tokens are offsets: an event deleted while the sync pages makes
        the listing skip a live one. So events missing from it are reported
        DELETED only once a listing repeated until two in a row agree does
        not have them either (one more listing when something is missing).
        The state is bound to this app and ``base_url`` as well as to the
        user, calendar and window: another's is a ValidationError.
        """

        def listing() -> Paginator[Event]:
            return self.list_events(
                calendar_id, user_id=user_id, start=start, end=end, page_size=page_size
            )

        async def confirm(candidates: frozenset[str]) -> Confirmed:
            return await relist_until_agreed(listing, candidates)

        scope = {
            "provider": "dingtalk-legacy",
            "app": self._http.app_id,
            "base_url": self._http.base_url,
            "user_id": user_id,
            "calendar_id": calendar_id,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        }
        return snapshot_sync(listing(), scope=scope, state=state, confirm=confirm)
