"""What both provider clients need around listing: argument checks and the window."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol, runtime_checkable

import anyio

from .._zones import day_start
from ..errors import ValidationError, WecalError, _check_text, _describe
from ..models import Attendee, Event
from ..paging import Paginator, PagingStrategy, raw_id
from ..recurrence import expand as expand_event
from ..sync import SyncStream

__all__ = [
    "CalendarProvider",
    "check_instance",
    "check_page_size",
    "check_window",
    "event_listing",
    "gather",
    "id_list",
    "in_window",
    "invitees",
]

# Open window ends, a day inside datetime's range so zone conversions cannot overflow.
_FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)


@runtime_checkable
class CalendarProvider(Protocol):
    """
    What every wecal client offers: ``list_events`` returning a paginator,
    ``sync_events`` returning the changes since a saved state (:mod:`wecal.sync`).

    Code that should work with any provider takes this type::

        async def count(provider: wecal.CalendarProvider, **where: Any) -> int:
            return sum([1 async for _ in provider.list_events(**where)])
    """

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
        The events of a calendar (``calendar_id``) or of a user (``user_id``),
        page by page; with ``start``/``end`` those overlapping ``[start, end)``
        (a date is 00:00 in the client's ``date_zone``), with ``expand=True``
        the occurrences of recurring events inside it.
        """
        ...

    def sync_events(
        self,
        calendar_id: str | None = None,
        *,
        user_id: str | None = None,
        state: str | None = None,
        page_size: int | None = None,
    ) -> SyncStream:
        """
        The changes since ``state`` (None: everything, as one ``reset``), as an
        async context manager whose ``state`` to save exists once every change
        was consumed.
        """
        ...

    async def aclose(self) -> None:
        """Close the client's connections; calls in flight end with ``ClientClosedError``."""
        ...


def check_window(
    start: datetime | date | None,
    end: datetime | date | None,
    *,
    expand: bool,
    provider: str,
    date_zone: tzinfo | None = None,
) -> tuple[datetime | None, datetime | None]:
    """
    The window as aware datetimes, checked: start < end; ``expand`` needs both.

    A ``date`` bound means 00:00 of that day in ``date_zone`` (the client's
    ``date_zone`` setting, ``Asia/Shanghai`` by default); a naive datetime
    is a :class:`~wecal.ValidationError`, as anything else is.
    """
    bounds: list[datetime | None] = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, date) and not isinstance(value, datetime):
            value = day_start(value, date_zone)
        if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
            raise ValidationError(
                f"{provider}: {name} must be an aware datetime or a date, got {_describe(value)}"
            )
        bounds.append(value)
    lo, hi = bounds
    if lo is not None and hi is not None and not lo < hi:
        raise ValidationError(f"start {lo.isoformat()} must be before end {hi.isoformat()}")
    if expand and (lo is None or hi is None):
        raise ValidationError("expand=True needs both start and end (a repeat rule may never end)")
    return lo, hi


def check_instance(value: object, cls: type, what: str) -> None:
    """A :class:`~wecal.ValidationError` unless ``value`` is a ``cls`` (a model, an id)."""
    if not isinstance(value, cls):
        raise ValidationError(f"{what} must be a {cls.__name__}, got {_describe(value)}")


def id_list(ids: object, what: str) -> list[str]:
    """
    ``ids`` as a list of distinct non-empty strings, in order; a
    :class:`~wecal.ValidationError` naming the first bad one (a lone string
    is not a list of ids).
    """
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise ValidationError(f"ids must be an iterable of {what} strings, got {_describe(ids)}")
    wanted = list(ids)
    for i, value in enumerate(wanted):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"ids[{i}] must be a {what} string, got {_describe(value)}")
        _check_text(value, f"ids[{i}]")
    return list(dict.fromkeys(wanted))


def invitees(attendees: Iterable[str | Attendee], what: str, *, article: str) -> list[Attendee]:
    """
    ``attendees`` (ids or :class:`~wecal.Attendee`) as Attendees, the first of
    each id kept, in order; a :class:`~wecal.ValidationError` naming the first
    bad one. ``what`` names the provider's id (``"unionId"``), ``article`` its
    article (``"a"``).
    """
    if isinstance(attendees, str | bytes):
        raise ValidationError(f"attendees must be a list of {what}s, not one string")
    people: list[Attendee] = []
    for i, item in enumerate(attendees):
        if isinstance(item, Attendee):
            people.append(item)
        elif isinstance(item, str) and item:
            people.append(Attendee(id=item))
        else:
            raise ValidationError(
                f"attendees[{i}] must be {article} {what} or an Attendee, got {_describe(item)}"
            )
    if not people:
        raise ValidationError(f"attendees: give at least one {what}")
    return list({a.id: a for a in people}.values())


def check_page_size(page_size: int | None, *, default: int, maximum: int, provider: str) -> int:
    """``page_size`` or the default, checked against the provider's maximum."""
    if page_size is None:
        return default
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValidationError(
            f"page_size must be a positive int, got {_describe(page_size)}",
        )
    if page_size > maximum:
        raise ValidationError(
            f"page_size {page_size} is over {provider}'s maximum of {maximum}",
        )
    return page_size


def in_window(
    events: Iterable[Event], start: datetime | None, end: datetime | None, *, expand: bool
) -> Iterator[Event]:
    """
    Client-side window (WeCom has no server-side one).

    Without a window every event passes. With one, an event passes when it
    overlaps ``[start, end)`` — a recurring master when any occurrence does;
    with ``expand`` its occurrences inside the window pass instead. Both rules
    are :func:`wecal.expand`'s, so listing and expansion never disagree. A
    one-sided window is open on the other side.
    """
    if start is None and end is None:
        yield from events
        return
    lo = start if start is not None else _FAR_PAST
    hi = end if end is not None else _FAR_FUTURE
    for event in events:
        occurrences = expand_event(event, lo, hi)
        if expand:
            yield from occurrences
        elif next(occurrences, None) is not None:
            yield event


async def gather(calls: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """
    Run ``calls`` concurrently; the first :class:`~wecal.WecalError` cancels the
    others and is raised as itself.

    A bare anyio task group would wrap it in an ``ExceptionGroup``, which is
    not a ``WecalError``: callers catching ``wecal.WecalError`` (or
    ``NotFoundError``) would miss it. One call runs inline, without a group.
    """
    pending = list(calls)
    if len(pending) == 1:
        await pending[0]()
        return
    failures: list[WecalError] = []

    async def guarded(call: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
        try:
            await call()
        except WecalError as exc:
            failures.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for call in pending:
            tg.start_soon(guarded, call, tg.cancel_scope)
    if failures:
        raise failures[0]


def _event_id(event: Event) -> str:
    return event.id


def event_listing(
    paging: PagingStrategy[Any],
    transform: Callable[[Sequence[Any]], Iterable[Event]],
    *,
    id_field: str,
    query: Mapping[str, Any],
    provider: str,
    raw_key: Callable[[Any], Hashable] | None = None,
) -> Paginator[Event]:
    """
    The paginator of a provider's event listing: raw pages in, ``Event``s out.

    Events are de-duplicated by ``Event.id``; progress is counted on the raw
    items' ``id_field`` (see :class:`~wecal.paging.Paginator`), or on what
    ``raw_key`` says of an item when the raw items are not all JSON objects
    (a provider's wire Structs); ``query`` fingerprints the listing's cursors.
    """
    for name, value in query.items():
        _check_text(value, name)
    return Paginator(
        paging,
        transform=transform,
        key=_event_id,
        raw_key=raw_key or raw_id(id_field),
        query=query,
        provider=provider,
    )
