"""
WeCom repeat codes ↔ RRULE: the repeat fields of a ``reminders`` block.

:func:`recurrence_from_wecom` / :func:`recurrence_to_wecom` translate the
repeat fields of a WeCom ``reminders`` block, and :func:`wecom_timezone` its
``timezone`` hours. Semantics decided here (tested in tests/test_recurrence*.py):

- ``repeat_day_of_week`` is honoured only with ``repeat_type`` 1 (weekly)
  and ``repeat_day_of_month`` only with 2 (monthly), as WeCom documents. The
  seed ``wecom-schedule-get.txt`` sends both lists with ``repeat_type`` 7
  (workdays): ignoring them gives its 295 occurrences (every Monday–Friday from
  2019-10-17 to 2020-12-03, minus the one excluded day); honouring them would
  give 118 Wednesdays and Sundays.
- ``repeat_until`` 1606976813 is 2020-12-03T06:26:53Z (DESIGN.md's example
  ``20201203T063653Z`` has a typo in the minutes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from ...errors import ResponseFormatError, UnsupportedError, ValidationError, _describe
from ...models import Recurrence
from ...recurrence import (
    _DAYS,
    _WORKDAYS,
    _join_parts,
    _split_parts,
    _until_value,
    normalize_rrule,
)
from .._readers import as_int

__all__ = ["recurrence_from_wecom", "recurrence_to_wecom", "wecom_timezone"]

#: WeCom stores times as unsigned 32-bit Unix seconds (1970 to 2106-02-07
#: 06:28:15 UTC); the one range both directions use, so what wecal writes it
#: can read back.
UINT32_MAX = 2**32 - 1

#: WeCom ``repeat_type`` → the RRULE it stands for.
_WECOM_TYPES: dict[int, str] = {
    0: "DAILY",
    1: "WEEKLY",
    2: "MONTHLY",
    5: "YEARLY",
    7: "WEEKLY",  # 工作日: Monday to Friday
}
_WECOM_CODES = {"DAILY": 0, "WEEKLY": 1, "MONTHLY": 2, "YEARLY": 5}
_WECOM_DEFAULT_TZ = timezone(timedelta(hours=8))
#: The 25 offsets ``timezone`` can name, made once.
_WECOM_ZONES = {h: timezone(timedelta(hours=h)) for h in range(-12, 13)}


# --------------------------------------------------------------------------
# WeCom reminders ↔ Recurrence
# --------------------------------------------------------------------------


def _int_field(
    block: Mapping[str, Any], key: str, path: str, default: int, low: int, high: int
) -> int:
    value = block.get(key)
    if value is None:
        return default
    number = value if isinstance(value, int) else as_int(value)
    if number is None or not low <= number <= high:
        raise ResponseFormatError(
            f"expected an integer {low}..{high}, got {_describe(value)}", path=f"{path}.{key}"
        )
    return int(number)


def _int_list(block: Mapping[str, Any], key: str, path: str, low: int, high: int) -> list[int]:
    value = block.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ResponseFormatError(
            f"expected a list of integers, got {_describe(value)}", path=f"{path}.{key}"
        )
    out: set[int] = set()
    for i, item in enumerate(value):
        number = as_int(item)
        if number is None or not low <= number <= high:
            raise ResponseFormatError(
                f"expected an integer {low}..{high}, got {_describe(item)}",
                path=f"{path}.{key}[{i}]",
            )
        out.add(number)
    return sorted(out)


def _mapping_or_none(reminders: Any, path: str) -> Mapping[str, Any] | None:
    if reminders is None:
        return None
    if not isinstance(reminders, Mapping):
        raise ResponseFormatError(f"expected an object, got {_describe(reminders)}", path=path)
    return reminders


def wecom_timezone(reminders: Mapping[str, Any] | None, *, path: str = "$.reminders") -> timezone:
    """
    WeCom ``reminders.timezone`` (whole hours, -12..+12) as a fixed offset.

    Absent (or no ``reminders`` at all) means WeCom's default, UTC+8.

    >>> wecom_timezone({"timezone": -5})
    datetime.timezone(datetime.timedelta(days=-1, seconds=68400))

    Raises:
        ResponseFormatError: not an integer in -12..12 (``path.timezone``).
    """
    if type(reminders) is dict:  # what json.loads gives: skip the ABC check
        hours = reminders.get("timezone")
        if hours is None:
            return _WECOM_DEFAULT_TZ
        if type(hours) is int and -12 <= hours <= 12:
            return _WECOM_ZONES[hours]
    block = _mapping_or_none(reminders, path)
    if block is None or block.get("timezone") is None:
        return _WECOM_DEFAULT_TZ
    hours = as_int(block["timezone"])
    if hours is None or not -12 <= hours <= 12:
        raise ResponseFormatError(
            f"expected whole hours -12..12, got {_describe(block['timezone'])}",
            path=f"{path}.timezone",
        )
    return timezone(timedelta(hours=hours))


def recurrence_from_wecom(
    reminders: Mapping[str, Any] | None,
    *,
    start: datetime | date,
    path: str = "$.reminders",
) -> Recurrence | None:
    """
    The repeat fields of a WeCom ``reminders`` block as a :class:`~wecal.Recurrence`.

    ``start`` is the schedule's start as the caller converted it: an aware
    datetime in the :func:`wecom_timezone` offset, or a date for a whole-day
    schedule (then UNTIL and the exdates are dates too). Mapping:
    ``repeat_type`` 0 DAILY, 1 WEEKLY, 2 MONTHLY, 5 YEARLY, 7
    WEEKLY;BYDAY=MO,TU,WE,TH,FR; with ``is_custom_repeat`` also
    ``repeat_interval`` → INTERVAL, ``repeat_day_of_week`` (1 = MO … 7 = SU) →
    BYDAY for weekly only, ``repeat_day_of_month`` → BYMONTHDAY for monthly
    only (elsewhere WeCom ignores them, and so do we); ``repeat_until`` (0 =
    forever) → UNTIL in UTC; ``exclude_time_list[].start_time`` → exdates.

    >>> recurrence_from_wecom({"is_repeat": 1, "repeat_type": 1}, start=monday_10am)
    Recurrence(rrule='FREQ=WEEKLY', exdates=(), rdates=())

    Returns None when ``is_repeat`` is 0 or absent.

    Raises:
        ResponseFormatError: unknown ``repeat_type``, bad day numbers, wrong
            types; the JSON path names the field.
    """
    if type(reminders) is dict:
        is_repeat = reminders.get("is_repeat")
        if is_repeat is None or (type(is_repeat) is int and is_repeat == 0):
            return None  # what the full reading gives too, without its checks
        key = _repeat_key(reminders, start)
        if key is not None:
            try:
                return _cached_recurrence(key)
            except (ResponseFormatError, ValidationError):
                pass  # bad input is never cached: the full reading below names its path
    return _recurrence_from_block(reminders, start=start, path=path)


# The repeat fields a reminders block holds, in a fixed order; the cache key is
# their values (plus the kind of start), so it holds hashable primitives only.
_REPEAT_FIELDS = (
    "is_repeat",
    "repeat_type",
    "is_custom_repeat",
    "repeat_interval",
    "repeat_day_of_week",
    "repeat_day_of_month",
    "timezone",
    "repeat_until",
)
#: A field that is absent (``repeat_type`` absent is 0, null is an error).
_ABSENT = "<absent>"
_ABSENT_KEY = (_ABSENT,)


def _key_value(value: Any) -> Any:
    """``value`` as a key part, or None when it cannot be one (then: no cache)."""
    kind = type(value)
    if kind is int or kind is str:
        # A str and an int never compare equal, so "1" and 1 stay apart; bool
        # and float (equal to ints as keys) take the uncached path.
        return (kind is str, value)
    if value is None:
        return ()
    if kind is list:
        parts = tuple(_key_value(item) for item in value)
        return None if None in parts else ("list", parts)
    return None


def _repeat_key(block: dict[str, Any], start: Any) -> tuple[Any, ...] | None:
    """The cache key of ``block``'s repeat fields and ``start``'s kind, or None."""
    if type(start) is date:
        kind = "date"
    elif type(start) is datetime and start.utcoffset() is not None:
        kind = "aware"
    else:
        return None
    key: list[Any] = [kind]
    for name in _REPEAT_FIELDS:
        value = block.get(name, _ABSENT)
        part = _ABSENT_KEY if value is _ABSENT else _key_value(value)
        if part is None:
            return None
        key.append(part)
    excluded = block.get("exclude_time_list")
    if excluded is not None:
        if type(excluded) is not list:
            return None
        starts = []
        for item in excluded:
            if type(item) is not dict:
                return None
            part = _key_value(item.get("start_time"))
            if part is None:
                return None
            starts.append(part)
        key.append(tuple(starts))
    else:
        key.append(None)
    return tuple(key)


def _from_key(part: Any) -> Any:
    if part == ():
        return None
    if part[0] == "list":
        return [_from_key(item) for item in part[1]]
    return part[1]


# Real pages repeat a handful of rules across many schedules: one Recurrence
# (frozen, so shareable) per distinct set of repeat fields, bounded.
@lru_cache(maxsize=4096)
def _cached_recurrence(key: tuple[Any, ...]) -> Recurrence | None:
    kind, *parts, excluded = key
    block: dict[str, Any] = {
        name: _from_key(part)
        for name, part in zip(_REPEAT_FIELDS, parts, strict=True)
        if part != _ABSENT_KEY
    }
    if excluded is not None:
        block["exclude_time_list"] = [
            {} if part == () else {"start_time": _from_key(part)} for part in excluded
        ]
    # The start only matters by kind (a date: UNTIL and exdates are dates).
    start = _EPOCH_DAY if kind == "date" else _EPOCH_MOMENT
    return _recurrence_from_block(block, start=start, path="$.reminders")


_EPOCH_DAY = date(1970, 1, 1)
_EPOCH_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)


def _recurrence_from_block(
    reminders: Any, *, start: datetime | date, path: str
) -> Recurrence | None:
    block = _mapping_or_none(reminders, path)
    if block is None or not _int_field(block, "is_repeat", path, 0, 0, 1):
        return None
    if not isinstance(start, date):
        raise ValidationError(
            f"start: expected an aware datetime or a date, got {_describe(start)}"
        )
    whole_day = not isinstance(start, datetime)
    if isinstance(start, datetime) and start.utcoffset() is None:
        raise ValidationError(f"start: naive datetime {start.isoformat()}; attach a timezone")
    raw_type = block.get("repeat_type", 0)
    repeat_type = as_int(raw_type)
    if repeat_type is None or repeat_type not in _WECOM_TYPES:
        raise ResponseFormatError(
            f"unknown repeat_type {_describe(raw_type)} (known: 0, 1, 2, 5, 7)",
            path=f"{path}.repeat_type",
        )
    parts: dict[str, str] = {"FREQ": _WECOM_TYPES[repeat_type]}
    if repeat_type == 7:
        parts["BYDAY"] = ",".join(_WORKDAYS)
    if _int_field(block, "is_custom_repeat", path, 0, 0, 1):
        interval = _int_field(block, "repeat_interval", path, 0, 0, 10_000)
        if interval:
            parts["INTERVAL"] = str(interval)
        if repeat_type == 1:
            days = _int_list(block, "repeat_day_of_week", path, 1, 7)
            if days:
                parts["BYDAY"] = ",".join(_DAYS[d - 1] for d in days)
        elif repeat_type == 2:
            month_days = _int_list(block, "repeat_day_of_month", path, 1, 31)
            if month_days:
                parts["BYMONTHDAY"] = ",".join(str(d) for d in month_days)
    tz = wecom_timezone(block, path=path)
    until = _int_field(block, "repeat_until", path, 0, 0, UINT32_MAX)
    if until:
        moment = datetime.fromtimestamp(until, UTC)
        parts["UNTIL"] = (
            f"{moment.astimezone(tz):%Y%m%d}" if whole_day else f"{moment:%Y%m%dT%H%M%SZ}"
        )
    exdates: list[datetime | date] = []
    excluded = block.get("exclude_time_list")
    if excluded is not None and not isinstance(excluded, list):
        raise ResponseFormatError(
            f"expected a list, got {_describe(excluded)}", path=f"{path}.exclude_time_list"
        )
    for i, item in enumerate(excluded or ()):
        item_path = f"{path}.exclude_time_list[{i}]"
        if not isinstance(item, Mapping):
            raise ResponseFormatError(f"expected an object, got {_describe(item)}", path=item_path)
        ts = _int_field(item, "start_time", item_path, -1, 0, UINT32_MAX)
        if ts < 0:
            raise ResponseFormatError("start_time is missing", path=f"{item_path}.start_time")
        local = datetime.fromtimestamp(ts, tz)
        exdates.append(local.date() if whole_day else local)
    return Recurrence(rrule=_join_parts(parts), exdates=tuple(exdates))


def recurrence_to_wecom(
    recurrence: Recurrence | None,
    *,
    start: datetime | date,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """
    The repeat part of a WeCom ``reminders`` block for ``recurrence``.

    Returns ``is_repeat``, ``repeat_type``, ``is_custom_repeat``,
    ``repeat_interval``, ``repeat_day_of_week``, ``repeat_day_of_month`` and
    ``repeat_until`` (0 = forever); None gives ``{"is_repeat": 0}``. A date
    UNTIL becomes 00:00 of that day in ``start``'s zone (``tz``, default UTC+8,
    for an all-day ``start``).

    ``exdates`` are not written: WeCom's ``exclude_time_list`` is response-only
    and the server keeps it; remove one occurrence with a delete in "only this
    one" mode instead. Reading an event and writing it back therefore works.

    >>> recurrence_to_wecom(Recurrence(rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"), start=s)
    {'is_repeat': 1, 'repeat_type': 1, 'is_custom_repeat': 1, 'repeat_interval': 2,
     'repeat_day_of_week': [1, 3], 'repeat_day_of_month': [], 'repeat_until': 0}

    Raises:
        UnsupportedError: a part WeCom's repeat codes cannot say (COUNT,
            BYSETPOS, HOURLY, several BYMONTH, RDATE, …); ``feature`` names it.
        ResponseFormatError: the rule is not a rule.
    """
    if recurrence is None:
        return {"is_repeat": 0}
    if recurrence.rdates:
        raise UnsupportedError("WeCom cannot add extra dates (RDATE) to a series", feature="RDATE")
    parts = _split_parts(normalize_rrule(recurrence.rrule), path="$.recurrence.rrule")

    def unsupported(name: str, why: str = "") -> UnsupportedError:
        shown = f"{name}={parts[name]}" if name in parts else name
        return UnsupportedError(f"WeCom cannot repeat with {shown}{why}", feature=name)

    freq = parts.pop("FREQ")
    if freq not in _WECOM_CODES:
        raise UnsupportedError(f"WeCom cannot repeat with FREQ={freq}", feature="FREQ")
    for name in ("COUNT", "BYSETPOS", "BYWEEKNO", "BYYEARDAY", "BYHOUR", "BYMINUTE", "BYSECOND"):
        if name in parts:
            raise unsupported(name)
    if parts.pop("WKST", "MO") != "MO":
        raise unsupported("WKST", " (WeCom weeks start on Monday)")
    interval_text = parts.pop("INTERVAL", None)
    interval = int(interval_text) if interval_text else 1
    start_day = start.date() if isinstance(start, datetime) else start
    week_days: list[int] = []
    month_days: list[int] = []
    byday = parts.pop("BYDAY", None)
    repeat_type = _WECOM_CODES[freq]
    if byday is not None:
        days = byday.split(",")
        if any(not d.isalpha() for d in days):
            raise unsupported("BYDAY", " (WeCom has no 'nth weekday')") from None
        if set(days) == set(_WORKDAYS) and (
            freq == "WEEKLY" or (freq == "DAILY" and interval == 1)
        ):
            repeat_type = 7
        elif freq == "WEEKLY":
            week_days = sorted({_DAYS.index(d) + 1 for d in days})
        else:
            parts["BYDAY"] = byday
            raise unsupported("BYDAY", f" with FREQ={freq}")
    bymonthday = parts.pop("BYMONTHDAY", None)
    bymonth = parts.pop("BYMONTH", None)
    if bymonthday is not None:
        numbers = sorted({int(n) for n in bymonthday.split(",")})
        if freq == "MONTHLY" and all(n > 0 for n in numbers):
            month_days = numbers
        elif freq == "YEARLY" and numbers == [start_day.day]:
            pass  # the start's own day: what a plain yearly repeat does anyway
        else:
            parts["BYMONTHDAY"] = bymonthday
            raise unsupported("BYMONTHDAY", f" with FREQ={freq}")
    if bymonth is not None and not (freq == "YEARLY" and bymonth == str(start_day.month)):
        parts["BYMONTH"] = bymonth
        raise unsupported("BYMONTH")
    repeat_until = 0
    if "UNTIL" in parts:
        until = _until_value(parts.pop("UNTIL"))
        if isinstance(until, datetime):
            if until.tzinfo is None:  # floating: in the start's own zone
                zone = start.tzinfo if isinstance(start, datetime) else tz or _WECOM_DEFAULT_TZ
                until = until.replace(tzinfo=zone)
            repeat_until = int(until.timestamp())
        elif until is not None:
            zone = start.tzinfo if isinstance(start, datetime) else tz or _WECOM_DEFAULT_TZ
            repeat_until = int(datetime.combine(until, time(), tzinfo=zone).timestamp())
    if not 0 <= repeat_until <= UINT32_MAX:
        raise UnsupportedError(
            "WeCom stores repeat_until as unsigned 32-bit Unix seconds (1970 to 2106); "
            f"got UNTIL={recurrence.rrule.rsplit('UNTIL=', 1)[-1]}",
            feature="UNTIL",
        )
    custom = interval_text is not None or bool(week_days) or bool(month_days)
    return {
        "is_repeat": 1,
        "repeat_type": repeat_type,
        "is_custom_repeat": int(custom),
        "repeat_interval": interval,
        "repeat_day_of_week": week_days,
        "repeat_day_of_month": month_days,
        "repeat_until": repeat_until,
    }
