"""
The demo's numbers — bounds and defaults — shared by ``wecal sandbox``,
``python -m wecal.sandbox`` and ``--sandbox``.

Outside ``wecal.sandbox`` on purpose: ``wecal.cli`` builds its options from
them, and importing the command must not load the emulator (starlette, the
provider emulators) unless a command that serves it runs.
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import ValidationError

__all__ = ["DEFAULTS", "LIMITS", "DemoSettings", "check_limit"]


#: The bounds of the demo's numbers, the same in every entry point (``wecal
#: sandbox``, ``python -m wecal.sandbox``, ``--sandbox``): name → (low, high).
LIMITS: dict[str, tuple[int, int]] = {
    "port": (0, 65535),
    "sources": (0, 1000),
    "size": (0, 100_000),
    "latency": (0, 60),
}


def check_limit(name: str, value: float) -> float:
    """``value`` if it is within ``LIMITS[name]``, else a :class:`~wecal.ValidationError`."""
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise ValidationError(f"--{name} must be within {low:g}..{high:g}, got {value:g}")
    return value


def _within(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    check_limit(attribute.name, value)


@attrs.frozen
class DemoSettings:
    """What the demo holds and how it misbehaves; the defaults of every entry point."""

    seed: int = 0
    #: Sources (calendars, users) per provider.
    sources: int = attrs.field(default=3, validator=_within)
    #: Events per source.
    size: int = attrs.field(default=120, validator=_within)
    #: Seconds added to every answer.
    latency: float = attrs.field(default=0.0, validator=_within)
    #: A fault spec (see the module docstring); empty for none.
    faults: str = ""


DEFAULTS = DemoSettings()
