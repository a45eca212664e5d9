"""
DingTalk v1.0 incremental sync: ``syncToken`` + ``showDeleted`` on ``/events``
(``reference/dingtalk.md`` §2.3), bound to :class:`wecal.sync.TokenSync`.

- The first sync (no state) lists every event with ``showDeleted=true`` and no
  ``timeMax`` (a ``timeMax`` would suppress the ``syncToken``); the last page
  carries the ``syncToken`` the state keeps.
- Later syncs send it: the answer holds only what changed since, deletions as
  ``status: "cancelled"`` tombstones (reported as DELETED).
- The docs say nothing about expiry; Google's equivalent answers 410. Any
  refusal of the token (a 4xx the provider gives for a bad parameter, a 410)
  starts over with a full listing, reported as a RESET — not raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._http import HttpCore
from ...errors import InvalidRequestError, ProviderError, WecalError
from ...models import Event, EventStatus
from ...sync import SyncStream, TokenPage, TokenSync
from .._common import check_page_size
from .._readers import read_mapping, read_str
from ._convert import event_from_dingtalk, page_from_response

__all__ = ["sync_events"]

_PROVIDER = "dingtalk"


def _rejected(exc: WecalError) -> bool:
    """Whether an error answers "this syncToken is no good"."""
    if isinstance(exc, InvalidRequestError):
        return True
    return isinstance(exc, ProviderError) and exc.http_status == 410


def _is_deleted(event: Event) -> bool:
    return event.status is EventStatus.CANCELLED


def sync_token_of(body: Mapping[str, Any]) -> str | None:
    """The ``syncToken`` of a ``/events`` answer (None when absent or empty)."""
    token = read_mapping(body, "$").get("syncToken")
    if token is None:
        return None
    return read_str(token, "$.syncToken") or None


def sync_events(
    http: HttpCore,
    path: str,
    calendar_id: str | None,
    *,
    user_id: str | None,
    state: str | None,
    page_size: int | None,
    max_page_size: int,
) -> SyncStream:
    """
    See :meth:`wecal.DingTalkClient.sync_events`: ``http`` is the client's
    send loop, ``path`` its ``/events`` path of the user's calendar.
    """
    calendar = calendar_id or "primary"
    size = check_page_size(
        page_size, default=max_page_size, maximum=max_page_size, provider=_PROVIDER
    )

    async def fetch(sync_token: str | None, next_token: str | None) -> TokenPage:
        query: dict[str, Any] = {"maxResults": size, "showDeleted": "true"}
        if sync_token is not None:
            query["syncToken"] = sync_token
        if next_token is not None:
            query["nextToken"] = next_token
        body = await http.call("events/list", "GET", path, params=query)
        items, following = page_from_response(body)
        events = [
            event_from_dingtalk(item, path=f"$.events[{i}]", calendar_id=calendar)
            for i, item in enumerate(items)
        ]
        return events, following, sync_token_of(body)

    engine = TokenSync(
        fetch,
        scope={
            "provider": "dingtalk-v1",
            "app": http.app_id,
            "base_url": http.base_url,
            "user_id": user_id,
            "calendar_id": calendar,
        },
        rejected=_rejected,
        is_deleted=_is_deleted,
    )
    return engine.stream(state)
