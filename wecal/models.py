"""
The normalized, provider-neutral models.

Every model is a frozen attrs class: hashable, comparable, safe to share
between tasks. Times are always aware ``datetime`` objects, or ``date`` objects
for all-day events (whose ``end`` is exclusive: an all-day event on D ends on
D+1). Build them by hand for writes and tests::

    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    import wecal

    tz = ZoneInfo("Asia/Shanghai")
    event = wecal.Event(
        provider=wecal.Provider.WECOM,
        id="",  # assigned by the provider on create
        start=datetime(2024, 6, 3, 10, tzinfo=tz),
        end=datetime(2024, 6, 3, 11, tzinfo=tz),
        summary="周会 weekly sync",
        reminders=(timedelta(minutes=-15),),
    )
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

import attrs

from ._zones import is_valid_timezone, zone_for
from .errors import ValidationError, _describe

__all__ = [
    "Attendee",
    "BusySlot",
    "Calendar",
    "CalendarShare",
    "Event",
    "EventStatus",
    "Person",
    "Provider",
    "Recurrence",
    "ResponseStatus",
    "SharePermission",
]


class Provider(enum.StrEnum):
    """Where a model came from, or is going to."""

    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"


class EventStatus(enum.StrEnum):
    """RFC 5545 ``STATUS`` of an event. WeCom ``status`` 1 is CANCELLED."""

    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class ResponseStatus(enum.StrEnum):
    """An attendee's answer (RFC 5545 ``PARTSTAT``)."""

    NEEDS_ACTION = "needs_action"
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"


class SharePermission(enum.StrEnum):
    """What a calendar share lets a member see (WeCom ``permission`` 1 / 3)."""

    #: WeCom 1 可查看: full details.
    VIEW = "view"
    #: WeCom 3 仅查看闲忙: free/busy only.
    FREE_BUSY = "free_busy"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _check_timezone(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (isinstance(value, str) and is_valid_timezone(value)):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name}: {_describe(value)} is neither an "
            "IANA zone name (Asia/Shanghai) nor a fixed offset (+08:00)"
        )


def _check_moment(owner: str, name: str, value: object) -> None:
    """A moment is an aware datetime or a date; say clearly what else it was."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValidationError(
                f"{owner}.{name}: naive datetime {value.isoformat()}; "
                "attach a timezone (tzinfo=ZoneInfo('Asia/Shanghai') or timezone.utc)"
            )
    elif not isinstance(value, date):
        raise ValidationError(
            f"{owner}.{name}: expected an aware datetime or a date, got {_describe(value)}"
        )


E = TypeVar("E", bound=enum.Enum)


def _enum(cls: type[E], value: object) -> E:
    """``cls(value)``; a refusal is a ValidationError naming the choices."""
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in cls)
        raise ValidationError(
            f"{cls.__name__}: expected one of {choices}, got {_describe(value)}"
        ) from None


# The values each enum takes as a string, spelled out so that ``mypy --strict``
# refuses a misspelt one (``Event(provider="wecomm")``) where it is written;
# tests/test_models.py checks that they match the enums.
ProviderName = Literal["wecom", "dingtalk", "feishu"]
EventStatusName = Literal["confirmed", "tentative", "cancelled"]
ResponseStatusName = Literal["needs_action", "accepted", "tentative", "declined"]
SharePermissionName = Literal["view", "free_busy"]


# Named converters: attrs' mypy plugin reads named functions only, and types
# each ``__init__`` parameter as its converter's argument: what is typed here
# is what a type checker accepts in ``Event(...)``. Run time checks the same
# (and anything a caller without a type checker passes) with ValidationError.
def _provider(value: Provider | ProviderName) -> Provider:
    return _enum(Provider, value)


def _event_status(value: EventStatus | EventStatusName) -> EventStatus:
    return _enum(EventStatus, value)


def _response_status(value: ResponseStatus | ResponseStatusName) -> ResponseStatus:
    return _enum(ResponseStatus, value)


def _share_permission(value: SharePermission | SharePermissionName) -> SharePermission:
    return _enum(SharePermission, value)


def _to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Accept any iterable (users pass lists) and store a tuple."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise ValidationError(f"expected a sequence, got {_describe(value)}")
    return tuple(value)


# One converter per element type (the attrs plugin does not solve a generic one).
def _attendees(value: Iterable[Attendee]) -> tuple[Attendee, ...]:
    return _to_tuple(value)


def _reminders(value: Iterable[timedelta]) -> tuple[timedelta, ...]:
    return _to_tuple(value)


def _moments(value: Iterable[datetime | date]) -> tuple[datetime | date, ...]:
    return _to_tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return _to_tuple(value)


def _ints(value: Iterable[int]) -> tuple[int, ...]:
    return _to_tuple(value)


def _shares(value: Iterable[CalendarShare]) -> tuple[CalendarShare, ...]:
    return _to_tuple(value)


def _freeze_raw(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise ValidationError(f"raw: expected a mapping, got {_describe(value)}")
    return value


@attrs.frozen(kw_only=True)
class Person:
    """Somebody named by a provider: an organizer or a calendar admin."""

    #: WeCom ``userid``, DingTalk ``userid`` (legacy) or ``unionId`` (v1.0).
    id: str
    #: The name shown to people; empty when the provider does not say.
    display_name: str = ""


@attrs.frozen(kw_only=True)
class Attendee:
    """An invitee of an event and the answer they gave."""

    id: str
    display_name: str = ""
    response: ResponseStatus = attrs.field(
        default=ResponseStatus.NEEDS_ACTION, converter=_response_status
    )
    #: True for optional attendees (DingTalk ``isOptional``).
    optional: bool = False


@attrs.frozen(kw_only=True)
class Recurrence:
    """
    A repeat rule: an RFC 5545 RRULE value plus exceptions.

    ``rrule`` has no ``RRULE:`` prefix, e.g.
    ``FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20201203T063653Z``. ``exdates``
    are the original starts of removed occurrences; ``rdates`` are extra ones.
    """

    rrule: str
    exdates: tuple[datetime | date, ...] = attrs.field(default=(), converter=_moments)
    rdates: tuple[datetime | date, ...] = attrs.field(default=(), converter=_moments)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.rrule, str) or not self.rrule.strip():
            raise ValidationError(f"Recurrence.rrule: expected a rule, got {_describe(self.rrule)}")
        for name in ("exdates", "rdates"):
            for i, moment in enumerate(getattr(self, name)):
                _check_moment("Recurrence", f"{name}[{i}]", moment)


def _default_all_day(self: Event) -> bool:
    return not isinstance(self.start, datetime)


def _as_datetime(moment: datetime | date, zone: str | None) -> datetime:
    """A datetime as is; a date at 00:00 in ``zone`` (UTC when None or unknown)."""
    if isinstance(moment, datetime):
        return moment
    tz = (zone_for(zone) if zone else None) or UTC
    return datetime(moment.year, moment.month, moment.day, tzinfo=tz)


@attrs.frozen(kw_only=True)
class Event:
    """
    One calendar event, the same shape for every provider.

    Only ``provider``, ``id``, ``start`` and ``end`` are required. ``start`` and
    ``end`` are both aware datetimes, or both dates (all-day; ``end`` is
    exclusive). ``raw`` keeps the provider payload as received and takes no
    part in equality.
    """

    #: Where the event came from.
    provider: Provider = attrs.field(converter=_provider)
    #: The provider's id (WeCom ``schedule_id``, DingTalk ``id``); an occurrence
    #: of a series has ``f"{series_id}_{recurrence_id:%Y%m%dT%H%M%SZ}"``.
    id: str
    #: WeCom ``cal_id``, DingTalk calendar or folder id.
    calendar_id: str | None = None
    summary: str = ""
    description: str = ""
    location: str = ""
    #: Aware datetime, or a date for an all-day event.
    start: datetime | date
    #: Exclusive end: aware datetime, or the day after the last day (all-day).
    end: datetime | date
    #: True when start and end are dates.
    all_day: bool = attrs.field(default=attrs.Factory(_default_all_day, takes_self=True))
    #: IANA zone (``Asia/Shanghai``) or fixed offset (``+08:00``), None if unknown.
    timezone: str | None = attrs.field(default=None, validator=_check_timezone)
    recurrence: Recurrence | None = None
    #: The master's id, on an occurrence of a series.
    series_id: str | None = None
    #: The original start of this occurrence, on an occurrence of a series.
    recurrence_id: datetime | date | None = None
    status: EventStatus = attrs.field(default=EventStatus.CONFIRMED, converter=_event_status)
    organizer: Person | None = None
    attendees: tuple[Attendee, ...] = attrs.field(default=(), converter=_attendees)
    #: Alarm triggers relative to the start, RFC 5545 style: -15 min fires 15 minutes before.
    reminders: tuple[timedelta, ...] = attrs.field(default=(), converter=_reminders)
    #: Online meeting link, when the provider gives one.
    meeting_url: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    #: The provider payload as received; not part of equality or hashing.
    raw: Mapping[str, Any] = attrs.field(
        default=_EMPTY, converter=_freeze_raw, eq=False, hash=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        _check_moment("Event", "start", self.start)
        _check_moment("Event", "end", self.end)
        start_is_dt = isinstance(self.start, datetime)
        if start_is_dt != isinstance(self.end, datetime):
            raise ValidationError(
                f"Event.end: start is a {type(self.start).__name__} but end is a "
                f"{type(self.end).__name__}; use two dates (all-day) or two datetimes"
            )
        if self.all_day == start_is_dt:
            raise ValidationError(
                f"Event.all_day: all_day={self.all_day} but start is a "
                f"{type(self.start).__name__}; all-day events use dates"
            )
        if self.end < self.start:
            raise ValidationError(
                f"Event.end: end {self.end.isoformat()} is before start {self.start.isoformat()}"
            )
        if self.recurrence_id is not None:
            _check_moment("Event", "recurrence_id", self.recurrence_id)
        for name in ("created", "updated"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise ValidationError(
                        f"Event.{name}: expected an aware datetime, got {_describe(value)}"
                    )
                _check_moment("Event", name, value)
        for i, attendee in enumerate(self.attendees):
            if not isinstance(attendee, Attendee):
                raise ValidationError(
                    f"Event.attendees[{i}]: expected an Attendee, got {_describe(attendee)}"
                )
        for i, reminder in enumerate(self.reminders):
            if not isinstance(reminder, timedelta):
                raise ValidationError(
                    f"Event.reminders[{i}]: expected a timedelta, got {_describe(reminder)}"
                )

    @property
    def start_datetime(self) -> datetime:
        """
        ``start`` as an aware datetime, typed as one (``start`` is ``datetime | date``).

        A timed event's ``start`` as is; an all-day event's day at 00:00 in the
        event's ``timezone`` (UTC when it has none), the instant its day begins::

            when = f"{event.start_datetime.astimezone(tz):%H:%M}"
        """
        return _as_datetime(self.start, self.timezone)

    @property
    def end_datetime(self) -> datetime:
        """``end`` as an aware datetime (exclusive; an all-day event's last day + 1 at 00:00)."""
        return _as_datetime(self.end, self.timezone)

    @property
    def is_recurring(self) -> bool:
        """True for the master of a series (it carries a repeat rule)."""
        return self.recurrence is not None

    @property
    def is_occurrence(self) -> bool:
        """True for one occurrence of a series (``series_id`` is set)."""
        return self.series_id is not None


@attrs.frozen
class BusySlot:
    """
    A stretch of time someone is not free (a provider's free/busy answer).

    ``tentative`` is True when the provider says maybe (DingTalk's
    ``TENTATIVE``: not answered or maybe), False for busy. All-day items span
    their days' UTC midnights.
    """

    start: datetime
    end: datetime
    tentative: bool = False

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside ``[start, end)``."""
        return self.start <= moment < self.end


@attrs.frozen(kw_only=True)
class CalendarShare:
    """A member a calendar is shared with, and what they may see."""

    user_id: str
    permission: SharePermission = attrs.field(
        default=SharePermission.VIEW, converter=_share_permission
    )


@attrs.frozen(kw_only=True)
class Calendar:
    """
    A calendar (WeCom ``cal_id``; DingTalk calendar or folder).

    WeCom's pre-2023 model (``organizer``, ``readonly``) is read into
    ``admins`` and ``readonly`` so both generations look alike.
    """

    provider: Provider = attrs.field(converter=_provider)
    #: Empty on a calendar not created yet.
    id: str
    summary: str = ""
    description: str = ""
    #: ``#RRGGBB``.
    color: str | None = None
    timezone: str | None = attrs.field(default=None, validator=_check_timezone)
    #: Who may manage it (WeCom ``admins``, at most 3; the old ``organizer``).
    admins: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    shares: tuple[CalendarShare, ...] = attrs.field(default=(), converter=_shares)
    #: WeCom public calendar (``is_public``); not updatable after create.
    is_public: bool = False
    #: Users (``public_range.userids``) a public calendar is visible to.
    public_user_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    #: Departments (``public_range.partyids``) a public calendar is visible to.
    public_department_ids: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    #: WeCom 全员日历 (``is_corp_calendar``); not updatable after create.
    is_corp_calendar: bool = False
    #: Old WeCom model: the organizer may only read it.
    readonly: bool = False
    #: WeCom: make it the app's default calendar (create only).
    set_as_default: bool = False
    raw: Mapping[str, Any] = attrs.field(
        default=_EMPTY, converter=_freeze_raw, eq=False, hash=False, repr=False
    )


# -- trusted construction (converters only) ---------------------------------------

_M = TypeVar("_M")
_FACTORY: type = cast(type, attrs.Factory)  # a class at run time, typed as a function


def _trusted_constructor(cls: type[_M]) -> Callable[..., _M]:
    """
    A keyword-only constructor of ``cls`` that stores each field as given:
    no converter, no validator, no ``__attrs_post_init__``.

    Only for the provider converters, which have already read every field
    with a strict reader (right type, aware times, end after start, a known
    zone) and raise ResponseFormatError with a JSON path when one is wrong:
    running attrs' checks again cost a sixth of the decode time (issue 11).
    Models built by users always go through the validating ``__init__``, and
    ``tests/test_models_trusted.py`` checks that every converter-built event
    equals its validated copy. A field whose default is a factory
    (``Event.all_day``) is required here.

    attrs offers no per-call way to skip its checks
    (``attrs.validators.set_disabled`` is process-wide and skips neither
    converters nor ``__attrs_post_init__``), so the function is generated the
    way attrs generates ``__init__``: one slot store per field.
    """
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params: list[str] = []
    lines: list[str] = []
    for field in attrs.fields(cast(Any, cls)):
        name = field.name
        # The slot's own descriptor: storing through it skips the frozen __setattr__.
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        if field.default is attrs.NOTHING or isinstance(field.default, _FACTORY):
            params.append(name)
        else:
            namespace[f"_default_{name}"] = field.default
            params.append(f"{name}=_default_{name}")
        lines.append(f"    _set_{name}(self, {name})")
    header = f"def trusted(*, {', '.join(params)}):"
    source = "\n".join([header, "    self = _new(_cls)", *lines, "    return self"])
    exec(source, namespace)  # the source is built from attrs.fields only, as attrs does
    trusted: Callable[..., _M] = namespace["trusted"]
    trusted.__qualname__ = trusted.__name__ = f"_trusted_{cls.__name__}"
    trusted.__doc__ = f"Build a {cls.__name__} from checked fields (converters only)."
    return trusted


#: ``Event(...)`` without re-validation, for converters (see ``_trusted_constructor``).
_trusted_event = _trusted_constructor(Event)
#: ``Attendee(...)`` without re-validation; ``response`` must be a ResponseStatus.
_trusted_attendee = _trusted_constructor(Attendee)
#: ``Person(...)`` without re-validation.
_trusted_person = _trusted_constructor(Person)
