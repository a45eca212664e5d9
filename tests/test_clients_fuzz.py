"""
Malformed provider payloads through the real clients: only ``WecalError``
subclasses come out, never a foreign exception, never a hang, never a token.

Hypothesis mutates valid payloads (a key deleted, a value of the wrong type,
a huge number, an unknown code, nested garbage) in two places: the
sandbox's stored schedules and events (so the sandbox serves them), and whole
response bodies, envelope included, served raw (non-JSON bytes too).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import wecal
from tests._mock import APP_KEY, APP_SECRET, CORP_ID, CORP_SECRET, FakeProvider, note_sandbox_tokens
from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    FAST_LIMITS,
    WECOM_CORP_ID,
    WECOM_SECRET,
    new_sandbox,
)
from wecal.providers.dingtalk._errors import DINGTALK_V1
from wecal.providers.dingtalk_legacy._errors import DINGTALK_LEGACY
from wecal.providers.wecom._errors import WECOM
from wecal.sandbox import Sandbox, generate

#: One attempt: a malformed answer is not made better by asking again.
ONCE = wecal.RetryConfig(max_attempts=1, deadline=5.0)
#: A whole listing of a malformed payload must end well within this.
HANG = 10.0
BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])

# -- mutations -------------------------------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**32, 2**63, -(2**63), 10**20, 99, 7, 4]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "9" * 30, "2019-13-45T99:99:99+9999", "RRULE:FREQ=NOPE", "🙂"]),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (keys and indices), the root excluded."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out.extend(paths(v, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: Any, keep: tuple[str, ...] = ()) -> Any:
    """``doc`` with 1–3 random mutations (paths whose first key is in ``keep`` spared)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = [p for p in paths(doc) if not (p and p[0] in keep)]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUE)
    return doc


def check(exc: BaseException | None, secrets: list[str]) -> None:
    """Only WecalErrors, and no secret in what a user would see of one."""
    event(type(exc).__name__ if exc is not None else "ok")  # see --hypothesis-show-statistics
    if exc is None:
        return
    assert isinstance(exc, wecal.WecalError), f"foreign exception {exc!r}"
    text = f"{exc}\n{exc!r}"
    for secret in secrets:
        assert secret not in text


async def outcome(run: Callable[[], Any]) -> BaseException | None:
    try:
        with anyio.fail_after(HANG):
            await run()
    except wecal.WecalError as exc:
        return exc
    return None


# -- served by the sandbox: stored schedules / events mutated ---------------------------

_SANDBOXES: dict[str, tuple[Sandbox, Any, wecal.MemoryTokenStore]] = {}


def base_sandbox(kind: str) -> tuple[Sandbox, Any, wecal.MemoryTokenStore]:
    """A generated sandbox (built once per kind) and a pristine copy of its data."""
    if kind not in _SANDBOXES:
        sb = new_sandbox(seed=5)
        summary = generate(
            sb,
            seed=5,
            wecom_calendars=1,
            schedules_per_calendar=16,
            dingtalk_users=1,
            events_per_user=12,
            max_attendees=3,
        )
        pristine = (
            copy.deepcopy(sb.wecom_schedules),
            copy.deepcopy(sb.dingtalk_events),
            summary,
        )
        _SANDBOXES[kind] = (sb, pristine, wecal.MemoryTokenStore())
    return _SANDBOXES[kind]


def in_process(sb: Sandbox) -> httpx.ASGITransport:
    # A sandbox crash on malformed state becomes an HTTP 500, as a real server's would.
    return httpx.ASGITransport(app=sb.app, raise_app_exceptions=False)


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@BACKENDS
@given(data=st.data())
def test_wecom_malformed_schedules_from_the_sandbox(backend: str, data: st.DataObject) -> None:
    sb, (schedules, _, summary), store = base_sandbox("wecom")
    sb.wecom_schedules.clear()
    sb.wecom_schedules.update(copy.deepcopy(schedules))
    victim = data.draw(st.sampled_from(sorted(schedules)))
    # schedule_id and cal_id are the sandbox's own keys: it needs them to serve.
    bad = data.draw(mutated(schedules[victim], keep=("schedule_id", "cal_id")))
    sb.wecom_schedules[victim] = bad
    cal_id = summary.wecom_calendars[0]

    async def run() -> None:
        async with wecal.WeComClient(
            WECOM_CORP_ID,
            WECOM_SECRET,
            base_url="http://sandbox",
            transport=in_process(sb),
            token_store=store,
            retry=ONCE,
            rate_limit=FAST_LIMITS,
        ) as client:
            pager = client.list_events(cal_id, page_size=data.draw(st.integers(4, 20)))
            listed = [e async for e in pager]
            assert all(isinstance(e, wecal.Event) for e in listed)
            await client.get_events([victim])

    exc = anyio.run(outcome, run, backend=backend)
    note_sandbox_tokens(sb)
    check(exc, [WECOM_SECRET, *sb._tokens])


@pytest.mark.slow  # long: CI runs it with `pytest -m slow`
@BACKENDS
@given(data=st.data())
def test_dingtalk_malformed_events_from_the_sandbox(backend: str, data: st.DataObject) -> None:
    sb, (_, events, summary), store = base_sandbox("dingtalk")
    user = summary.dingtalk_users[0]
    sb.dingtalk_events.clear()
    sb.dingtalk_events.update(copy.deepcopy(events))
    victim = data.draw(st.sampled_from(sorted(events[user])))
    # id, start, end and recurrence are read by the sandbox to list and page:
    # mutating them fuzzes the sandbox, not the client (the raw test below does).
    bad = data.draw(mutated(events[user][victim], keep=("id", "start", "end", "recurrence")))
    sb.dingtalk_events[user][victim] = bad
    expand = data.draw(st.booleans())
    # A fortnight: enough occurrences to page, few enough to stay fast.
    lo = summary.anchor
    hi = lo + timedelta(days=14)

    async def run() -> None:
        async with wecal.DingTalkLegacyClient(
            DINGTALK_APP_KEY,
            DINGTALK_APP_SECRET,
            base_url="http://sandbox",
            transport=in_process(sb),
            token_store=store,
            retry=ONCE,
            rate_limit=FAST_LIMITS,
        ) as client:
            window = {"start": lo, "end": hi, "expand": True} if expand else {}
            pager = client.list_events(
                user_id=user, page_size=data.draw(st.integers(4, 20)), **window
            )
            assert all(isinstance(e, wecal.Event) for e in [e async for e in pager])

    exc = anyio.run(outcome, run, backend=backend)
    note_sandbox_tokens(sb)
    check(exc, [DINGTALK_APP_SECRET, *sb._tokens])


# -- whole bodies, envelope included, and bytes that are not JSON -----------------------


def wecom_page() -> dict[str, Any]:
    _, (schedules, _, _), _ = base_sandbox("wecom")
    rows = sorted(schedules.values(), key=lambda s: s["start_time"])[:4]
    return {"errcode": 0, "errmsg": "ok", "schedule_list": copy.deepcopy(rows)}


def ding_page() -> dict[str, Any]:
    sb, (_, _, summary), _ = base_sandbox("dingtalk")
    items = sb.dingtalk_ground_truth(summary.dingtalk_users[0])[:4]
    for item in items:
        if "recurrence" in item:
            item["recurrence"] = {"string": item["recurrence"]}  # the seed's wire form
    return {"errcode": 0, "errmsg": "ok", "success": True, "result": {"items": items}}


RAW_BYTES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"null", b"[]", b"{", b'{"errcode": 0', b"<html>502</html>", b"\xff\xfe"]
    ),
)


@BACKENDS
@pytest.mark.parametrize("provider", ["wecom", "dingtalk"])
@settings(max_examples=60)  # each example runs a whole client session
@given(data=st.data())
def test_malformed_bodies_and_bytes(backend: str, provider: str, data: st.DataObject) -> None:
    wecom = provider == "wecom"
    page = wecom_page() if wecom else ding_page()
    if data.draw(st.booleans()):
        body: bytes = data.draw(RAW_BYTES)
    else:
        body = json.dumps(data.draw(mutated(page)), ensure_ascii=False).encode()
    status = data.draw(st.sampled_from([200, 200, 200, 400, 404, 500]))
    fake = FakeProvider(WECOM if wecom else DINGTALK_LEGACY)
    path = "/cgi-bin/oa/schedule/get_by_calendar" if wecom else "/topapi/calendar/list"
    fake.script(path, httpx.Response(status, content=body))
    end = {"errcode": 0, "schedule_list": []} if wecom else {"errcode": 0, "result": {"items": []}}

    async def last_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=end)

    fake.route(path, last_page)

    async def run() -> None:
        settings: dict[str, Any] = {
            "base_url": "http://fake",
            "transport": fake.transport(),
            "token_store": wecal.MemoryTokenStore(),
            "retry": ONCE,
            "rate_limit": FAST_LIMITS,
        }
        if wecom:
            async with wecal.WeComClient(CORP_ID, CORP_SECRET, **settings) as client:
                [e async for e in client.list_events("cal", page_size=4)]
        else:
            async with wecal.DingTalkLegacyClient(APP_KEY, APP_SECRET, **settings) as client:
                [e async for e in client.list_events(user_id="u", page_size=4)]

    exc = anyio.run(outcome, run, backend=backend)
    check(exc, [CORP_SECRET, APP_SECRET])
    if exc is not None and status == 200 and body[:1] not in (b"{",):
        # Not a JSON object at all: the format error names the document root.
        assert isinstance(exc, wecal.ResponseFormatError | wecal.ProviderError)


# -- DingTalk v1.0: stored events mutated, and whole /events bodies ----------------------

_V1: dict[str, Any] = {}


def v1_sandbox() -> tuple[Sandbox, str, dict[str, Any], wecal.MemoryTokenStore]:
    """A v1.0 sandbox with a user and events (built once) and a pristine copy of them."""
    if not _V1:
        sb = new_sandbox(seed=6)
        v1 = sb.dingtalk_v1
        user = v1.add_user("张三", userid="fuzz01")
        guest = v1.add_user("李四", userid="fuzz02")
        zone = {"timeZone": "Asia/Shanghai"}
        for i in range(9):
            start = f"2024-06-{3 + i:02d}T{9 + i % 4:02d}:00:00+08:00"
            end = f"2024-06-{3 + i:02d}T{10 + i % 4:02d}:30:00+08:00"
            body: dict[str, Any] = {
                "summary": f"会议 {i}",
                "description": "议程",
                "location": {"displayName": "3F"},
                "start": {"dateTime": start, **zone},
                "end": {"dateTime": end, **zone},
                "attendees": [{"id": guest, "isOptional": i % 2 == 0}],
                "reminders": [{"method": "dingtalk", "minutes": 15}],
            }
            if i % 3 == 0:
                body["recurrence"] = {
                    "pattern": {"type": "weekly", "daysOfWeek": "monday,thursday"},
                    "range": {"type": "numbered", "numberOfOccurrences": 5},
                }
            v1.add_event(user, body)
        _V1.update(sb=sb, user=user, pristine=copy.deepcopy(v1.events))
        _V1["store"] = wecal.MemoryTokenStore()
    return _V1["sb"], _V1["user"], _V1["pristine"], _V1["store"]


@BACKENDS
@settings(max_examples=60)  # each example runs a whole client session
@given(data=st.data())
def test_dingtalk_v1_malformed_events_from_the_sandbox(backend: str, data: st.DataObject) -> None:
    sb, user, pristine, store = v1_sandbox()
    events = sb.dingtalk_v1.events
    for event_id, stored in pristine.items():
        events[event_id].clear()
        events[event_id].update(copy.deepcopy(stored))
    victim = data.draw(st.sampled_from(sorted(pristine)))
    # The fields the emulator itself reads to list, expand and page are spared:
    # mutating them fuzzes the sandbox, not the client.
    keep = ("id", "start", "end", "recurrence", "organizer", "attendees", "status")
    bad = data.draw(mutated(pristine[victim], keep=keep))
    events[victim].clear()
    events[victim].update(bad)
    expand = data.draw(st.booleans())
    lo = datetime(2024, 6, 1, tzinfo=UTC)

    async def run() -> None:
        async with wecal.DingTalkClient(
            DINGTALK_APP_KEY,
            DINGTALK_APP_SECRET,
            base_url="http://sandbox",
            transport=in_process(sb),
            token_store=store,
            retry=ONCE,
            rate_limit=FAST_LIMITS,
        ) as client:
            pager = client.list_events(
                user_id=user,
                start=lo,
                end=lo + timedelta(days=30),
                expand=expand,
                page_size=data.draw(st.integers(3, 20)),
            )
            assert all(isinstance(e, wecal.Event) for e in [e async for e in pager])
            await client.get_event(victim, user_id=user)

    exc = anyio.run(outcome, run, backend=backend)
    note_sandbox_tokens(sb)
    check(exc, [DINGTALK_APP_SECRET, *sb._tokens])


@BACKENDS
@settings(max_examples=60)  # each example runs a whole client session
@given(data=st.data())
def test_dingtalk_v1_malformed_bodies_and_bytes(backend: str, data: st.DataObject) -> None:
    _, _, pristine, _ = v1_sandbox()
    page = {"events": copy.deepcopy(list(pristine.values())[:4]), "nextToken": "t2"}
    if data.draw(st.booleans()):
        body: bytes = data.draw(RAW_BYTES)
    else:
        body = json.dumps(data.draw(mutated(page)), ensure_ascii=False).encode()
    status = data.draw(st.sampled_from([200, 200, 200, 400, 403, 404, 500]))
    fake = FakeProvider(DINGTALK_V1)
    path = "/v1.0/calendar/users/u/calendars/primary/events"
    fake.script(path, httpx.Response(status, content=body))

    async def last_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"events": []})

    fake.route(path, last_page)

    async def run() -> None:
        async with wecal.DingTalkClient(
            APP_KEY,
            APP_SECRET,
            base_url="http://fake",
            transport=fake.transport(),
            token_store=wecal.MemoryTokenStore(),
            retry=ONCE,
            rate_limit=FAST_LIMITS,
        ) as client:
            [e async for e in client.list_events(user_id="u", page_size=4)]

    exc = anyio.run(outcome, run, backend=backend)
    check(exc, [APP_SECRET])
