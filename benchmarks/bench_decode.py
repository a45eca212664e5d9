"""
Benchmark 1 — decode + normalize a 1000-event page, vs ``json.loads`` of the same bytes.

The pages are real sandbox answers (``wecal.sandbox.generate``), captured once
as bytes: Chinese text and emoji, about 30 % recurring, all-day and cancelled
events, attendee counts from 0 to a 300-attendee meeting (WeCom; a legacy
DingTalk item names at most the listed user). The detail line prints what the
page holds (recurring share, attendee range, share of events with non-ASCII
text and with emoji), measured on the events the client returned.

Three timings per provider, interleaved round by round, medians:

- ``json.loads(page)`` — the floor any SDK pays;
- converters only — ``json.loads`` + page extraction + the converter per item;
- the client path — the first ``Page`` of ``client.list_events(...).by_page()``
  (DingTalk v1.0, whose pages hold at most 100: all ten pages of
  ``list_events``, against ``json.loads`` of the ten bodies)
  with the bytes answered by an ``httpx.MockTransport`` (no network): HTTP core,
  decoding, converters and the paginator's transform, de-duplication and
  cursor. This is the figure that counts; its ratio to ``json.loads`` is
  compared with the target (≤ 1.5×).

Each provider is one :class:`Case`; the DingTalk v1.0 client joins the table
when ``wecal.DingTalkClient`` exists, the Feishu one (a page of the events
list by ``anchor_time``, from the emulator's demo calendar) when
``wecal.FeishuClient`` does.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from _common import Result, median

import wecal
from wecal.sandbox import (
    DEFAULT_DINGTALK_APP_KEY,
    DEFAULT_DINGTALK_APP_SECRET,
    DEFAULT_WECOM_CORP_ID,
    DEFAULT_WECOM_SECRET,
    Sandbox,
    generate,
)

PAGE = 1000
TARGET = 1.5


@dataclass
class Case:
    """One provider's page, its client path and its converters-only path."""

    label: str
    #: The answer bytes: one page, or (DingTalk v1.0, ≤ 100 a page) every page.
    pages: list[bytes]
    #: The first page of ``list_events`` through a client answering ``page``.
    client_page: Callable[[], Awaitable[Sequence[wecal.Event]]]
    #: ``json.loads`` + the provider's converters, no client.
    converters: Callable[[], int]
    client: Any


def _answering(page: bytes) -> httpx.MockTransport:
    token = json.dumps({"errcode": 0, "access_token": "bench-token", "expires_in": 7200})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, content=token.encode())
        return httpx.Response(200, content=page)

    return httpx.MockTransport(handler)


async def _token(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> str:
    r = await http.get(path, params=params)
    return str(r.json()["access_token"])


async def _capture(n: int) -> tuple[dict[str, bytes], str, str]:
    """The sandbox's answers to an ``n``-item listing, per provider."""
    sandbox = Sandbox(seed=1)
    summary = generate(
        sandbox, seed=1, wecom_calendars=1, schedules_per_calendar=n, dingtalk_users=1,
        events_per_user=n,
    )  # fmt: skip
    cal_id, user_id = summary.wecom_calendars[0], summary.dingtalk_users[0]
    pages: dict[str, bytes] = {}
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        creds = {"corpid": DEFAULT_WECOM_CORP_ID, "corpsecret": DEFAULT_WECOM_SECRET}
        token = await _token(http, "/cgi-bin/gettoken", creds)
        r = await http.post(
            "/cgi-bin/oa/schedule/get_by_calendar",
            params={"access_token": token},
            json={"cal_id": cal_id, "offset": 0, "limit": n},
        )
        pages["wecom"] = r.content
        creds = {"appkey": DEFAULT_DINGTALK_APP_KEY, "appsecret": DEFAULT_DINGTALK_APP_SECRET}
        token = await _token(http, "/gettoken", creds)
        r = await http.post(
            "/topapi/calendar/list",
            params={"access_token": token},
            json={"user_id": user_id, "max_results": n},
        )
        pages["dingtalk_legacy"] = r.content
    if len(json.loads(pages["wecom"])["schedule_list"]) != n:
        raise RuntimeError("the sandbox did not serve a full WeCom page")
    if len(json.loads(pages["dingtalk_legacy"])["result"]["items"]) != n:
        raise RuntimeError("the sandbox did not serve a full DingTalk page")
    return pages, cal_id, user_id


def _first_page(pager: wecal.Paginator[wecal.Event], n: int, label: str) -> Callable[[], Any]:
    async def first() -> Sequence[wecal.Event]:
        page = await pager.by_page().__anext__()
        if len(page.items) != n:
            raise RuntimeError(f"{label} client page has {len(page.items)} events, not {n}")
        return page.items

    return first


async def cases(n: int) -> list[Case]:
    """Every provider's case, on ``n``-item pages."""
    from wecal.providers.dingtalk_legacy._convert import item_to_event, page_from_response
    from wecal.providers.wecom._convert import schedule_to_event, wecom_schedule_page

    pages, cal_id, user_id = await _capture(n)
    out = []

    wecom = wecal.WeComClient(
        "ww_bench", "bench-secret", base_url="http://wecom.bench", rate_limit=False,
        transport=_answering(pages["wecom"]),
    )  # fmt: skip

    def wecom_converters() -> int:
        items = wecom_schedule_page(json.loads(pages["wecom"]))
        return len(
            [schedule_to_event(it, path=f"$.schedule_list[{i}]") for i, it in enumerate(items)]
        )

    out.append(
        Case(
            "WeCom", [pages["wecom"]],
            lambda: _first_page(wecom.list_events(cal_id, page_size=n), n, "WeCom")(),
            wecom_converters, wecom,
        )
    )  # fmt: skip

    ding = wecal.DingTalkLegacyClient(
        "dingbench", "bench-secret", base_url="http://ding.bench", rate_limit=False,
        transport=_answering(pages["dingtalk_legacy"]),
    )  # fmt: skip

    def ding_converters() -> int:
        items, _ = page_from_response(json.loads(pages["dingtalk_legacy"]))
        events = [
            item_to_event(it, path=f"$.result.items[{i}]", calendar_id=None, user_id=user_id)
            for i, it in enumerate(items)
        ]
        return len(events)

    out.append(
        Case(
            "DingTalk legacy", [pages["dingtalk_legacy"]],
            lambda: _first_page(ding.list_events(user_id=user_id, page_size=n), n, "DingTalk")(),
            ding_converters, ding,
        )
    )  # fmt: skip
    if hasattr(wecal, "DingTalkClient"):
        out.append(await _v1_case(n))
    if hasattr(wecal, "FeishuClient"):
        out.append(await _feishu_case(n))
    return out


async def _feishu_case(n: int) -> Case:
    """Feishu: one ``n``-item page of the events list (``anchor_time``, ``page_size`` n)."""
    from wecal.providers.feishu._convert import event_from_feishu, list_page
    from wecal.providers.feishu._emulator import CREDENTIALS, populate

    sandbox = Sandbox(seed=1)
    (cal_id,) = populate(sandbox, seed=1, sources=1, size=n)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        r = await http.post(
            "/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": CREDENTIALS[0], "app_secret": CREDENTIALS[1]},
        )
        token = r.json()["tenant_access_token"]
        r = await http.get(
            f"/open-apis/calendar/v4/calendars/{cal_id}/events",
            params={"anchor_time": "0", "page_size": str(n)},
            headers={"Authorization": f"Bearer {token}"},
        )
    page = r.content
    data = json.loads(page)["data"]
    if len(data["items"]) != n or data["has_more"]:
        raise RuntimeError("the sandbox did not serve a full Feishu page")
    answer = json.dumps({"code": 0, "msg": "ok", "tenant_access_token": "t-bench", "expire": 7200})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("tenant_access_token/internal"):
            return httpx.Response(200, content=answer.encode())
        return httpx.Response(200, content=page)

    client = wecal.FeishuClient(
        "cli_bench", "bench-secret", base_url="http://feishu.bench", rate_limit=False,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip

    def converters() -> int:
        items, _, _, _ = list_page(json.loads(page)["data"])
        events = [
            event_from_feishu(it, path=f"$.data.items[{i}]", calendar_id=cal_id)
            for i, it in enumerate(items)
        ]
        return len(events)

    return Case(
        "Feishu", [page],
        lambda: _first_page(client.list_events(cal_id, page_size=n), n, "Feishu")(),
        converters, client,
    )  # fmt: skip


class _Recorder(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and keeps each answer's bytes by (path, nextToken)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.answers: dict[tuple[str, str | None], bytes] = {}
        self.pages: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.answers[request.url.path, request.url.params.get("nextToken")] = body
        if "nextToken" in request.url.params or "/events" in request.url.path:
            self.pages.append(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def _replaying(answers: dict[tuple[str, str | None], bytes]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=answers[request.url.path, request.url.params.get("nextToken")]
        )

    return httpx.MockTransport(handler)


async def _v1_case(n: int) -> Case:
    """DingTalk v1.0: ``n`` events in pages of 100 (``maxResults``' maximum)."""
    from wecal.providers.dingtalk._convert import event_from_dingtalk, page_from_response

    sandbox = Sandbox(seed=1)
    summary = generate(
        sandbox, seed=1, wecom_calendars=0, schedules_per_calendar=0, dingtalk_users=0,
        events_per_user=n, dingtalk_v1_users=1,
    )  # fmt: skip
    union_id = summary.dingtalk_v1_users[0]
    recorder = _Recorder(httpx.ASGITransport(app=sandbox.app))
    creds = (DEFAULT_DINGTALK_APP_KEY, DEFAULT_DINGTALK_APP_SECRET)
    async with wecal.DingTalkClient(
        *creds, base_url="http://sandbox", transport=recorder, rate_limit=False
    ) as capture:
        listed = [e async for e in capture.list_events(user_id=union_id)]
    if len(listed) != n:
        raise RuntimeError(f"the v1.0 sandbox listed {len(listed)} events, not {n}")
    client = wecal.DingTalkClient(
        *creds, base_url="http://ding.bench", rate_limit=False,
        transport=_replaying(recorder.answers),
    )  # fmt: skip

    async def client_pages() -> Sequence[wecal.Event]:
        events = [e async for e in client.list_events(user_id=union_id)]
        if len(events) != n:
            raise RuntimeError(f"DingTalk v1.0 client listed {len(events)} events, not {n}")
        return events

    def converters() -> int:
        count = 0
        for page in recorder.pages:
            items, _ = page_from_response(json.loads(page))
            count += len(
                [event_from_dingtalk(it, path=f"$.events[{i}]") for i, it in enumerate(items)]
            )
        return count

    return Case("DingTalk v1.0", recorder.pages, client_pages, converters, client)


def describe(events: Sequence[wecal.Event]) -> str:
    """What a page holds: recurring share, attendee range, non-ASCII and emoji shares."""
    n = len(events) or 1
    recurring = sum(1 for e in events if e.is_recurring or e.is_occurrence)
    attendees = [len(e.attendees) for e in events]
    texts = [e.summary + e.description + e.location for e in events]
    non_ascii = sum(1 for t in texts if not t.isascii())
    emoji = sum(1 for t in texts if any(ord(c) > 0xFFFF for c in t))
    return (
        f"{recurring / n:.0%} recurring, attendees {min(attendees, default=0)}–"
        f"{max(attendees, default=0)} (mean {sum(attendees) / n:.1f}), "
        f"{non_ascii / n:.0%} non-ASCII text, {emoji / n:.0%} with emoji"
    )


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


async def _atimed(fn: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def measure(rounds: int, n: int = PAGE) -> list[Result]:
    """Time the three paths of every case over ``rounds`` interleaved rounds."""
    all_cases = await cases(n)
    times: dict[tuple[str, str], list[float]] = {}
    shapes: dict[str, str] = {}
    try:
        for case in all_cases:
            shapes[case.label] = describe(await case.client_page())  # warm up, and describe
        for _ in range(rounds):
            for case in all_cases:
                pages = case.pages
                for key, sample in (
                    ("loads", _timed(lambda: [json.loads(p) for p in pages])),  # noqa: B023
                    ("conv", _timed(case.converters)),
                    ("client", await _atimed(case.client_page)),
                ):
                    times.setdefault((case.label, key), []).append(sample)
    finally:
        for case in all_cases:
            await case.client.aclose()

    results = []
    for case in all_cases:
        loads, conv, client = (median(times[case.label, k]) for k in ("loads", "conv", "client"))
        ratio = client / loads
        size = f"{n} events, {sum(map(len, case.pages)) / 1e6:.2f} MB"
        if len(case.pages) > 1:
            size += f" in {len(case.pages)} pages"
        results.append(
            Result(
                name=f"1. decode+normalize {case.label} ({size})",
                value=ratio,
                unit="× json.loads",
                target=f"≤ {TARGET}×",
                ok=ratio <= TARGET,
                detail=(
                    f"json.loads {loads * 1e3:.1f} ms; + converters {conv * 1e3:.1f} ms "
                    f"({conv / loads:.2f}×); client page {client * 1e3:.1f} ms "
                    f"({client / n * 1e6:.1f} µs/event); median of {rounds}; "
                    f"page: {shapes[case.label]}"
                ),
            )
        )
    return results


def run(quick: bool) -> list[Result]:
    """Benchmark 1 at full (1000-event pages, 15 rounds) or quick size."""
    if quick:
        return anyio.run(measure, 2, 100)
    return anyio.run(measure, 15)
