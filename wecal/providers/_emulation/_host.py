"""
The two sides of an emulator's contract: :class:`EmulatorHost`, what an
emulator may use of the sandbox that serves it, and :class:`Emulator`, what
the sandbox asks of an emulator module (the one the registry names).

The sandbox (:class:`wecal.sandbox.Sandbox`) is the host of every emulator; an
emulator keeps its provider's state in ``host.state(name, factory)`` (one
object per registry name) and takes the shared parts — the lock, the clock,
the seeded ids, the apps and their tokens — from the host, never from the
sandbox's private members.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ._faults import Fault

__all__ = ["Emulator", "EmulatorHost"]

T = TypeVar("T")


class EmulatorHost(Protocol):
    """The sandbox, as an emulator sees it."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """The state lock (reentrant): handlers run under it."""
        ...

    @property
    def seed(self) -> int:
        """The sandbox's seed: an emulator's own generators derive from it."""
        ...

    @property
    def token_ttl(self) -> int:
        """The ``expires_in`` a token request answers (seconds)."""
        ...

    @property
    def notifications(self) -> Any:
        """The sandbox's change-callback sender (each emulator calls its own hook)."""
        ...

    def clock(self) -> float:
        """The sandbox clock (Unix seconds)."""
        ...

    def random(self, alphabet: str, n: int) -> str:
        """``n`` characters of ``alphabet`` from the sandbox's seeded generator."""
        ...

    def request_hint(self) -> str:
        """A fresh request id (clock, counter, random)."""
        ...

    def find_app(self, family: str, key: str, secret: str) -> tuple[bool, str | None]:
        """(``key`` known, the app id when ``secret`` matches too) among ``family``'s apps."""
        ...

    def add_app(self, family: str, key: str, secret: str) -> str:
        """Register an app of ``family`` by its key and secret (again: the same app); its id."""
        ...

    def first_app(self, family: str) -> str | None:
        """The id of ``family``'s first app, None when it has none."""
        ...

    def issue_token(self, family: str, app_id: str, *, renew: bool = False) -> str:
        """
        A token for ``app_id``: a fresh one, or with ``renew`` the live one it
        has, its lifetime renewed (as some providers answer a repeated request).
        """
        ...

    def check_token(self, family: str, token: str | None) -> tuple[int, str | None]:
        """(0, app id) for a good token, else (41001/40014/42001/its revocation, None)."""
        ...

    def revoked_as(self, token: str) -> int | None:
        """The errcode a revoked token answers, None if it was not revoked (or is unknown)."""
        ...

    def state(self, name: str, factory: Callable[[EmulatorHost], T]) -> T:
        """Provider ``name``'s (registry name) emulator state, made by ``factory`` on first use."""
        ...


class Emulator(Protocol):
    """
    What the sandbox asks of a provider's emulator module: the registry entry
    names it (``ProviderEntry.emulator``), the sandbox app serves its routes
    and applies faults in its error shape. ``typing_tests/emulators.py``
    checks every emulator module against it.
    """

    #: The provider label of recorded requests (``RecordedRequest.provider``).
    PROVIDER: str
    #: The code a "rate limited" fault answers with.
    RATE_LIMIT_CODE: int
    #: The app credentials the sandbox serves by default (id, secret).
    CREDENTIALS: tuple[str, str]
    #: Its token requests' api names: not counted by ``Faults.revoke_tokens_after``.
    TOKEN_APIS: frozenset[str]

    def api_name(self, path: str, method: str, /) -> str | None:
        """The api name of ``path`` (``"wecom.schedule.get"``), None for others' paths."""
        ...

    def routes(
        self,
        host: EmulatorHost,
        finish: Callable[[Request, dict[str, Any]], Response],
        read_json: Callable[[Request], Awaitable[Any]],
        /,
    ) -> list[Route]:
        """The Starlette routes serving this provider's paths on ``host``."""
        ...

    def error_body(self, host: EmulatorHost, code: int, /) -> dict[str, Any]:
        """The answer body of the error ``code`` (a scripted fault) in this API's shape."""
        ...

    def fault_answer(
        self, host: EmulatorHost, fault: Fault, /
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """
        The HTTP status, JSON body and extra headers a ``busy``,
        ``rate_limited`` or ``error`` fault answers in this API's shape.
        """
        ...

    def request_token(self, query: Mapping[str, str], headers: Mapping[str, str], /) -> str | None:
        """
        The access token a request carries (query and lowercased headers), None
        without one: the token a ``revoke_token`` fault revokes, and whose app
        the request log names.
        """
        ...
