"""
DingTalk v1.0 recurrence (Microsoft Graph's ``pattern`` / ``range`` model) ↔
RFC 5545 RRULE: pure functions, no I/O.

DingTalk describes a series as (``reference/dingtalk.md`` §2.4)::

    "recurrence": {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": "monday,friday",
                    "firstDayOfWeek": "sunday"},
        "range": {"type": "endDate", "endDate": "2024-12-31T15:59:59Z"}
    }

No library converts this model (it is not iCalendar), so the mapping is
written out here, one pattern type at a time:

============================  =====================================================
pattern                       RRULE
============================  =====================================================
``daily``                     ``FREQ=DAILY;INTERVAL=n``
``weekly`` + ``daysOfWeek``   ``FREQ=WEEKLY;INTERVAL=n;BYDAY=MO,FR;WKST=SU``
``absoluteMonthly``           ``FREQ=MONTHLY;INTERVAL=n;BYMONTHDAY=d``
``relativeMonthly`` (1 day)   ``FREQ=MONTHLY;INTERVAL=n;BYDAY=+2TU`` (``last`` = -1)
``relativeMonthly`` (days)    ``FREQ=MONTHLY;INTERVAL=n;BYDAY=MO,TU;BYSETPOS=1``
``absoluteYearly``            ``FREQ=YEARLY;INTERVAL=n`` (on the start's month/day)
``relativeYearly`` (read)     ``FREQ=YEARLY;BYMONTH=<start's>;BYDAY=+1MO``
range ``noEnd``               no COUNT, no UNTIL
range ``numbered``            ``COUNT=n``
range ``endDate``             ``UNTIL`` (an instant; a bare date is that whole day)
============================  =====================================================

Semantics chosen (the reference is silent on them):

- The conversion is of the rule alone; what happens to a start that does
  not match it is the expansion's business (DESIGN.md: DTSTART is the first
  occurrence), the same for both sides. ``dayOfMonth`` 31 skips shorter
  months (RFC 5545), as the sandbox does.
- ``firstDayOfWeek`` defaults to Sunday (DingTalk) while ``WKST`` defaults to
  Monday (RFC 5545): a weekly pattern always states it, and a rule read back
  carries ``WKST`` when it changes anything (weekly, interval > 1).
- ``absoluteYearly`` has no month field in DingTalk's model: it repeats on the
  start date, so only a yearly rule on the start's own month and day converts.
  ``relativeYearly`` is not in DingTalk's documented types: read (on the
  start's month, or a ``month`` field), never written.
- ``range.endDate`` is documented as "UTC yyyy-MM-ddTHH:mmZ", an instant, and
  written as one (``2024-12-31T15:59:59Z``). A date-only value, or a date
  UNTIL, means the whole local day (the event's zone; UTC for all-day events,
  which DingTalk keeps in UTC).

What the model cannot say — sub-daily frequencies, BYHOUR/BYMINUTE/…,
BYYEARDAY, BYWEEKNO, BYDAY together with BYMONTHDAY, several BYMONTHs or
BYMONTHDAYs, negative days, a fifth weekday, other BYSETPOS uses — raises
:class:`~wecal.UnsupportedError` naming the part. DingTalk's limits
(``interval`` 1–365, ``numberOfOccurrences`` 1–99) raise
:class:`~wecal.ValidationError` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from ...errors import ResponseFormatError, UnsupportedError, ValidationError, _describe
from ...recurrence import normalize_rrule

__all__ = [
    "MAX_INTERVAL",
    "MAX_OCCURRENCES",
    "pattern_to_rrule",
    "rrule_to_pattern",
]

#: DingTalk's limits on a series (``0250``/``0252`` error tables).
MAX_INTERVAL = 365
MAX_OCCURRENCES = 99

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_NAME_TO_CODE = dict(zip(_DAY_NAMES, _DAY_CODES, strict=True))
_CODE_TO_NAME = dict(zip(_DAY_CODES, _DAY_NAMES, strict=True))
_INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_INDEX_NAMES = {number: name for name, number in _INDEXES.items()}
_PATTERN_TYPES = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)
_LAST_SECOND = time(23, 59, 59)


# --------------------------------------------------------------------------
# DingTalk → RRULE (reading answers)
# --------------------------------------------------------------------------


def _field(block: Mapping[str, Any], key: str) -> Any:
    """``block[key]``, with an empty string read as absent."""
    value = block.get(key)
    return None if value == "" else value


def _int(value: Any, path: str, *, low: int, high: int) -> int:
    """An int (or an integer string, as DingTalk answers sometimes are) in range."""
    number: int | None = None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number is None:
        raise ResponseFormatError(f"expected an integer, got {_describe(value)}", path=path)
    if not low <= number <= high:
        raise ResponseFormatError(f"{number} is not in {low}..{high}", path=path)
    return number


def _number(
    block: Mapping[str, Any], key: str, default: int, path: str, *, low: int, high: int
) -> int:
    """An optional integer field of ``block`` (``default`` when absent)."""
    value = _field(block, key)
    return default if value is None else _int(value, f"{path}.{key}", low=low, high=high)


def _days(value: Any, path: str) -> list[str]:
    """``"monday,tuesday"`` (DingTalk) or ``["monday", "tuesday"]`` (Graph) → RRULE codes."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        names = [part.strip() for part in value]
    else:
        raise ResponseFormatError(
            f"expected weekday names ('monday,friday'), got {_describe(value)}", path=path
        )
    codes: list[str] = []
    for name in names:
        code = _NAME_TO_CODE.get(name.lower())
        if code is None:
            raise ResponseFormatError(
                f"{_describe(name)} is not a weekday (monday … sunday)", path=path
            )
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ResponseFormatError("no weekday given", path=path)
    # RRULE lists them Monday first, whatever order DingTalk used.
    return sorted(codes, key=_DAY_CODES.index)


def _weekday_code(start: date) -> str:
    return _DAY_CODES[start.weekday()]


def _zone_of(start: datetime | date, zone: tzinfo | None) -> tzinfo:
    if zone is not None:
        return zone
    if isinstance(start, datetime) and start.tzinfo is not None:
        return start.tzinfo
    return UTC


def _until(value: Any, start: datetime | date, zone: tzinfo | None, path: str) -> str:
    """``range.endDate`` → an RRULE UNTIL value of the start's kind."""
    if not isinstance(value, str) or not value.strip():
        raise ResponseFormatError(
            f"expected an ISO 8601 date or time, got {_describe(value)}", path=path
        )
    text = value.strip()
    day: date | None = None
    moment: datetime | None = None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
        else:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ResponseFormatError(
            f"expected an ISO 8601 date or time, got {_describe(value)}", path=path
        ) from None
    local = _zone_of(start, zone)
    if moment is not None and moment.utcoffset() is None:
        moment = moment.replace(tzinfo=local)
    if not isinstance(start, datetime):
        # All-day series end on a day: the date the instant names where it was written.
        last = day if day is not None else moment.date() if moment is not None else start
        return f"{last:%Y%m%d}"
    if day is not None:
        moment = datetime.combine(day, _LAST_SECOND, tzinfo=local)
    assert moment is not None
    try:
        return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    except OverflowError:
        raise ResponseFormatError(f"{_describe(value)} is out of range", path=path) from None


def _relative(pattern: Mapping[str, Any], path: str) -> dict[str, str]:
    """BYDAY (and BYSETPOS) of a relativeMonthly/relativeYearly pattern."""
    index_value = _field(pattern, "index")
    if not isinstance(index_value, str) or index_value.lower() not in _INDEXES:
        raise ResponseFormatError(
            f"expected one of {', '.join(_INDEXES)}, got {_describe(index_value)}",
            path=f"{path}.index",
        )
    number = _INDEXES[index_value.lower()]
    codes = _days(_field(pattern, "daysOfWeek"), f"{path}.daysOfWeek")
    if len(codes) == 1:
        return {"BYDAY": f"{number:+d}{codes[0]}"}
    return {"BYDAY": ",".join(codes), "BYSETPOS": str(number)}


def pattern_to_rrule(
    recurrence: Any,
    *,
    start: datetime | date,
    zone: tzinfo | None = None,
    path: str = "$.recurrence",
) -> str:
    """
    A DingTalk ``recurrence`` (``{pattern, range}``) → a canonical RRULE value.

    ``start`` is the series' start (a date for all-day series); ``zone`` the
    zone its wall clock follows (default: the start's own, UTC for dates).

    >>> pattern_to_rrule({"pattern": {"type": "weekly", "interval": 2,
    ...                               "daysOfWeek": "monday,friday"},
    ...                   "range": {"type": "numbered", "numberOfOccurrences": 6}},
    ...                  start=date(2024, 6, 3))
    'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU;COUNT=6'

    Raises:
        ResponseFormatError: an unknown type, a missing or mistyped field;
            ``.path`` names it (``$.recurrence.pattern.daysOfWeek``).
    """
    if not isinstance(recurrence, Mapping):
        raise ResponseFormatError(f"expected an object, got {_describe(recurrence)}", path=path)
    p_path = f"{path}.pattern"
    pattern = recurrence.get("pattern")
    if not isinstance(pattern, Mapping):
        raise ResponseFormatError(f"expected an object, got {_describe(pattern)}", path=p_path)
    kind = _field(pattern, "type")
    if not isinstance(kind, str) or kind not in _PATTERN_TYPES:
        raise ResponseFormatError(
            f"unknown pattern type {_describe(kind)} (known: {', '.join(_PATTERN_TYPES)})",
            path=f"{p_path}.type",
        )
    interval = _number(pattern, "interval", 1, p_path, low=1, high=10_000)
    start_day = start.date() if isinstance(start, datetime) else start
    parts: dict[str, str] = {}
    if kind == "daily":
        parts["FREQ"] = "DAILY"
    elif kind == "weekly":
        parts["FREQ"] = "WEEKLY"
        days_value = _field(pattern, "daysOfWeek")
        codes = (
            [_weekday_code(start_day)]
            if days_value is None
            else _days(days_value, f"{p_path}.daysOfWeek")
        )
        parts["BYDAY"] = ",".join(codes)
        first_value = _field(pattern, "firstDayOfWeek")
        first = "SU" if first_value is None else _days(first_value, f"{p_path}.firstDayOfWeek")[0]
        if interval > 1:
            # The week's start decides which weeks count (RFC 5545 WKST).
            parts["WKST"] = first
    elif kind == "absoluteMonthly":
        parts["FREQ"] = "MONTHLY"
        day = _number(pattern, "dayOfMonth", start_day.day, p_path, low=1, high=31)
        parts["BYMONTHDAY"] = str(day)
    elif kind == "relativeMonthly":
        parts["FREQ"] = "MONTHLY"
        parts.update(_relative(pattern, p_path))
    else:
        parts["FREQ"] = "YEARLY"
        month = _number(pattern, "month", start_day.month, p_path, low=1, high=12)
        if kind == "relativeYearly":
            parts["BYMONTH"] = str(month)
            parts.update(_relative(pattern, p_path))
        else:
            day = _number(pattern, "dayOfMonth", start_day.day, p_path, low=1, high=31)
            if (month, day) != (start_day.month, start_day.day):
                parts["BYMONTH"] = str(month)
                parts["BYMONTHDAY"] = str(day)
    if interval > 1:
        parts["INTERVAL"] = str(interval)

    r_path = f"{path}.range"
    range_ = recurrence.get("range")
    if range_ is not None:
        if not isinstance(range_, Mapping):
            raise ResponseFormatError(f"expected an object, got {_describe(range_)}", path=r_path)
        range_type = _field(range_, "type")
        end_date = _field(range_, "endDate")
        count = _field(range_, "numberOfOccurrences")
        if range_type is None:  # tolerate a missing type: the fields say it
            range_type = "endDate" if end_date is not None else "numbered" if count else "noEnd"
        if range_type == "numbered":
            parts["COUNT"] = str(
                _int(count, f"{r_path}.numberOfOccurrences", low=1, high=1_000_000)
            )
        elif range_type == "endDate":
            parts["UNTIL"] = _until(end_date, start, zone, f"{r_path}.endDate")
        elif range_type != "noEnd":
            raise ResponseFormatError(
                f"unknown range type {_describe(range_type)} (known: noEnd, endDate, numbered)",
                path=f"{r_path}.type",
            )
    text = ";".join(f"{key}={value}" for key, value in parts.items())
    try:
        return normalize_rrule(text)
    except ResponseFormatError as exc:  # pragma: no cover - built from checked parts
        raise ResponseFormatError(exc.message, path=path) from exc


# --------------------------------------------------------------------------
# RRULE → DingTalk (writes)
# --------------------------------------------------------------------------


def _unsupported(part: str, why: str) -> UnsupportedError:
    return UnsupportedError(f"DingTalk cannot repeat with {part}: {why}", feature=part)


def _plain_days(value: str, part: str) -> list[str]:
    codes = value.split(",")
    for code in codes:
        if code not in _DAY_CODES:
            raise _unsupported(
                f"BYDAY={value}", f"{part} takes plain weekdays, not {code!r} (an ordinal)"
            )
    return codes


def _check_limit(name: str, value: int, high: int, wire: str) -> int:
    if not 1 <= value <= high:
        raise ValidationError(
            f"Recurrence.rrule: {name}={value} is over DingTalk's limit ({wire} must be 1..{high})"
        )
    return value


def _end_date(until: str, start: datetime | date, zone: tzinfo | None) -> str:
    """An RRULE UNTIL → ``range.endDate``: the last instant, ``yyyy-MM-ddTHH:mm:ssZ``."""
    local = UTC if not isinstance(start, datetime) else _zone_of(start, zone)
    if "T" not in until:
        day = date(int(until[:4]), int(until[4:6]), int(until[6:8]))
        moment = datetime.combine(day, _LAST_SECOND, tzinfo=local)
    elif until.endswith("Z"):
        moment = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    else:  # floating: the event's wall clock
        moment = datetime.strptime(until, "%Y%m%dT%H%M%S").replace(tzinfo=local)
    if not isinstance(start, datetime):
        # All-day series: the whole last day, in UTC like the series itself.
        moment = datetime.combine(moment.date(), _LAST_SECOND, tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def rrule_to_pattern(
    rrule: str, *, start: datetime | date, zone: tzinfo | None = None
) -> dict[str, Any]:
    """
    An RRULE value → DingTalk's ``{"pattern": …, "range": …}``.

    ``start`` is the series' start (a date for all-day series); ``zone`` the
    zone of its wall clock (default: the start's own).

    >>> rrule_to_pattern("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", start=date(2024, 6, 28))["pattern"]
    {'type': 'relativeMonthly', 'interval': 1, 'daysOfWeek': 'friday', 'index': 'last'}

    Raises:
        UnsupportedError: a part DingTalk's model cannot say (``.feature``).
        ValidationError: INTERVAL over 365, COUNT over 99 (DingTalk's limits),
            or a rule that is not an RRULE.
    """
    try:
        canonical = normalize_rrule(rrule)
    except ResponseFormatError as exc:
        raise ValidationError(f"Recurrence.rrule: {exc.message}") from None
    parts = dict(item.split("=", 1) for item in canonical.split(";"))
    freq = parts.pop("FREQ")
    interval = _check_limit("INTERVAL", int(parts.pop("INTERVAL", "1")), MAX_INTERVAL, "interval")
    count = parts.pop("COUNT", None)
    until = parts.pop("UNTIL", None)
    wkst = parts.pop("WKST", "MO")
    for part in ("BYSECOND", "BYMINUTE", "BYHOUR", "BYYEARDAY", "BYWEEKNO"):
        if part in parts:
            raise _unsupported(part, "its pattern types repeat whole days at the start's time")
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise _unsupported(f"FREQ={freq}", "the shortest pattern is daily")
    if "BYDAY" in parts and "BYMONTHDAY" in parts:
        raise _unsupported("BYDAY with BYMONTHDAY", "a pattern is by weekday or by day, not both")
    if "BYMONTH" in parts and "," in parts["BYMONTH"]:
        raise _unsupported(f"BYMONTH={parts['BYMONTH']}", "a yearly pattern has one month")
    if "BYMONTHDAY" in parts and (
        "," in parts["BYMONTHDAY"] or parts["BYMONTHDAY"].startswith("-")
    ):
        raise _unsupported(
            f"BYMONTHDAY={parts['BYMONTHDAY']}", "dayOfMonth is one day counted from the 1st"
        )
    start_day = start.date() if isinstance(start, datetime) else start
    pattern: dict[str, Any]
    if freq == "DAILY":
        if "BYDAY" in parts and interval == 1 and len(parts) == 1:
            # FREQ=DAILY;BYDAY=MO,…,FR (workdays) is a weekly pattern.
            pattern = {"type": "weekly", "interval": 1}
            codes = _plain_days(parts.pop("BYDAY"), "a daily rule")
            pattern["daysOfWeek"] = ",".join(_CODE_TO_NAME[c] for c in codes)
            pattern["firstDayOfWeek"] = _CODE_TO_NAME[wkst]
        else:
            pattern = {"type": "daily", "interval": interval}
    elif freq == "WEEKLY":
        codes = (
            _plain_days(parts.pop("BYDAY"), "a weekly rule")
            if "BYDAY" in parts
            else [_weekday_code(start_day)]
        )
        pattern = {
            "type": "weekly",
            "interval": interval,
            "daysOfWeek": ",".join(_CODE_TO_NAME[c] for c in codes),
            "firstDayOfWeek": _CODE_TO_NAME[wkst],
        }
    elif freq == "MONTHLY":
        if "BYMONTH" in parts:
            raise _unsupported("BYMONTH", "a monthly pattern repeats in every month")
        if "BYDAY" in parts:
            pattern = _relative_pattern(parts, "relativeMonthly", interval)
        else:
            day = int(parts.pop("BYMONTHDAY", str(start_day.day)))
            pattern = {"type": "absoluteMonthly", "interval": interval, "dayOfMonth": day}
    else:  # YEARLY
        if "BYDAY" in parts or "BYSETPOS" in parts:
            raise _unsupported(
                "BYDAY" if "BYDAY" in parts else "BYSETPOS",
                "a yearly pattern repeats on the start date (no relativeYearly)",
            )
        month = int(parts.pop("BYMONTH", str(start_day.month)))
        day = int(parts.pop("BYMONTHDAY", str(start_day.day)))
        if (month, day) != (start_day.month, start_day.day):
            raise _unsupported(
                f"BYMONTH={month};BYMONTHDAY={day}",
                f"a yearly pattern repeats on the start date ({start_day:%m-%d})",
            )
        pattern = {"type": "absoluteYearly", "interval": interval}
    if parts:
        leftover = next(iter(parts))
        raise _unsupported(f"{leftover}={parts[leftover]}", f"not with FREQ={freq}")

    range_: dict[str, Any]
    if count is not None:
        number = _check_limit("COUNT", int(count), MAX_OCCURRENCES, "numberOfOccurrences")
        range_ = {"type": "numbered", "numberOfOccurrences": number}
    elif until is not None:
        range_ = {"type": "endDate", "endDate": _end_date(until, start, zone)}
    else:
        range_ = {"type": "noEnd"}
    return {"pattern": pattern, "range": range_}


def _relative_pattern(parts: dict[str, str], kind: str, interval: int) -> dict[str, Any]:
    """``BYDAY=+2TU`` or ``BYDAY=MO,TU;BYSETPOS=1`` → a relative pattern (pops them)."""
    byday = parts.pop("BYDAY")
    setpos = parts.pop("BYSETPOS", None)
    if setpos is not None:
        if "," in setpos or int(setpos) not in _INDEX_NAMES:
            raise _unsupported(
                f"BYSETPOS={setpos}", "index is one of first…fourth or last (1..4, -1)"
            )
        codes = _plain_days(byday, "BYDAY with BYSETPOS")
        number = int(setpos)
    else:
        if "," in byday:
            raise _unsupported(
                f"BYDAY={byday}", "a monthly pattern takes one ordinal weekday (BYDAY=+2TU)"
            )
        ordinal, code = byday[:-2], byday[-2:]
        if not ordinal:
            raise _unsupported(
                f"BYDAY={byday}", "every such weekday of the month is not a monthly pattern"
            )
        number = int(ordinal)
        if number not in _INDEX_NAMES:
            raise _unsupported(f"BYDAY={byday}", "index is one of first…fourth or last")
        codes = [code]
    return {
        "type": kind,
        "interval": interval,
        "daysOfWeek": ",".join(_CODE_TO_NAME[c] for c in codes),
        "index": _INDEX_NAMES[number],
    }
