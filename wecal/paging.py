"""
The async paginator: offset and token paging behind one ``async for``.

A provider client returns a :class:`Paginator` from ``list_events``::

    async for event in client.list_events(cal_id):          # items
        ...
    async for page in client.list_events(cal_id).by_page():  # pages
        save(page.items, page.cursor)                       # cursor: resume point

Two strategies fetch raw pages: :class:`OffsetPaging` (WeCom ``offset``/
``limit``: stop on an empty page) and :class:`TokenPaging` (DingTalk
``page_token``/``nextToken``: stop when the next token is empty). A
``transform`` turns a raw page into items (convert, filter, expand) while the
position still advances by raw pages.

Guarantees:

- A cursor is an opaque URL-safe string naming strategy, position, how many
  items were yielded and a fingerprint of the query; resuming with a cursor
  from another query raises :class:`~wecal.ValidationError`.
- State changes only after a page succeeded: an error mid-iteration carries
  ``.cursor`` and resuming from it yields exactly the items not yet yielded.
- A page token seen twice ends the iteration with an error instead of
  looping. Progress is counted on the *raw* pages, by request, not on the
  items that survive ``transform``: a page makes progress when more than
  half of its raw items are new (not on the last three pages, nor earlier on
  the page); an empty page that is not the last makes none. After
  :data:`NO_PROGRESS_PAGES` (10) pages in a row without progress the
  iteration ends with :class:`~wecal.ResponseFormatError` carrying
  ``.cursor`` — a server that ignores ``offset``, or hands out a fresh page
  token with every empty or repeated page, costs 11 requests, not a loop.
  With a ``key``, an id yielded by one of the last three pages of
  this iteration is not yielded again (offsets drift when schedules are added
  or removed, and DingTalk's page tokens can be positions too). Drift moves
  items by the number of changes between two fetches, so a repeat comes from
  a recent page; remembering only those keeps memory flat on long listings.
- ``max_items`` caps the total, across resumes, independently of page size.
- Prefetch (opt-in, bounded) runs inside ``async with``, so leaving the block
  — ``break``, an error, a cancel scope — leaves no task behind.
- ``async for`` over a paginator uses a plain iterator object, not an async
  generator: leaving the loop early leaves nothing to finalize (no
  ``ResourceWarning`` on trio).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, overload

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .errors import ResponseFormatError, ValidationError, WecalError, _describe

__all__ = [
    "MAX_PAGE_TOKEN",
    "NO_PROGRESS_PAGES",
    "OffsetPaging",
    "Page",
    "Paginator",
    "RawPage",
    "TokenPaging",
    "raw_id",
]

T = TypeVar("T")
R = TypeVar("R")

_CURSOR_VERSION = 1
#: Longest page token accepted (DingTalk's are about 100 characters).
MAX_PAGE_TOKEN = 16_384
#: Pages in a row without progress (at most half of their raw items new, or
#: empty but not the last) before a listing is called stuck: a server that
#: ignores ``offset`` or hands out endless page tokens would loop forever. Ten:
#: legitimate drift repeats more than half a page only when more than half a
#: page of items was inserted between two fetches — ten times in a row.
NO_PROGRESS_PAGES = 10
# How many recent pages' ids the drift guard remembers: enough for up to two
# pages' worth of schedules inserted between two fetches.
_DEDUPE_PAGES = 3


@attrs.frozen
class Page(Generic[T]):
    """
    One page of items and the cursor to resume *after* it (None at the end).

    >>> Page(items=(1, 2), cursor=None).items
    (1, 2)
    """

    items: tuple[T, ...]
    cursor: str | None


@attrs.frozen
class RawPage(Generic[R]):
    """What a strategy fetched: raw items, the next position, and whether it was the last."""

    items: Sequence[R]
    next_position: int | str | None
    done: bool


class PagingStrategy(Protocol[R]):
    """How to fetch the page at a position. ``kind`` is recorded in cursors."""

    @property
    def kind(self) -> str:
        """``"offset"`` or ``"token"``."""
        ...

    @property
    def initial(self) -> int | str | None:
        """The position of the first page."""
        ...

    def fetch(self, position: Any) -> Awaitable[RawPage[R]]:
        """Fetch the page at ``position``."""
        ...


class OffsetPaging(Generic[R]):
    """
    Offset/limit paging: ask ``fetch(offset, limit)``; an empty page ends it.

    The next offset is the current one plus the raw page length (the server
    may return fewer than ``limit``)::

        OffsetPaging(lambda offset, limit: fetch_schedules(cal_id, offset, limit), page_size=500)
    """

    kind = "offset"

    def __init__(
        self, fetch: Callable[[int, int], Awaitable[Sequence[R]]], *, page_size: int, start: int = 0
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError(
                f"page_size must be a positive int, got {_describe(page_size)}",
            )
        self._fetch = fetch
        self.page_size = page_size
        self.initial: int = start

    async def fetch(self, position: int) -> RawPage[R]:
        """The page at ``position``."""
        items = await self._fetch(position, self.page_size)
        if not items:
            return RawPage((), None, True)
        return RawPage(items, position + len(items), False)


class TokenPaging(Generic[R]):
    """
    Page-token paging: ``fetch(token)`` returns ``(items, next_token)``; an
    empty or missing next token ends it. The first call gets ``None``.
    """

    kind = "token"
    initial: str | None = None

    def __init__(self, fetch: Callable[[str | None], Awaitable[tuple[Sequence[R], str | None]]]):
        self._fetch = fetch

    async def fetch(self, position: str | None) -> RawPage[R]:
        """The page at ``position`` (None: the first page)."""
        items, next_token = await self._fetch(position)
        if next_token is not None and not isinstance(next_token, str):
            raise ResponseFormatError(
                f"next page token must be a string, got {_describe(next_token)}",
                path="$.next_page_token",
            )
        if not next_token:
            return RawPage(items, None, True)
        if len(next_token) > MAX_PAGE_TOKEN:
            # Every token of a listing is remembered (the loop guard) and
            # travels in cursors: a hostile one must not grow them without bound.
            raise ResponseFormatError(
                f"next page token is {len(next_token)} characters long (at most {MAX_PAGE_TOKEN})",
                path="$.next_page_token",
            )
        return RawPage(items, next_token, False)


def _fingerprint(kind: str, query: Mapping[str, Any] | None) -> str:
    text = json.dumps(
        {"kind": kind, "query": dict(query or {})}, sort_keys=True, default=str, ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Paginator(Generic[T]):
    """
    An async iterable of items, fetched page by page on demand.

    ``transform`` maps one raw page to items (default: the raw items);
    ``key`` gives an item's id for the de-duplication guard; ``raw_key`` a
    raw item's id for the progress guard (default: ``key`` when there is no
    transform, else the item's content);
    ``query`` is what the listing asks for (calendar, window…) — it
    fingerprints cursors; ``max_items`` caps the total; ``prefetch`` fetches
    up to that many pages ahead inside ``async with paginator.by_page()``::

        pager = Paginator(TokenPaging(fetch), transform=to_events, query={"user": uid})
        async for event in pager:
            ...
    """

    @overload
    def __init__(
        self: Paginator[R],
        strategy: PagingStrategy[R],
        *,
        transform: None = None,
        key: Callable[[R], Hashable] | None = None,
        raw_key: Callable[[R], Hashable] | None = None,
        query: Mapping[str, Any] | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
        provider: str = "wecal",
    ) -> None: ...

    @overload
    def __init__(
        self,
        strategy: PagingStrategy[R],
        *,
        transform: Callable[[Sequence[R]], Iterable[T]],
        key: Callable[[T], Hashable] | None = None,
        raw_key: Callable[[R], Hashable] | None = None,
        query: Mapping[str, Any] | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
        provider: str = "wecal",
    ) -> None: ...

    def __init__(
        self,
        strategy: PagingStrategy[Any],
        *,
        transform: Callable[[Sequence[Any]], Iterable[Any]] | None = None,
        key: Callable[[Any], Hashable] | None = None,
        raw_key: Callable[[Any], Hashable] | None = None,
        query: Mapping[str, Any] | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
        provider: str = "wecal",
    ) -> None:
        for name, value in (("max_items", max_items), ("prefetch", prefetch)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValidationError(
                    f"{name} must be an int ≥ 0, got {_describe(value)}",
                )
        self._strategy = strategy
        self._transform = transform
        self._key = key
        if raw_key is None:
            raw_key = key if transform is None and key is not None else _content_key
        self._raw_key = raw_key
        self._max_items = max_items
        self._prefetch = prefetch
        self._provider = provider
        self._fingerprint = _fingerprint(strategy.kind, query)

    def __repr__(self) -> str:
        return f"Paginator({self._strategy.kind}, max_items={self._max_items})"

    @property
    def kind(self) -> str:
        """How the pages are asked for: ``"offset"`` (an empty page ends) or ``"token"``."""
        return self._strategy.kind

    def __aiter__(self) -> AsyncIterator[T]:
        # Page by page, no prefetch (an iterator cannot own a task group
        # across its steps); an object, not an async generator, so that
        # leaving the loop early leaves nothing for the event loop to finalize.
        return _ItemIterator(PageIterator(self, None, prefetch=0))

    def by_page(self, cursor: str | None = None, *, prefetch: int | None = None) -> PageIterator[T]:
        """
        Iterate :class:`Page` objects, from the start or from ``cursor``.

        With ``prefetch`` > 0 (default: the paginator's), use it as
        ``async with paginator.by_page() as pages: async for page in pages``.
        """
        return PageIterator(self, cursor, prefetch=self._prefetch if prefetch is None else prefetch)

    # -- cursors -----------------------------------------------------------

    def _encode(self, position: int | str | None, count: int) -> str:
        payload = {
            "v": _CURSOR_VERSION,
            "s": self._strategy.kind,
            "p": position,
            "n": count,
            "f": self._fingerprint,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def _decode(self, cursor: str) -> tuple[int | str | None, int]:
        def bad(why: str) -> ValidationError:
            return ValidationError(f"invalid cursor: {why}")

        if not isinstance(cursor, str) or not cursor:
            raise bad(f"expected a non-empty string, got {_describe(cursor)}")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            data = json.loads(raw)
        except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
            raise bad("not a wecal cursor") from None
        if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
            raise bad("not a wecal cursor (or from another wecal version)")
        if data.get("s") != self._strategy.kind or data.get("f") != self._fingerprint:
            raise bad("it belongs to another listing (different query or paging)")
        position, count = data.get("p"), data.get("n")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise bad("item count is damaged")
        if self._strategy.kind == "offset":
            if isinstance(position, bool) or not isinstance(position, int) or position < 0:
                raise bad("offset is damaged")
        elif position is not None and (not isinstance(position, str) or not position):
            # None is the first page of a token listing.
            raise bad("page token is damaged")
        return position, count


def _content_key(item: Any) -> Hashable:
    """A raw item's identity when no ``raw_key`` was given: itself, or its repr."""
    try:
        hash(item)
    except TypeError:
        return repr(item)
    return item  # type: ignore[no-any-return]


def raw_id(field: str) -> Callable[[Any], Hashable]:
    """
    A ``raw_key`` that reads ``field`` of a raw JSON object (its content when
    the item is not an object or the field is not a string or int)::

        Paginator(strategy, transform=convert, raw_key=raw_id("schedule_id"))
    """

    def key(item: Any) -> Hashable:
        value = item.get(field) if isinstance(item, Mapping) else None
        return value if isinstance(value, str | int) else _content_key(item)

    return key


class _ItemIterator(Generic[T]):
    """``async for item in paginator``: the items of the pages, one by one."""

    def __init__(self, pages: PageIterator[T]) -> None:
        self._pages = pages
        self._items: Iterator[T] = iter(())

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while True:
            for item in self._items:
                return item
            page = await self._pages.__anext__()
            self._items = iter(page.items)

    async def aclose(self) -> None:
        """Stop: the iterator yields nothing more."""
        self._items = iter(())
        await self._pages.aclose()


class PageIterator(Generic[T]):
    """
    Iterates the pages of a :class:`Paginator`. Also an async context manager,
    which prefetching needs (it owns the background fetch).

    ``cursor`` is where to resume after the last page handed out.
    """

    def __init__(self, paginator: Paginator[T], cursor: str | None, *, prefetch: int) -> None:
        self._p = paginator
        if cursor is None:
            self._position: int | str | None = paginator._strategy.initial
            self._count = 0
        else:
            self._position, self._count = paginator._decode(cursor)
        self._done = paginator._max_items is not None and self._count >= paginator._max_items
        self._prefetch = prefetch
        # Keys of the last few pages only: drift shifts items by the number
        # of schedules added or removed between two fetches, so a repeat can
        # only come from a recent page — and remembering every key of a
        # million-event listing cost ~117 bytes per event (benchmarks/RESULTS.md).
        self._recent_keys: deque[set[Hashable]] = deque(maxlen=_DEDUPE_PAGES)
        self._recent_raw: deque[set[Hashable]] = deque(maxlen=_DEDUPE_PAGES)
        self._seen_tokens: set[str] = set()
        self._stale = 0
        self._task_group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[Page[T] | WecalError] | None = None
        #: Resume point after the last page handed out (None once finished).
        self.cursor: str | None = (
            None if self._done else paginator._encode(self._position, self._count)
        )

    # -- fetching (the only place state changes) ---------------------------

    async def _fetch_next(self) -> Page[T]:
        p = self._p
        resume = p._encode(self._position, self._count)
        try:
            try:
                raw = await p._strategy.fetch(self._position)
                items = list(p._transform(raw.items) if p._transform else raw.items)
            except RecursionError:  # a hostile payload nested deeper than the stack
                raise ResponseFormatError("the page is nested too deeply", path="$") from None
            if p._strategy.kind == "token" and not raw.done:
                token = raw.next_position
                assert isinstance(token, str)
                if token == self._position or token in self._seen_tokens:
                    raise ResponseFormatError(
                        "the provider repeated a page token; stopping instead of looping",
                        path="$.next_page_token",
                    )
            raw_keys = self._check_progress(raw)
            if p._key is not None:
                items = self._dedupe(items)
        except WecalError as exc:
            exc.cursor = resume
            raise
        # Remember raw ids only now: the page may still have failed above.
        self._recent_raw.append(raw_keys)
        # Success: commit the new state.
        if isinstance(self._position, str):
            self._seen_tokens.add(self._position)
        if p._max_items is not None:
            items = items[: max(0, p._max_items - self._count)]
        self._count += len(items)
        self._position = raw.next_position
        self._done = raw.done or (p._max_items is not None and self._count >= p._max_items)
        return Page(tuple(items), None if self._done else p._encode(self._position, self._count))

    def _check_progress(self, raw: RawPage[Any]) -> set[Hashable]:
        """
        Count a page without progress (see the module docstring); raise after
        :data:`NO_PROGRESS_PAGES` in a row. Returns the page's raw ids.
        """
        raw_key = self._p._raw_key
        keys: set[Hashable] = set()
        # One union per page, not a generator per item: a 1000-item page
        # otherwise spends milliseconds here (benchmarks/RESULTS.md, issue 11).
        recent: set[Hashable] = set().union(*self._recent_raw)
        new = 0
        for item in raw.items:
            k = raw_key(item)
            if k not in keys and k not in recent:
                new += 1
            keys.add(k)
        if raw.done or new * 2 > len(raw.items):
            self._stale = 0
            return keys
        self._stale += 1
        if self._stale >= NO_PROGRESS_PAGES:
            what = "the offset" if self._p._strategy.kind == "offset" else "its page tokens"
            raise ResponseFormatError(
                f"no progress over {NO_PROGRESS_PAGES} pages in a row (empty pages, or "
                f"pages of items already listed): the provider ignores {what}; "
                "stopping instead of looping",
                path="$",
            )
        return keys

    def _dedupe(self, items: list[T]) -> list[T]:
        key = self._p._key
        assert key is not None
        fresh, keys = [], set()
        recent: set[Hashable] = set().union(*self._recent_keys)
        for item in items:
            k = key(item)
            if k not in keys and k not in recent:
                fresh.append(item)
            # Every id the page held, not only the fresh ones: an item that
            # drifts one page per fetch stays in view as long as it keeps coming.
            keys.add(k)
        self._recent_keys.append(keys)
        return fresh

    # -- async iteration ---------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page[T]:
        if self._receive is not None:
            try:
                item = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            if isinstance(item, WecalError):
                raise item
            self.cursor = item.cursor
            if not item.items and item.cursor is None:
                raise StopAsyncIteration
            return item
        if self._prefetch:
            raise ValidationError(
                "prefetch needs `async with paginator.by_page(...) as pages:`",
            )
        if self._done:
            raise StopAsyncIteration
        page = await self._fetch_next()
        self.cursor = page.cursor
        if not page.items and page.cursor is None:
            # Offset paging learns of the end from an empty page: not a page.
            raise StopAsyncIteration
        return page

    # -- prefetching -------------------------------------------------------

    async def _produce(self, send: MemoryObjectSendStream[Page[T] | WecalError]) -> None:
        async with send:
            while not self._done:
                try:
                    page = await self._fetch_next()
                except WecalError as exc:
                    await send.send(exc)
                    return
                await send.send(page)

    async def __aenter__(self) -> Self:
        if self._prefetch and not self._done:
            # Buffer prefetch-1 pages; the producer holds one more while it
            # waits to hand it over: `prefetch` pages ahead in all.
            send, receive = anyio.create_memory_object_stream[Page[T] | WecalError](
                self._prefetch - 1
            )
            self._receive = receive
            self._task_group = anyio.create_task_group()
            await self._task_group.__aenter__()
            self._task_group.start_soon(self._produce, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return None
        # Leaving the block ends the prefetch, whatever state it is in. The
        # body's own exception is not handed to the task group (it would come
        # out wrapped in an ExceptionGroup); it propagates unchanged.
        task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            if self._receive is not None:
                self._receive.close()
        return None

    async def aclose(self) -> None:
        """Stop prefetching (if any); the iterator yields nothing more."""
        self._done = True
        if self._receive is not None:
            self._receive.close()
