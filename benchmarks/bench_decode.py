"""
Benchmark 1 — decode + normalize a 1000-event page, vs ``json.loads`` of the same bytes.

The pages are real sandbox answers (``wecal.sandbox.generate``: recurring,
all-day, cancelled, Chinese text, a 300-attendee meeting), captured once as
bytes. Three timings per provider, interleaved round by round, medians:

- ``json.loads(page)`` — the floor any SDK pays;
- converters only — ``json.loads`` + page extraction + the converter per item
  (``wecom_schedule_page`` + ``schedule_to_event``; ``page_from_response`` +
  ``item_to_event``);
- the client path — the first ``Page`` of ``client.list_events(...).by_page()``
  with the bytes answered by an ``httpx.MockTransport`` (no network): HTTP core,
  ``json.loads``, converters and the paginator's transform, de-duplication and
  cursor. This is the figure that counts; its ratio to ``json.loads`` is
  compared with the target (≤ 1.5×).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from _common import Result, median

import wecal
from wecal.providers.dingtalk_legacy._convert import item_to_event, page_from_response
from wecal.providers.wecom._convert import schedule_to_event, wecom_schedule_page
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


async def capture_pages(n: int = PAGE) -> tuple[bytes, bytes, str, str]:
    """A WeCom and a DingTalk legacy ``n``-item page as the sandbox serves them."""
    sandbox = Sandbox(seed=1)
    summary = generate(
        sandbox, seed=1, wecom_calendars=1, schedules_per_calendar=n, dingtalk_users=1,
        events_per_user=n,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        r = await http.get(
            "/cgi-bin/gettoken",
            params={"corpid": DEFAULT_WECOM_CORP_ID, "corpsecret": DEFAULT_WECOM_SECRET},
        )
        token = r.json()["access_token"]
        cal_id = summary.wecom_calendars[0]
        r = await http.post(
            "/cgi-bin/oa/schedule/get_by_calendar",
            params={"access_token": token},
            json={"cal_id": cal_id, "offset": 0, "limit": n},
        )
        wecom_page = r.content
        r = await http.get(
            "/gettoken",
            params={"appkey": DEFAULT_DINGTALK_APP_KEY, "appsecret": DEFAULT_DINGTALK_APP_SECRET},
        )
        token = r.json()["access_token"]
        user_id = summary.dingtalk_users[0]
        r = await http.post(
            "/topapi/calendar/list",
            params={"access_token": token},
            json={"user_id": user_id, "max_results": n},
        )
        ding_page = r.content
    if len(json.loads(wecom_page)["schedule_list"]) != n:
        raise RuntimeError("the sandbox did not serve a full WeCom page")
    if len(json.loads(ding_page)["result"]["items"]) != n:
        raise RuntimeError("the sandbox did not serve a full DingTalk page")
    return wecom_page, ding_page, cal_id, user_id


def _answering(page: bytes) -> httpx.MockTransport:
    token = json.dumps({"errcode": 0, "access_token": "bench-token", "expires_in": 7200})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, content=token.encode())
        return httpx.Response(200, content=page)

    return httpx.MockTransport(handler)


def _wecom_converters(page: bytes) -> int:
    items = wecom_schedule_page(json.loads(page))
    events = [schedule_to_event(item, path=f"$.schedule_list[{i}]") for i, item in enumerate(items)]
    return len(events)


def _ding_converters(page: bytes, user_id: str) -> int:
    items, _ = page_from_response(json.loads(page))
    events = [
        item_to_event(item, path=f"$.result.items[{i}]", calendar_id=None, user_id=user_id)
        for i, item in enumerate(items)
    ]
    return len(events)


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


async def _atimed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def measure(rounds: int, n: int = PAGE) -> list[Result]:
    """Time the three paths for both providers over ``rounds`` interleaved rounds."""
    wecom_page, ding_page, cal_id, user_id = await capture_pages(n)
    wecom = wecal.WeComClient(
        "ww_bench", "bench-secret", base_url="http://wecom.bench", rate_limit=False,
        transport=_answering(wecom_page),
    )  # fmt: skip
    ding = wecal.DingTalkLegacyClient(
        "dingbench", "bench-secret", base_url="http://ding.bench", rate_limit=False,
        transport=_answering(ding_page),
    )  # fmt: skip

    async def wecom_client_page() -> None:
        page = await wecom.list_events(cal_id, page_size=n).by_page().__anext__()
        if len(page.items) != n:
            raise RuntimeError(f"WeCom client page has {len(page.items)} events, not {n}")

    async def ding_client_page() -> None:
        page = await ding.list_events(user_id=user_id, page_size=n).by_page().__anext__()
        if len(page.items) != n:
            raise RuntimeError(f"DingTalk client page has {len(page.items)} events, not {n}")

    times: dict[str, list[float]] = {}
    async with wecom, ding:
        await wecom_client_page()  # warm up: token, imports, caches
        await ding_client_page()
        for _ in range(rounds):
            for key, sample in (
                ("wecom.loads", _timed(lambda: json.loads(wecom_page))),
                ("wecom.conv", _timed(lambda: _wecom_converters(wecom_page))),
                ("wecom.client", await _atimed(wecom_client_page)),
                ("ding.loads", _timed(lambda: json.loads(ding_page))),
                ("ding.conv", _timed(lambda: _ding_converters(ding_page, user_id))),
                ("ding.client", await _atimed(ding_client_page)),
            ):
                times.setdefault(key, []).append(sample)

    results = []
    for prov, label, size in (
        ("wecom", "WeCom", wecom_page),
        ("ding", "DingTalk legacy", ding_page),
    ):
        loads, conv, client = (median(times[f"{prov}.{k}"]) for k in ("loads", "conv", "client"))
        ratio = client / loads
        results.append(
            Result(
                name=f"1. decode+normalize {label} ({n} events, {len(size) / 1e6:.2f} MB)",
                value=ratio,
                unit="× json.loads",
                target=f"≤ {TARGET}×",
                ok=ratio <= TARGET,
                detail=(
                    f"json.loads {loads * 1e3:.1f} ms; + converters {conv * 1e3:.1f} ms "
                    f"({conv / loads:.1f}×); client page {client * 1e3:.1f} ms "
                    f"({client / n * 1e6:.0f} µs/event); median of {rounds}"
                ),
            )
        )
    return results


def run(quick: bool) -> list[Result]:
    """Benchmark 1 at full (1000-event pages, 15 rounds) or quick size."""
    if quick:
        return anyio.run(measure, 2, 100)
    return anyio.run(measure, 15)
