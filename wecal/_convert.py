"""
``to_dict`` / ``from_dict``: Events to plain JSON types and back, via cattrs.

The JSON form (also each line of the JSONL export):

- datetimes as ISO 8601 with their UTC offset (``2024-06-03T10:00:00+08:00``),
  dates as ``YYYY-MM-DD``;
- durations (``reminders``) as seconds, an int when whole;
- enums as their lower-case values (``"wecom"``, ``"needs_action"``);
- ``raw`` only when asked for (``include_raw=True``): it is the provider payload
  and is usually much larger than the event.

The round trip is exact: ``from_dict(to_dict(e)) == e``, and when
``e.timezone`` names an IANA zone the datetimes come back in that zone, not
merely at the same instant.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import cattrs
import cattrs.v
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from ._zones import zone_for
from .errors import ResponseFormatError, ValidationError, WecalError, _describe
from .models import Event, EventStatus, Provider, ResponseStatus

__all__ = ["from_dict", "to_dict"]

_Moment = datetime | date


def _unstructure_moment(value: datetime | date) -> str:
    return value.isoformat()


def _structure_moment(value: Any, _: Any) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date or datetime string, got {_describe(value)}")
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value)


def _structure_datetime(value: Any, _: Any) -> datetime:
    moment = _structure_moment(value, _)
    if not isinstance(moment, datetime):
        raise ValueError(f"expected an ISO 8601 datetime, got {_describe(value)}")
    return moment


def _unstructure_timedelta(value: timedelta) -> int | float:
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _structure_timedelta(value: Any, _: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number of seconds, got {_describe(value)}")
    return timedelta(seconds=value)


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _structure_enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    try:
        return type_(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in type_)
        raise ValueError(f"expected one of {choices}, got {_describe(value)}") from None


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    for moment_type in (_Moment, datetime | date | None):
        conv.register_unstructure_hook(moment_type, lambda v: None if v is None else v.isoformat())
    conv.register_unstructure_hook(datetime, _unstructure_moment)
    conv.register_unstructure_hook(date, _unstructure_moment)
    conv.register_structure_hook(_Moment, _structure_moment)
    conv.register_structure_hook(
        datetime | date | None, lambda v, t: None if v is None else _structure_moment(v, t)
    )
    for enum_type in (Provider, EventStatus, ResponseStatus):
        conv.register_unstructure_hook(enum_type, _unstructure_enum)
        conv.register_structure_hook(enum_type, _structure_enum)
    # cattrs would turn None into "None" and "false" into True; JSON from a
    # file deserves a clear error instead.
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(timedelta, _unstructure_timedelta)
    conv.register_structure_hook(timedelta, _structure_timedelta)
    conv.register_structure_hook_func(_is_raw_mapping, _structure_raw)
    conv.register_unstructure_hook_func(_is_raw_mapping, lambda v: dict(v))
    return conv


def _is_raw_mapping(tp: Any) -> bool:
    return bool(tp == Mapping[str, Any])


def _structure_raw(value: Any, _: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {_describe(value)}")
    return value


_converter = _make_converter()


def to_dict(event: Event, *, include_raw: bool = False) -> dict[str, Any]:
    """
    Turn an :class:`~wecal.Event` into plain JSON types (``json.dumps``-ready).

    ``raw`` (the provider payload) is left out unless ``include_raw`` is true.

    >>> wecal.to_dict(event)["start"]
    '2024-06-03T10:00:00+08:00'
    """
    if not isinstance(event, Event):
        raise ValidationError(f"to_dict(): expected a wecal.Event, got {_describe(event)}")
    data: dict[str, Any] = _converter.unstructure(event, Event)
    if not include_raw:
        del data["raw"]
    return data


def _zone(name: str) -> ZoneInfo | None:
    zone = zone_for(name)
    return zone if isinstance(zone, ZoneInfo) else None


def _in_zone(value: Any, zone: ZoneInfo) -> Any:
    """The same instant in ``zone`` when ``zone`` gives it the same offset."""
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        if local.utcoffset() == value.utcoffset():
            return local
    return value


def from_dict(data: Mapping[str, Any]) -> Event:
    """
    Build an :class:`~wecal.Event` from the output of :func:`to_dict` (or a
    JSONL export line).

    Raises:
        ResponseFormatError: a field is missing or of the wrong type; the
            message names each one with a JSON path (``$.start``).
    """
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"expected an object, got {_describe(data)}", path="$")
    try:
        event: Event = _converter.structure(data, Event)
    except ValidationError as exc:
        raise ResponseFormatError(exc.message, path="$") from exc
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise ResponseFormatError("; ".join(_paths(exc))) from exc
    except WecalError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseFormatError(str(exc), path="$") from exc
    zone = _zone(event.timezone) if event.timezone else None
    if zone is None:
        return event
    changes = {
        name: _in_zone(getattr(event, name), zone)
        for name in ("start", "end", "recurrence_id", "created", "updated")
    }
    if event.recurrence is not None and event.recurrence.exdates:
        changes["recurrence"] = attrs.evolve(
            event.recurrence, exdates=tuple(_in_zone(d, zone) for d in event.recurrence.exdates)
        )
    return attrs.evolve(event, **changes)


def _format_leaf(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, WecalError):
        return exc.message
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _paths(exc: BaseException) -> list[str]:
    """One ``$.path: reason`` line per leaf error of a cattrs exception group."""
    out: list[str] = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_format_leaf):
        out.append(line)
    return out or [str(exc)]
