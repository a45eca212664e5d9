"""
``wecal.DingTalkClient`` (the v1.0 API): what is refused before anything is
sent. The wire itself is tested against the sandbox in
``tests/test_dingtalk_client_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import wecal

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 6, 3, tzinfo=UTC)
UNION = "union-a"


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent, but {request.method} {request.url.path} was")


def client() -> wecal.DingTalkClient:
    return wecal.DingTalkClient(
        "key",
        "secret-value-0123",
        base_url="http://sandbox",
        transport=httpx.MockTransport(_refuse),
        token_store=wecal.MemoryTokenStore(),
    )


def _event(**changes: Any) -> wecal.Event:
    fields: dict[str, Any] = {
        "provider": wecal.Provider.DINGTALK,
        "id": "",
        "start": T0,
        "end": T0 + timedelta(hours=1),
        "summary": "s",
        **changes,
    }
    return wecal.Event(**fields)


Call = Callable[[wecal.DingTalkClient], Awaitable[Any]]


async def _first(paginator: wecal.Paginator[wecal.Event]) -> None:
    async for _ in paginator:
        break


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda c: _first(c.list_events(start=T0)), wecal.ValidationError, "unionId"),
        # The one id given positionally, as WeCom's list_events takes it, is a calendar's.
        (
            lambda c: _first(c.list_events(UNION)),
            wecal.ValidationError,
            r"^user_id= is required: the user's unionId \(the first argument, 'union-a', is a "
            r"calendar id",
        ),
        (
            lambda c: _first(c.list_events(user_id=UNION, page_size=101)),
            wecal.ValidationError,
            "100",
        ),
        (
            lambda c: _first(c.list_events(user_id=UNION, start=T0, expand=True)),
            wecal.ValidationError,
            "both start and end",
        ),
        (
            lambda c: c.create_event(_event(summary="x" * 2049), user_id=UNION),
            wecal.ValidationError,
            "2048",
        ),
        (
            lambda c: c.create_event(
                _event(recurrence=wecal.Recurrence(rrule="FREQ=MINUTELY")), user_id=UNION
            ),
            wecal.UnsupportedError,
            "MINUTELY",
        ),
        (
            lambda c: c.create_event(
                _event(recurrence=wecal.Recurrence(rrule="FREQ=DAILY;INTERVAL=400")),
                user_id=UNION,
            ),
            wecal.ValidationError,
            "INTERVAL=400",
        ),
        (
            lambda c: c.create_event(
                _event(attendees=[wecal.Attendee(id=f"u{i}") for i in range(501)]),
                user_id=UNION,
            ),
            wecal.ValidationError,
            "500",
        ),
        (lambda c: c.add_attendees("e1", "u1", user_id=UNION), wecal.ValidationError, "list"),
        (lambda c: c.add_attendees("e1", [], user_id=UNION), wecal.ValidationError, "at least"),
        (lambda c: c.get_event("", user_id=UNION), wecal.ValidationError, "event_id"),
        (lambda c: c.resolve_union_id(""), wecal.ValidationError, "userid"),
        (
            lambda c: c.get_free_busy([""], start=T0, end=T0 + timedelta(hours=1), user_id=UNION),
            wecal.ValidationError,
            "user_ids",
        ),
        (
            lambda c: c.get_free_busy(
                [UNION], start=T0, end=T0 + timedelta(days=400), user_id=UNION
            ),
            wecal.ValidationError,
            "year",
        ),
    ],
)
async def test_refused_before_sending(call: Call, error: type[Exception], needle: str) -> None:
    async with client() as ding:
        with pytest.raises(error, match=needle):
            await call(ding)


def test_repr_shows_no_secret() -> None:
    assert "secret-value" not in repr(client())


async def test_a_cursor_whose_position_is_not_of_this_listing_is_the_callers_mistake() -> None:
    async with client() as ding:
        listing = ding.list_events(user_id=UNION, start=T0, end=T0 + timedelta(days=1))
        forged = listing._encode("9|token-of-another-window", 0)  # window 9 of a 1-window listing
        with pytest.raises(wecal.ValidationError, match="does not belong to this listing"):
            async for _ in listing.by_page(cursor=forged):
                pass
