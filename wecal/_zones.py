"""
Time zone names: the one place that turns ``Event.timezone`` text into a tzinfo.

A name is an IANA zone (``Asia/Shanghai``) or a fixed offset (``+08:00``, as
WeCom's ``reminders.timezone`` becomes). Both answers are cached: a page of
events shares one or two zones.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ValidationError

__all__ = ["DEFAULT_DATE_ZONE", "day_start", "in_zone", "is_valid_timezone", "zone_for"]

_OFFSET_RE = re.compile(r"^[+-](?:0\d|1[0-4]):[0-5]\d$")


@lru_cache(maxsize=512)
def is_valid_timezone(name: str) -> bool:
    """Whether ``name`` is a ``±HH:MM`` offset or an IANA zone this machine knows."""
    if _OFFSET_RE.match(name):
        return True
    if len(name) > 64:  # the longest IANA name is ~30 characters; longer ones hit OSError
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=256)
def zone_for(name: str) -> tzinfo | None:
    """The tzinfo for an IANA name or a ``±HH:MM`` offset; None when unknown."""
    if not isinstance(name, str) or not is_valid_timezone(name):
        return None
    if name[0] in "+-":
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    return ZoneInfo(name)


#: The zone a ``date`` window bound is read in unless a client or call says
#: otherwise: both providers' home zone (China Standard Time, no DST).
DEFAULT_DATE_ZONE = "Asia/Shanghai"


def in_zone(moment: datetime, zone: tzinfo | None) -> datetime:
    """
    An aware ``moment`` shown in ``zone`` (None: as it is). At the edge of
    datetime's range (year 1 or 9999 with an offset), where the conversion
    overflows, the offset it came with is kept.
    """
    if zone is None:
        return moment
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return moment


def day_start(day: date, zone: str | tzinfo | None) -> datetime:
    """00:00 of ``day`` in ``zone`` (a name, a tzinfo, or None for the default)."""
    tz = zone_for(zone or DEFAULT_DATE_ZONE) if not isinstance(zone, tzinfo) else zone
    if tz is None:
        raise ValidationError(f"date_zone: unknown time zone {zone!r}")
    return datetime.combine(day, time(), tzinfo=tz)
