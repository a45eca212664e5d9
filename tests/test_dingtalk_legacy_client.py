"""
``wecal.DingTalkLegacyClient`` against the sandbox, in-process (``httpx.ASGITransport``).

Token paging, the server-side window and ``single_events`` expansion compared
with ``sandbox.dingtalk_ground_truth``, what goes on the wire, argument and
lifecycle errors before any request, and the seed documents through the
whole client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import wecal
from tests._mock import APP_KEY, APP_SECRET, FakeProvider, note_sandbox_tokens
from tests.sandbox_fixtures import DINGTALK_APP_KEY, FAST_RETRY, client_on
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.sandbox import RecordedRequest, Sandbox, generate

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "dingtalk_legacy"
SH = ZoneInfo("Asia/Shanghai")
PLUS8 = timezone(timedelta(hours=8))
FAST = FAST_RETRY

ClientFactory = Callable[..., wecal.DingTalkLegacyClient]


def make_client(sb: Sandbox, **kw: Any) -> wecal.DingTalkLegacyClient:
    """A client on ``sb`` in-process, with its own token store and fast retries."""
    return client_on(sb, wecal.DingTalkLegacyClient, **kw)


@pytest.fixture
def ding(sandbox: Sandbox) -> Iterator[ClientFactory]:
    """Clients on the test's sandbox; its tokens count as secrets for the log check."""
    yield lambda **kw: make_client(sandbox, **kw)
    note_sandbox_tokens(sandbox)


def listed(sb: Sandbox) -> list[RecordedRequest]:
    return [r for r in sb.requests if r.api == "dingtalk.calendar.list"]


def expected_id(item: Mapping[str, Any]) -> str:
    """
    The wecal id of a ground-truth item, by DESIGN.md's rule: the DingTalk id
    for a single event, the series' ``unique_id`` for a master (its
    occurrences share it, whatever their ``id``), ``{series}_{original start
    in UTC}`` (a date for all-day ones) for an occurrence — computed from the
    item's own ``recurrence_id`` (epoch milliseconds) and ``unique_id``.
    """
    if "recurrence_id" not in item:
        return str(item["unique_id"] if item.get("recurrence") else item["id"])
    master = str(item["unique_id"])
    rid = datetime.fromtimestamp(int(item["recurrence_id"]) / 1000, UTC)
    if "date_time" not in item["start"]:
        zone = ZoneInfo(item["start"].get("time_zone") or "Asia/Shanghai")
        return f"{master}_{rid.astimezone(zone):%Y%m%d}"
    return f"{master}_{rid:%Y%m%dT%H%M%SZ}"


def expected_start(item: Mapping[str, Any]) -> datetime | date:
    start = item["start"]
    if "date_time" in start:
        return datetime.strptime(start["date_time"], "%Y-%m-%dT%H:%M:%S%z")
    return date.fromisoformat(start["date"])


def seen(event: wecal.Event) -> tuple[str, datetime | date]:
    return event.id, event.start


def user_of(sb: Sandbox) -> str:
    return next(iter(sb.dingtalk_users))


# -- listing -------------------------------------------------------------------------


async def test_lists_everything_over_token_pages(sandbox: Sandbox, ding: ClientFactory) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=23, wecom_calendars=0)
    user = user_of(sandbox)
    truth = sandbox.dingtalk_ground_truth(user)
    async with ding() as client:
        pages = [p async for p in client.list_events(user_id=user, page_size=5).by_page()]
    assert [len(p.items) for p in pages] == [5, 5, 5, 5, 3]
    assert pages[-1].cursor is None
    assert [e.id for p in pages for e in p.items] == [expected_id(i) for i in truth]
    sent = [r.json for r in listed(sandbox)]
    assert [b["max_results"] for b in sent] == [5] * 5
    assert [b["user_id"] for b in sent] == [user] * 5
    assert "page_token" not in sent[0]
    assert all(isinstance(b["page_token"], str) and b["page_token"] for b in sent[1:])
    assert "single_events" not in sent[0]
    assert "time_min" not in sent[0]


async def test_default_page_size_and_folder(sandbox: Sandbox, ding: ClientFactory) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=4, wecom_calendars=0)
    user = user_of(sandbox)
    folder = sandbox.dingtalk_users[user]["folder_id"]
    async with ding() as client:
        events = [e async for e in client.list_events(folder, user_id=user)]
        with pytest.raises(wecal.InvalidRequestError) as info:
            [e async for e in client.list_events("not-my-folder", user_id=user)]
    assert info.value.code == 41
    assert len(events) == 4
    assert {e.calendar_id for e in events} == {folder}
    assert listed(sandbox)[0].json == {
        "user_id": user,
        "max_results": 250,
        "calendar_folder_id": folder,
    }


@pytest.mark.parametrize("expand", [False, True], ids=["masters", "expanded"])
@pytest.mark.parametrize(
    "window",
    [
        (datetime(2024, 6, 1, tzinfo=SH), datetime(2024, 6, 20, tzinfo=SH)),
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC)),
        (datetime(2024, 6, 5, 9, tzinfo=PLUS8), datetime(2024, 6, 5, 18, tzinfo=PLUS8)),
    ],
    ids=["3w", "4mo", "9h"],
)
async def test_window_and_expand_match_ground_truth(
    sandbox: Sandbox, ding: ClientFactory, window: tuple[datetime, datetime], expand: bool
) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=40, wecom_calendars=0)
    user = user_of(sandbox)
    lo, hi = window
    truth = sandbox.dingtalk_ground_truth(user, start=lo, end=hi, expand=expand)
    async with ding() as client:
        pager = client.list_events(user_id=user, start=lo, end=hi, expand=expand, page_size=6)
        events = [e async for e in pager]
    assert [seen(e) for e in events] == [(expected_id(i), expected_start(i)) for i in truth]
    body = listed(sandbox)[0].json
    assert body["time_min"]["date_time"] == lo.strftime("%Y-%m-%dT%H:%M:%S%z")
    assert body["time_max"]["date_time"] == hi.strftime("%Y-%m-%dT%H:%M:%S%z")
    if expand:
        assert body["single_events"] is True
        assert [e.series_id is not None for e in events] == ["recurrence_id" in i for i in truth]
        for e in events:
            assert e.recurrence is None
            if e.series_id is not None:
                assert e.recurrence_id is not None
    else:
        assert [e.recurrence is not None for e in events] == [
            bool(i.get("recurrence")) for i in truth
        ]


async def test_zone_name_goes_on_the_wire(sandbox: Sandbox, ding: ClientFactory) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=2, wecom_calendars=0)
    lo = datetime(2024, 6, 1, 9, tzinfo=SH)
    async with ding() as client:
        [e async for e in client.list_events(user_id=user_of(sandbox), start=lo)]
    body = listed(sandbox)[0].json
    assert body["time_min"] == {
        "date_time": "2024-06-01T09:00:00+0800",
        "time_zone": "Asia/Shanghai",
    }
    assert "time_max" not in body


async def test_cursor_resumes_in_a_new_client(sandbox: Sandbox, ding: ClientFactory) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=12, wecom_calendars=0)
    user = user_of(sandbox)
    async with ding() as client:
        pages = client.list_events(user_id=user, page_size=5).by_page()
        first = await pages.__anext__()
    assert first.cursor is not None
    async with ding() as other:
        rest = [p async for p in other.list_events(user_id=user, page_size=5).by_page(first.cursor)]
        with pytest.raises(wecal.ValidationError, match="cursor"):
            other.list_events(user_id="someone-else", page_size=5).by_page(first.cursor)
        windowed = other.list_events(user_id=user, start=datetime(2024, 6, 1, tzinfo=UTC))
        with pytest.raises(wecal.ValidationError, match="cursor"):
            windowed.by_page(first.cursor)
    ids = [e.id for e in first.items] + [e.id for p in rest for e in p.items]
    assert ids == [expected_id(i) for i in sandbox.dingtalk_ground_truth(user)]


# -- errors --------------------------------------------------------------------------


async def test_unknown_user(sandbox: Sandbox, ding: ClientFactory) -> None:
    async with ding() as client:
        with pytest.raises(wecal.ProviderError) as info:
            [e async for e in client.list_events(user_id="nobody")]
    assert info.value.code == 60121
    assert info.value.cursor is not None  # resume point: the first page


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "user_id"),
        ({"user_id": ""}, "user_id"),
        # The one id given positionally, as WeCom's list_events takes it, is a folder's.
        ({"calendar_id": "u"}, r"^user_id= is required: the user's staff userid \(the first "),
        ({"user_id": "u", "calendar_id": ""}, "calendar_id"),
        ({"user_id": "u", "page_size": 2501}, "maximum"),
        ({"user_id": "u", "page_size": True}, "page_size"),
        ({"user_id": "u", "end": datetime(2024, 6, 1)}, "aware"),
        ({"user_id": "u", "expand": True}, "expand"),
        ({"user_id": "u", "expand": True, "end": datetime(2024, 6, 1, tzinfo=UTC)}, "expand"),
    ],
)
async def test_argument_errors(
    sandbox: Sandbox, ding: ClientFactory, kwargs: dict[str, Any], match: str
) -> None:
    async with ding() as client:
        with pytest.raises(wecal.ValidationError, match=match):
            client.list_events(**kwargs)
    assert sandbox.requests == []


async def test_closed_client(sandbox: Sandbox, ding: ClientFactory) -> None:
    generate(sandbox, dingtalk_users=1, events_per_user=2, wecom_calendars=0)
    client = ding()
    await client.aclose()
    with pytest.raises(wecal.ClientClosedError):
        [e async for e in client.list_events(user_id=user_of(sandbox))]
    assert sandbox.requests == []


async def test_wrong_secret_is_an_authentication_error(sandbox: Sandbox) -> None:
    client = wecal.DingTalkLegacyClient(
        DINGTALK_APP_KEY,
        "not-the-secret",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=sandbox.app),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST,
    )
    async with client:
        with pytest.raises(wecal.AuthenticationError) as info:
            [e async for e in client.list_events(user_id="u")]
    assert "not-the-secret" not in str(info.value)
    assert [r.api for r in sandbox.requests] == ["dingtalk.gettoken"]


# -- the seed documents through the whole client --------------------------------------


def seed_client(*answers: httpx.Response) -> wecal.DingTalkLegacyClient:
    fake = FakeProvider(DINGTALK_LEGACY)
    fake.script("/topapi/calendar/list", *answers)
    return wecal.DingTalkLegacyClient(
        APP_KEY,
        APP_SECRET,
        base_url="http://ding",
        transport=fake.transport(),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST,
    )


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


async def test_seed_page_through_the_client() -> None:
    # The seed's errcode 15 with success:true is filler (reference/dingtalk.md
    # §1.1 quirk 4: trust only errcode 0); its result is served with errcode 0.
    page = load("calendar_list.json") | {"errcode": 0, "errmsg": "ok"}
    last = {"errcode": 0, "result": {"items": []}, "success": True}
    async with seed_client(
        httpx.Response(200, json=page), httpx.Response(200, json=last)
    ) as client:
        events = [e async for e in client.list_events(user_id="123134568")]
    (event,) = events
    # By hand from the seed item: 2019-03-01T23:08:53+0800 in Asia/Shanghai;
    # recurrence_id 1609466400000 ms = 2021-01-01T02:00:00Z, an occurrence of
    # unique_id k3io5atbqjbgh9927j8d94abh.
    assert event.start == datetime(2019, 3, 1, 23, 8, 53, tzinfo=SH)
    assert event.summary == "日程标题(生日)"
    assert event.location == "第三会议室"
    assert event.series_id == "k3io5atbqjbgh9927j8d94abh"
    assert event.id == "k3io5atbqjbgh9927j8d94abh_20210101T020000Z"
    assert event.recurrence_id == datetime(2021, 1, 1, 2, tzinfo=UTC)
    assert event.organizer == wecal.Person(id="12323", display_name="张三")


async def test_seed_error_through_the_client() -> None:
    async with seed_client(httpx.Response(200, json=load("calendar_list_error.json"))) as client:
        with pytest.raises(wecal.PermissionDeniedError) as info:
            [e async for e in client.list_events(user_id="123134568")]
    assert info.value.code == 88
    assert "ding talk error" in str(info.value)


async def test_seed_as_is_is_an_error_after_retries() -> None:
    """errcode 15 (service unavailable) is retried, then raised; success:true is ignored."""
    answers = [httpx.Response(200, json=load("calendar_list.json")) for _ in range(3)]
    async with seed_client(*answers) as client:
        with pytest.raises(wecal.ProviderError) as info:
            [e async for e in client.list_events(user_id="123134568")]
    assert info.value.code == 15
    assert type(info.value) is wecal.ProviderError


async def test_one_occurrence_has_one_id_however_it_was_expanded(sandbox: Sandbox) -> None:
    # DESIGN.md "Occurrences and identity": DingTalk's single_events and
    # wecal.expand over the masters give the same ids. The sandbox's
    # occurrence ids have the seed's shape ("1k3io5…" beside unique_id
    # "k3io5…"): only unique_id names the series on both sides.
    generate(sandbox, dingtalk_users=1, events_per_user=40, wecom_calendars=0)
    user = user_of(sandbox)
    start, end = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC)
    async with client_on(sandbox, wecal.DingTalkLegacyClient) as client:
        server = [
            e async for e in client.list_events(user_id=user, start=start, end=end, expand=True)
        ]
        masters = [e async for e in client.list_events(user_id=user, start=start, end=end)]
    local = [occ for master in masters for occ in wecal.expand(master, start, end)]
    series = [e for e in server if e.series_id is not None]
    assert len(series) >= 10, "the generator should make recurring events"
    assert {e.series_id for e in series} <= {m.id for m in masters}
    assert sorted(e.id for e in server) == sorted(e.id for e in local)
    assert {e.id: e.series_id for e in server} == {e.id: e.series_id for e in local}
