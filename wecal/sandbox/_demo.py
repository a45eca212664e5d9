"""The demo the CLI and ``python -m wecal.sandbox`` serve: data and matching clients."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..providers._registry import PROVIDERS
from ._data import generate

if TYPE_CHECKING:
    from ..providers._common import CalendarProvider
    from ._state import Sandbox

__all__ = ["credentials", "demo", "sandbox_clients"]


def demo(
    sandbox: Sandbox, *, seed: int = 0, sources: int = 3, size: int = 120
) -> dict[str, tuple[str, ...]]:
    """Fill ``sandbox`` with ``sources`` sources of ``size`` events per provider."""
    summary = generate(
        sandbox,
        seed=seed,
        wecom_calendars=sources,
        schedules_per_calendar=size,
        dingtalk_users=sources,
        dingtalk_v1_users=sources,
        events_per_user=size,
    )
    return summary.sources


def credentials() -> dict[str, tuple[str, str]]:
    """The sandbox's default app credentials per provider registry name."""
    found: dict[str, tuple[str, str]] = {}
    for entry in PROVIDERS.values():
        module = importlib.import_module(entry.sandbox)
        found[entry.name] = module.CREDENTIALS
    return found


def sandbox_clients(**settings: Any) -> dict[str, CalendarProvider]:
    """One client per provider, with the sandbox's default credentials and ``settings``."""
    return {
        name: PROVIDERS[name].client(app_id, secret, **settings)
        for name, (app_id, secret) in credentials().items()
    }
