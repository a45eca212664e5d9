"""
The sandbox: :class:`Sandbox`, the shared state (:mod:`._core`) with the app
(:mod:`._app`), the data generator (:mod:`._data`) and the notifier
(:mod:`._notify`) composed on it, and its public per-provider shorthands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..providers.dingtalk import _emulator as _dingtalk_v1
from ..providers.dingtalk_legacy import _emulator as _dingtalk_legacy
from ..providers.wecom import _emulator as _wecom
from ._app import create_app
from ._core import TOKEN_TTL, FakeClock, SandboxCore
from ._data import generate
from ._notify import SandboxNotifications
from ._record import RecordedRequest

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["FakeClock", "RecordedRequest", "Sandbox"]


class Sandbox(SandboxCore):
    """
    An in-memory WeCom + DingTalk (legacy) provider: state, faults, request log.

    Everything is deterministic from ``seed`` and the order of requests. Pass a
    ``clock`` (e.g. :class:`FakeClock`) to control token expiry in tests.
    ``token_ttl`` is the ``expires_in`` handed out by both ``gettoken``\\ s.

    Ground-truth state is public and holds plain JSON dicts exactly as the
    providers return them: ``wecom_calendars`` / ``wecom_schedules`` (id → dict)
    and ``dingtalk_events`` (user id → event id → dict, recurrence as a clean
    list of ``RRULE:``/``EXDATE:`` lines). Read them, or mutate them between
    requests to set up a scenario.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        token_ttl: int = TOKEN_TTL,
    ) -> None:
        super().__init__(seed=seed, clock=clock, token_ttl=token_ttl)
        self._app: Starlette | None = None
        #: Signed, encrypted change callbacks to subscribed URLs (``_notify``).
        self.notifications: SandboxNotifications = SandboxNotifications(self)

    def __repr__(self) -> str:
        return (
            f"<Sandbox seed={self.seed} apps={len(self._apps)} "
            f"wecom_schedules={len(self.wecom_schedules)} "
            f"dingtalk_users={len(self.dingtalk_users)} requests={len(self.requests)}>"
        )

    # ------------------------------------------------------------ the app, per provider

    @property
    def app(self) -> Starlette:
        """The ASGI application (created on first use)."""
        if self._app is None:
            self._app = create_app(self)
        return self._app

    @property
    def dingtalk_v1(self) -> _dingtalk_v1.DingTalkV1:
        """The DingTalk v1.0 emulator's state: users (unionIds), events, knobs."""
        return _dingtalk_v1.v1(self)

    @property
    def wecom_calendars(self) -> dict[str, dict[str, Any]]:
        """WeCom calendars: ``cal_id`` → the dict WeCom returns."""
        return _wecom.state(self).calendars

    @property
    def wecom_schedules(self) -> dict[str, dict[str, Any]]:
        """WeCom schedules: ``schedule_id`` → the dict WeCom returns."""
        return _wecom.state(self).schedules

    @property
    def wecom_users(self) -> set[str]:
        """WeCom userids known to the corp; empty means "accept any userid"."""
        return _wecom.state(self).users

    @property
    def dingtalk_users(self) -> dict[str, dict[str, str]]:
        """DingTalk (legacy) staff: ``userid`` → display name and calendar folder."""
        return _dingtalk_legacy.state(self).users

    @property
    def dingtalk_events(self) -> dict[str, dict[str, dict[str, Any]]]:
        """DingTalk (legacy) events: ``userid`` → event id → the item."""
        return _dingtalk_legacy.state(self).events

    def add_wecom_app(self, corp_id: str, secret: str) -> str:
        """
        Register a WeCom app (a corp may have several, each with its own
        secret). Returns its app id, which owns the calendars it creates.
        """
        return self.add_app("wecom", corp_id, secret)

    def add_dingtalk_app(self, app_key: str, app_secret: str) -> str:
        """Register a DingTalk internal app; returns its app id."""
        return self.add_app("dingtalk", app_key, app_secret)

    def revoke_tokens(self, errcode: int = 40014) -> None:
        """
        Invalidate every token issued so far, as providers may do early. Later
        calls with them answer ``errcode`` (40014 invalid, or 42001 expired).
        """
        self.revoke_all(errcode)

    # ------------------------------------------------------------ WeCom state

    def add_wecom_calendar(
        self, calendar: Mapping[str, Any], *, app_id: str | None = None, default: bool = False
    ) -> str:
        """
        Store a calendar directly (no validation) for ``app_id`` (default: the
        first WeCom app); returns its ``cal_id`` (taken from ``calendar`` if set).
        """
        with self._lock:
            owner = app_id or self.first_app("wecom")
            if owner is None:
                raise ValidationError("Sandbox.add_wecom_calendar: add a WeCom app first")
            return _wecom.state(self).add_calendar(calendar, owner=owner, default=default)

    def add_wecom_schedule(self, schedule: Mapping[str, Any]) -> str:
        """
        Store a schedule directly (no validation; ``cal_id`` must exist);
        returns its ``schedule_id``. It gets the next ``sequence`` number.
        """
        return _wecom.state(self).add_schedule(schedule)

    def wecom_ground_truth(self, cal_id: str) -> list[dict[str, Any]]:
        """
        Every schedule of a calendar, in ``get_by_calendar`` order, as it would
        return them (with ``sequence``; cancelled ones included) — deep copies.
        """
        return _wecom.state(self).ground_truth(cal_id)

    # ------------------------------------------------------------ DingTalk state

    def add_dingtalk_user(
        self, user_id: str, display_name: str, *, folder_id: str | None = None
    ) -> None:
        """Add a DingTalk staff member (``userid``) with one calendar folder."""
        _dingtalk_legacy.state(self).add_user(user_id, display_name, folder_id=folder_id)

    def add_dingtalk_event(self, user_id: str, item: Mapping[str, Any]) -> str:
        """
        Store a DingTalk event for ``user_id`` (no validation). ``recurrence``,
        if any, is a clean list of RFC 5545 lines; the API renders it in the
        seed's quirky forms. Returns the event ``id``.
        """
        return _dingtalk_legacy.state(self).add_event(user_id, item)

    def dingtalk_ground_truth(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        expand: bool = False,
    ) -> list[dict[str, Any]]:
        """
        The items ``topapi/calendar/list`` returns for ``user_id`` over all
        pages, in order, for the window ``[start, end)`` (overlap) — with
        ``recurrence`` as a clean list of lines rather than the quirky wire forms.
        """
        with self._lock:
            return _dingtalk_legacy.list_items(
                self, user_id, start, end, expand=expand, quirks=False
            )

    def populate(self, **kwargs: Any) -> Any:
        """Shorthand for :func:`wecal.sandbox.generate` ``(self, **kwargs)``."""
        return generate(self, **kwargs)
