"""
Type-checked, never executed: ``Paginator[Event]`` yields ``Event`` under mypy strict.

Run ``mypy --strict typing_tests/`` — a wrong item type here is a type error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, assert_type

import wecal
from wecal import Event
from wecal.paging import OffsetPaging, Page, PageIterator, Paginator, TokenPaging


async def _fetch_offset(offset: int, limit: int) -> Sequence[dict[str, Any]]:
    raise NotImplementedError


async def _fetch_token(token: str | None) -> tuple[Sequence[dict[str, Any]], str | None]:
    raise NotImplementedError


def _to_events(raw: Sequence[dict[str, Any]]) -> list[Event]:
    raise NotImplementedError


async def events_are_events(pager: Paginator[Event]) -> None:
    async for event in pager:
        assert_type(event, Event)
    pages = pager.by_page(cursor=None)
    assert_type(pages, PageIterator[Event])
    async for page in pages:
        assert_type(page, Page[Event])
        assert_type(page.items, tuple[Event, ...])
        assert_type(page.cursor, str | None)
    async with pager.by_page(prefetch=1) as prefetching:
        async for page in prefetching:
            assert_type(page.items, tuple[Event, ...])


def transform_sets_the_item_type() -> None:
    offset = Paginator(OffsetPaging(_fetch_offset, page_size=500), transform=_to_events)
    assert_type(offset, Paginator[Event])
    token = Paginator(TokenPaging(_fetch_token), transform=_to_events, key=lambda e: e.id)
    assert_type(token, Paginator[Event])
    raw = Paginator(TokenPaging(_fetch_token))
    assert_type(raw, Paginator[dict[str, Any]])


def _clients_are_calendar_providers(
    wecom: wecal.WeComClient, ding: wecal.DingTalkLegacyClient, v1: wecal.DingTalkClient
) -> list[wecal.CalendarProvider]:
    # The three clients satisfy the CalendarProvider protocol (checked by mypy only).
    return [wecom, ding, v1]


async def sync_streams_changes_then_a_state(provider: wecal.CalendarProvider) -> str:
    sync = provider.sync_events("cal", state=None)
    async for change in sync:
        assert_type(change, wecal.Change)
        assert_type(change.event, Event | None)
    assert_type(sync.state, str)
    return sync.state
