"""
The provider registry: everything provider-shaped that the rest of wecal iterates.

One :class:`ProviderEntry` per provider API says which client class serves it,
which credentials it takes (CLI option, environment variable), what a *source*
of an export is (a calendar id or a user id), which wire names carry secrets
(for redaction), which module emulates it in the sandbox and which class parses
its change callbacks. The CLI, the sandbox
app and the redaction code read this table; nothing outside a provider's own
folder branches on a provider's name. Adding a provider is one folder plus one
entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol, Unpack

import attrs

from .._client import ClientSettings
from ..errors import ValidationError
from ..models import Event
from ..paging import Paginator
from . import dingtalk, dingtalk_legacy, feishu, wecom
from ._common import CalendarProvider
from .dingtalk import DingTalkClient
from .dingtalk_legacy import DingTalkLegacyClient
from .feishu import FeishuClient
from .wecom import WeComClient

if TYPE_CHECKING:
    from .._callbacks._model import ProviderCallback
    from ..sync import SyncStream
    from ._emulation._contract import ProviderContract
    from ._emulation._host import Emulator

__all__ = ["PROVIDERS", "ClientFactory", "Credential", "ProviderEntry", "entry", "secret_names"]


class ClientFactory(Protocol):
    """A client class: app id and secret, then the keyword settings every client takes."""

    def __call__(
        self, app_id: str, secret: str, /, **settings: Unpack[ClientSettings]
    ) -> CalendarProvider: ...


@attrs.frozen
class Credential:
    """One credential a client takes: its CLI option and environment variable."""

    option: str
    env: str
    help: str
    secret: bool = False


@attrs.frozen
class ProviderEntry:
    """
    What wecal knows of one provider API outside its folder.

    ``source_kind`` is what one export source of this provider is: a calendar
    (``list_events(calendar_id)``) or a user (``list_events(user_id=...)``).
    ``emulator`` names the module (in the provider's folder) that emulates it
    in :mod:`wecal.sandbox`; ``callback`` the class (``module:Class``, in the
    provider's folder) that parses its change callbacks for
    :mod:`wecal.notifications`; ``contract`` the object (``module:NAME``, in
    the provider's folder) that drives its client against its emulator in the
    provider contract suite (``tests/test_provider_contract.py``). Names, not
    the objects: the emulators need the ``sandbox`` extra (starlette), the
    callbacks the ``notify`` extra (cryptography), and this table loads
    without either.
    """

    name: str
    title: str
    client: ClientFactory
    app_id: Credential
    secret: Credential
    source_kind: Literal["calendar", "user"]
    source_help: str
    secret_names: tuple[str, ...]
    emulator: str
    callback: str
    contract: str
    max_page_size: int
    #: The documented monthly call quota, as ``wecal export --monthly-quota``'s
    #: help names it (None: no monthly quota).
    monthly_quota: str | None = None
    #: Whether a job may cut a source's window into slices that several
    #: workers list at once: the listing filters the window on the server and
    #: writes an event the same whichever window lists it. (WeCom lists a
    #: whole calendar whatever the window, so each slice would read it all;
    #: Feishu's series carry the exceptions of the window listed, which differ
    #: between slices.)
    window_slices: bool = False

    def load_emulator(self) -> Emulator:
        """The emulator module (needs the ``sandbox`` extra)."""
        module: Emulator = importlib.import_module(self.emulator)
        return module

    def load_callback(self) -> Callable[[str, str, str], ProviderCallback]:
        """The callback class (needs the ``notify`` extra): ``(token, aes_key, app_id)``."""
        module, _, name = self.callback.partition(":")
        found: Callable[[str, str, str], ProviderCallback] = getattr(
            importlib.import_module(module), name
        )
        return found

    def load_contract(self) -> ProviderContract:
        """The provider's side of the contract suite (needs the ``sandbox`` extra)."""
        module, _, name = self.contract.partition(":")
        found: ProviderContract = getattr(importlib.import_module(module), name)
        return found

    def list_source(
        self,
        client: CalendarProvider,
        source_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        expand: bool = False,
        page_size: int | None = None,
    ) -> Paginator[Event]:
        """List one source of this provider (a calendar or a user) on ``client``."""
        if self.source_kind == "calendar":
            return client.list_events(
                source_id, start=start, end=end, expand=expand, page_size=page_size
            )
        return client.list_events(
            user_id=source_id, start=start, end=end, expand=expand, page_size=page_size
        )

    def sync_source(
        self, client: CalendarProvider, source_id: str, *, state: str | None = None
    ) -> SyncStream:
        """Sync one source of this provider (a calendar or a user) on ``client``."""
        if self.source_kind == "calendar":
            return client.sync_events(source_id, state=state)
        return client.sync_events(user_id=source_id, state=state)


_DINGTALK_APP_KEY = Credential(
    "--app-key", "WECAL_DINGTALK_APP_KEY", "DingTalk app key (or WECAL_DINGTALK_APP_KEY)."
)
_DINGTALK_APP_SECRET = Credential(
    "--app-secret",
    "WECAL_DINGTALK_APP_SECRET",
    "DingTalk app secret (better: WECAL_DINGTALK_APP_SECRET).",
    secret=True,
)

PROVIDERS: Mapping[str, ProviderEntry] = MappingProxyType(
    {
        e.name: e
        for e in (
            ProviderEntry(
                name="wecom",
                title="WeCom",
                client=WeComClient,
                app_id=Credential(
                    "--corp-id", "WECAL_WECOM_CORP_ID", "WeCom corp id (or WECAL_WECOM_CORP_ID)."
                ),
                secret=Credential(
                    "--corp-secret",
                    "WECAL_WECOM_SECRET",
                    "WeCom app secret (better: WECAL_WECOM_SECRET).",
                    secret=True,
                ),
                source_kind="calendar",
                source_help="WeCom cal_id",
                secret_names=wecom.SECRET_NAMES,
                emulator="wecal.providers.wecom._emulator",
                callback="wecal.providers.wecom._callback:WeComCallback",
                contract="wecal.providers.wecom._contract:CONTRACT",
                max_page_size=1000,
            ),
            ProviderEntry(
                name="dingtalk-legacy",
                title="DingTalk (legacy topapi)",
                client=DingTalkLegacyClient,
                app_id=_DINGTALK_APP_KEY,
                secret=_DINGTALK_APP_SECRET,
                source_kind="user",
                source_help="DingTalk staff userid",
                secret_names=dingtalk_legacy.SECRET_NAMES,
                emulator="wecal.providers.dingtalk_legacy._emulator",
                callback="wecal.providers.dingtalk._callback:DingTalkCallback",
                contract="wecal.providers.dingtalk_legacy._contract:CONTRACT",
                max_page_size=2500,
                monthly_quota="DingTalk standard: 5000",
                window_slices=True,
            ),
            ProviderEntry(
                name="dingtalk",
                title="DingTalk (v1.0)",
                client=DingTalkClient,
                app_id=_DINGTALK_APP_KEY,
                secret=_DINGTALK_APP_SECRET,
                source_kind="user",
                source_help="DingTalk unionId",
                secret_names=dingtalk.SECRET_NAMES,
                emulator="wecal.providers.dingtalk._emulator",
                callback="wecal.providers.dingtalk._callback:DingTalkCallback",
                contract="wecal.providers.dingtalk._contract:CONTRACT",
                max_page_size=100,
                monthly_quota="DingTalk standard: 5000",
                window_slices=True,
            ),
            ProviderEntry(
                name="feishu",
                title="Feishu / Lark",
                client=FeishuClient,
                app_id=Credential(
                    "--app-id", "WECAL_FEISHU_APP_ID", "Feishu app_id (or WECAL_FEISHU_APP_ID)."
                ),
                secret=Credential(
                    "--feishu-secret",
                    "WECAL_FEISHU_APP_SECRET",
                    "Feishu app_secret (better: WECAL_FEISHU_APP_SECRET).",
                    secret=True,
                ),
                source_kind="calendar",
                source_help="Feishu calendar_id",
                secret_names=feishu.SECRET_NAMES,
                emulator="wecal.providers.feishu._emulator",
                callback="wecal.providers.feishu._callback:FeishuCallback",
                contract="wecal.providers.feishu._contract:CONTRACT",
                max_page_size=1000,
            ),
        )
    }
)


def entry(name: str) -> ProviderEntry:
    """The entry of provider ``name``; :class:`~wecal.ValidationError` for an unknown one."""
    found = PROVIDERS.get(name)
    if found is None:
        known = ", ".join(PROVIDERS)
        raise ValidationError(f"unknown provider {name!r} (known: {known})")
    return found


def secret_names() -> tuple[str, ...]:
    """Every wire name (query, header, JSON key) whose value is a secret, of all providers."""
    return tuple(dict.fromkeys(n for e in PROVIDERS.values() for n in e.secret_names))
