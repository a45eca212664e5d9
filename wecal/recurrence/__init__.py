"""
Recurrence: tolerant RRULE parsing and expansion, provider-neutral.

Two jobs, all pure functions (no I/O):

- :func:`parse_rrule` / :func:`normalize_rrule` read whatever a provider sends
  as a repeat rule (``RRULE:FREQ=…``, ``FREQ=…``, DingTalk's bare
  ``YEARLY;INTERVAL=2;…``, a list a comma split apart, the ``{"string": [...]}``
  wrapper, trailing prose, ``EXDATE``/``RDATE`` lines) and give back a
  :class:`~wecal.Recurrence` whose ``rrule`` is a canonical RFC 5545 RRULE
  value::

      >>> parse_rrule({"string": ["YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8", "9(see RFC)"]})
      Recurrence(rrule='FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8,9', ...)

- :func:`expand` lists the occurrences of an :class:`~wecal.Event` inside a
  window, lazily; python-dateutil does the RRULE arithmetic.

Semantics decided here (and tested in ``tests/test_recurrence*.py``):

- WeCom's repeat codes live with the WeCom provider
  (:mod:`wecal.providers.wecom._repeat`).
- The start is always the first occurrence and counts toward COUNT, even
  when the rule does not match it (RFC 5545 §3.3.10, §3.8.5.3; dateutil
  alone would leave it out), so ``expand`` and any RFC 5545 reader of the
  .ics export agree.
- A rule is parsed once per distinct text (a bounded cache); it is never
  silently shortened: what cannot be read is a ``ResponseFormatError``
  naming the rule and the part.
- A local time that does not exist (inside a DST gap) is moved forward by the
  gap, as RFC 5545 §3.3.5 says for any DATE-TIME; an ambiguous one (DST end)
  is the first of the two. Wall-clock time is otherwise kept across DST in
  IANA zones; fixed offsets never shift.
"""

from __future__ import annotations

import datetime as _datetime_module
import heapq
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from itertools import count, islice, takewhile
from types import MappingProxyType
from typing import Any

import attrs
from dateutil.rrule import (
    DAILY,
    FR,
    HOURLY,
    MINUTELY,
    MO,
    MONTHLY,
    SA,
    SECONDLY,
    SU,
    TH,
    TU,
    WE,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    weekday,
)

from .._zones import day_start, zone_for
from ..errors import ResponseFormatError, ValidationError, _describe
from ..models import Event, Recurrence

__all__ = [
    "expand",
    "normalize_rrule",
    "occurrence_id",
    "parse_rrule",
    "series_fixups_for_ics",
    "series_rule_for_ics",
    "series_start_off_rule",
]

_FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WORKDAYS = _DAYS[:5]

# Canonical order of rule parts: FREQ first (RFC 5545 requires it to be
# present; many consumers also expect it first), then the DESIGN.md order
# FREQ;INTERVAL;BY…;UNTIL.
_PART_ORDER = (
    "FREQ",
    "INTERVAL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYSETPOS",
    "WKST",
    "COUNT",
    "UNTIL",
)
# (low, high, negatives allowed) for the numeric BY parts, from RFC 5545
# §3.3.10. dateutil accepts out-of-range values silently (BYMONTHDAY=40 just
# never matches), so the ranges are checked here to reject garbage early.
_RANGES: dict[str, tuple[int, int, bool]] = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_INT_RE = re.compile(r"^[+-]?\d{1,3}$")
_BYDAY_RE = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL_RE = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
# A rule value is made of these characters; the first other one starts the
# prose a provider pasted after it ("BYHOUR=8,9(RFC5545 see link …)").
_RULE_CHARS_RE = re.compile(r"^[A-Za-z0-9=;,+\-]*")
_DATES_CHARS_RE = re.compile(r"^[0-9TZtz,/+\-:PHMSDW]*")
# What starts a new content line when a list was split at commas.
_LINE_START_RE = re.compile(
    r"^\s*(?:RRULE|EXRULE|EXDATE|RDATE|DTSTART)\s*[:;]|^\s*FREQ\s*=|^\s*(?:"
    + "|".join(_FREQS)
    + r")\b",
    re.IGNORECASE,
)
_MOMENT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")

#: The last year any rule is searched in (Python's own end of time).
_END_OF_TIME = _datetime_module.MAXYEAR
#: How far past its start the .ics writer looks for a series' last instance
#: when only COUNT ends it: a rule so sparse that COUNT is not reached
#: within it is written as ending at the last instance found.
_ICS_HORIZON_YEARS = 200


class _YearBound:
    """The ``datetime`` module as dateutil's search sees it, ending at ``MAXYEAR``."""

    def __init__(self, year: int) -> None:
        self.MAXYEAR = year

    def __getattr__(self, name: str) -> Any:
        return getattr(_datetime_module, name)


@lru_cache(maxsize=256)
def _search_to(year: int) -> Callable[[rrule], Iterator[datetime]]:
    """
    dateutil's own ``rrule._iter``, run with a ``MAXYEAR`` of ``year``.

    dateutil looks for the next match period by period and checks UNTIL only
    on a match, so a rule that never matches (``FREQ=DAILY;BYDAY=MO,TU;
    BYSETPOS=2``) is searched day by day up to year 9999 — some 20 s of CPU.
    Its only other stop is ``datetime.MAXYEAR``, read from its module's
    globals: the same code with that one name bound to a year of ours stops
    there. No library offers a bounded search; this reuses dateutil's, so
    what is found before the bound is exactly what dateutil finds.
    """
    code = rrule._iter  # type: ignore[attr-defined]  # dateutil's private generator
    namespace = {**code.__globals__, "datetime": _YearBound(year)}
    bounded: Callable[[rrule], Iterator[datetime]] = types.FunctionType(
        code.__code__, namespace, code.__name__, code.__defaults__, code.__closure__
    )
    return bounded


class _Bounded(rrule):
    """A dateutil rrule whose search ends after ``last_year`` (instances stop there)."""

    def __init__(self, *args: Any, last_year: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_year = min(max(last_year, 1), _END_OF_TIME)

    def _iter(self) -> Iterator[datetime]:
        return _search_to(self._last_year)(self)


# --------------------------------------------------------------------------
# Tolerant RRULE parsing
# --------------------------------------------------------------------------


def _split_parts(value: str, *, path: str, shown: str | None = None) -> dict[str, str]:
    """``FREQ=DAILY;COUNT=3`` → ``{"FREQ": "DAILY", "COUNT": "3"}`` (upper-cased)."""
    text = value if shown is None else shown
    parts: dict[str, str] = {}
    for raw in value.split(";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, val = item.partition("=")
        name, val = name.strip().upper(), val.strip().upper()
        if not sep or not name or not val:
            raise ResponseFormatError(
                f"not a recurrence rule: {_describe(text)} (bad part {_describe(item)})",
                path=path,
            )
        if name.startswith("X-"):
            continue  # RFC 5545 extension parts; dateutil does not know them
        if name not in _PART_ORDER:
            raise ResponseFormatError(
                f"unknown RRULE part {name!r} in {_describe(text)}", path=path
            )
        if name in parts:
            raise ResponseFormatError(
                f"RRULE part {name} given twice in {_describe(text)}", path=path
            )
        parts[name] = val
    return parts


def _check_parts(parts: dict[str, str], text: str, *, path: str) -> None:
    """Reject what RFC 5545 forbids and dateutil would accept or warn about."""

    def bad(why: str) -> ResponseFormatError:
        return ResponseFormatError(f"{why} in recurrence rule {_describe(text)}", path=path)

    if "FREQ" not in parts:
        raise bad("no FREQ")
    if parts["FREQ"] not in _FREQS:
        raise bad(f"unknown FREQ {parts['FREQ']!r}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise bad("COUNT and UNTIL together")
    for name in ("INTERVAL", "COUNT"):
        if name in parts and not (parts[name].isdigit() and int(parts[name]) >= 1):
            raise bad(f"{name} must be a positive integer, got {parts[name]!r}")
    for name, (low, high, negative) in _RANGES.items():
        if name not in parts:
            continue
        for item in parts[name].split(","):
            ok = bool(_INT_RE.match(item))
            if ok:
                number = int(item)
                ok = low <= number <= high or (negative and -high <= number <= -low)
            if not ok:
                raise bad(f"{name} value {item!r} out of range")
    if "BYDAY" in parts:
        for item in parts["BYDAY"].split(","):
            match = _BYDAY_RE.match(item)
            if not match or (match.group(1) and not 1 <= abs(int(match.group(1))) <= 53):
                raise bad(f"BYDAY value {item!r} is not a weekday")
    if "WKST" in parts and parts["WKST"] not in _DAYS:
        raise bad(f"WKST value {parts['WKST']!r} is not a weekday")
    if "UNTIL" in parts:
        match = _UNTIL_RE.match(parts["UNTIL"])
        if not match or _until_value(parts["UNTIL"]) is None:
            raise bad(f"UNTIL value {parts['UNTIL']!r} is not a date or date-time")


def _until_value(text: str) -> datetime | date | None:
    """``20201203`` → date; ``20201203T063653Z`` → aware UTC; no ``Z`` → naive."""
    match = _MOMENT_RE.match(text)
    if not match:
        return None
    y, mo, d, h, mi, s, z = match.groups()
    try:
        if h is None:
            return date(int(y), int(mo), int(d))
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC if z else None)
    except ValueError:
        return None


def _is_empty_set(exc: BaseException) -> bool:
    """
    dateutil refuses sub-daily rules that can never match their dtstart
    (``FREQ=HOURLY;INTERVAL=2;BYHOUR=1`` from an even hour) with this
    ValueError; for us that is a valid rule with no occurrences.
    """
    return isinstance(exc, ValueError) and "generates an empty set" in str(exc)


def _join_parts(parts: Mapping[str, str]) -> str:
    return ";".join(f"{name}={parts[name]}" for name in _PART_ORDER if name in parts)


# Prose a provider pasted after a rule may start like this (the DingTalk
# seed's "…BYHOUR=8,9(RFC5545 see link …)", a Chinese note); anything else
# after the rule characters is part of the rule that cannot be read.
_PROSE_START_RE = re.compile(r"^\s*[(（\[【]|^\s+[^\x00-\x7f]")
# A rule part inside what would be dropped as prose: dropping it would
# silently expand another series.
_PART_IN_PROSE_RE = re.compile(
    r"(?:^|[;\s(])((?:FREQ|INTERVAL|COUNT|UNTIL|WKST|BY[A-Z]+|X-[A-Z0-9-]+)\s*=)", re.IGNORECASE
)
_SEPARATOR_SPACE_RE = re.compile(r"\s*([;=,])\s*")
# A comma that ends a part's list ("BYMONTH=1,2,11,", as some calendar apps
# write it) names no value: dropping it keeps the rule. An empty list
# ("BYDAY=,") is still an error.
_TRAILING_COMMA_RE = re.compile(r"(?<=[^=,]),+(?=;|$)")
_FREQ_CONSTANTS = dict(
    zip(_FREQS, (SECONDLY, MINUTELY, HOURLY, DAILY, WEEKLY, MONTHLY, YEARLY), strict=True)
)
_INT_PARTS = (
    ("BYMONTH", "bymonth"),
    ("BYWEEKNO", "byweekno"),
    ("BYYEARDAY", "byyearday"),
    ("BYMONTHDAY", "bymonthday"),
    ("BYHOUR", "byhour"),
    ("BYMINUTE", "byminute"),
    ("BYSECOND", "bysecond"),
    ("BYSETPOS", "bysetpos"),
)


@attrs.frozen
class _Rule:
    """
    One rule, read once: its canonical text, dateutil's keyword arguments
    (without ``dtstart``/``until``/``count``), UNTIL and COUNT.
    """

    text: str
    kwargs: Mapping[str, Any]
    until: datetime | date | None
    count: int | None
    #: BYMONTH/BYMONTHDAY name no real day: no instance from any start.
    never: bool


def _clean(value: str) -> str:
    """
    The rule characters of ``value``, after the documented normalizations:

    - an ``RRULE:`` prefix is dropped;
    - ``\\;`` and ``\\,`` (the rule escaped as TEXT by some writer) are unescaped;
    - white space around ``;``, ``=`` and ``,`` is removed
      (``FREQ=WEEKLY; BYDAY=MO, WE``);
    - a comma ending a list is removed (``BYMONTH=1,2,11,;COUNT=9``);
    - prose after the rule is dropped when it starts like prose (a bracket,
      or white space and a non-ASCII character) and names no rule part.

    Anything else after the rule characters (``BYDAY=MO WE``, ``X-NAME=a b;COUNT=3``)
    is an error naming the part: dropping it would expand another series.
    """
    text = value.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:]
    text = text.replace("\\;", ";").replace("\\,", ",")
    text = _SEPARATOR_SPACE_RE.sub(r"\1", text).strip()
    text = _TRAILING_COMMA_RE.sub("", text)
    prefix = _RULE_CHARS_RE.match(text)
    rule = prefix.group(0) if prefix else ""
    rest = text[len(rule) :]
    if rest:
        part = _PART_IN_PROSE_RE.search(rest)
        if part is not None or not _PROSE_START_RE.match(rest):
            # The part where reading stopped, as written.
            unread = (rule.rsplit(";", 1)[-1] + rest).split(";", 1)[0].strip()
            raise ResponseFormatError(
                f"recurrence rule {_describe(value)}: cannot read the part at "
                f"{_describe(unread)} (a shorter rule would be another series)"
            )
    return rule


def _weekday_of(item: str) -> weekday:
    match = _BYDAY_RE.match(item)
    assert match is not None  # checked by _check_parts
    day = (MO, TU, WE, TH, FR, SA, SU)[_DAYS.index(match.group(2))]
    return day(int(match.group(1))) if match.group(1) else day


def _rule_kwargs(parts: Mapping[str, str]) -> dict[str, Any]:
    """dateutil ``rrule`` keyword arguments for checked parts (no UNTIL, COUNT)."""
    kwargs: dict[str, Any] = {"freq": _FREQ_CONSTANTS[parts["FREQ"]]}
    if "INTERVAL" in parts:
        kwargs["interval"] = int(parts["INTERVAL"])
    for name, key in _INT_PARTS:
        if name in parts:
            kwargs[key] = tuple(int(v) for v in parts[name].split(","))
    if "BYDAY" in parts:
        kwargs["byweekday"] = tuple(_weekday_of(v) for v in parts["BYDAY"].split(","))
    if "WKST" in parts:
        kwargs["wkst"] = _DAYS.index(parts["WKST"])
    return kwargs


def _parse_rule(value: str) -> _Rule:
    """Read one rule; raises ResponseFormatError without a path."""
    rule = _clean(value)
    head = rule.split(";", 1)[0].strip().upper()
    if head in _FREQS:  # DingTalk's bare "YEARLY;INTERVAL=2;…"
        rule = "FREQ=" + rule
    if not rule.strip(";"):
        raise ResponseFormatError(f"not a recurrence rule: {_describe(value)}")
    parts = _split_parts(rule, path="", shown=value)
    _check_parts(parts, value, path="")
    canonical = _join_parts(parts)
    until = _until_value(parts["UNTIL"]) if "UNTIL" in parts else None
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    kwargs = _rule_kwargs(parts)
    dtstart = datetime(
        2000, 1, 1, tzinfo=UTC if isinstance(until, datetime) and until.tzinfo else None
    )
    if isinstance(until, date) and not isinstance(until, datetime):
        until = datetime.combine(until, time())
    try:
        # dateutil is the judge of what it can expand.
        rrule(dtstart=dtstart, until=until, count=count, **kwargs)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        if not _is_empty_set(exc):  # else valid: a match depends on the real start
            raise ResponseFormatError(
                f"recurrence rule {_describe(value)} rejected: {exc}"
            ) from exc
    return _Rule(
        text=canonical,
        kwargs=MappingProxyType(kwargs),
        until=_until_value(parts["UNTIL"]) if "UNTIL" in parts else None,
        count=count,
        never=_never_matches(parts, kwargs),
    )


@lru_cache(maxsize=2048)
def _read_rule(value: str) -> _Rule | str:
    """
    :func:`_parse_rule`, cached by the rule's text: a listing shares a few
    rules among many events. A failure is cached as its message.
    """
    try:
        return _parse_rule(value)
    except ResponseFormatError as exc:
        return exc.message


def _rule(value: str, *, path: str) -> _Rule:
    """The parsed rule of ``value`` (cached); ResponseFormatError at ``path``."""
    read = (
        _read_rule(value) if isinstance(value, str) else f"expected a rule, got {_describe(value)}"
    )
    if isinstance(read, str):
        raise ResponseFormatError(read, path=path)
    return read


def _canonical(value: str, *, path: str) -> str:
    """One rule (with or without ``RRULE:``) → canonical value, checked by dateutil."""
    return _rule(value, path=path).text


def normalize_rrule(value: str) -> str:
    """
    One rule string → its canonical RFC 5545 RRULE value (no ``RRULE:`` prefix).

    Accepts ``RRULE:FREQ=…``, ``FREQ=…`` and a bare ``DAILY;…``; drops trailing
    prose and ``X-`` parts; upper-cases; orders the parts
    ``FREQ;INTERVAL;BY…;WKST;COUNT;UNTIL``. Validated with dateutil. Parsed
    once per distinct text (a bounded cache).

    Normalizations (never a shorter rule): white space around ``;``, ``=``
    and ``,`` is dropped, so is a comma ending a list (``BYMONTH=1,2,``), and
    TEXT-escaped separators (``\\;``, ``\\,``) are unescaped. Prose after
    the rule is dropped only when it starts with a bracket (or white space
    and a non-ASCII character) and names no rule part; anything else that
    cannot be read is an error naming the part.

    >>> normalize_rrule("rrule:byday=mo,we;freq=weekly;interval=2")
    'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE'

    Raises:
        ResponseFormatError: the text is not a rule (the message quotes it).
    """
    if not isinstance(value, str):
        raise ResponseFormatError(
            f"expected a recurrence rule string, got {_describe(value)}", path="$.recurrence"
        )
    return _canonical(value, path="$.recurrence")


def _lines(value: str | Sequence[str] | Mapping[str, Any], path: str) -> list[str]:
    """Flatten any accepted input into content lines, re-joining comma splits."""
    if isinstance(value, Mapping):
        if "string" not in value:
            raise ResponseFormatError(
                f"expected a rule, a list of rules or {{'string': [...]}}, got {_describe(value)}",
                path=path,
            )
        return _lines(value["string"], f"{path}.string")
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise ResponseFormatError(f"expected a recurrence rule, got {_describe(value)}", path=path)
    lines: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ResponseFormatError(
                f"expected a string, got {_describe(item)}", path=f"{path}[{i}]"
            )
        for piece in item.replace("\r\n", "\n").split("\n"):
            if not piece.strip():
                continue
            if lines and not _LINE_START_RE.match(piece):
                # A BYxxx or EXDATE list that a naive comma split cut apart.
                lines[-1] = lines[-1] + "," + piece.strip()
            else:
                lines.append(piece.strip())
    return lines


def _zone_from_name(name: str, *, path: str) -> tzinfo:
    zone = zone_for(name)
    if zone is None:
        raise ResponseFormatError(f"unknown time zone {_describe(name)}", path=path)
    return zone


def _moment_list(line: str, tz: tzinfo | None, *, path: str) -> list[datetime | date]:
    """The values of an ``EXDATE``/``RDATE`` line as aware datetimes or dates."""
    head, sep, body = line.partition(":")
    if not sep:
        raise ResponseFormatError(f"no value in {_describe(line)}", path=path)
    params = head.split(";")[1:]
    zone = tz
    value_type = "DATE-TIME"
    for param in params:
        key, _, val = param.partition("=")
        key = key.strip().upper()
        if key == "TZID":
            zone = _zone_from_name(val.strip().strip('"'), path=path)
        elif key == "VALUE":
            value_type = val.strip().upper()
    prefix = _DATES_CHARS_RE.match(body.strip())
    values = prefix.group(0) if prefix else ""
    out: list[datetime | date] = []
    for item in filter(None, (v.strip() for v in values.split(","))):
        if value_type == "PERIOD" or "/" in item:
            item = item.split("/", 1)[0]  # a PERIOD's start is the occurrence
        match = _MOMENT_RE.match(item.upper())
        moment = _until_value(item.upper()) if match else None
        if moment is None:
            raise ResponseFormatError(
                f"{_describe(item)} is not a date or date-time in {_describe(line)}", path=path
            )
        if isinstance(moment, datetime) and moment.tzinfo is None:
            if zone is None:
                raise ResponseFormatError(
                    f"floating time {item!r} without TZID in {_describe(line)}; "
                    "pass tz= to say which zone it is in",
                    path=path,
                )
            moment = moment.replace(tzinfo=zone)
        out.append(moment)
    if not out:
        raise ResponseFormatError(f"no dates in {_describe(line)}", path=path)
    return out


def parse_rrule(
    value: str | Sequence[str] | Mapping[str, Any],
    *,
    path: str = "$.recurrence",
    tz: tzinfo | None = None,
) -> Recurrence:
    """
    Read a provider's recurrence, however sloppy, into a :class:`~wecal.Recurrence`.

    Accepted: ``"RRULE:FREQ=…"``, ``"FREQ=…"``, DingTalk's bare
    ``"YEARLY;INTERVAL=2;…"``, a list whose elements a comma split apart
    (``["…;BYHOUR=8", "9"]``), the ``{"string": [...]}`` wrapper, prose after
    the value, and ``EXDATE``/``RDATE`` lines (``TZID=``, ``VALUE=DATE``, ``Z``)
    beside the rule. ``DTSTART`` lines are ignored: the event's start is the
    dtstart. Floating EXDATE/RDATE times take ``tz``.

    >>> parse_rrule(["RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20240102"])
    Recurrence(rrule='FREQ=DAILY;COUNT=3', exdates=(datetime.date(2024, 1, 2),), rdates=())

    Raises:
        ResponseFormatError: no rule, two rules, or text that is not a rule;
            the message quotes the text and ``path`` says where it was.
    """
    lines = _lines(value, path)
    rules: list[str] = []
    exdates: list[datetime | date] = []
    rdates: list[datetime | date] = []
    for line in lines:
        name = re.split(r"[:;]", line, maxsplit=1)[0].strip().upper()
        if name == "RRULE":
            rules.append(_canonical(line.split(":", 1)[1] if ":" in line else "", path=path))
        elif name == "EXDATE":
            exdates.extend(_moment_list(line, tz, path=path))
        elif name == "RDATE":
            rdates.extend(_moment_list(line, tz, path=path))
        elif name == "DTSTART":
            continue
        elif name == "EXRULE":
            raise ResponseFormatError(
                f"EXRULE is not supported (deprecated by RFC 5545): {_describe(line)}", path=path
            )
        else:
            rules.append(_canonical(line, path=path))
    if len(rules) != 1:
        what = "no recurrence rule" if not rules else f"{len(rules)} recurrence rules"
        raise ResponseFormatError(f"{what} in {_describe(value)}", path=path)
    return Recurrence(rrule=rules[0], exdates=tuple(exdates), rdates=tuple(rdates))


# --------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------


def occurrence_id(series_id: str, recurrence_id: datetime | date) -> str:
    """
    The id of one occurrence: ``{series_id}_{original start in UTC}``.

    >>> occurrence_id("abc", datetime(2024, 6, 3, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    'abc_20240603T020000Z'
    >>> occurrence_id("abc", date(2024, 6, 3))
    'abc_20240603'
    """
    if isinstance(recurrence_id, datetime):
        if recurrence_id.utcoffset() is None:
            raise ValidationError(
                f"recurrence_id: naive datetime {recurrence_id.isoformat()}; attach a timezone"
            )
        return f"{series_id}_{recurrence_id.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    if isinstance(recurrence_id, date):
        return f"{series_id}_{recurrence_id:%Y%m%d}"
    raise ValidationError(
        f"recurrence_id: expected an aware datetime or a date, got {_describe(recurrence_id)}"
    )


def _event_zone(event: Event, fallback: tzinfo | None) -> tzinfo | None:
    """The zone whose wall clock the series follows."""
    if event.timezone:
        return _zone_from_name(event.timezone, path="$.timezone")
    if isinstance(event.start, datetime):
        return event.start.tzinfo
    return fallback


def _check_window(
    start: Any, end: Any, date_zone: str | tzinfo | None
) -> tuple[datetime, datetime]:
    bounds: list[datetime] = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, date) and not isinstance(value, datetime):
            value = day_start(value, date_zone)
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValidationError(
                f"expand(): window {name} must be an aware datetime or a date, "
                f"got {_describe(value)}"
            )
        bounds.append(value)
    lo, hi = bounds
    if hi < lo:
        raise ValidationError(
            f"expand(): window end {hi.isoformat()} is before start {lo.isoformat()}"
        )
    return lo, hi


def _overlaps(occ_start: datetime, occ_end: datetime, start: datetime, end: datetime) -> bool:
    if occ_end == occ_start:  # zero-length: its start must lie in the window
        return start <= occ_start < end
    return occ_start < end and occ_end > start


def _day_bounds(event: Event, zone: tzinfo) -> tuple[datetime, datetime]:
    assert isinstance(event.start, date)
    assert isinstance(event.end, date)
    return (
        datetime.combine(event.start, time(), tzinfo=zone),
        datetime.combine(event.end, time(), tzinfo=zone),
    )


def _build_rule(
    event: Event,
    parsed: _Rule,
    dtstart: datetime,
    zone: tzinfo | None,
    *,
    count: int | None,
    last_year: int = _END_OF_TIME,
) -> rrule | rruleset | None:
    """
    A dateutil rrule for ``parsed`` at ``dtstart`` with UNTIL made compatible
    and ``count`` instances at most, or None when it can never match (from
    this start). Its instances (and its search) end with ``last_year``.
    """
    until = _effective_until(parsed, dtstart, zone)
    if parsed.never:
        return None
    try:
        if parsed.kwargs["freq"] == WEEKLY and "bysetpos" in parsed.kwargs:
            return _weekly_setpos(parsed, dtstart, until, count, last_year)
        return _Bounded(
            dtstart=dtstart, until=until, count=count, last_year=last_year, **parsed.kwargs
        )
    except (ValueError, TypeError, OverflowError) as exc:
        if _is_empty_set(exc):
            return None
        raise ResponseFormatError(
            f"cannot expand rule {_describe(parsed.text)} of event {_describe(event.id)}: {exc}",
            path="$.recurrence.rrule",
        ) from exc


def _weekly_setpos(
    parsed: _Rule,
    dtstart: datetime,
    until: datetime | None,
    count: int | None,
    last_year: int = _END_OF_TIME,
) -> rruleset | None:
    """
    A WEEKLY rule with BYSETPOS, its first week counted from WKST.

    RFC 5545 §3.3.10: BYSETPOS picks among the instances of one interval,
    and a WEEKLY interval is a week starting on WKST. dateutil starts the
    first one at DTSTART instead (``BYDAY=MO,TU,TH,SA,SU;BYSETPOS=2,3`` from
    a Tuesday gives Thursday and Saturday, not Tuesday and Thursday, as
    libical does). So the rule runs from the week's start (same time of
    day), the instances before DTSTART are excluded, and COUNT becomes the
    UNTIL of its last instance from DTSTART on.
    """
    wkst = int(parsed.kwargs.get("wkst", 0))
    kwargs = {**parsed.kwargs, "wkst": wkst}
    week_start = dtstart - timedelta(days=(dtstart.weekday() - wkst) % 7)
    base = _Bounded(dtstart=week_start, until=until, last_year=last_year, **kwargs)
    if count is not None:
        last = None
        for last in islice((d for d in base if d >= dtstart), count):  # noqa: B007
            pass
        if last is None:
            return None
        base = _Bounded(dtstart=week_start, until=last, last_year=last_year, **kwargs)
    out = rruleset()
    out.rrule(base)
    for moment in base:
        if moment >= dtstart:
            break
        out.exdate(moment)
    return out


def _effective_until(parsed: _Rule, dtstart: datetime, zone: tzinfo | None) -> datetime | None:
    """UNTIL as a datetime comparable with ``dtstart`` (aware for a timed series)."""
    until = parsed.until
    if until is not None:
        if dtstart.tzinfo is not None:
            # dateutil wants an aware UNTIL for an aware dtstart. A date UNTIL
            # includes that whole local day (RFC 5545); a floating one is read
            # in the event's zone.
            if not isinstance(until, datetime):
                until = datetime.combine(until, time(23, 59, 59), tzinfo=dtstart.tzinfo)
            elif until.tzinfo is None:
                until = until.replace(tzinfo=dtstart.tzinfo)
        elif isinstance(until, datetime) and until.tzinfo is not None:
            # All-day series (naive dtstart): a UTC UNTIL ends on its local day.
            until = until.astimezone(zone or UTC).replace(tzinfo=None)
        elif not isinstance(until, datetime):
            # A date UNTIL includes its whole day here too (BYHOUR=8 on it).
            until = datetime.combine(until, time(23, 59, 59))
    assert until is None or isinstance(until, datetime)
    return until


def _series(
    event: Event,
    dtstart: datetime,
    zone: tzinfo | None,
    *,
    all_day: bool,
    last_year: int,
    skip_to: datetime | None = None,
) -> rruleset:
    """
    The recurrence set of ``event`` from ``dtstart``, RDATEs included,
    EXDATEs not (the callers match them by instant or day); instances before
    ``skip_to`` may be left out (see :func:`_fast_forward`).

    DTSTART is always the first instance and counts toward COUNT, whether or
    not the rule matches it (RFC 5545 §3.3.10, §3.8.5.3): dateutil leaves an
    off-rule start out, so it is added here and the rule gets one fewer.
    """
    assert event.recurrence is not None
    parsed = _rule(event.recurrence.rrule, path="$.recurrence.rrule")
    if all_day:
        parsed = _for_dates(parsed)
    rules = rruleset()
    on_rule = _starts_on(event, parsed, dtstart, zone, all_day=all_day)
    if not on_rule:
        rules.rdate(dtstart)
    ahead = _fast_forward(parsed, dtstart, skip_to) if skip_to is not None else None
    if ahead is not None:
        rule = _build_rule(event, ahead[0], ahead[1], zone, count=None, last_year=last_year)
        if rule is not None:
            rules.rrule(rule)  # type: ignore[arg-type]  # a set nests in a set
        return rules
    rule = _build_rule(event, parsed, dtstart, zone, count=parsed.count, last_year=last_year)
    if rule is not None and on_rule:
        rules.rrule(rule)  # type: ignore[arg-type]  # a set nests in a set
        return rules
    if rule is not None and parsed.count is not None:
        rule = (
            _build_rule(event, parsed, dtstart, zone, count=parsed.count - 1, last_year=last_year)
            if parsed.count > 1
            else None
        )
    if rule is not None:
        rules.rrule(rule)  # type: ignore[arg-type]  # a set nests in a set
    return rules


_UNIT_SECONDS = {SECONDLY: 1, MINUTELY: 60, HOURLY: 3600, DAILY: 86400, WEEKLY: 7 * 86400}


def _fast_forward(
    parsed: _Rule, dtstart: datetime, target: datetime
) -> tuple[_Rule, datetime] | None:
    """
    The same rule started later, a whole number of its intervals after
    ``dtstart`` and at least one interval before ``target``; None when that
    gains nothing or cannot be done (COUNT counts from the real start).

    dateutil walks every interval from the start: a ``FREQ=MINUTELY`` series
    begun in 2000 and listed in 2026 cost minutes of CPU. The instances from
    the new start on are the same: the intervals keep their alignment (wall
    time, as dateutil counts them), and what dateutil would take from the
    start when the rule does not say (the day, weekday, month, time of day)
    is written into the rule.
    """
    if parsed.count is not None:
        return None
    kwargs = dict(parsed.kwargs)
    freq, step = kwargs["freq"], int(kwargs.get("interval", 1))
    begin = dtstart.replace(tzinfo=None)
    goal = (target.astimezone(dtstart.tzinfo) if dtstart.tzinfo else target).replace(tzinfo=None)
    if freq in _UNIT_SECONDS:
        unit = _UNIT_SECONDS[freq] * step
        jumps = int((goal - begin).total_seconds() // unit) - 1
        if jumps <= 0:
            return None
        moved = begin + timedelta(seconds=jumps * unit)
    elif freq == MONTHLY:
        jumps = ((goal.year - begin.year) * 12 + goal.month - begin.month) // step - 1
        if jumps <= 0:
            return None
        month = begin.month - 1 + jumps * step
        moved = datetime(begin.year + month // 12, month % 12 + 1, 1)  # noqa: DTZ001 - wall time
    else:  # YEARLY
        jumps = (goal.year - begin.year) // step - 1
        if jumps <= 0:
            return None
        moved = datetime(begin.year + jumps * step, 1, 1)  # noqa: DTZ001 - wall time
    # dateutil's defaults from the start (rrule.__init__), said outright.
    if not any(k in kwargs for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq == YEARLY:
            kwargs.setdefault("bymonth", (begin.month,))
            kwargs["bymonthday"] = (begin.day,)
        elif freq == MONTHLY:
            kwargs["bymonthday"] = (begin.day,)
        elif freq == WEEKLY:
            kwargs["byweekday"] = (begin.weekday(),)
    for key, below, value in (
        ("byhour", HOURLY, begin.hour),
        ("byminute", MINUTELY, begin.minute),
        ("bysecond", SECONDLY, begin.second),
    ):
        if freq < below:
            kwargs.setdefault(key, (value,))
    ahead = attrs.evolve(parsed, kwargs=MappingProxyType(kwargs))
    return ahead, moved.replace(tzinfo=dtstart.tzinfo)


def _starts_on(
    event: Event, parsed: _Rule, dtstart: datetime, zone: tzinfo | None, *, all_day: bool
) -> bool:
    """
    Whether the rule's first instance is ``dtstart`` (its day, for all-day).

    The first instance, if it is the start, is found in the start's own
    period: the search stops at the year after it, whatever the rule.
    """
    probe = _build_rule(
        event, parsed, dtstart, zone, count=parsed.count, last_year=dtstart.year + 1
    )
    first = next(iter(probe), None) if probe is not None else None
    if first is None:
        return False
    return first.date() == dtstart.date() if all_day else first == dtstart


_TIME_KWARGS = ("byhour", "byminute", "bysecond")
_DAY_FREQS = frozenset((DAILY, WEEKLY, MONTHLY, YEARLY))


def _for_dates(parsed: _Rule) -> _Rule:
    """
    ``parsed`` for an all-day series: BYHOUR, BYMINUTE and BYSECOND dropped.

    RFC 5545 §3.3.10: they MUST be ignored when DTSTART is a DATE, so COUNT
    and BYSETPOS count days, not times of day (libical does the same; the
    DingTalk seed's ``BYHOUR=8,9`` on an all-day event is one a day). A
    sub-daily FREQ on a date series is left as it is.
    """
    if parsed.kwargs["freq"] not in _DAY_FREQS or not any(
        key in parsed.kwargs for key in _TIME_KWARGS
    ):
        return parsed
    parts = _split_parts(parsed.text, path="$.recurrence.rrule")
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        parts.pop(name, None)
    kwargs = {k: v for k, v in parsed.kwargs.items() if k not in _TIME_KWARGS}
    return attrs.evolve(parsed, text=_join_parts(parts), kwargs=MappingProxyType(kwargs))


# The longest each month can be (February: 29).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _never_matches(parts: Mapping[str, str], kwargs: Mapping[str, Any]) -> bool:
    """
    True for a rule with no instance from any start, decided once per rule
    text at a bounded cost (dateutil would search such a rule day by day up
    to year 9999: seconds of CPU per event, its UNTIL checked only on a match).

    - BYMONTH/BYMONTHDAY name no real day (``BYMONTH=2;BYMONTHDAY=30``, RFC
      5545's own example of an invalid date);
    - for a DAILY or shorter FREQ, every interval holds the same number of
      times (BYHOUR × BYMINUTE × BYSECOND), so a BYSETPOS beyond it never
      picks one (``FREQ=DAILY;BYDAY=MO,TU;BYSETPOS=2``);
    - otherwise the calendar repeats every 400 Gregorian years (146,097 days,
      a whole number of weeks), so a rule without an instance in one such
      cycle, searched at INTERVAL=1 (every alignment of the interval), has
      none ever. The search is bounded (:class:`_Bounded`).
    """
    if "BYMONTHDAY" in parts:
        months = (
            [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else range(1, 13)
        )
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
        if not any(abs(d) <= _MONTH_DAYS[m - 1] for m in months for d in days):
            return True
    freq = kwargs["freq"]
    setpos = kwargs.get("bysetpos")
    if setpos and freq >= DAILY:
        size = 1
        for key in _TIME_KWARGS[_TIME_KWARGS_FROM[freq] :]:
            size *= len(kwargs.get(key, (0,)))
        return not any(1 <= p <= size or -size <= p <= -1 for p in setpos)
    if setpos:  # WEEKLY, MONTHLY, YEARLY: the sets' sizes vary; search a cycle
        probe = {**kwargs, "interval": 1}
    elif any(k in kwargs for k in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        # The days the rule's filters allow, in whole years: dateutil filters
        # a day alike whatever the FREQ, but for the nth weekday, which only
        # MONTHLY (in its month) and YEARLY (in its year) read.
        probe = {k: v for k, v in kwargs.items() if k in _DAY_KWARGS}
        probe["freq"] = YEARLY
        if freq == MONTHLY and any(d.n for d in kwargs.get("byweekday", ())):
            probe.setdefault("bymonth", tuple(range(1, 13)))
        elif freq != YEARLY and "byweekday" in probe:
            probe["byweekday"] = tuple(d.weekday for d in probe["byweekday"])
    else:
        return False
    # A start on the week's first day, so that a WEEKLY interval is whole.
    start = datetime(2000, 1, 3) + timedelta(days=int(kwargs.get("wkst", 0)))  # noqa: DTZ001 - wall time
    try:
        search = _Bounded(dtstart=start, last_year=start.year + 400, **probe)
        return next(iter(search), None) is None
    except ValueError as exc:  # dateutil's "empty set": no instance from this start
        if _is_empty_set(exc):
            return False  # another start may match: leave it to the real one
        raise


_DAY_KWARGS = ("bymonth", "byweekno", "byyearday", "bymonthday", "byweekday", "wkst")
#: For a FREQ of DAILY or shorter: the first of BYHOUR, BYMINUTE, BYSECOND
#: that lists times inside one interval.
_TIME_KWARGS_FROM = {DAILY: 0, HOURLY: 1, MINUTELY: 2, SECONDLY: 3}


def series_rule_for_ics(event: Event) -> str | None:
    """
    The RRULE value to write for ``event`` in an .ics file so that every
    RFC 5545 reader expands what :func:`expand` does, or None when the rule
    adds nothing to the start.

    Readers disagree on a start the rule does not match: RFC 5545 counts it
    toward COUNT, some (python's recurring-ical-events among them) do not,
    and some leave it out when UNTIL is before it. For such a start, COUNT is
    replaced by an UNTIL at the rule's last instance (all readers agree on
    UNTIL), and a rule with no instance after the start is not written.
    """
    parsed, all_day, zone, dtstart = _ics_start(event)
    horizon = _ics_horizon(parsed, dtstart, zone)
    rule = _build_rule(event, parsed, dtstart, zone, count=parsed.count, last_year=horizon)
    on_rule = rule is not None and _starts_on(event, parsed, dtstart, zone, all_day=all_day)
    # dateutil-based readers count a WEEKLY BYSETPOS rule's first week from
    # DTSTART (see series_fixups_for_ics): COUNT would end elsewhere there.
    setpos_count = _is_weekly_setpos(parsed) and parsed.count is not None
    if on_rule and parsed.until is None and not setpos_count:
        return parsed.text  # every reader agrees
    if on_rule and setpos_count:
        last_on: datetime | None = None
        for last_on in rule or ():  # noqa: B007 - finite (COUNT): the last instance
            pass
        return _with_until(parsed, last_on, all_day, zone)
    if on_rule:
        # UNTIL as expand reads it, in the type of DTSTART (RFC 5545 wants
        # UTC for a zoned start and a date for a date start).
        return _with_until(parsed, _effective_until(parsed, dtstart, zone), all_day, zone)
    if rule is not None and parsed.count is not None:
        rule = (
            _build_rule(event, parsed, dtstart, zone, count=parsed.count - 1, last_year=horizon)
            if parsed.count > 1
            else None
        )
    last: datetime | None = None
    if rule is not None:
        if parsed.count is None and parsed.until is None:
            return parsed.text if next(iter(rule), None) is not None else None
        for last in rule:  # noqa: B007 - finite (COUNT or UNTIL): the last instance
            pass
    if last is None:
        return None
    return _with_until(parsed, last, all_day, zone)


def series_start_off_rule(event: Event) -> bool:
    """
    Whether ``event``'s start is not an instance of its own rule.

    RFC 5545 keeps such a start as the first instance (and :func:`expand`
    does), but some readers (ical.js, dateutil alone) leave it out: the .ics
    writer adds an RDATE for it, which every reader counts once.
    """
    parsed, all_day, zone, dtstart = _ics_start(event)
    return not _starts_on(event, parsed, dtstart, zone, all_day=all_day)


def _ics_horizon(parsed: _Rule, dtstart: datetime, zone: tzinfo | None) -> int:
    """
    The last year the .ics writer searches a series: UNTIL's, else
    :data:`_ICS_HORIZON_YEARS` after the start (a bound on the CPU one odd
    rule can take; every rule that is not absurdly sparse ends well before).
    """
    until = _effective_until(parsed, dtstart, zone)
    if until is not None:
        return min(until.year + 1, _END_OF_TIME)
    return min(dtstart.year + _ICS_HORIZON_YEARS, _END_OF_TIME)


def _ics_start(event: Event) -> tuple[_Rule, bool, tzinfo | None, datetime]:
    """The rule, all-day flag, zone and dateutil dtstart the .ics of ``event`` is about."""
    assert event.recurrence is not None
    parsed = _rule(event.recurrence.rrule, path="$.recurrence.rrule")
    if not isinstance(event.start, datetime):
        return (
            _for_dates(parsed),
            True,
            _event_zone(event, UTC) or UTC,
            datetime.combine(event.start, time()),
        )
    zone = _event_zone(event, None)
    start = event.start.astimezone(zone) if zone is not None else event.start
    return parsed, False, zone, start.replace(microsecond=0)


def _is_weekly_setpos(parsed: _Rule) -> bool:
    return parsed.kwargs["freq"] == WEEKLY and "bysetpos" in parsed.kwargs


def series_fixups_for_ics(
    event: Event,
) -> tuple[list[datetime | date], list[datetime | date]]:
    """
    RDATEs and EXDATEs to write beside :func:`series_rule_for_ics`'s rule so
    that readers built on dateutil (recurring-ical-events, icalendar users)
    list what :func:`expand` does.

    dateutil applies a WEEKLY rule's BYSETPOS to a first week running from
    DTSTART rather than from WKST (RFC 5545, libical and ``expand``): that
    week's instances they would add are EXDATEs, those they would miss are
    RDATEs. Readers that follow the RFC find nothing to remove and nothing
    new to add. ``([], [])`` for every other rule.
    """
    parsed, all_day, zone, dtstart = _ics_start(event)
    if not _is_weekly_setpos(parsed) or "byweekday" not in parsed.kwargs or parsed.never:
        return [], []
    until = _effective_until(parsed, dtstart, zone)
    horizon = _ics_horizon(parsed, dtstart, zone)
    ours = _weekly_setpos(parsed, dtstart, until, parsed.count, horizon)
    wkst = int(parsed.kwargs.get("wkst", 0))
    week_end = dtstart + timedelta(days=7 - (dtstart.weekday() - wkst) % 7)
    right = set(takewhile(lambda d: d < week_end, ours or ()))
    if parsed.count is not None:
        last: datetime | None = None
        for last in ours or ():  # noqa: B007 - finite (COUNT): the UNTIL written
            pass
        until = last
    naive = {
        d
        for d in takewhile(
            lambda d: d < week_end,
            _Bounded(dtstart=dtstart, until=until, last_year=horizon, **parsed.kwargs),
        )
    }

    def out(moments: set[datetime]) -> list[datetime | date]:
        return sorted(m.date() if all_day else m for m in moments)

    # An instant the event adds itself (an RDATE) is never excluded.
    assert event.recurrence is not None
    added = {_key_of(d, zone, all_day) for d in event.recurrence.rdates}
    wrong = {d for d in naive - right if _key_of(d, zone, all_day) not in added}
    return out(right - naive - {dtstart}), out(wrong)


def _key_of(moment: datetime | date, zone: tzinfo | None, all_day: bool) -> datetime | date:
    """An instant (UTC), or a local day for an all-day series."""
    if all_day:
        if isinstance(moment, datetime):
            return moment.astimezone(zone).date() if moment.tzinfo else moment.date()
        return moment
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return moment


def _with_until(parsed: _Rule, until: datetime | None, all_day: bool, zone: tzinfo | None) -> str:
    """``parsed``'s text with COUNT dropped and UNTIL set to ``until`` (UTC, or a date)."""
    parts = _split_parts(parsed.text, path="$.recurrence.rrule")
    parts.pop("COUNT", None)
    assert until is not None
    if all_day:
        parts["UNTIL"] = f"{until:%Y%m%d}"
    else:
        moment = until if until.tzinfo is not None else until.replace(tzinfo=zone or UTC)
        parts["UNTIL"] = f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return _join_parts(parts)


def _is_gap(moment: datetime) -> bool:
    """True when ``moment``'s wall time does not exist in its zone (DST gap)."""
    if isinstance(moment.tzinfo, timezone):
        return False
    round_trip = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None)


def _timed_starts(rules: rruleset, after: datetime) -> Iterator[datetime]:
    """
    Occurrence starts from ``after`` on, sorted by instant and without repeats.

    dateutil keeps wall-clock time, so a time inside a DST gap comes out as a
    wall time that does not exist; it is moved forward by the gap (RFC 5545
    §3.3.5), which can put it after wall times generated later (sub-daily
    rules) or onto one of them. A small heap, flushed at each time that is not
    in a gap, restores order; it never holds more than one gap's worth.
    """
    heap: list[tuple[datetime, int, datetime]] = []
    serial = count()
    last: datetime | None = None
    for moment in rules.xafter(after, inc=True):
        in_gap = _is_gap(moment)
        if in_gap:
            assert moment.tzinfo is not None
            moment = moment.astimezone(UTC).astimezone(moment.tzinfo)
        instant = moment.astimezone(UTC)
        heapq.heappush(heap, (instant, next(serial), moment))
        if in_gap:
            continue
        while heap and heap[0][0] <= instant:
            key, _, item = heapq.heappop(heap)
            if key != last:
                last = key
                yield item
    while heap:
        key, _, item = heapq.heappop(heap)
        if key != last:
            last = key
            yield item


def expand(
    event: Event,
    start: datetime | date,
    end: datetime | date,
    *,
    date_zone: str | tzinfo | None = None,
) -> Iterator[Event]:
    """
    The occurrences of ``event`` that overlap ``[start, end)``, sorted by start.

    An occurrence is ``attrs.evolve(master, id=occurrence_id(master.id, rid),
    start=…, end=…, series_id=master.id, recurrence_id=rid, recurrence=None)``
    where ``rid`` is its original start; it keeps the master's duration
    (``end - start`` as Python computes it) and everything else, ``status`` included (a cancelled
    series expands to cancelled occurrences). A non-recurring event yields
    itself when it overlaps. All-day events span D 00:00 to D+n 00:00 in the
    event's zone (the window's when it has none).

    A ``date`` bound means 00:00 of that day in ``date_zone`` (an IANA name
    or a tzinfo; default ``Asia/Shanghai``, the providers' home zone), as the
    clients' ``date_zone`` setting does for ``list_events``; a naive datetime
    is an error.

    Lazy and bounded by the window: an endless ``FREQ=SECONDLY`` rule over a
    year is fine to ``islice``. EXDATEs are matched by instant (a date EXDATE
    on a timed series removes that local day); RDATEs join the set; COUNT and
    UNTIL (compared in UTC) are dateutil's.

    >>> [e.start.day for e in expand(daily_from_june_1, datetime(2024, 6, 3, tzinfo=UTC),
    ...                              datetime(2024, 6, 5, tzinfo=UTC))]
    [3, 4]

    Raises:
        ValidationError: the window is not two aware datetimes (or dates) in order.
        ResponseFormatError: the event's rule cannot be read.
    """
    if not isinstance(event, Event):
        raise ValidationError(f"expand(): expected a wecal.Event, got {_describe(event)}")
    start, end = _check_window(start, end, date_zone)
    if event.recurrence is not None:
        # Fail here, not at the first next(), when the rule is unreadable.
        _rule(event.recurrence.rrule, path="$.recurrence.rrule")
    return _until_time_ends(_expand(event, start, end))


def _last_year(end: datetime) -> int:
    """The last year a window ending at ``end`` needs searched."""
    return min(end.year + 1, _END_OF_TIME)


def _until_time_ends(occurrences: Iterator[Event]) -> Iterator[Event]:
    """Stop quietly where Python's datetime does (year 9999), not with OverflowError."""
    try:
        yield from occurrences
    except OverflowError:
        return


def _expand(event: Event, start: datetime, end: datetime) -> Iterator[Event]:
    zone = _event_zone(event, start.tzinfo)
    if event.recurrence is None:
        if isinstance(event.start, datetime) and isinstance(event.end, datetime):
            bounds = (event.start, event.end)
        else:
            bounds = _day_bounds(event, zone or UTC)
        if _overlaps(bounds[0], bounds[1], start, end):
            yield event
        return
    if event.all_day:
        yield from _expand_all_day(event, zone or UTC, start, end)
    else:
        yield from _expand_timed(event, zone, start, end)


def _occurrence(event: Event, rid: datetime | date, occ_start: Any, occ_end: Any) -> Event:
    return attrs.evolve(
        event,
        id=occurrence_id(event.id, rid),
        start=occ_start,
        end=occ_end,
        series_id=event.id,
        recurrence_id=rid,
        recurrence=None,
    )


def _expand_timed(
    event: Event, zone: tzinfo | None, start: datetime, end: datetime
) -> Iterator[Event]:
    assert isinstance(event.start, datetime)
    assert isinstance(event.end, datetime)
    assert event.recurrence is not None
    dtstart = event.start.astimezone(zone) if zone is not None else event.start
    dtstart = dtstart.replace(microsecond=0)  # RFC 5545 times are whole seconds; so are dateutil's
    # Python's own arithmetic: wall-clock within one zone, elapsed across zones,
    # so ``occ.end - occ.start == master.end - master.start`` always holds and
    # the end never compares before the start (a DST fold would do that).
    duration = event.end - event.start
    # The search ends with the window (the year after its end, in the series'
    # zone): a rule that stops matching costs the window, not years to 9999.
    last_year = _last_year(end.astimezone(dtstart.tzinfo) if dtstart.tzinfo else end)
    try:
        skip_to: datetime | None = (start - duration - timedelta(days=1)).astimezone(dtstart.tzinfo)
    except OverflowError:
        skip_to = None
    rules = _series(event, dtstart, zone, all_day=False, last_year=last_year, skip_to=skip_to)
    rdates = [
        rdate.astimezone(dtstart.tzinfo)
        if isinstance(rdate, datetime)
        else datetime.combine(rdate, dtstart.timetz())  # a date RDATE at the start's time
        for rdate in event.recurrence.rdates
    ]
    for rdate in rdates:
        rules.rdate(rdate)
    ex_instants = {d.astimezone(UTC) for d in event.recurrence.exdates if isinstance(d, datetime)}
    ex_days = {d for d in event.recurrence.exdates if not isinstance(d, datetime)}
    # Occurrences starting after this may overlap the window; the extra day
    # covers a start moved forward out of a DST gap.
    try:
        after = (start - duration - timedelta(days=1)).astimezone(dtstart.tzinfo)
    except OverflowError:  # a window opening near year 1: start from the first
        after = min([dtstart, *rdates])
    for occ_start in _timed_starts(rules, after):
        if occ_start >= end:
            return
        instant = occ_start.astimezone(UTC)
        if instant in ex_instants or occ_start.date() in ex_days:
            continue
        occ_end = occ_start + duration
        if _overlaps(occ_start, occ_end, start, end):
            yield _occurrence(event, occ_start, occ_start, occ_end)


def _expand_all_day(event: Event, zone: tzinfo, start: datetime, end: datetime) -> Iterator[Event]:
    assert not isinstance(event.start, datetime)
    assert not isinstance(event.end, datetime)
    assert event.recurrence is not None
    days = event.end - event.start
    dtstart = datetime.combine(event.start, time())
    try:
        skip_to: datetime | None = datetime.combine(
            start.astimezone(zone).date() - days - timedelta(days=1), time()
        )
    except OverflowError:
        skip_to = None
    rules = _series(
        event,
        dtstart,
        zone,
        all_day=True,
        last_year=_last_year(end.astimezone(zone)),
        skip_to=skip_to,
    )
    rdates = [
        datetime.combine(rd.astimezone(zone).date() if isinstance(rd, datetime) else rd, time())
        for rd in event.recurrence.rdates
    ]
    for rdate in rdates:
        rules.rdate(rdate)
    ex_days = {
        d.astimezone(zone).date() if isinstance(d, datetime) else d
        for d in event.recurrence.exdates
    }
    try:
        after = datetime.combine(start.astimezone(zone).date() - days - timedelta(days=1), time())
    except OverflowError:  # a window opening near year 1: start from the first
        after = min([dtstart, *rdates])
    previous: date | None = None
    for moment in rules.xafter(after, inc=True):
        day = moment.date()
        if day == previous:  # BYHOUR and friends: one all-day occurrence per day
            continue
        previous = day
        occ_start = datetime.combine(day, time(), tzinfo=zone)
        if occ_start >= end:
            return
        if day in ex_days:
            continue
        occ_end_day = day + days
        if _overlaps(occ_start, datetime.combine(occ_end_day, time(), tzinfo=zone), start, end):
            yield _occurrence(event, day, day, occ_end_day)
