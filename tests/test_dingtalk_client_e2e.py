"""
``wecal.DingTalkClient`` end to end against the v1.0 sandbox, in-process
(``httpx.ASGITransport``) and over loopback uvicorn.

create (one-off, a series of each pattern type, all-day) → list → eventsview →
get → update → respond → attendees → free/busy → delete, with the sandbox
state checked after each step; occurrence ids from ``expand=True`` equal those
of ``wecal.expand(master)``; every fault mode through the real client (nothing
lost or repeated when listing; no write applied twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

import wecal
from tests._mock import note_sandbox_tokens
from tests.sandbox_fixtures import FAST_RETRY, client_on
from wecal.sandbox import Fault, Sandbox, serve

pytestmark = pytest.mark.anyio

SH = ZoneInfo("Asia/Shanghai")
#: 2024-06-03 is a Monday; the sandbox clock starts at 2024-06-01T00:00Z.
MONDAY = datetime(2024, 6, 3, 10, tzinfo=SH)
LO = datetime(2024, 6, 1, tzinfo=UTC)
HI = datetime(2024, 9, 1, tzinfo=UTC)
#: Retries that give up quickly: an exhausted fault ends the call.
QUICK = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=0.5)


@attrs.frozen
class People:
    alice: str
    bob: str
    carol: str


@pytest.fixture
def people(sandbox: Sandbox) -> Iterator[People]:
    v1 = sandbox.dingtalk_v1
    found = People(
        alice=v1.add_user("Alice 王", userid="alice01"),
        bob=v1.add_user("Bob 李", userid="bob02"),
        carol=v1.add_user("Carol 张", userid="carol03"),
    )
    yield found
    note_sandbox_tokens(sandbox)


Factory = Callable[..., Any]


@pytest.fixture(params=["in-process", "loopback"])
def connect(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Factory]:
    """Clients on the test's sandbox, in-process or over a real socket."""
    if request.param == "in-process":
        yield lambda **kw: client_on(sandbox, wecal.DingTalkClient, **kw)
        return
    with serve(sandbox) as url:
        yield lambda **kw: client_on(
            sandbox, wecal.DingTalkClient, base_url=url, transport=None, **kw
        )


def _event(summary: str, start: datetime | date, end: datetime | date, **kw: Any) -> wecal.Event:
    return wecal.Event(
        provider=wecal.Provider.DINGTALK, id="", summary=summary, start=start, end=end, **kw
    )


def _hour(start: datetime) -> datetime:
    return start + timedelta(hours=1)


#: One series per pattern type; every start matches its own rule.
SERIES = {
    "daily": ("FREQ=DAILY;INTERVAL=2;COUNT=10", MONDAY, {"type": "daily", "interval": 2}),
    "weekly": (
        "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20240630T155959Z",
        MONDAY,
        {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": "monday,wednesday",
            "firstDayOfWeek": "monday",
        },
    ),
    "absoluteMonthly": (
        "FREQ=MONTHLY;BYMONTHDAY=3;COUNT=3",
        MONDAY,
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 3},
    ),
    "relativeMonthly": (
        "FREQ=MONTHLY;BYDAY=+1MO;COUNT=3",
        MONDAY,
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": "monday", "index": "first"},
    ),
    "absoluteYearly": (
        "FREQ=YEARLY;COUNT=2",
        MONDAY,
        {"type": "absoluteYearly", "interval": 1},
    ),
}


def expected_view_id(item: dict[str, Any]) -> str:
    """DESIGN.md's id of an eventsview item, from the item's own fields."""
    if not item.get("seriesMasterId"):
        return str(item["id"])
    origin = datetime.fromisoformat(item["originStart"]["dateTime"])
    if "date" in item["start"]:
        return f"{item['seriesMasterId']}_{origin:%Y%m%d}"
    return f"{item['seriesMasterId']}_{origin.astimezone(UTC):%Y%m%dT%H%M%SZ}"


async def test_lifecycle(sandbox: Sandbox, people: People, connect: Factory) -> None:
    v1 = sandbox.dingtalk_v1
    async with connect() as ding:
        # 1. Create: a one-off with attendees, a series of each pattern, an all-day event.
        one_off = await ding.create_event(
            _event(
                "评审 review",
                MONDAY + timedelta(hours=5),
                _hour(MONDAY + timedelta(hours=5)),
                description="季度评审",
                location="3F",
                attendees=[wecal.Attendee(id=people.bob), wecal.Attendee(id=people.carol)],
                reminders=[timedelta(minutes=-10)],
                timezone="Asia/Shanghai",
            ),
            user_id=people.alice,
            online_meeting=True,
        )
        stored = v1.events[one_off.id]
        assert stored["summary"] == "评审 review"
        assert {a["id"] for a in stored["attendees"]} >= {people.bob, people.carol}
        assert one_off.meeting_url
        assert one_off.reminders == (timedelta(minutes=-10),)
        series: dict[str, wecal.Event] = {}
        for kind, (rule, start, pattern) in SERIES.items():
            made = await ding.create_event(
                _event(kind, start, _hour(start), recurrence=wecal.Recurrence(rrule=rule)),
                user_id=people.alice,
            )
            assert {
                k: v for k, v in v1.events[made.id]["recurrence"]["pattern"].items() if k != "id"
            } == pattern
            assert made.recurrence is not None
            series[kind] = made
        whole_day = await ding.create_event(
            _event("团建", date(2024, 6, 7), date(2024, 6, 8)), user_id=people.alice
        )
        assert v1.events[whole_day.id]["start"] == {"date": "2024-06-07"}
        assert whole_day.timezone == "UTC"

        # 2. List (masters), pages smaller than the count.
        listed = [e async for e in ding.list_events(user_id=people.alice, page_size=3)]
        truth = [item["id"] for item in v1.ground_truth(people.alice)]
        assert [e.id for e in listed] == truth
        assert len(truth) == 7

        # 3. Eventsview: occurrences, ids by DESIGN.md, the same as wecal.expand's.
        view = [
            e
            async for e in ding.list_events(
                user_id=people.alice, start=LO, end=HI, expand=True, page_size=7
            )
        ]
        view_truth = v1.ground_truth(people.alice, start=LO, end=HI, view=True)
        assert [e.id for e in view] == [expected_view_id(i) for i in view_truth]
        assert len(view) > 7
        for kind, master in series.items():
            fetched = await ding.get_event(master.id, user_id=people.alice)
            by_expand = [o.id for o in wecal.expand(fetched, LO, HI)]
            by_server = [e.id for e in view if e.series_id == master.id]
            assert by_server == by_expand, kind
            assert by_server
        # A wecal occurrence id reads back the occurrence.
        second = next(e for e in view if e.series_id == series["weekly"].id and e.start > MONDAY)
        again = await ding.get_event(second.id, user_id=people.alice)
        assert (again.id, again.start, again.series_id) == (
            second.id,
            second.start,
            second.series_id,
        )

        # 4. Get.
        got = await ding.get_event(one_off.id, user_id=people.alice)
        assert got == one_off

        # 5. Update (partial PUT): a new summary and time; the rest stays.
        moved = attrs.evolve(
            got,
            summary="评审 (moved)",
            start=got.start + timedelta(hours=1),
            end=got.end + timedelta(hours=1),
        )
        updated = await ding.update_event(moved, user_id=people.alice)
        assert v1.events[one_off.id]["summary"] == "评审 (moved)"
        assert updated.start == moved.start
        assert updated.description == "季度评审"
        assert {a.id for a in updated.attendees} >= {people.bob, people.carol}

        # 6. Respond as Bob.
        await ding.respond_event(one_off.id, wecal.ResponseStatus.ACCEPTED, user_id=people.bob)
        bobs = v1.event_for(people.bob, one_off.id)
        assert bobs is not None
        (bob,) = [a for a in bobs["attendees"] if a["id"] == people.bob]
        assert bob["responseStatus"] == "accepted"

        # 7. Attendees.
        await ding.remove_attendees(one_off, [people.carol], user_id=people.alice)
        assert people.carol not in {a["id"] for a in v1.events[one_off.id]["attendees"]}
        assert v1.event_for(people.carol, one_off.id) is None
        await ding.add_attendees(
            one_off, [wecal.Attendee(id=people.carol, optional=True)], user_id=people.alice
        )
        (carol,) = [a for a in v1.events[one_off.id]["attendees"] if a["id"] == people.carol]
        assert carol["isOptional"] is True

        # 8. Free/busy: Bob accepted, so he is busy then; Carol (needs action) tentatively.
        at = moved.start + timedelta(minutes=30)
        busy = await ding.get_free_busy(
            [people.bob, people.carol],
            start=at - timedelta(hours=2),
            end=at + timedelta(hours=2),
            user_id=people.alice,
        )
        assert [(s.covers(at), s.tentative) for s in busy[people.bob]] == [(True, False)]
        assert [(s.covers(at), s.tentative) for s in busy[people.carol]] == [(True, True)]

        # 9. Delete: the one-off, then one occurrence of the weekly series.
        await ding.delete_event(one_off, user_id=people.alice)
        assert v1.event_for(people.alice, one_off.id) is None
        assert one_off.id not in [i["id"] for i in v1.ground_truth(people.alice)]
        await ding.delete_event(second, user_id=people.alice)
        after = [
            e.id
            async for e in ding.list_events(user_id=people.alice, start=LO, end=HI, expand=True)
        ]
        assert second.id not in after
        assert len(after) == len(view) - 2  # the one-off and the occurrence
        with pytest.raises(wecal.NotFoundError):
            await ding.get_event(one_off.id, user_id=people.alice)


async def test_occurrences_made_by_wecal_expand_address_one_occurrence(
    sandbox: Sandbox, people: People
) -> None:
    """An occurrence from wecal.expand carries its master's raw: never act on the series."""
    v1 = sandbox.dingtalk_v1
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        master = await ding.create_event(
            _event(
                "站会",
                MONDAY,
                _hour(MONDAY),
                recurrence=wecal.Recurrence(rrule="FREQ=DAILY;COUNT=5"),
                attendees=[wecal.Attendee(id=people.bob)],
            ),
            user_id=people.alice,
        )
        first, second, third, *_ = wecal.expand(master, LO, HI)
        assert second.raw["id"] == master.id  # the master's payload, as expand keeps it
        await ding.delete_event(second, user_id=people.alice)
        await ding.delete_event(third.id, user_id=people.alice)  # by wecal id alone
        await ding.respond_event(first, wecal.ResponseStatus.DECLINED, user_id=people.bob)
        left = [
            e.id
            async for e in ding.list_events(user_id=people.alice, start=LO, end=HI, expand=True)
        ]
    assert master.id in v1.events  # the series itself is still there
    expected = [o.id for o in wecal.expand(master, LO, HI) if o.id not in (second.id, third.id)]
    assert left == expected
    assert len(left) == 3


async def test_who_may_do_what(sandbox: Sandbox, people: People) -> None:
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        made = await ding.create_event(
            _event("x", MONDAY, _hour(MONDAY), attendees=[wecal.Attendee(id=people.bob)]),
            user_id=people.alice,
        )
        # Only the organizer may patch (0252). The reference names no code for the
        # refusal; the sandbox's 400 permissionDeny reads as a provider "no".
        with pytest.raises(wecal.ProviderError):
            await ding.update_event(attrs.evolve(made, summary="mine"), user_id=people.bob)
        assert sandbox.dingtalk_v1.events[made.id]["summary"] == "x"
        with pytest.raises(wecal.NotFoundError):
            await ding.get_event("no-such-event", user_id=people.alice)
        with pytest.raises(wecal.NotFoundError):
            await ding.get_calendars(user_id="no-such-union")


async def test_calendars_and_user_lookups(
    sandbox: Sandbox, people: People, connect: Factory
) -> None:
    async with connect() as ding:
        (primary,) = await ding.get_calendars(user_id=people.alice)
        assert primary.id == "primary"
        assert primary.provider is wecal.Provider.DINGTALK
        assert await ding.resolve_union_id("bob02") == people.bob
        assert await ding.resolve_userid(people.carol) == "carol03"
        before = len(sandbox.requests)
        assert await ding.resolve_union_id("bob02") == people.bob  # cached
        assert await ding.resolve_userid(people.bob) == "bob02"  # cached both ways
        assert len(sandbox.requests) == before
        with pytest.raises(wecal.NotFoundError):
            await ding.resolve_union_id("nobody")


async def test_free_busy_batches_of_twenty(sandbox: Sandbox, people: People) -> None:
    others = [sandbox.dingtalk_v1.add_user(f"user {i}") for i in range(45)]
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        busy = await ding.get_free_busy(
            others, start=MONDAY, end=MONDAY + timedelta(days=1), user_id=people.alice
        )
        assert list(busy) == others
        with pytest.raises(wecal.NotFoundError) as info:
            await ding.get_free_busy(
                [people.bob, "no-such-union"],
                start=MONDAY,
                end=MONDAY + timedelta(days=1),
                user_id=people.alice,
            )
        assert info.value.missing == ("no-such-union",)
    calls = [r for r in sandbox.requests if r.api == "dingtalk.v1.schedule.query"]
    # Three calls (concurrent, so in any order) for the 45 users.
    assert sorted(len(r.json["userIds"]) for r in calls[:3]) == [5, 20, 20]


async def test_windows_longer_than_a_year_are_listed_a_year_at_a_time(
    sandbox: Sandbox, people: People
) -> None:
    v1 = sandbox.dingtalk_v1
    zone = {"timeZone": "Asia/Shanghai"}
    v1.add_event(
        people.alice,
        {
            "summary": "周报",
            "start": {"dateTime": MONDAY.isoformat(), **zone},
            "end": {"dateTime": _hour(MONDAY).isoformat(), **zone},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": "monday"},
                "range": {"type": "noEnd"},
            },
        },
    )
    lo = datetime(2024, 6, 1, tzinfo=UTC)
    hi = lo + timedelta(days=1000)
    # Ten weeks across the first cut (lo + 365 days) — more pages away than the
    # paginator's own repeat guard remembers — and a one-off in year three.
    across = lo + timedelta(days=300)
    for summary, start, days in (("跨年", across, 70), ("第三年", lo + timedelta(days=800), 0)):
        v1.add_event(
            people.alice,
            {
                "summary": summary,
                "start": {"dateTime": start.isoformat(), **zone},
                "end": {"dateTime": (start + timedelta(days=days, hours=1)).isoformat(), **zone},
            },
        )
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        view = [
            e.id
            async for e in ding.list_events(
                user_id=people.alice, start=lo, end=hi, expand=True, page_size=2
            )
        ]
        masters = [e.id async for e in ding.list_events(user_id=people.alice, start=lo, end=hi)]
    truth = v1.ground_truth(people.alice, start=lo, end=hi, view=True)
    assert view == [expected_view_id(i) for i in truth]
    assert len(view) == len(set(view)) > 100
    assert masters == [i["id"] for i in v1.ground_truth(people.alice, start=lo, end=hi)]
    assert len(masters) == 3
    spans = [
        datetime.fromisoformat(r.query["timeMax"]) - datetime.fromisoformat(r.query["timeMin"])
        for r in sandbox.requests
        if r.api in ("dingtalk.v1.events.view", "dingtalk.v1.events.list")
    ]
    assert max(spans) <= timedelta(days=366)
    # Whole years, then the rest; and the first second, where the events
    # already running at ``lo`` are looked for.
    assert sorted(set(spans)) == [timedelta(seconds=1), timedelta(days=270), timedelta(days=365)]


# --------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------


def _seed(sandbox: Sandbox, organizer: str, n: int = 17) -> None:
    v1 = sandbox.dingtalk_v1
    for i in range(n):
        start = MONDAY + timedelta(days=i, hours=i % 5)
        v1.add_event(
            organizer,
            {
                "summary": f"event {i}",
                "start": {"dateTime": start.isoformat(), "timeZone": "Asia/Shanghai"},
                "end": {"dateTime": _hour(start).isoformat(), "timeZone": "Asia/Shanghai"},
            },
        )


RECOVERABLE: list[tuple[str, Callable[[], Fault]]] = [
    ("latency", lambda: Fault.latency(0.02)),
    ("server_error_502", lambda: Fault.server_error(502)),
    ("server_error_503", lambda: Fault.server_error(503)),
    ("busy", Fault.busy),
    # DingTalk's QPS window is 1 s: the client sits it out once.
    ("qps_403", Fault.qps_403),
    ("revoke_token", Fault.revoke_token),
    ("revoke_token_42001", lambda: Fault.revoke_token(42001)),
    ("invalid_authentication", lambda: Fault.error_code(400, "InvalidAuthentication")),
    ("unauthorized", lambda: Fault.error_code(401, "Unauthorized")),
    ("dropped", Fault.dropped),
    ("truncated", Fault.truncated),
    ("applied_error", Fault.applied_error),
    ("offset_drift", Fault.offset_drift),
]


@pytest.mark.parametrize(("name", "make"), RECOVERABLE, ids=[n for n, _ in RECOVERABLE])
async def test_listing_survives_faults(
    sandbox: Sandbox, people: People, name: str, make: Callable[[], Fault]
) -> None:
    _seed(sandbox, people.alice)
    truth = [i["id"] for i in sandbox.dingtalk_v1.ground_truth(people.alice)]
    sandbox.faults.script("dingtalk.v1.events.list", [None, make(), None, make()])
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        got = [e.id async for e in ding.list_events(user_id=people.alice, page_size=5)]
    if name == "offset_drift":
        # New events inserted ahead of the position: each listed event once, in order.
        assert len(got) == len(set(got))
        assert [i for i in got if i in truth] == truth
    else:
        assert got == truth


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (lambda: Fault.server_error(503), wecal.ProviderError),
        (Fault.busy, wecal.ProviderError),
        (Fault.qps_403, wecal.RateLimitError),
        (Fault.rate_limited, wecal.RateLimitError),
        (
            lambda: Fault.error_code(403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi"),
            wecal.RateLimitError,
        ),
        (
            lambda: Fault.error_code(403, "Forbidden.AccessDenied.ApiCountLimitForOrg"),
            wecal.QuotaExceededError,
        ),
        (lambda: Fault.error_code(400, "flowLimit"), wecal.QuotaExceededError),
        (lambda: Fault.error_code(400, "instanceNotExist"), wecal.NotFoundError),
        (lambda: Fault.error_code(404, "itemNotFound"), wecal.NotFoundError),
        (lambda: Fault.error_code(400, "IdempotentParameterMismatch"), wecal.InvalidRequestError),
        (Fault.dropped, wecal.TransportError),
    ],
)
async def test_exhausted_faults_raise_the_right_error_and_resume(
    sandbox: Sandbox, people: People, fault: Callable[[], Fault], error: type[Exception]
) -> None:
    _seed(sandbox, people.alice)
    truth = [i["id"] for i in sandbox.dingtalk_v1.ground_truth(people.alice)]
    sandbox.faults.script("dingtalk.v1.events.list", [None, *[fault() for _ in range(5)]])
    got: list[str] = []

    async def drain(ding: wecal.DingTalkClient) -> None:
        async for page in ding.list_events(user_id=people.alice, page_size=5).by_page():
            got.extend(e.id for e in page.items)

    async with client_on(sandbox, wecal.DingTalkClient, retry=QUICK) as ding:
        with pytest.raises(error) as info:
            await drain(ding)
    cursor = getattr(info.value, "cursor", None)
    assert cursor is not None
    sandbox.faults.clear()
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        pages = ding.list_events(user_id=people.alice, page_size=5).by_page(cursor)
        rest = [e.id async for page in pages for e in page.items]
    assert got + rest == truth


WRITE_FAULTS: list[tuple[str, Callable[[], Fault]]] = [
    ("applied_error", Fault.applied_error),
    ("truncated", Fault.truncated),
    ("dropped", Fault.dropped),
    ("server_error", lambda: Fault.server_error(503)),
    ("busy", Fault.busy),
    ("revoke_token", Fault.revoke_token),
]


@pytest.mark.parametrize(("name", "make"), WRITE_FAULTS, ids=[n for n, _ in WRITE_FAULTS])
async def test_writes_are_never_applied_twice(
    sandbox: Sandbox, people: People, name: str, make: Callable[[], Fault]
) -> None:
    v1 = sandbox.dingtalk_v1
    for api in ("events.create", "events.patch", "attendees.add", "events.delete"):
        sandbox.faults.script(f"dingtalk.v1.{api}", [make()])
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        made = await ding.create_event(_event("once", MONDAY, _hour(MONDAY)), user_id=people.alice)
        assert [e for e in v1.events.values() if e["summary"] == "once"] == [v1.events[made.id]]
        await ding.update_event(attrs.evolve(made, summary="twice?"), user_id=people.alice)
        assert v1.events[made.id]["summary"] == "twice?"
        await ding.add_attendees(made, [people.bob], user_id=people.alice)
        assert [a["id"] for a in v1.events[made.id]["attendees"]].count(people.bob) == 1
        await ding.delete_event(made, user_id=people.alice)
        assert v1.event_for(people.alice, made.id) is None
    creates = [r for r in sandbox.requests if r.api == "dingtalk.v1.events.create"]
    assert len(creates) >= 2  # the fault was met and the write retried
    assert len(v1.ground_truth(people.alice)) == 0


async def test_duplicate_write_in_flight_is_retried(sandbox: Sandbox, people: People) -> None:
    """idempotencyProcessing (same token, first write not done) is asked again."""
    sandbox.faults.script(
        "dingtalk.v1.events.create", [Fault.error_code(400, "idempotencyProcessing")]
    )
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        made = await ding.create_event(_event("x", MONDAY, _hour(MONDAY)), user_id=people.alice)
    assert list(sandbox.dingtalk_v1.events) == [made.id]


async def test_missing_scope_names_it_and_keeps_the_token(sandbox: Sandbox, people: People) -> None:
    sandbox.dingtalk_v1.deny_scope("Calendar.EventSchedule.Read")
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        with pytest.raises(wecal.PermissionDeniedError, match=r"Calendar\.EventSchedule\.Read"):
            await ding.get_free_busy(
                [people.bob], start=MONDAY, end=_hour(MONDAY), user_id=people.alice
            )
        assert ding.stats.token_refreshes == 0
        assert ding.stats.retries == 0


@pytest.mark.parametrize("quirk", ["zero", "missing"])
async def test_token_without_lifetime_is_fetched_once(
    sandbox: Sandbox, people: People, quirk: Any
) -> None:
    sandbox.dingtalk_v1.token_quirk = quirk
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        for _ in range(3):
            await ding.get_calendars(user_id=people.alice)
    tokens = [r for r in sandbox.requests if r.api == "dingtalk.v1.oauth2.accessToken"]
    assert len(tokens) == 1


async def test_wire_format(sandbox: Sandbox, people: People) -> None:
    """timeMin/timeMax in UTC with milliseconds; the token in its header, never the query."""
    sandbox.dingtalk_v1.strict_times = True  # refuses any other time format
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), event_hooks={"request": [record]}
    )
    async with http, client_on(sandbox, wecal.DingTalkClient, http_client=http) as ding:
        start = datetime(2024, 6, 3, 8, tzinfo=SH)
        for expand in (False, True):
            listing = ding.list_events(
                user_id=people.alice, start=start, end=_hour(start), expand=expand
            )
            _ = [e async for e in listing]
        await ding.get_free_busy([people.bob], start=start, end=_hour(start), user_id=people.alice)
        sandbox.faults.script("dingtalk.v1.events.create", [Fault.server_error(503)])
        await ding.create_event(_event("w", MONDAY, _hour(MONDAY)), user_id=people.alice)
        second = await ding.create_event(_event("w2", MONDAY, _hour(MONDAY)), user_id=people.alice)
        await ding.update_event(attrs.evolve(second, summary="w3"), user_id=people.alice)
    for name in ("/events", "/eventsview"):
        # The last one: a windowed /events listing first looks at the window's
        # first second through /eventsview, for the events already running.
        listing = [r for r in seen if r.url.path.endswith(name) and r.method == "GET"][-1]
        assert listing.url.params["timeMin"] == "2024-06-03T00:00:00.000Z"
        assert listing.url.params["timeMax"] == "2024-06-03T01:00:00.000Z"
        assert listing.headers["x-acs-dingtalk-access-token"]
        assert "access_token" not in str(listing.url)
    query = next(r for r in seen if r.url.path.endswith("/querySchedule"))
    assert json.loads(query.content) == {
        "userIds": [people.bob],
        "startTime": "2024-06-03T00:00:00.000Z",
        "endTime": "2024-06-03T01:00:00.000Z",
    }
    # The first create met a 503 and was sent again with the same token; the
    # second create is another write with its own.
    creates = [r for r in seen if r.method == "POST" and r.url.path.endswith("/events")]
    patch = next(r for r in seen if r.method == "PUT")
    assert json.loads(patch.content)["id"] == patch.url.path.rsplit("/", 1)[1]  # repeated
    tokens = [r.headers["x-client-token"] for r in creates]
    assert len(tokens) == 3
    assert tokens[0] == tokens[1] != tokens[2]
    assert len(tokens[0]) >= 16
