"""
What the provider contract suite needs of a provider: :class:`ProviderContract`.

``tests/test_provider_contract.py`` runs one set of cases (listing, paging,
window edges, occurrence ids, errors, faults, writes, sync) against every
provider of the registry, each through its real client on the sandbox. What
is provider-shaped about driving a client against its emulator lives in the
provider's folder, in a ``_contract.py`` the registry entry names
(``ProviderEntry.contract``): how to register the test app, make a source,
store an event in the emulator's state, remove one, and how the provider's
writes are called. The suite itself names no provider.

Events are stored straight into the emulator's state (no request), in the
provider's wire shape, from plain arguments: the suite computes what a
listing must return from what it stored, never from the client.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from ._faults import Faults
from ._host import EmulatorHost

if TYPE_CHECKING:
    from ...models import Event, Provider
    from .._common import CalendarProvider

__all__ = ["ContractHost", "ProviderContract"]


class ContractHost(EmulatorHost, Protocol):
    """The sandbox, as the contract suite drives it: an emulator host with faults and apps."""

    @property
    def faults(self) -> Faults:
        """The faults the sandbox applies to incoming requests."""
        ...

    def add_app(self, family: str, key: str, secret: str) -> str:
        """Register an app of ``family`` (the credential family an emulator checks); its id."""
        ...


class ProviderContract(Protocol):
    """
    One provider's side of the contract suite. Times are aware datetimes;
    ``source`` is what the registry entry's ``list_source`` takes (a calendar
    or a user id).
    """

    #: What the client's events say they come from.
    provider: Provider
    #: The app credentials ``prepare`` registers (app id, secret).
    credentials: tuple[str, str]
    #: The api names (``RecordedRequest.api``, fault targets) of the calls a
    #: listing pages with: without ``expand`` and with it.
    list_api: str
    expand_api: str
    #: The zone an all-day event's days are in, as the client reads them
    #: (an IANA name, ``"UTC"`` or a fixed offset ``"+08:00"``).
    all_day_zone: str
    #: The api name (``RecordedRequest.api``) of the app's token request.
    token_api: str
    #: A small page size the provider accepts (its minimum, or a few).
    page_size: int
    #: What a "rate limited" fault on a listing asks the client to wait (seconds).
    rate_limit_retry_after: float
    #: Whether the client has event writes (create, get, update, delete).
    writes: bool
    #: The api name of an event create ("" without writes).
    create_api: str
    #: After a delete, ``get`` reads the event back as CANCELLED (else NotFoundError).
    deleted_reads_cancelled: bool
    #: Whether an incremental sync tells a new event (CREATED) from a changed
    #: one (UPDATED); a provider's sync token cannot, so both come as UPDATED.
    sync_tells_new: bool

    def prepare(self, host: ContractHost) -> str:
        """Register ``credentials`` and make an empty source; its id."""
        ...

    def missing_source(self) -> str:
        """A well-formed source id the emulator does not know."""
        ...

    def add_event(
        self,
        host: ContractHost,
        source: str,
        *,
        summary: str,
        start: datetime,
        end: datetime,
        daily: int = 0,
    ) -> str:
        """
        Store an event in ``source`` (``daily`` > 0: a daily series of that
        many occurrences, the first at ``start``); the id the client lists it by.
        """
        ...

    def add_all_day(
        self, host: ContractHost, source: str, *, summary: str, day: date, days: int
    ) -> str:
        """Store an all-day event in ``source`` from ``day`` for ``days`` days; its id."""
        ...

    def edit_event(self, host: ContractHost, source: str, event_id: str, summary: str) -> None:
        """Change the stored event's summary, as an edit by someone else would."""
        ...

    def remove_event(self, host: ContractHost, source: str, event_id: str) -> None:
        """Delete the stored event, as a delete by someone else would."""
        ...

    async def create(self, client: CalendarProvider, source: str, event: Event) -> Event:
        """``create_event`` in ``source``; the event as created."""
        ...

    async def get(self, client: CalendarProvider, source: str, event_id: str) -> Event:
        """``get_event`` (or ``get_events`` of one id) in ``source``."""
        ...

    async def update(self, client: CalendarProvider, source: str, event: Event) -> Event:
        """``update_event`` in ``source``; the event as stored now."""
        ...

    async def delete(self, client: CalendarProvider, source: str, event: Event) -> None:
        """``delete_event`` in ``source``."""
        ...
