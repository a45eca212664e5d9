"""
Real provider answers, collected from public material, through the real clients.

Every answer in ``tests/data/real`` (their sources: ``SOURCES.md`` beside them)
is served byte for byte by an ``httpx.MockTransport`` to a real client, with
the token endpoint answered by a real token answer too. The expected values
are read off the JSON and the reference by hand (the comments show the
arithmetic), not produced by running wecal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import wecal
from tests.sandbox_fixtures import FAST_RETRY

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data" / "real"

WECOM_TOKEN = "/cgi-bin/gettoken"
LEGACY_TOKEN = "/gettoken"
V1_TOKEN = "/v1.0/oauth2/accessToken"
UNION = "iiiP35sJadba8aBSgjrwPRKgiEiF"
EVENTS = f"/v1.0/calendar/users/{UNION}/calendars/primary/events"

#: An answer: a fixture file name (HTTP 200), or (status, file name), or
#: (status, literal bytes) for the few joins the sources leave implicit.
Answer = str | tuple[int, str] | tuple[int, bytes]


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


class Replay:
    """Serves recorded answers per path, in order; the last one repeats."""

    def __init__(self, routes: Mapping[str, Sequence[Answer]]) -> None:
        self.routes = {path: list(answers) for path, answers in routes.items()}
        self.requests: list[httpx.Request] = []

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get(request.url.path)
        assert answers, f"unexpected request {request.method} {request.url.path}"
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        status, content = (200, answer) if isinstance(answer, str) else answer
        body = fixture(content) if isinstance(content, str) else content
        return httpx.Response(
            status, content=body, headers={"content-type": "application/json;charset=utf-8"}
        )

    def options(self) -> dict[str, object]:
        return {
            "base_url": "http://provider.test",
            "transport": httpx.MockTransport(self.handle),
            "token_store": wecal.MemoryTokenStore(),
            "retry": FAST_RETRY,
        }


def wecom(routes: Mapping[str, Sequence[Answer]]) -> tuple[wecal.WeComClient, Replay]:
    replay = Replay({WECOM_TOKEN: ["wecom_gettoken_91039.json"], **routes})
    return wecal.WeComClient("ww-real", "corpsecret-real-1", **replay.options()), replay  # type: ignore[arg-type]


def legacy(
    routes: Mapping[str, Sequence[Answer]],
) -> tuple[wecal.DingTalkLegacyClient, Replay]:
    replay = Replay({LEGACY_TOKEN: ["dingtalk_legacy_gettoken_1444.json"], **routes})
    client = wecal.DingTalkLegacyClient("dingrealkey", "appsecret-real-1", **replay.options())  # type: ignore[arg-type]
    return client, replay


def v1(routes: Mapping[str, Sequence[Answer]]) -> tuple[wecal.DingTalkClient, Replay]:
    replay = Replay(
        {
            V1_TOKEN: ["dingtalk_v1_access_token_0033.json"],
            LEGACY_TOKEN: ["dingtalk_legacy_gettoken_1444.json"],
            **routes,
        }
    )
    client = wecal.DingTalkClient("dingrealkey", "appsecret-real-1", **replay.options())  # type: ignore[arg-type]
    return client, replay


def a_meeting(provider: wecal.Provider = wecal.Provider.DINGTALK) -> wecal.Event:
    """A new one-hour meeting to write (the answers say what came back)."""
    return wecal.Event(
        provider=provider,
        id="",
        start=datetime(2026, 3, 25, 2, tzinfo=UTC),
        end=datetime(2026, 3, 25, 3, tzinfo=UTC),
        summary="项目周会",
    )


def assert_practitioner_event(event: wecal.Event) -> None:
    """The practitioner's excerpt event: 02:00–03:00 UTC ("Z", timeZone "UTC"), nothing else."""
    assert event.id == "xxxxxxxx"
    assert event.summary == "项目周会"
    assert (event.start, event.end) == (
        datetime(2026, 3, 25, 2, tzinfo=UTC),
        datetime(2026, 3, 25, 3, tzinfo=UTC),
    )
    assert (event.timezone, event.all_day) == ("UTC", False)
    assert (event.series_id, event.recurrence_id, event.recurrence) == (None, None, None)
    assert (event.organizer, event.attendees, event.reminders) == (None, (), ())


# -- WeCom ---------------------------------------------------------------------------------

EMPTY_WECOM_PAGE = (200, b'{"errcode":0,"errmsg":"ok","schedule_list":[]}')


async def test_wecom_get_by_calendar_doc_answer() -> None:
    # developer.work.weixin.qq.com/document/path/97723 (2022/12/06): admins, no
    # organizer, sequence, no is_whole_day, no remind_time_diffs.
    client, replay = wecom(
        {
            "/cgi-bin/oa/schedule/get_by_calendar": [
                "wecom_get_by_calendar_97723.json",
                EMPTY_WECOM_PAGE,
            ]
        }
    )
    async with client:
        (event,) = [e async for e in client.list_events("wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA")]
    assert len(replay.calls("/cgi-bin/oa/schedule/get_by_calendar")) == 2  # until the empty page
    assert event.provider is wecal.Provider.WECOM
    assert event.id == "17c7d2bd9f20d652840f72f59e796AAA"
    assert event.calendar_id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA"
    assert (event.summary, event.description, event.location) == (
        "test_summary",
        "test_content",
        "test_place",
    )
    # 1571274600 = 2019-10-17 01:10:00 UTC; 1571320210 = 2019-10-17 13:50:10 UTC.
    assert not event.all_day
    assert event.start == datetime(2019, 10, 17, 1, 10, tzinfo=UTC)
    assert event.end == datetime(2019, 10, 17, 13, 50, 10, tzinfo=UTC)
    assert event.timezone == "+08:00"  # reminders.timezone 8
    assert event.status is wecal.EventStatus.CANCELLED  # status 1
    assert event.attendees == (
        wecal.Attendee(id="userid1", response=wecal.ResponseStatus.NEEDS_ACTION),
    )
    assert event.reminders == (timedelta(hours=-1),)  # remind_before_event_secs 3600
    assert event.recurrence is not None
    # repeat_type 7 (workdays) until 1606976813 = 2020-12-03 06:26:53 UTC.
    assert "BYDAY=MO,TU,WE,TH,FR" in event.recurrence.rrule
    assert "UNTIL=20201203T062653Z" in event.recurrence.rrule
    assert event.recurrence.exdates == ()
    assert event.raw["sequence"] == 100


async def test_wecom_schedule_get_doc_answer() -> None:
    # developer.work.weixin.qq.com/document/path/97724 (2023/06/16): whole day,
    # remind_time_diffs, exclude_time_list.
    client, _ = wecom({"/cgi-bin/oa/schedule/get": ["wecom_schedule_get_97724.json"]})
    async with client:
        event = await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    assert event.id == "17c7d2bd9f20d652840f72f59e796AAA"
    # 1571274600 = 2019-10-17 09:10 +08:00; 1571579410 = 2019-10-20 21:50:10 +08:00:
    # whole days 17th..20th, exclusive end the 21st.
    assert event.all_day
    assert (event.start, event.end) == (date(2019, 10, 17), date(2019, 10, 21))
    assert event.status is wecal.EventStatus.CANCELLED
    assert event.attendees == (
        wecal.Attendee(id="userid2", response=wecal.ResponseStatus.TENTATIVE),
    )
    assert event.reminders == (timedelta(seconds=-3600),)  # remind_time_diffs wins
    assert event.recurrence is not None
    assert "UNTIL=20201203" in event.recurrence.rrule
    # exclude_time_list 1571361000 = 2019-10-18 09:10 +08:00: the 18th is left out.
    assert event.recurrence.exdates == (date(2019, 10, 18),)


async def test_wecom_40058_on_a_write_is_an_invalid_request() -> None:
    # A real 40058 body: hint, an empty "from ip", and the "more info" link.
    client, replay = wecom({"/cgi-bin/oa/schedule/add": ["wecom_error_40058.json"]})
    async with client:
        with pytest.raises(wecal.InvalidRequestError) as info:
            await client.create_event(
                a_meeting(wecal.Provider.WECOM), calendar_id="wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA"
            )
    assert info.value.code == 40058
    assert "invalid Request Parameter" in info.value.message
    assert len(replay.calls("/cgi-bin/oa/schedule/add")) == 1  # not retried


async def test_wecom_40058_on_get_means_an_unknown_schedule() -> None:
    # schedule/get's only parameter is the id list: 40058 there is "no such id".
    client, _ = wecom({"/cgi-bin/oa/schedule/get": ["wecom_error_40058.json"]})
    async with client:
        with pytest.raises(wecal.NotFoundError) as info:
            await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    assert info.value.missing == ("17c7d2bd9f20d652840f72f59e796AAA",)


async def test_wecom_60020_untrusted_ip_is_permission_denied() -> None:
    client, _ = wecom({"/cgi-bin/oa/schedule/get": ["wecom_error_60020.json"]})
    async with client:
        with pytest.raises(wecal.PermissionDeniedError) as info:
            await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    assert info.value.code == 60020
    assert "not allow to access from your ip" in info.value.message


@pytest.mark.parametrize(
    ("first", "tokens"),
    [
        # A live 42001 body (no hint, the "more info" link): the token is fetched
        # anew and the call replayed once.
        ("wecom_error_42001.json", 2),
        # {"errcode":-1,"errmsg":"system busy"}: transient, asked again, same token.
        ("wecom_error_-1.json", 1),
    ],
    ids=["42001-expired-token", "minus-1-busy"],
)
async def test_wecom_transient_answers_are_asked_again(first: str, tokens: int) -> None:
    client, replay = wecom({"/cgi-bin/oa/schedule/get": [first, "wecom_schedule_get_97724.json"]})
    async with client:
        event = await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    assert (event.id, event.summary) == ("17c7d2bd9f20d652840f72f59e796AAA", "test_summary")
    assert len(replay.calls(WECOM_TOKEN)) == tokens
    assert len(replay.calls("/cgi-bin/oa/schedule/get")) == 2


async def test_wecom_45009_is_a_rate_limit_with_the_minute_block() -> None:
    # {"errcode":45009,"errmsg":"api freq out of limit"}: WeCom blocks for 60 s,
    # longer than these tests' retry deadline (5 s), so it is raised at once.
    client, replay = wecom({"/cgi-bin/oa/schedule/get": ["wecom_error_45009.json"]})
    async with client:
        with pytest.raises(wecal.RateLimitError) as info:
            await client.get_event("17c7d2bd9f20d652840f72f59e796AAA")
    assert info.value.code == 45009
    assert info.value.retry_after is not None
    assert 55 <= info.value.retry_after <= 60
    assert len(replay.calls("/cgi-bin/oa/schedule/get")) == 1


async def test_wecom_calendar_get_doc_answer() -> None:
    # developer.work.weixin.qq.com/document/path/97717 (2023/04/11): the example
    # spells admins "adminis"; permission 1 = 可查看, 3 = 仅查看闲忙.
    client, _ = wecom({"/cgi-bin/oa/calendar/get": ["wecom_calendar_get_97717.json"]})
    async with client:
        (calendar,) = await client.get_calendars(["wcjgewCwAAqeJcPI1d8Pwbjt7nttzBBB"])
    assert calendar.id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzBBB"
    assert (calendar.summary, calendar.description) == ("全员周会", "每周一例会")
    assert calendar.color == "#0000FF"
    assert calendar.admins == ("admin1", "admin2")
    assert [(share.user_id, share.permission) for share in calendar.shares] == [
        ("admin1", wecal.SharePermission.VIEW),
        ("admin2", wecal.SharePermission.VIEW),
        ("userid3", wecal.SharePermission.FREE_BUSY),
    ]
    assert calendar.is_public
    assert calendar.public_user_ids == ("userid4", "userid5")
    assert calendar.public_department_ids == (2, 3)
    assert not calendar.is_corp_calendar


# -- DingTalk legacy (oapi) ------------------------------------------------------------------


async def test_legacy_error_41_with_request_id() -> None:
    # mingyoung/dingtalk#52: {"errcode":41,"errmsg":"Invalid arguments:create_vo","request_id":…}
    client, replay = legacy({"/topapi/calendar/list": ["dingtalk_legacy_error_41.json"]})
    async with client:
        with pytest.raises(wecal.InvalidRequestError) as info:
            _ = [e async for e in client.list_events(user_id="01040144291326")]
    assert (info.value.code, info.value.request_id) == (41, "f87qrbvdj9rl")
    assert "Invalid arguments:create_vo" in info.value.message
    assert len(replay.calls("/topapi/calendar/list")) == 1


async def test_legacy_gettoken_refused_is_authentication_error() -> None:
    # A live gettoken answer to a wrong appkey/appsecret (HTTP 200, errcode 40096).
    client, replay = legacy({"/topapi/calendar/list": ["dingtalk_legacy_error_41.json"]})
    replay.routes[LEGACY_TOKEN] = ["dingtalk_legacy_gettoken_40096.json"]
    async with client:
        with pytest.raises(wecal.AuthenticationError) as info:
            _ = [e async for e in client.list_events(user_id="01040144291326")]
    assert info.value.code == 40096
    assert "不合法的appKey或appSecret" in info.value.message
    assert replay.calls("/topapi/calendar/list") == []


@pytest.mark.parametrize("status", [200, 403])
async def test_dingtalk_ip_ban_is_a_five_minute_rate_limit(status: int) -> None:
    # how-to-process-api-throttling (1433): over 10 000 calls in 20 s from one IP,
    # {"status":1111,"wait":5,"source":"x5","punish":"deny",…} with no errcode or
    # code, and every call refused for 5 minutes. (Its HTTP status is not given.)
    v1_client, v1_replay = v1({f"{EVENTS}/e1": [(status, "dingtalk_ip_ban_1433.json")]})
    legacy_client, legacy_replay = legacy(
        {"/topapi/calendar/list": [(status, "dingtalk_ip_ban_1433.json")]}
    )
    async with v1_client, legacy_client:
        with pytest.raises(wecal.RateLimitError) as v1_info:
            await v1_client.get_event("e1", user_id=UNION)
        with pytest.raises(wecal.RateLimitError) as legacy_info:
            _ = [e async for e in legacy_client.list_events(user_id="01040144291326")]
    for info in (v1_info, legacy_info):
        assert info.value.retry_after is not None
        assert 295 <= info.value.retry_after <= 300
        assert info.value.request_id == "xxx"  # the answer's uuid
    assert len(v1_replay.calls(f"{EVENTS}/e1")) == 1
    assert len(legacy_replay.calls("/topapi/calendar/list")) == 1


# -- DingTalk v1.0 ---------------------------------------------------------------------------

# The doc examples set date and dateTime together on a timed event (isAllDay false):
# the dateTime is the time, 2020-01-01T10:15:30+08:00 = 02:15:30 UTC, zero length.
DOC_TIME = datetime(2020, 1, 1, 2, 15, 30, tzinfo=UTC)


def assert_doc_instance(
    event: wecal.Event,
    *,
    series: str,
    organizer: str,
    name: str,
    reminders: tuple[timedelta, ...] = (timedelta(minutes=-15),),  # minutes "15", a string
) -> None:
    """The fields every v1.0 doc example event shares (0253/0254/0255)."""
    assert event.provider is wecal.Provider.DINGTALK
    assert event.calendar_id == "primary"
    assert (event.summary, event.description) == ("test event", "something about this event")
    assert not event.all_day
    assert event.start == event.end == DOC_TIME
    assert event.timezone == "Asia/Shanghai"
    assert event.location == "room 1-2-3"
    assert event.status is wecal.EventStatus.CONFIRMED
    assert event.organizer == wecal.Person(id=organizer, display_name=name)
    assert event.reminders == reminders
    assert event.created == event.updated == DOC_TIME
    # seriesMasterId + originStart (always UTC): an occurrence of that series,
    # whose id is f"{series_id}_{recurrence_id:%Y%m%dT%H%M%SZ}" (DESIGN).
    assert event.series_id == series
    assert event.recurrence_id == datetime(2023, 1, 1, tzinfo=UTC)
    assert event.id == f"{series}_20230101T000000Z"


async def test_v1_events_list_doc_answer_then_a_null_next_token() -> None:
    # Page 1: query-an-event-list (0254), nextToken and syncToken; page 2: a
    # practitioner's live answer excerpt with "nextToken": null, start/end in UTC.
    client, replay = v1(
        {
            EVENTS: [
                "dingtalk_v1_events_list_0254.json",
                "dingtalk_v1_events_list_practitioner.json",
            ]
        }
    )
    async with client:
        first, second = [e async for e in client.list_events(user_id=UNION)]
    assert_doc_instance(
        first,
        series="cnNTbWxxxxaFJZdEgvdlQrQT09",
        organizer="iiiP35xxxxBSgjrwPRKgiEiF",
        name="tony",
    )
    assert first.attendees == (
        wecal.Attendee(
            id="iiiP35sJaxxxxRKgiEiF", display_name="jack", response=wecal.ResponseStatus.ACCEPTED
        ),
    )
    assert first.meeting_url == (
        "dingtalk://dingtalkclient/page/videoCoxxxxndar?confId=5c4df21dxxxx2b9f3a&calendarId=92xxxx36"
    )
    assert_practitioner_event(second)
    pages = replay.calls(EVENTS)
    assert len(pages) == 2
    assert pages[1].url.params["nextToken"] == "cnNTbW1YbxxxxdlQrQT09"


async def test_v1_sync_keeps_the_doc_answers_sync_token() -> None:
    # 0254's page carries nextToken *and* syncToken; the next page (the
    # practitioner's, "nextToken": null) has none: the sync keeps 0254's token
    # and sends it on the next sync.
    pages = ["dingtalk_v1_events_list_0254.json", "dingtalk_v1_events_list_practitioner.json"]
    client, replay = v1({EVENTS: pages})
    async with client:
        stream = client.sync_events(user_id=UNION)
        async with stream:
            changes = [(c.kind, c.event_id) async for c in stream]
        assert stream.resynced
        assert changes == [
            (wecal.ChangeKind.RESET, ""),
            (wecal.ChangeKind.CREATED, "cnNTbWxxxxaFJZdEgvdlQrQT09_20230101T000000Z"),
            (wecal.ChangeKind.CREATED, "xxxxxxxx"),
        ]
        first, second = replay.calls(EVENTS)
        assert first.url.params["showDeleted"] == "true"
        assert "timeMax" not in first.url.params  # a timeMax would suppress the syncToken
        assert second.url.params["nextToken"] == "cnNTbW1YbxxxxdlQrQT09"
        # The next sync pages the same two answers (0254's again would be its
        # nextToken twice in one stream: a loop the sync refuses).
        replay.routes[EVENTS] = list(pages)
        again = client.sync_events(user_id=UNION, state=stream.state)
        async with again:
            _ = [c async for c in again]
    assert replay.calls(EVENTS)[2].url.params["syncToken"] == "zxcasdfvc000009"


async def test_v1_eventsview_doc_answer() -> None:
    client, replay = v1(
        {
            f"{EVENTS}view": [
                "dingtalk_v1_eventsview_0255.json",
                "dingtalk_v1_events_list_practitioner.json",
            ]
        }
    )
    window = {"start": datetime(2019, 12, 1, tzinfo=UTC), "end": datetime(2026, 12, 1, tzinfo=UTC)}
    async with client:
        events = [e async for e in client.list_events(user_id=UNION, expand=True, **window)]
    first = events[0]
    # 0255's example has no reminders at all.
    assert_doc_instance(first, series="cnNTbxxx", organizer="iiiP35xxx", name="jack", reminders=())
    assert first.attendees == (
        wecal.Attendee(id="iiiP35xxx", display_name="tony", response=wecal.ResponseStatus.ACCEPTED),
    )
    assert first.meeting_url == "dingtalk://dingtalkclient/page/xxx?confId=xxx&calendarId=xxx"
    assert [e.id for e in events[1:]] == ["xxxxxxxx"]
    assert replay.calls(f"{EVENTS}view")[1].url.params["nextToken"] == "cnNTbWxxx"


async def test_v1_get_event_doc_answer() -> None:
    client, _ = v1({f"{EVENTS}/cnNTbW1YbUxxxxvdlQrQT09": ["dingtalk_v1_event_get_0253.json"]})
    async with client:
        event = await client.get_event("cnNTbW1YbUxxxxvdlQrQT09", user_id=UNION)
    assert_doc_instance(
        event, series="cnNTbW1YbxxxxvdlQrQT09", organizer="iiiP35sJxxxxPRKgiEiF", name="tony"
    )
    assert event.attendees == (
        wecal.Attendee(
            id="iiiP35sJxxxxPRKgiEiF", display_name="jack", response=wecal.ResponseStatus.ACCEPTED
        ),
    )
    assert event.raw["meetingRooms"][0]["displayName"] == "1号会议室"


async def test_v1_create_event_doc_answer() -> None:
    client, replay = v1({EVENTS: ["dingtalk_v1_event_create_0250.json"]})
    async with client:
        created = await client.create_event(a_meeting(), user_id=UNION)
    assert replay.calls(EVENTS)[0].method == "POST"
    assert created.id == "iiiP35sJadba8aBSgjrwPRKgiEiF"
    assert (created.summary, created.location) == ("some event", "room 1-2-3")
    assert created.start == created.end == DOC_TIME
    assert not created.all_day
    assert created.status is wecal.EventStatus.CONFIRMED  # no status in the answer
    assert created.meeting_url == "http://meeting"
    assert created.organizer == wecal.Person(id="iiiP35sJadba8aBSgjrwPRKgiEiF", display_name="tony")
    # pattern daily/interval 1 with range noEnd: endDate and numberOfOccurrences
    # (filler in the example) do not bound it; dayOfMonth etc. do not apply to daily.
    assert created.recurrence is not None
    assert created.recurrence.rrule == "FREQ=DAILY"
    assert (created.series_id, created.recurrence_id) == (None, None)


async def test_v1_create_event_practitioner_answer() -> None:
    # A live create answer: times back in UTC ("Z"), timeZone "UTC", a requestId beside.
    client, _ = v1({EVENTS: ["dingtalk_v1_event_create_practitioner.json"]})
    async with client:
        created = await client.create_event(a_meeting(), user_id=UNION)
    assert_practitioner_event(created)


async def test_v1_patch_event_doc_answer() -> None:
    # The doc's answer names the event iiiP35sJadba8aBSgjrwPRKgiEiF: patch that one.
    doc_id = "iiiP35sJadba8aBSgjrwPRKgiEiF"
    client, replay = v1({f"{EVENTS}/{doc_id}": ["dingtalk_v1_event_patch_0252.json"]})
    meeting = wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id=doc_id,
        start=DOC_TIME,
        end=DOC_TIME + timedelta(hours=1),
        summary="some event",
    )
    async with client:
        updated = await client.update_event(meeting, user_id=UNION)
    (put,) = replay.calls(f"{EVENTS}/{doc_id}")
    assert put.method == "PUT"
    assert json.loads(put.content)["id"] == doc_id
    assert updated.id == doc_id
    assert updated.description == "something about this event"
    assert updated.start == updated.end == DOC_TIME
    assert updated.recurrence is not None
    assert updated.recurrence.rrule == "FREQ=DAILY"


async def test_v1_patch_answering_another_event_is_a_format_error() -> None:
    # The same answer to the patch of another event: not that event's update.
    client, _ = v1({f"{EVENTS}/cnNTbWxxx": ["dingtalk_v1_event_patch_0252.json"]})
    meeting = wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="cnNTbWxxx",
        start=DOC_TIME,
        end=DOC_TIME + timedelta(hours=1),
    )
    async with client:
        with pytest.raises(wecal.ResponseFormatError) as info:
            await client.update_event(meeting, user_id=UNION)
    assert info.value.path == "$.id"


async def test_v1_calendars_doc_answer() -> None:
    # query-a-calendar (0261): privilege "VIEW_DETAIL", outside the documented enum.
    client, _ = v1({f"/v1.0/calendar/users/{UNION}/calendars": ["dingtalk_v1_calendars_0261.json"]})
    async with client:
        (calendar,) = await client.get_calendars(user_id=UNION)
    assert (calendar.id, calendar.summary, calendar.description) == ("cnNTbWxxx", "标题", "描述")
    assert calendar.timezone == "Asia/Shanghai"
    assert calendar.provider is wecal.Provider.DINGTALK


async def test_v1_free_busy_doc_answer_with_a_per_user_error() -> None:
    # free-schedule (0260): the one user carries "error": "无权限" beside its items:
    # its free/busy is not known, so it is not reported as free.
    client, _ = v1(
        {f"/v1.0/calendar/users/{UNION}/querySchedule": ["dingtalk_v1_query_schedule_0260.json"]}
    )
    window = {"start": datetime(2019, 12, 31, tzinfo=UTC), "end": datetime(2020, 1, 2, tzinfo=UTC)}
    async with client:
        with pytest.raises(wecal.ProviderError) as info:
            await client.get_free_busy(["iiiP35sJadxxx"], user_id=UNION, **window)
        assert info.value.missing == ("iiiP35sJadxxx",)  # type: ignore[attr-defined]
        assert (
            await client.get_free_busy(["iiiP35sJadxxx"], user_id=UNION, missing="skip", **window)
            == {}
        )


async def test_v1_resolve_union_id_doc_answer_with_a_string_errcode() -> None:
    # query-user-details (0056): "errcode":"0" is a string; result.unionid.
    client, replay = v1({"/topapi/v2/user/get": ["dingtalk_user_get_v2_0056.json"]})
    async with client:
        assert await client.resolve_union_id("zhangsan") == "z21HjQliSzpw0YWxxxxx"
    (call,) = replay.calls("/topapi/v2/user/get")
    assert call.url.params["access_token"] == "96fc7a7axxx"  # the legacy token answer's


async def test_v1_user_get_stale_token_envelope_refreshes_once() -> None:
    # A live errcode-88 envelope with sub_code 40014: refreshed once, then refused.
    client, replay = v1({"/topapi/v2/user/get": ["dingtalk_user_get_88_40014.json"]})
    async with client:
        with pytest.raises(wecal.AuthenticationError) as info:
            await client.resolve_union_id("zhangsan")
    assert info.value.request_id == "16l4ew3d47pdp"
    assert len(replay.calls(LEGACY_TOKEN)) == 2
    assert len(replay.calls("/topapi/v2/user/get")) == 2


async def test_v1_user_get_out_of_scope_is_permission_denied() -> None:
    # open-dingtalk/openapi-demo-java#1: {"errmsg":"请求的部门id不在授权范围内","errcode":50004}
    client, _ = v1({"/topapi/v2/user/get": ["dingtalk_legacy_error_50004.json"]})
    async with client:
        with pytest.raises(wecal.PermissionDeniedError) as info:
            await client.resolve_union_id("zhangsan")
    assert info.value.code == 50004


@pytest.mark.parametrize(
    ("status", "name", "error", "tokens", "text"),
    [
        # A live 400 (not 401) InvalidAuthentication: the token is dropped, fetched
        # anew and the call replayed once; refused again → AuthenticationError.
        (
            400,
            "dingtalk_v1_400_invalid_authentication.json",
            wecal.AuthenticationError,
            2,
            "不合法的access_token",
        ),
        # A live 400 AuthenticationFailed.MissingParameter (the header did not arrive).
        (
            400,
            "dingtalk_v1_400_missing_token.json",
            wecal.AuthenticationError,
            1,
            "x-acs-dingtalk-access-token",
        ),
        # casdoor/casdoor#4469: a 403 with accessdenieddetail.requiredScopes; a
        # missing scope is no stale token (no refresh).
        (
            403,
            "dingtalk_v1_403_permission.json",
            wecal.PermissionDeniedError,
            1,
            "Contact.User.Read",
        ),
    ],
    ids=["invalid-authentication", "missing-token", "missing-scope"],
)
async def test_v1_error_bodies(
    status: int, name: str, error: type[wecal.ProviderError], tokens: int, text: str
) -> None:
    client, replay = v1({f"{EVENTS}/e1": [(status, name)]})
    async with client:
        with pytest.raises(error) as info:
            await client.get_event("e1", user_id=UNION)
    answer = json.loads(fixture(name))
    assert type(info.value) is error
    assert (info.value.code, info.value.http_status) == (answer["code"], status)
    assert info.value.request_id == answer["requestid"]
    assert text in str(info.value)
    assert len(replay.calls(V1_TOKEN)) == tokens
    assert len(replay.calls(f"{EVENTS}/e1")) == tokens  # one replay per fresh token


async def test_v1_token_refused_keeps_the_providers_message() -> None:
    # A live 400 invalidClientIdOrSecret from /v1.0/oauth2/accessToken.
    client, replay = v1({f"{EVENTS}/e1": ["dingtalk_v1_event_get_0253.json"]})
    replay.routes[V1_TOKEN] = [(400, "dingtalk_v1_token_400_invalid_client.json")]
    async with client:
        with pytest.raises(wecal.AuthenticationError) as info:
            await client.get_event("e1", user_id=UNION)
    assert info.value.code == "invalidClientIdOrSecret"
    assert "无效的clientId或者clientSecret" in str(info.value)
    assert replay.calls(f"{EVENTS}/e1") == []


# -- numbers and booleans as strings, anywhere ------------------------------------------------


def stringified(value: Any) -> Any:
    """``value`` with every JSON number and boolean written as a string, as DingTalk's
    oapi answers are (``"errcode":"0"``, ``"boss":"true"``, ``"hired_date":"1597…"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: stringified(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringified(v) for v in value]
    return value


def as_strings(name: str) -> tuple[int, bytes]:
    return 200, json.dumps(stringified(json.loads(fixture(name))), ensure_ascii=False).encode()


@pytest.mark.parametrize("spelled", ["as published", "as strings"])
async def test_numbers_and_booleans_as_strings_read_the_same(spelled: str) -> None:
    # Every real event answer above, and the same answer with each number and
    # boolean in a string: the events read are equal (raw aside), field by field
    # as the tests above pin them.
    def answer(name: str) -> Answer:
        return name if spelled == "as published" else as_strings(name)

    wecom_client, _ = wecom(
        {
            WECOM_TOKEN: [answer("wecom_gettoken_91039.json")],
            "/cgi-bin/oa/schedule/get": [answer("wecom_schedule_get_97724.json")],
            "/cgi-bin/oa/schedule/get_by_calendar": [
                answer("wecom_get_by_calendar_97723.json"),
                EMPTY_WECOM_PAGE,
            ],
        }
    )
    async with wecom_client:
        got = [await wecom_client.get_event("17c7d2bd9f20d652840f72f59e796AAA")]
        got += [e async for e in wecom_client.list_events("wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA")]
    v1_client, _ = v1(
        {
            V1_TOKEN: [answer("dingtalk_v1_access_token_0033.json")],
            EVENTS: [answer("dingtalk_v1_events_list_0254.json"), EMPTY_V1_PAGE],
            f"{EVENTS}/e1": [answer("dingtalk_v1_event_get_0253.json")],
            f"{EVENTS}/e2": [answer("dingtalk_v1_event_patch_0252.json")],
        }
    )
    async with v1_client:
        got += [e async for e in v1_client.list_events(user_id=UNION)]
        got += [await v1_client.get_event(e, user_id=UNION) for e in ("e1", "e2")]
    expected = await published_events()
    assert got == expected
    assert [e.attendees for e in got] == [e.attendees for e in expected]


EMPTY_V1_PAGE = (200, b'{"events":[]}')


async def published_events() -> list[wecal.Event]:
    """What the answers as published read as (pinned field by field above)."""
    wecom_client, _ = wecom(
        {
            "/cgi-bin/oa/schedule/get": ["wecom_schedule_get_97724.json"],
            "/cgi-bin/oa/schedule/get_by_calendar": [
                "wecom_get_by_calendar_97723.json",
                EMPTY_WECOM_PAGE,
            ],
        }
    )
    async with wecom_client:
        events = [await wecom_client.get_event("17c7d2bd9f20d652840f72f59e796AAA")]
        events += [e async for e in wecom_client.list_events("wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA")]
    v1_client, _ = v1(
        {
            EVENTS: ["dingtalk_v1_events_list_0254.json", EMPTY_V1_PAGE],
            f"{EVENTS}/e1": ["dingtalk_v1_event_get_0253.json"],
            f"{EVENTS}/e2": ["dingtalk_v1_event_patch_0252.json"],
        }
    )
    async with v1_client:
        events += [e async for e in v1_client.list_events(user_id=UNION)]
        events += [await v1_client.get_event(e, user_id=UNION) for e in ("e1", "e2")]
    return events


async def test_user_get_with_numbers_as_strings() -> None:
    # 0056 already has "errcode":"0"; with its "false" boolean and every other
    # value a string too, the unionId is read the same.
    client, _ = v1({"/topapi/v2/user/get": [as_strings("dingtalk_user_get_v2_0056.json")]})
    async with client:
        assert await client.resolve_union_id("zhangsan") == "z21HjQliSzpw0YWxxxxx"
