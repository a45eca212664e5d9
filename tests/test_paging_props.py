"""Property: a listing interrupted at any pages and resumed equals one clean pass."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal.paging import OffsetPaging, Paginator, TokenPaging


def make(kind: str, items: list[int], page_size: int, fail_once: set[int], max_items: int | None):
    """A paginator whose page number n (0-based) fails once when n is in fail_once."""
    failed: set[int] = set()

    def maybe_fail(page_no: int) -> None:
        if page_no in fail_once and page_no not in failed:
            failed.add(page_no)
            raise wecal.InvalidRequestError(f"page {page_no} refused", provider="test")

    if kind == "offset":

        async def fetch_offset(offset: int, limit: int) -> Sequence[int]:
            maybe_fail(offset // page_size)
            return items[offset : offset + limit]

        strategy = OffsetPaging(fetch_offset, page_size=page_size)
        return Paginator(strategy, key=lambda i: i, query={"q": 1}, max_items=max_items)

    async def fetch_token(token: str | None) -> tuple[Sequence[int], str | None]:
        page_no = int(token) if token else 0
        maybe_fail(page_no)
        start = page_no * page_size
        more = start + page_size < len(items)
        return items[start : start + page_size], str(page_no + 1) if more else ""

    return Paginator(TokenPaging(fetch_token), query={"q": 1}, max_items=max_items)


async def run(kind: str, n: int, page_size: int, fail_once: set[int], max_items: int | None):
    items = list(range(n))
    pager = make(kind, items, page_size, fail_once, max_items)
    got: list[int] = []
    cursor: str | None = None
    for _ in range(len(fail_once) + 2):  # bounded: each failure happens once
        try:
            async for page in pager.by_page(cursor=cursor):
                got.extend(page.items)
            return got
        except wecal.InvalidRequestError as exc:
            if exc.cursor is None:
                raise AssertionError("an error mid-listing must carry a cursor") from exc
            cursor = exc.cursor
    raise AssertionError("did not finish")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", ["offset", "token"])
@given(
    n=st.integers(min_value=0, max_value=40),
    page_size=st.integers(min_value=1, max_value=7),
    fail_once=st.sets(st.integers(min_value=0, max_value=12), max_size=6),
    max_items=st.none() | st.integers(min_value=0, max_value=45),
)
def test_resumed_listing_equals_one_clean_pass(
    backend: str, kind: str, n: int, page_size: int, fail_once: set[int], max_items: int | None
) -> None:
    clean = anyio.run(run, kind, n, page_size, set(), max_items, backend=backend)
    # Computed independently: the first max_items of 0..n-1.
    assert clean == list(range(n))[:max_items]
    resumed = anyio.run(run, kind, n, page_size, fail_once, max_items, backend=backend)
    assert resumed == clean
