"""
Seeded, realistic data in every emulator: :func:`generate` (each provider's
own generator, in its folder, named by its emulator module's ``demo_data``).

The same ``seed``, sizes and ``anchor`` always give the same data. The first
events of every source walk through a fixed coverage list of the provider's
shapes, so even small sizes exercise every shape; the rest are drawn at
random (see each provider folder's ``_emulator_data`` module, and
:mod:`wecal.providers._emulation._data` for how the random streams are shared).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Mapping
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import attrs

from ..providers._emulation._data import SHANGHAI, DemoData, DemoFactory, DemoGen
from ..providers._registry import PROVIDERS
from ..providers.dingtalk_legacy import _emulator as _legacy_emulator
from ..providers.wecom import _emulator as _wecom_emulator

if TYPE_CHECKING:
    from ._core import SandboxCore

__all__ = [
    "DEFAULT_DINGTALK_APP_KEY",
    "DEFAULT_DINGTALK_APP_SECRET",
    "DEFAULT_WECOM_CORP_ID",
    "DEFAULT_WECOM_SECRET",
    "GenerateSummary",
    "generate",
    "generate_sources",
]

#: Credentials of the apps :func:`generate` adds when the sandbox has none.
DEFAULT_WECOM_CORP_ID, DEFAULT_WECOM_SECRET = _wecom_emulator.CREDENTIALS
DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET = _legacy_emulator.CREDENTIALS


@attrs.frozen
class GenerateSummary:
    """What :func:`generate` created (ids in creation order)."""

    wecom_app_id: str
    wecom_calendars: tuple[str, ...]
    wecom_schedules: tuple[str, ...]
    dingtalk_users: tuple[str, ...]
    dingtalk_events: tuple[str, ...]
    anchor: datetime
    #: DingTalk v1.0 users (unionIds) and the events they organise.
    dingtalk_v1_users: tuple[str, ...] = ()
    dingtalk_v1_events: tuple[str, ...] = ()

    @property
    def sources(self) -> dict[str, tuple[str, ...]]:
        """Export sources per provider registry name: calendars or users."""
        return {
            "wecom": self.wecom_calendars,
            "dingtalk-legacy": self.dingtalk_users,
            "dingtalk": self.dingtalk_v1_users,
        }


def generate(
    sandbox: SandboxCore,
    *,
    seed: int = 0,
    wecom_calendars: int = 2,
    schedules_per_calendar: int = 50,
    dingtalk_users: int = 2,
    events_per_user: int = 50,
    max_attendees: int = 300,
    dingtalk_v1_users: int = 2,
    anchor: datetime | None = None,
    wecom_app_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """
    Fill ``sandbox`` with deterministic data; returns what was created.

    Every calendar and user is created before any event, so their ids depend
    on ``seed`` and on how many there are, not on how many events each holds.
    ``progress(done, total)`` is called after each source's events.

    Events spread from 60 days before ``anchor`` to 120 days after it
    (default: today 00:00 Asia/Shanghai by the sandbox clock). Calendars go to
    ``wecom_app_id`` (default: the first WeCom app; the default credentials
    are registered when there is none)::

        sandbox = Sandbox(seed=1)
        summary = generate(sandbox, schedules_per_calendar=20, events_per_user=20)
        cal_id = summary.wecom_calendars[0]
    """
    with sandbox.lock:
        made = _fill(
            sandbox,
            seed=seed,
            sizes={
                "wecom": (wecom_calendars, schedules_per_calendar),
                "dingtalk-legacy": (dingtalk_users, events_per_user),
                "dingtalk": (dingtalk_v1_users, events_per_user),
            },
            options={"wecom": {"app_id": wecom_app_id}},
            max_attendees=max_attendees,
            anchor=anchor,
            progress=progress,
        )
        return GenerateSummary(
            wecom_app_id=wecom_app_id or sandbox.first_app("wecom") or "",
            wecom_calendars=made.sources["wecom"],
            wecom_schedules=made.events["wecom"],
            dingtalk_users=made.sources["dingtalk-legacy"],
            dingtalk_events=made.events["dingtalk-legacy"],
            anchor=made.anchor,
            dingtalk_v1_users=made.sources["dingtalk"],
            dingtalk_v1_events=made.events["dingtalk"],
        )


def generate_sources(
    sandbox: SandboxCore,
    *,
    seed: int,
    sources: int,
    size: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[str, ...]]:
    """
    :func:`generate` with ``sources`` sources of ``size`` events for each
    provider whose emulator has a ``demo_data`` generator; the source ids
    per provider registry name.
    """
    with sandbox.lock:
        sizes = {name: (sources, size) for name in _generators()}
        made = _fill(sandbox, seed=seed, sizes=sizes, progress=progress)
        return dict(made.sources)


@attrs.frozen
class _Made:
    anchor: datetime
    sources: dict[str, tuple[str, ...]]
    events: dict[str, tuple[str, ...]]


def _generators() -> dict[str, tuple[str, DemoFactory]]:
    """(random stream, ``demo_data``) of every emulator that has one, in registry order."""
    found: dict[str, tuple[str, DemoFactory]] = {}
    for entry in PROVIDERS.values():
        # An emulator with a demo data generator names its module (DEMO_DATA).
        name: str | None = getattr(entry.load_emulator(), "DEMO_DATA", None)
        if name is not None:
            module = importlib.import_module(name)
            factory: DemoFactory = module.demo_data
            found[entry.name] = (str(getattr(module, "DEMO_STREAM", entry.name)), factory)
    return found


def _fill(
    sandbox: SandboxCore,
    *,
    seed: int,
    sizes: Mapping[str, tuple[int, int]],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    max_attendees: int = 300,
    anchor: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> _Made:
    """
    Every provider's sources (``sizes[name][0]`` of them), then each source's
    events (``sizes[name][1]``), in registry order: providers drawing from one
    random stream draw in that order, whatever their sizes.
    """
    if anchor is None:
        today = datetime.fromtimestamp(sandbox.clock(), SHANGHAI).date()
        anchor = datetime.combine(today, time(0), SHANGHAI)
    streams: dict[str, DemoGen] = {}
    runs: list[tuple[str, DemoData]] = []
    for name, (stream, factory) in _generators().items():
        if name not in sizes:
            continue
        if stream not in streams:
            rng = random.Random(f"{stream}:{seed}")
            streams[stream] = DemoGen(rng, anchor, max(0, max_attendees))
        runs.append((name, factory(sandbox, streams[stream], (options or {}).get(name, {}))))
    # The sources first: their ids must not change with the number of events.
    sources = {name: tuple(run.sources(sizes[name][0])) for name, run in runs}
    total, done = sum(len(ids) for ids in sources.values()), 0
    events: dict[str, tuple[str, ...]] = {}
    for name, run in runs:
        made: list[str] = []
        for source in sources[name]:
            made += run.events(source, sizes[name][1])
            done += 1
            if progress is not None:
                progress(done, total)
        events[name] = tuple(made)
    return _Made(anchor, sources, events)
