"""
Writes whose outcome is unknown, and answers that lie about success.

- A write that may or may not have been applied — the deadline passed after
  it was sent, the connection was lost after it was sent, the provider failed
  after acting on it, DingTalk still answered ``idempotencyProcessing`` when
  the retries ran out — raises ``wecal.OutcomeUnknownError`` (a
  ``ProviderError``) with the ``client_token`` it carried; passing that token
  back applies the write at most once.
- A success status whose body is an error is the provider's error; an update
  answering another event's id is a ``ResponseFormatError``; a batched write
  failing in a later batch says which attendees were applied (``.applied``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import httpx
import pytest

import wecal
from tests._mock import FakeProvider, note_sandbox_tokens, ok
from tests.sandbox_fixtures import FAST_RETRY, client_on
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.sandbox import Fault, Sandbox, generate, serve

pytestmark = pytest.mark.anyio

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2024, 6, 3, 10, tzinfo=SH)


@attrs.frozen
class People:
    alice: str
    bob: str


@pytest.fixture
def people(sandbox: Sandbox) -> Iterator[People]:
    v1 = sandbox.dingtalk_v1
    yield People(alice=v1.add_user("Alice 王", userid="alice01"), bob=v1.add_user("Bob 李"))
    note_sandbox_tokens(sandbox)


def meeting(summary: str, **kw: Any) -> wecal.Event:
    return wecal.Event(
        provider=wecal.Provider.DINGTALK,
        id="",
        summary=summary,
        start=MONDAY,
        end=MONDAY + timedelta(hours=1),
        **kw,
    )


class Recording(httpx.ASGITransport):
    """The sandbox in-process, keeping each write's x-client-token by API path suffix."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(app=sandbox.app)
        self.tokens: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("x-client-token")
        if token is not None:
            self.tokens.append((request.url.path, token))
        return await super().handle_async_request(request)

    def sent(self, suffix: str) -> set[str]:
        return {token for path, token in self.tokens if path.endswith(suffix)}


def named(sandbox: Sandbox, summary: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.dingtalk_v1.events.values() if e["summary"] == summary]


# -- DingTalk: outcome unknown, then a safe retry ------------------------------------


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        # Applied, then the answer replaced by a 503, on every attempt.
        (Fault.applied_error, wecal.ProviderError),
        # Headers sent, then the connection lost, on every attempt.
        (Fault.dropped, wecal.TransportError),
    ],
    ids=["applied-then-503", "connection-lost"],
)
async def test_create_with_unknown_outcome_is_retried_safely_with_its_client_token(
    sandbox: Sandbox,
    people: People,
    make: Callable[[], Fault],
    cause: type[wecal.WecalError],
) -> None:
    sandbox.faults.script("dingtalk.v1.events.create", [make() for _ in range(3)])
    recording = Recording(sandbox)
    async with client_on(
        sandbox, wecal.DingTalkClient, retry=FAST_RETRY, transport=recording
    ) as ding:
        with pytest.raises(wecal.OutcomeUnknownError) as info:
            await ding.create_event(meeting("maybe"), user_id=people.alice)
        exc = info.value
        assert isinstance(exc, wecal.ProviderError)
        assert isinstance(exc.__cause__, cause)
        assert exc.client_token
        assert exc.client_token in str(exc)
        assert recording.sent("/events") == {exc.client_token}  # reused on every attempt
        before = named(sandbox, "maybe")
        # The retry the docs describe: the same write, the same token.
        made = await ding.create_event(
            meeting("maybe"), user_id=people.alice, client_token=exc.client_token
        )
    after = named(sandbox, "maybe")
    assert len(after) == 1  # created once, whichever attempt applied it
    assert after[0]["id"] == made.id
    if before:
        assert before[0]["id"] == made.id  # the first write had been applied: the same event


async def test_deadline_after_sending_is_an_unknown_outcome_then_applied_once(
    sandbox: Sandbox, people: People
) -> None:
    # Over a real socket: the server keeps applying the write after the client gave up.
    sandbox.dingtalk_v1.apply_delay = 1.0
    short = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, deadline=0.5)
    patient = wecal.RetryConfig(max_attempts=40, backoff_base=0.05, backoff_max=0.1, deadline=10)
    with serve(sandbox) as url:
        async with client_on(
            sandbox, wecal.DingTalkClient, base_url=url, transport=None, retry=short
        ) as ding:
            await ding._http.tokens.get()  # the deadline is the write's alone
            with pytest.raises(wecal.OutcomeUnknownError) as info:
                await ding.create_event(meeting("slow"), user_id=people.alice)
            assert "deadline" in str(info.value)
            token = info.value.client_token
            assert token
        async with client_on(
            sandbox, wecal.DingTalkClient, base_url=url, transport=None, retry=patient
        ) as ding:
            # "idempotencyProcessing" while the first one is applied, then its answer.
            made = await ding.create_event(
                meeting("slow"), user_id=people.alice, client_token=token
            )
    (stored,) = named(sandbox, "slow")
    assert stored["id"] == made.id


async def test_still_processing_when_the_retries_end_is_an_unknown_outcome(
    sandbox: Sandbox, people: People
) -> None:
    sandbox.faults.script(
        "dingtalk.v1.events.patch", [Fault.error_code(400, "idempotencyProcessing")] * 3
    )
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        made = await ding.create_event(meeting("edit me"), user_id=people.alice)
        with pytest.raises(wecal.OutcomeUnknownError) as info:
            await ding.update_event(attrs.evolve(made, summary="edited"), user_id=people.alice)
        assert info.value.code == "idempotencyProcessing"
        token = info.value.client_token
        assert token
        updated = await ding.update_event(
            attrs.evolve(made, summary="edited"), user_id=people.alice, client_token=token
        )
    assert updated.summary == "edited"


async def test_a_definite_refusal_after_an_ambiguous_attempt_is_that_refusal(
    sandbox: Sandbox, people: People
) -> None:
    sandbox.faults.script(
        "dingtalk.v1.events.create",
        [Fault.dropped(), Fault.error_code(400, "InvalidParameter.Bad", "bad summary")],
    )
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        with pytest.raises(wecal.InvalidRequestError) as info:
            await ding.create_event(meeting("no"), user_id=people.alice)
    assert not isinstance(info.value, wecal.OutcomeUnknownError)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "令牌", 42])
async def test_client_token_is_checked_before_sending(
    sandbox: Sandbox, people: People, bad: object
) -> None:
    async with client_on(sandbox, wecal.DingTalkClient) as ding:
        with pytest.raises(wecal.ValidationError, match="client_token"):
            await ding.create_event(meeting("x"), user_id=people.alice, client_token=bad)  # type: ignore[arg-type]
    assert not [r for r in sandbox.requests if r.api == "dingtalk.v1.events.create"]


# -- WeCom: no idempotency key ----------------------------------------------------------


async def one_off(wecom: wecal.WeComClient, cal: str) -> wecal.Event:
    """A schedule of ``cal`` that does not repeat."""
    async for event in wecom.list_events(cal):
        if event.recurrence is None:
            return event
    raise AssertionError(f"no one-off schedule in {cal}")


@pytest.mark.parametrize("make", [Fault.dropped, Fault.applied_error], ids=["lost", "503"])
async def test_wecom_update_with_unknown_outcome(
    sandbox: Sandbox, make: Callable[[], Fault]
) -> None:
    summary = generate(sandbox, seed=4, wecom_calendars=1, schedules_per_calendar=3)
    cal = summary.wecom_calendars[0]
    sandbox.faults.script("wecom.schedule.update", [make() for _ in range(3)])
    async with client_on(sandbox, wecal.WeComClient) as wecom:
        event = await one_off(wecom, cal)
        with pytest.raises(wecal.OutcomeUnknownError) as info:
            await wecom.update_event(attrs.evolve(event, summary="改"))
    assert info.value.client_token is None
    assert info.value.provider == "wecom"
    assert "check whether it was applied" in str(info.value)


# -- success statuses that are errors ----------------------------------------------------


def v1_client(fake: FakeProvider) -> wecal.DingTalkClient:
    return wecal.DingTalkClient(
        "dingtestappkey",
        fake.secret,
        base_url="http://fake",
        transport=fake.transport(),
        token_store=wecal.MemoryTokenStore(),
        retry=FAST_RETRY,
    )


EVENTS = "/v1.0/calendar/users/u1/calendars/primary/events"


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        ({"code": "InternalError", "message": "内部错误"}, wecal.ProviderError, "InternalError"),
        ({"code": "instanceNotExist", "requestid": "r"}, wecal.NotFoundError, "instanceNotExist"),
        ({"result": False}, wecal.ProviderError, None),
        ({"success": False, "message": "failed"}, wecal.ProviderError, None),
        ({"errcode": 40035, "errmsg": "不合法的参数"}, wecal.ProviderError, 40035),
    ],
)
async def test_a_success_status_carrying_an_error_is_that_error(
    body: dict[str, Any], error: type[wecal.ProviderError], code: object
) -> None:
    fake = FakeProvider(DINGTALK_V1)
    fake.script(f"{EVENTS}/e1", *[ok(body)] * 3)
    async with v1_client(fake) as ding:
        with pytest.raises(error) as info:  # a read: not success, not a format error
            await ding.get_event("e1", user_id="u1")
        assert info.value.code == code
        assert info.value.http_status == 200
        fake.script(EVENTS, *[ok(body)] * 3)
        with pytest.raises(error) as info:  # a write
            await ding.create_event(meeting("x"), user_id="u1")
        assert info.value.code == code


async def test_an_internal_error_answered_200_is_retried() -> None:
    fake = FakeProvider(DINGTALK_V1)
    event = {
        "id": "e1",
        "summary": "ok",
        "start": {"dateTime": "2024-06-03T10:00:00+08:00"},
        "end": {"dateTime": "2024-06-03T11:00:00+08:00"},
    }
    fake.script(f"{EVENTS}/e1", ok({"code": "InternalError"}), ok(event))
    async with v1_client(fake) as ding:
        got = await ding.get_event("e1", user_id="u1")
    assert got.summary == "ok"


# -- an update answering another event ------------------------------------------------


class OtherIdOnUpdate:
    """The sandbox, except that WeCom's schedule/update answers another schedule_id."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("path") != "/cgi-bin/oa/schedule/update":
            await self.app(scope, receive, send)
            return

        async def lying_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b'{"errcode":0,"errmsg":"ok","schedule_id":"OTHER"}'}
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, lying_send)


async def test_wecom_update_answering_another_schedule_is_a_format_error(sandbox: Sandbox) -> None:
    summary = generate(sandbox, seed=4, wecom_calendars=1, schedules_per_calendar=3)
    cal = summary.wecom_calendars[0]
    transport = httpx.ASGITransport(app=OtherIdOnUpdate(sandbox.app))
    async with client_on(sandbox, wecal.WeComClient, transport=transport) as wecom:
        event = await one_off(wecom, cal)
        with pytest.raises(wecal.ResponseFormatError) as info:
            await wecom.update_event(attrs.evolve(event, summary="改"))
    assert info.value.path == "$.schedule_id"
    assert "OTHER" in str(info.value)


# -- batched attendee writes --------------------------------------------------------------


async def test_a_batch_failing_after_others_says_which_were_applied(
    sandbox: Sandbox, people: People
) -> None:
    v1 = sandbox.dingtalk_v1
    invitees = [v1.add_user(f"访客{i}") for i in range(1200)]
    async with client_on(sandbox, wecal.DingTalkClient, retry=FAST_RETRY) as ding:
        made = await ding.create_event(meeting("big"), user_id=people.alice)
        sandbox.faults.script(
            "dingtalk.v1.attendees.add",
            [None, None, Fault.error_code(400, "InvalidParameter.Attendee", "bad attendee")],
        )
        with pytest.raises(wecal.InvalidRequestError) as info:
            await ding.add_attendees(made, invitees, user_id=people.alice)
        assert info.value.applied == tuple(invitees[:1000])
        stored = {a["id"] for a in v1.events[made.id]["attendees"]}
        assert stored >= set(invitees[:1000])
        assert not stored & set(invitees[1000:])
        assert "1000 of 1200 attendees were applied" in "\n".join(info.value.__notes__)


async def test_a_batch_with_unknown_outcome_is_completed_by_a_retry_once(
    sandbox: Sandbox, people: People
) -> None:
    v1 = sandbox.dingtalk_v1
    invitees = [v1.add_user(f"嘉宾{i}") for i in range(1200)]
    recording = Recording(sandbox)
    async with client_on(
        sandbox, wecal.DingTalkClient, retry=FAST_RETRY, transport=recording
    ) as ding:
        made = await ding.create_event(meeting("bigger"), user_id=people.alice)
        sandbox.faults.script(
            "dingtalk.v1.attendees.add", [None, *[Fault.applied_error() for _ in range(3)]]
        )
        with pytest.raises(wecal.OutcomeUnknownError) as info:
            await ding.add_attendees(made, invitees, user_id=people.alice)
        assert info.value.applied == tuple(invitees[:500])
        token = info.value.client_token
        assert token
        await ding.add_attendees(made, invitees, user_id=people.alice, client_token=token)
    ids = [a["id"] for a in v1.events[made.id]["attendees"]]
    assert sorted(i for i in ids if i in set(invitees)) == sorted(invitees)  # each once
    assert recording.sent("/attendees") == {token, f"{token}.1", f"{token}.2"}


def test_outcome_unknown_error_is_exported_and_documented() -> None:
    assert issubclass(wecal.OutcomeUnknownError, wecal.ProviderError)
    exc = wecal.OutcomeUnknownError("x", provider="dingtalk", client_token="abc")
    assert exc.client_token == "abc"
    assert "client_token='abc'" in str(exc)
    assert json.dumps(exc.applied) == "[]"
