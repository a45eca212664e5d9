"""The drift guard's memory stays flat however long the listing (benchmark 3's finding)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence

import pytest

from wecal.paging import OffsetPaging, Paginator

pytestmark = pytest.mark.anyio

PAGE = 500


def _pager(total: int) -> Paginator[str]:
    async def fetch(offset: int, limit: int) -> Sequence[str]:
        return [f"schedule-{i:09d}-{'x' * 20}" for i in range(offset, min(offset + limit, total))]

    return Paginator(OffsetPaging(fetch, page_size=PAGE), key=lambda item: item)


async def _held_after(total: int) -> tuple[int, int]:
    """(items seen, bytes still held by the paginator when the last page is read)."""
    tracemalloc.start()
    try:
        count = 0
        pages = _pager(total).by_page()
        async for page in pages:
            count += len(page.items)
            if count == total:
                held = tracemalloc.get_traced_memory()[0]
        return count, held
    finally:
        tracemalloc.stop()


async def test_memory_does_not_grow_with_the_listing() -> None:
    small_count, small = await _held_after(10 * PAGE)
    large_count, large = await _held_after(100 * PAGE)
    assert (small_count, large_count) == (10 * PAGE, 100 * PAGE)
    # Remembering every id would hold ~90 more pages of keys (>3 MB) here.
    assert large - small < 200_000, (small, large)
