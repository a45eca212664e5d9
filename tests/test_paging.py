"""The paginator, driven through the real HTTP core and a scripted provider."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import wecal
from tests._mock import FakeClock, FakeProvider, make_core, no_secret_in_logs, wecom_error
from wecal._http import HttpCore
from wecal.paging import NO_PROGRESS_PAGES, OffsetPaging, Page, Paginator, TokenPaging
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM

__all__ = ["no_secret_in_logs"]

pytestmark = pytest.mark.anyio

LIST = "/cgi-bin/oa/schedule/get_by_calendar"
DING_LIST = "/topapi/calendar/list"


def schedules(n: int) -> list[dict[str, Any]]:
    return [{"schedule_id": f"s{i:03d}", "summary": f"会议 {i}"} for i in range(n)]


class WeComListing:
    """A get_by_calendar endpoint over a mutable list (offsets drift when it changes)."""

    def __init__(self, fake: FakeProvider, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.offsets: list[int] = []
        self.fail_at: dict[int, httpx.Response] = {}
        self.ignore_offset = False
        fake.route(LIST, self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        offset, limit = body["offset"], body["limit"]
        self.offsets.append(offset)
        if offset in self.fail_at:
            return self.fail_at.pop(offset)
        if self.ignore_offset:
            offset = 0
        page = self.items[offset : offset + limit]
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "schedule_list": page})


def wecom_paginator(
    core: HttpCore, cal_id: str = "cal1", page_size: int = 3, **kwargs: Any
) -> Paginator[dict[str, Any]]:
    async def fetch(offset: int, limit: int) -> Sequence[dict[str, Any]]:
        body = await core.call(
            "schedule/get_by_calendar",
            "POST",
            LIST,
            json={"cal_id": cal_id, "offset": offset, "limit": limit},
        )
        return list(body["schedule_list"])

    return Paginator(
        OffsetPaging(fetch, page_size=page_size),
        key=lambda s: s["schedule_id"],
        query={"cal_id": cal_id},
        provider="wecom",
        **kwargs,
    )


class DingListing:
    """A legacy calendar/list endpoint with page tokens "t1", "t2", …"""

    def __init__(self, fake: FakeProvider, pages: list[list[str]]) -> None:
        self.pages = pages
        self.tokens: list[str | None] = []
        self.next_token_override: dict[int, str] = {}
        fake.route(DING_LIST, self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content).get("page_token")
        self.tokens.append(token)
        index = 0 if token is None else int(token[1:])
        nxt = f"t{index + 1}" if index + 1 < len(self.pages) else ""
        nxt = self.next_token_override.get(index, nxt)
        items = [{"id": i} for i in self.pages[index]]
        result = {"items": items, "next_page_token": nxt}
        return httpx.Response(200, json={"errcode": 0, "success": True, "result": result})


def ding_paginator(core: HttpCore, user: str = "u1") -> Paginator[str]:
    async def fetch(token: str | None) -> tuple[Sequence[dict[str, Any]], str | None]:
        body: dict[str, Any] = {"user_id": user}
        if token:
            body["page_token"] = token
        answer = await core.call("calendar/list", "POST", DING_LIST, json=body)
        return answer["result"]["items"], answer["result"]["next_page_token"]

    def to_ids(raw: Sequence[dict[str, Any]]) -> list[str]:
        return [item["id"] for item in raw]

    return Paginator(TokenPaging(fetch), transform=to_ids, query={"user": user})


async def collect_pages(pages: Any) -> list[Page[Any]]:
    return [page async for page in pages]


async def pump(source: Any, into: list[Any]) -> None:
    """Append everything ``source`` yields to ``into`` (kept when it raises)."""
    async for thing in source:
        into.append(thing)


async def test_offset_paging_yields_everything_and_stops_on_empty_page() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(8))
    items = [s["schedule_id"] async for s in wecom_paginator(make_core(fake))]
    assert items == [f"s{i:03d}" for i in range(8)]
    assert listing.offsets == [0, 3, 6, 8]  # the last page (8) is the empty one


async def test_token_paging_stops_when_next_token_is_empty() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    listing = DingListing(fake, [["a", "b"], ["c"], ["d", "e"]])
    assert [i async for i in ding_paginator(make_core(fake))] == ["a", "b", "c", "d", "e"]
    assert listing.tokens == [None, "t1", "t2"]


async def test_by_page_cursors_resume_after_each_page() -> None:
    fake = FakeProvider(WECOM)
    WeComListing(fake, schedules(7))
    core = make_core(fake)
    iterator = wecom_paginator(core).by_page()
    pages = await collect_pages(iterator)
    assert [len(p.items) for p in pages] == [3, 3, 1]
    # Offset paging learns of the end only from the next (empty) page: the
    # last page still has a cursor, and resuming from it yields nothing.
    assert all(isinstance(p.cursor, str) for p in pages)
    assert iterator.cursor is None
    assert await collect_pages(wecom_paginator(core).by_page(cursor=pages[-1].cursor)) == []
    resumed = await collect_pages(wecom_paginator(core).by_page(cursor=pages[0].cursor))
    assert [p.items for p in resumed] == [p.items for p in pages[1:]]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
async def test_resume_after_failure_on_page_k_yields_pages_k_to_n(k: int) -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(10))  # pages at 0, 3, 6, 9 (+ empty at 10)
    core = make_core(fake, clock=FakeClock())
    clean = await collect_pages(wecom_paginator(core).by_page())
    listing.fail_at[3 * k] = wecom_error(48002, "api forbidden")
    got: list[Page[Any]] = []
    with pytest.raises(wecal.PermissionDeniedError) as info:
        await pump(wecom_paginator(core).by_page(), got)
    assert got == clean[:k]
    assert info.value.cursor is not None
    rest = await collect_pages(wecom_paginator(core).by_page(cursor=info.value.cursor))
    assert [p.items for p in rest] == [p.items for p in clean[k:]]


async def test_item_iteration_error_carries_cursor_to_resume() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    DingListing(fake, [["a"], ["b"], ["c"]])
    original = fake.routes[DING_LIST]
    calls = 0

    async def flaky(request: httpx.Request) -> httpx.Response:
        # First page fine, then the provider refuses the second one once.
        nonlocal calls
        calls += 1
        if calls == 2:
            return wecom_error(41, "Invalid arguments")
        return await original(request)

    fake.route(DING_LIST, flaky)
    pager = ding_paginator(make_core(fake, clock=FakeClock()))
    seen: list[str] = []
    with pytest.raises(wecal.InvalidRequestError) as info:
        await pump(pager, seen)
    assert seen == ["a"]
    assert info.value.cursor is not None
    async for page in pager.by_page(cursor=info.value.cursor):
        seen.extend(page.items)
    assert seen == ["a", "b", "c"]


async def test_max_items_caps_total_independently_of_page_size() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(20))
    core = make_core(fake)
    items = [s async for s in wecom_paginator(core, page_size=3, max_items=7)]
    assert [s["schedule_id"] for s in items] == [f"s{i:03d}" for i in range(7)]
    assert listing.offsets == [0, 3, 6]
    # Across a resume the cap still counts what was yielded before.
    pages = wecom_paginator(core, page_size=3, max_items=7).by_page()
    first = await pages.__anext__()
    rest = await collect_pages(
        wecom_paginator(core, page_size=3, max_items=7).by_page(first.cursor)
    )
    assert len(first.items) + sum(len(p.items) for p in rest) == 7
    assert rest[-1].cursor is None
    assert [s async for s in wecom_paginator(core, max_items=0)] == []


async def test_cursor_from_another_query_is_rejected() -> None:
    fake = FakeProvider(WECOM)
    WeComListing(fake, schedules(7))
    core = make_core(fake)
    page = await wecom_paginator(core, cal_id="cal1").by_page().__anext__()
    assert page.cursor is not None
    with pytest.raises(wecal.ValidationError, match="another listing"):
        await wecom_paginator(core, cal_id="cal2").by_page(cursor=page.cursor).__anext__()
    with pytest.raises(wecal.ValidationError):
        await ding_paginator(core).by_page(cursor=page.cursor).__anext__()


@pytest.mark.parametrize("cursor", ["", "not a cursor!", "eyJ2IjoyfQ", "W10", "////"])
async def test_garbage_cursor_is_invalid_request(cursor: str) -> None:
    fake = FakeProvider(WECOM)
    with pytest.raises(wecal.ValidationError):
        wecom_paginator(make_core(fake)).by_page(cursor=cursor)


async def test_repeated_page_token_ends_with_error_not_a_loop() -> None:
    fake = FakeProvider(DINGTALK_LEGACY)
    listing = DingListing(fake, [["a"], ["b"], ["c"]])
    listing.next_token_override[2] = "t1"  # page 2 points back to page 1
    got: list[str] = []
    with pytest.raises(wecal.ResponseFormatError) as info:
        await pump(ding_paginator(make_core(fake)), got)
    assert got == ["a", "b"]
    assert info.value.cursor is not None
    assert len(listing.tokens) == 3


async def test_offset_drift_does_not_yield_an_id_twice() -> None:
    fake = FakeProvider(WECOM)
    items = schedules(6)
    listing = WeComListing(fake, items)
    got: list[str] = []
    async for s in wecom_paginator(make_core(fake)):
        got.append(s["schedule_id"])
        if len(got) == 3:
            # Someone adds a schedule at the front: everything shifts by one.
            listing.items.insert(0, {"schedule_id": "new", "summary": "新"})
    assert got == [f"s{i:03d}" for i in range(6)]
    assert len(got) == len(set(got))


async def test_server_ignoring_offset_ends_with_error() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(6))
    listing.ignore_offset = True
    with pytest.raises(wecal.ResponseFormatError, match="ignores the offset"):
        async for _ in wecom_paginator(make_core(fake)):
            pass
    # One real page, then NO_PROGRESS_PAGES stale ones.
    assert len(listing.offsets) == 1 + NO_PROGRESS_PAGES


async def test_token_revoked_mid_pagination_refreshes_once_without_loss() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(12))
    core = make_core(fake)
    got: list[str] = []
    async for s in wecom_paginator(core):
        got.append(s["schedule_id"])
        if len(got) == 4:
            fake.revoke_all()
    assert got == [f"s{i:03d}" for i in range(12)]
    assert fake.token_requests == 2
    # Offsets: 0, 3, then 6 refused and replayed once, 9, 12 (empty).
    assert listing.offsets == [0, 3, 6, 9, 12]
    assert len(fake.business_requests(LIST)) == 6


async def test_transform_filters_and_expands_while_offsets_follow_raw_pages() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(7))
    core = make_core(fake)

    async def fetch(offset: int, limit: int) -> Sequence[dict[str, Any]]:
        body = await core.call("x", "POST", LIST, json={"offset": offset, "limit": limit})
        return list(body["schedule_list"])

    def even_twice(raw: Sequence[dict[str, Any]]) -> list[str]:
        out = []
        for s in raw:
            if int(s["schedule_id"][1:]) % 2 == 0:
                out += [s["schedule_id"] + "_a", s["schedule_id"] + "_b"]
        return out

    pager = Paginator(OffsetPaging(fetch, page_size=3), transform=even_twice, key=lambda x: x)
    pages = await collect_pages(pager.by_page())
    assert [list(p.items) for p in pages] == [
        ["s000_a", "s000_b", "s002_a", "s002_b"],
        ["s004_a", "s004_b"],
        ["s006_a", "s006_b"],
    ]
    assert listing.offsets == [0, 3, 6, 7]


async def test_prefetch_fetches_ahead_inside_async_with() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(9))
    core = make_core(fake)
    await core.tokens.get()
    async with wecom_paginator(core, prefetch=1).by_page() as pages:
        first = await pages.__anext__()
        for _ in range(20):  # let the background fetch run
            await anyio.lowlevel.checkpoint()
        assert listing.offsets == [0, 3]  # page 2 is fetched while we hold page 1
        rest = await collect_pages(pages)
    assert [len(p.items) for p in [first, *rest]] == [3, 3, 3]
    assert listing.offsets == [0, 3, 6, 9]


async def test_prefetch_error_surfaces_in_order_with_cursor() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(9))
    listing.fail_at[6] = wecom_error(48002, "bad")
    core = make_core(fake, clock=FakeClock())
    got: list[Page[Any]] = []

    async def consume() -> None:
        async with wecom_paginator(core, prefetch=2).by_page() as pages:
            await pump(pages, got)

    with pytest.raises(wecal.PermissionDeniedError) as info:
        await consume()
    assert [len(p.items) for p in got] == [3, 3]
    assert info.value.cursor == got[-1].cursor


async def test_prefetch_without_async_with_is_refused() -> None:
    fake = FakeProvider(WECOM)
    WeComListing(fake, schedules(3))
    with pytest.raises(wecal.ValidationError, match="async with"):
        await wecom_paginator(make_core(fake), prefetch=1).by_page().__anext__()


async def test_break_out_of_prefetching_leaves_no_task_or_request_behind() -> None:
    fake = FakeProvider(WECOM)
    release, second_started = anyio.Event(), anyio.Event()
    state = {"started": 0, "cancelled": 0, "finished": 0}

    async def hanging(request: httpx.Request) -> httpx.Response:
        state["started"] += 1
        offset = json.loads(request.content)["offset"]
        if offset == 0:
            return httpx.Response(200, json={"errcode": 0, "schedule_list": schedules(3)})
        second_started.set()
        try:
            await release.wait()
        except anyio.get_cancelled_exc_class():
            state["cancelled"] += 1
            raise
        state["finished"] += 1
        return httpx.Response(200, json={"errcode": 0, "schedule_list": []})

    fake.route(LIST, hanging)
    core = make_core(fake)
    await core.tokens.get()
    async with wecom_paginator(core, prefetch=1).by_page() as pages:
        async for _page in pages:
            await second_started.wait()
            break
    assert state == {"started": 2, "cancelled": 1, "finished": 0}
    release.set()


async def test_cancel_scope_during_fetch_leaves_paginator_resumable() -> None:
    fake = FakeProvider(WECOM)
    listing = WeComListing(fake, schedules(6))
    gate = anyio.Event()
    original = fake.routes[LIST]

    async def slow(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["offset"] == 3 and not gate.is_set():
            await anyio.sleep_forever()
        return await original(request)

    fake.route(LIST, slow)
    core = make_core(fake)
    pages = wecom_paginator(core).by_page()
    first = await pages.__anext__()
    with anyio.move_on_after(0.05):
        await pages.__anext__()
    gate.set()
    assert pages.cursor == first.cursor
    rest = await collect_pages(pages)
    assert [p.items[0]["schedule_id"] for p in rest if p.items] == ["s003"]
    assert listing.offsets[-2:] == [3, 6]
