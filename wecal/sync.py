"""
Incremental sync: what changed in a calendar since the last time you asked.

Every client has ``sync_events(..., state=None)``. It returns a
:class:`SyncStream`: iterate it for :class:`Change` items, then save its
``state`` (an opaque string) and pass it to the next call::

    sync = client.sync_events(calendar_id, state=load())
    async for change in sync:
        if change.kind is wecal.ChangeKind.RESET:
            local.clear()                       # a full listing follows
        elif change.kind is wecal.ChangeKind.DELETED:
            local.pop(change.event_id, None)
        else:                                   # CREATED / UPDATED
            local[change.event_id] = change.event
    save(sync.state)                            # only now: every change was applied

To stop early, iterate inside ``async with client.sync_events(...) as sync:``
so the listing underneath is closed at once.

The state exists only once every change has been yielded, so a crash (or a
``break``) before the end leaves the old state in place and the next sync
repeats those changes instead of skipping them. Applying a change twice is
harmless (the stream says what *is*, not what to add), which is also why a
duplicated or reordered notification that triggers a sync does no harm.

Two engines live here, provider-neutral; the clients bind them:

- **snapshot diff** (WeCom, DingTalk legacy: no sync API). The state holds
  each event's id and a 64-bit fingerprint of its normalized form; a sync lists
  everything, reports new ids as CREATED, changed fingerprints as UPDATED and
  ids no longer listed as DELETED. Size: 34 bytes an event for WeCom ids
  (340 KB for 10 000; see :func:`encode_snapshot`).
- **sync token** (DingTalk v1.0 ``syncToken``), see :class:`TokenSync`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from typing import Any, Self

import attrs

from ._convert import to_dict
from .errors import ResponseFormatError, ValidationError, WecalError
from .models import Event
from .paging import NO_PROGRESS_PAGES

__all__ = [
    "Change",
    "ChangeKind",
    "Confirmed",
    "SyncStream",
    "TokenPage",
    "TokenSync",
    "decode_snapshot",
    "encode_snapshot",
    "fingerprint",
    "relist_until_agreed",
    "snapshot_sync",
]


class ChangeKind(enum.StrEnum):
    """What happened to an event since the last sync."""

    #: The state could not be used (none given, expired, rejected): forget the
    #: local copy; the changes that follow are the whole calendar.
    RESET = "reset"
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@attrs.frozen
class Change:
    """One change: ``event`` is the event as it is now (None for DELETED and RESET)."""

    kind: ChangeKind
    event_id: str = ""
    event: Event | None = None


_FP_BYTES = 8
_SNAPSHOT = "s1."
#: A decoded snapshot state larger than this is refused (a bound on untrusted input).
MAX_STATE_BYTES = 64 << 20


def fingerprint(event: Event) -> bytes:
    """64 bits of BLAKE2b over the event's normalized JSON (``raw`` excluded)."""
    text = json.dumps(to_dict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=_FP_BYTES).digest()


def _scope_key(scope: Mapping[str, Any]) -> str:
    text = json.dumps(scope, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def encode_snapshot(scope: Mapping[str, Any], prints: Mapping[str, bytes]) -> str:
    """
    The state string for ``prints`` (event id → fingerprint) under ``scope``.

    Layout: ``"s1." + base64url(zlib(json header + "\\n" + ids + fingerprints))``
    with the ids sorted and newline-joined (sorted ids compress well) and the
    fingerprints concatenated in the same order. 10 000 WeCom schedules
    (32-character random ids) take 340 KB, 34 bytes an event — close to the
    ids' own entropy plus the 8-byte fingerprints (measured by
    ``tests/test_sync.py::test_snapshot_state_size``).
    """
    ids = sorted(prints)
    header = json.dumps({"scope": _scope_key(scope), "n": len(ids)}).encode()
    body = b"\n".join(i.encode() for i in ids)
    blob = header + b"\n" + b"".join(prints[i] for i in ids) + body
    return _SNAPSHOT + base64.urlsafe_b64encode(zlib.compress(blob, 9)).decode().rstrip("=")


def decode_snapshot(state: str, scope: Mapping[str, Any]) -> dict[str, bytes]:
    """The fingerprints in ``state``; ValidationError when it is not ours or for another scope."""

    def bad(why: str) -> ValidationError:
        return ValidationError(f"sync state {why}: pass the state the last sync of this query gave")

    if not isinstance(state, str) or not state.startswith(_SNAPSHOT):
        raise bad("is not a wecal snapshot state")
    text = state[len(_SNAPSHOT) :]
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        blob = inflater.decompress(packed, MAX_STATE_BYTES)
    except (binascii.Error, zlib.error, ValueError):
        raise bad("is corrupt") from None
    if inflater.unconsumed_tail:
        raise bad("is too large")
    if not inflater.eof:  # truncated: the stream (and its checksum) did not end
        raise bad("is corrupt")
    header_raw, _, rest = blob.partition(b"\n")
    try:
        header = json.loads(header_raw)
        count = header["n"]
        ids = rest[count * _FP_BYTES :].decode().split("\n") if count else []
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad("is corrupt") from None
    if not isinstance(count, int) or count < 0:
        raise bad("is corrupt")
    prints = rest[: count * _FP_BYTES]
    if header.get("scope") != _scope_key(scope):
        raise bad("belongs to another calendar or query")
    if len(ids) != count or len(prints) != count * _FP_BYTES:
        raise bad("is corrupt")
    return {i: prints[k * _FP_BYTES : (k + 1) * _FP_BYTES] for k, i in enumerate(ids)}


class SyncStream:
    """
    The changes of one sync; iterate once. ``state`` is there at the end.

    ``resynced`` is True when the sync listed everything (no usable state):
    it then began with a :attr:`ChangeKind.RESET` change.
    """

    def __init__(self, run: Callable[[SyncStream], AsyncGenerator[Change, None]]) -> None:
        self._run = run
        self._state: str | None = None
        self._iterator: AsyncGenerator[Change, None] | None = None
        self.resynced = False

    def __repr__(self) -> str:
        done = "done" if self._state is not None else "pending"
        return f"SyncStream({done}, resynced={self.resynced})"

    def __aiter__(self) -> AsyncIterator[Change]:
        if self._iterator is not None:
            raise ValidationError("a SyncStream is iterated once: call sync_events again")
        self._iterator = self._run(self)
        return self._iterator

    async def aclose(self) -> None:
        """Stop early and release the listing (``async with`` does it for you)."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def state(self) -> str:
        """The state to save — only once every change has been consumed."""
        if self._state is None:
            raise ValidationError(
                "the sync state is known only after every change was consumed "
                "(iterate the stream to its end first)"
            )
        return self._state

    def _finish(self, state: str) -> None:
        self._state = state


#: What a confirmation of deletion candidates found: the candidates still
#: there (as they are now) and the ones surely gone; any other candidate is
#: undecided — kept in the state, unreported, and checked again next time.
Confirmed = tuple[Mapping[str, Event], frozenset[str]]


def snapshot_sync(
    events: AsyncIterable[Event],
    *,
    scope: Mapping[str, Any],
    state: str | None,
    confirm: Callable[[frozenset[str]], Awaitable[Confirmed]] | None = None,
) -> SyncStream:
    """
    A sync by snapshot diff over ``events`` (a full listing, e.g. a Paginator).

    ``scope`` names the query (provider, app, base URL, calendar, user,
    window): a state made under another scope is refused with
    :class:`~wecal.ValidationError`.

    A listing paged by offset is not a snapshot: an event deleted (or
    inserted) while it pages shifts the pages after it, so a live event can
    be skipped. An id of the last state missing from the listing is
    therefore only a *candidate*: ``confirm(candidates)`` decides (fetched by
    id, or listed again until two listings agree). A candidate found alive is
    reported as CREATED/UPDATED like a listed one; a candidate surely gone as
    DELETED; an undecided one is not reported and stays in the state with
    its old fingerprint, to be decided by the next sync. Without ``confirm``
    every candidate counts as deleted.
    """
    previous = None if state is None else decode_snapshot(state, scope)

    async def run(stream: SyncStream) -> AsyncGenerator[Change, None]:
        seen: dict[str, bytes] = {}
        if previous is None:
            stream.resynced = True
            yield Change(ChangeKind.RESET)
        old = previous or {}
        listing = aiter(events)
        try:
            async for event in listing:
                if event.id in seen:
                    continue
                mark = fingerprint(event)
                seen[event.id] = mark
                before = old.get(event.id)
                if before is None:
                    yield Change(ChangeKind.CREATED, event.id, event)
                elif before != mark:
                    yield Change(ChangeKind.UPDATED, event.id, event)
        finally:
            if isinstance(listing, AsyncGenerator):
                await listing.aclose()
        candidates = frozenset(old.keys() - seen.keys())
        if candidates and confirm is not None:
            alive, gone = await confirm(candidates)
        else:
            alive, gone = {}, candidates
        for event_id in sorted(candidates):
            found = alive.get(event_id)
            if found is not None:
                mark = fingerprint(found)
                seen[event_id] = mark
                if old[event_id] != mark:
                    yield Change(ChangeKind.UPDATED, event_id, found)
            elif event_id in gone:
                yield Change(ChangeKind.DELETED, event_id)
            else:
                seen[event_id] = old[event_id]  # undecided: asked again next time
        stream._finish(encode_snapshot(scope, seen))

    return SyncStream(run)


async def relist_until_agreed(
    listing: Callable[[], AsyncIterable[Event]], candidates: frozenset[str], *, tries: int = 4
) -> Confirmed:
    """
    Confirm deletion candidates where no lookup by id exists (DingTalk
    legacy): list again until two listings in a row have the same ids; then
    a candidate in them is alive, one not in them is gone. Listings that
    never agree (the calendar keeps changing) decide only the candidates seen
    alive; the rest wait for the next sync.
    """
    seen_alive: dict[str, Event] = {}
    before: set[str] | None = None
    for _ in range(tries):
        ids: set[str] = set()
        alive: dict[str, Event] = {}
        async for event in listing():
            ids.add(event.id)
            if event.id in candidates:
                alive[event.id] = event
        if ids == before:
            return alive, frozenset(candidates - ids)
        seen_alive.update(alive)
        before = ids
    return seen_alive, frozenset()


# -- sync tokens (DingTalk v1.0) ---------------------------------------------------

#: One page of a token listing: the items, ``nextToken``, ``syncToken``.
TokenPage = tuple[Sequence[Event], str | None, str | None]


class TokenSync:
    """
    A sync driven by a provider's sync token.

    ``fetch(sync_token, next_token)`` returns one page; deleted events come
    back with ``status`` CANCELLED and are reported as DELETED. ``rejected``
    says whether an error means "this sync token is no good" (expired,
    invalid): the sync then starts over with a full listing, reported as a
    :attr:`ChangeKind.RESET`, not raised.
    """

    _PREFIX = "t1."

    def __init__(
        self,
        fetch: Callable[[str | None, str | None], Awaitable[TokenPage]],
        *,
        scope: Mapping[str, Any],
        rejected: Callable[[WecalError], bool],
        is_deleted: Callable[[Event], bool],
    ) -> None:
        self._fetch = fetch
        self._scope = _scope_key(scope)
        self._rejected = rejected
        self._is_deleted = is_deleted

    def encode(self, token: str) -> str:
        """The opaque state to save for the provider's sync ``token``, bound to this query."""
        payload = json.dumps({"scope": self._scope, "token": token}).encode()
        return self._PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=")

    def decode(self, state: str) -> str:
        """The provider's sync token in ``state``; ValidationError for another query's state."""

        def bad(why: str) -> ValidationError:
            return ValidationError(
                f"sync state {why}: pass the state the last sync of this query gave"
            )

        if not isinstance(state, str) or not state.startswith(self._PREFIX):
            raise bad("is not a wecal sync-token state")
        text = state[len(self._PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            token = data["token"]
            scope = data["scope"]
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise bad("is corrupt") from None
        if scope != self._scope:
            raise bad("belongs to another calendar or query")
        if not isinstance(token, str) or not token:
            raise bad("is corrupt")
        return token

    def stream(self, state: str | None) -> SyncStream:
        """The changes since ``state`` (None: a ``reset`` and every event)."""
        token = None if state is None else self.decode(state)

        async def run(stream: SyncStream) -> AsyncGenerator[Change, None]:
            sync_token = token
            try:
                first = await self._fetch(sync_token, None)
            except WecalError as exc:
                if sync_token is None or not self._rejected(exc):
                    raise
                sync_token = None
                first = await self._fetch(None, None)
            if sync_token is None:
                stream.resynced = True
                yield Change(ChangeKind.RESET)
            page: TokenPage | None = first
            new_token: str | None = None
            # A lying server (the same page token again, a cycle, pages that
            # bring nothing new under fresh tokens) must not make the stream
            # endless nor report an event twice: each event id is reported
            # once per stream, a page token seen before ends the stream, and
            # so do NO_PROGRESS_PAGES pages in a row without a new event.
            reported: set[str] = set()
            tokens: set[bytes] = set()
            idle = 0
            while page is not None:
                items, next_token, page_sync = page
                fresh = [event for event in items if event.id not in reported]
                reported.update(event.id for event in fresh)
                idle = 0 if fresh else idle + 1
                if next_token:
                    digest = hashlib.blake2b(next_token.encode(), digest_size=16).digest()
                    if digest in tokens or idle >= NO_PROGRESS_PAGES:
                        raise ResponseFormatError(
                            "the provider's next-page tokens go round without progress "
                            f"({len(tokens) + 1} pages, the last {idle} without a new event)"
                        )
                    tokens.add(digest)
                for event in fresh:
                    if self._is_deleted(event):
                        if sync_token is not None:
                            yield Change(ChangeKind.DELETED, event.id)
                    else:
                        # A sync token cannot tell new from changed: UPDATED
                        # after a token, CREATED in a full listing.
                        kind = ChangeKind.UPDATED if sync_token else ChangeKind.CREATED
                        yield Change(kind, event.id, event)
                new_token = page_sync or new_token
                page = await self._fetch(sync_token, next_token) if next_token else None
            if new_token is None:
                raise ResponseFormatError(
                    "no syncToken at the end of the listing", path="$.syncToken"
                )
            stream._finish(self.encode(new_token))

        return SyncStream(run)
