"""The client base: keyword settings, lifecycle and the HTTP cores of a client."""

from __future__ import annotations

import inspect
from datetime import tzinfo
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypedDict, Unpack

import httpx

from ._dialect import Dialect
from ._http import CallStats, HttpCore
from ._ratelimit import RateLimitConfig
from ._retry import RetryConfig
from ._shared import SharedState
from ._tokens import TokenStore
from ._zones import DEFAULT_DATE_ZONE, zone_for
from .errors import ValidationError, _bad_text

__all__ = ["BaseClient", "ClientSettings"]


class ClientSettings(TypedDict, total=False):
    """
    The keyword-only settings every client takes (all optional).

    ``base_url``: another host (private deployment, ``wecal.sandbox``);
    ``transport`` / ``http_client``: bring your own httpx transport or client
    (an injected client is not closed by wecal); ``timeout``: seconds per
    request, httpx semantics (default 10); ``proxy``: send through it (WeCom
    answers trusted IPs only); ``retry``: :class:`~wecal.RetryConfig`;
    ``rate_limit``: :class:`~wecal.RateLimitConfig`, ``None`` for the
    provider's documented limits, ``False`` for none; ``shared``: a
    :class:`~wecal.SharedState` holding tokens, rate-limit schedules, the
    quota ledger and provider blocks, shared by every client (and, with
    ``wecal.redis.RedisBackend``, every process) given the same one (default:
    limits of this client alone, tokens shared within the process);
    ``token_store``: where tokens are kept (wins over ``shared`` for tokens;
    default: one in-memory store per process);
    ``max_response_bytes``: the largest response body read (default 64 MiB;
    a larger one ends the call with :class:`~wecal.ResponseFormatError`);
    ``date_zone``: the zone a ``date`` window bound of ``list_events`` is read
    in (00:00 of that day there; an IANA name or a tzinfo, default
    ``Asia/Shanghai``, both providers' home zone).
    """

    base_url: str | None
    transport: httpx.AsyncBaseTransport | None
    http_client: httpx.AsyncClient | None
    timeout: float | httpx.Timeout | None
    proxy: str | httpx.Proxy | None
    retry: RetryConfig | None
    rate_limit: RateLimitConfig | Literal[False] | None
    token_store: TokenStore | None
    shared: SharedState | None
    max_response_bytes: int
    date_zone: str | tzinfo | None


class BaseClient:
    """
    Base of every provider client: settings, lifecycle, the HTTP core.

    An async context manager; ``aclose()`` releases the connection pool (an
    injected ``http_client`` is left open for its owner). Subclasses set
    ``dialect`` and call ``self._http.call(...)``; a client that talks to a
    second API family gets another core from :meth:`_core_for`.
    """

    dialect: ClassVar[Dialect]

    def __init__(self, app_id: str, secret: str, **settings: Unpack[ClientSettings]) -> None:
        unknown = sorted(set(settings) - set(ClientSettings.__annotations__))
        if unknown:
            known = ", ".join(ClientSettings.__annotations__)
            raise ValidationError(
                f"{type(self).__name__}: unknown setting {', '.join(unknown)} (known: {known})"
            )
        _check_credentials(type(self), app_id, secret)
        base_url = settings.pop("base_url", None)
        date_zone = settings.pop("date_zone", None)
        zone = (
            date_zone
            if isinstance(date_zone, tzinfo)
            else zone_for(date_zone or DEFAULT_DATE_ZONE)
            if isinstance(date_zone, str | None)
            else None
        )
        if zone is None:
            raise ValidationError(
                f"date_zone must be an IANA zone name or a tzinfo, got {date_zone!r}"
            )
        #: Where a ``date`` window bound starts (00:00 of that day in this zone).
        self._date_zone: tzinfo = zone
        self._settings: dict[str, Any] = dict(settings)
        self._http = HttpCore(self.dialect, app_id, secret, base_url=base_url, **self._settings)
        self._cores: dict[str, HttpCore] = {self.dialect.name: self._http}
        self._app_secret = secret

    def _core_for(self, dialect: Dialect, *, base_url: str | None = None) -> HttpCore:
        """The core for another API family of the same app (same settings)."""
        core = self._cores.get(dialect.name)
        if core is None:
            self._http.check_open()
            core = HttpCore(
                dialect,
                self._http.app_id,
                self._app_secret,
                base_url=base_url,
                provider=self._http.provider,
                **self._settings,
            )
            self._cores[dialect.name] = core
        return core

    def __repr__(self) -> str:
        core = self._http
        return f"{type(self).__name__}(app_id={core.app_id!r}, base_url={core.base_url!r})"

    @property
    def stats(self) -> CallStats:
        """What this client's send loops did so far (a snapshot, summed over its APIs)."""
        total = CallStats()
        for core in self._cores.values():
            total = total + core.stats
        return total

    async def __aenter__(self) -> Self:
        self._http.check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the connections; the client cannot be used afterwards."""
        for core in self._cores.values():
            await core.aclose()


def _check_credentials(cls: type[BaseClient], app_id: object, secret: object) -> None:
    """
    A :class:`~wecal.ValidationError` naming the client's own parameter
    (``corp_id``, ``app_secret``…) when a credential is missing: what a caller
    passing an unset environment variable gets. The secret's value is never shown.
    """
    names = list(inspect.signature(cls.__init__).parameters)[1:3]
    if len(names) < 2:
        names = ["app_id", "secret"]
    for name, value in zip(names, (app_id, secret), strict=True):
        if not isinstance(value, str) or not value:
            got = "None" if value is None else "''" if value == "" else type(value).__name__
            raise ValidationError(f"{cls.__name__}: {name} must be a non-empty string, got {got}")
        if _bad_text(value) is not None:
            # Undecodable bytes (an environment variable that is not UTF-8);
            # the value is not shown: it may be the secret.
            raise ValidationError(
                f"{cls.__name__}: {name} is not valid Unicode text (a lone surrogate, "
                "as undecodable bytes become)"
            )
