"""Feishu's side of the provider contract suite (:mod:`wecal.providers._emulation._contract`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ...models import Event, Provider
from .._common import CalendarProvider
from .._emulation._contract import ContractHost, ProviderContract
from ._client import FeishuClient
from ._emulator import feishu

__all__ = ["CONTRACT"]

_ZONE = "Asia/Shanghai"


def _client(client: CalendarProvider) -> FeishuClient:
    assert isinstance(client, FeishuClient), client
    return client


def _time(moment: datetime) -> dict[str, str]:
    return {"timestamp": str(int(moment.timestamp())), "timezone": _ZONE}


class _FeishuContract:
    provider = Provider.FEISHU
    credentials = ("cli_contractfeishu01", "contract-feishu-app-secret-0123456789")
    list_api = "feishu.events.list"
    expand_api = "feishu.events.instance_view"
    all_day_zone = "UTC"
    token_api = "feishu.auth.tenant_access_token"
    # The events list takes page_size 50..1000.
    page_size = 50
    # 99991400 with ``x-ogw-ratelimit-reset``.
    rate_limit_retry_after = 1.0
    writes = True
    create_api = "feishu.events.create"
    deleted_reads_cancelled = False
    # A sync_token says what changed, not whether it is new.
    sync_tells_new = False

    def prepare(self, host: ContractHost) -> str:
        state = feishu(host)
        state.add_app(*self.credentials)
        return state.bot_calendar(self.credentials[0])

    def missing_source(self) -> str:
        return "feishu.cn_missing000000000000@group.calendar.feishu.cn"

    def add_event(
        self,
        host: ContractHost,
        source: str,
        *,
        summary: str,
        start: datetime,
        end: datetime,
        daily: int = 0,
    ) -> str:
        event: dict[str, Any] = {
            "summary": summary,
            "start_time": _time(start),
            "end_time": _time(end),
        }
        if daily:
            event["recurrence"] = f"FREQ=DAILY;COUNT={daily}"
        return feishu(host).add_event(source, event)

    def add_all_day(
        self, host: ContractHost, source: str, *, summary: str, day: date, days: int
    ) -> str:
        # Answers carry the exclusive end date.
        end = day + timedelta(days=days)
        event = {
            "summary": summary,
            "start_time": {"date": day.isoformat()},
            "end_time": {"date": end.isoformat()},
        }
        return feishu(host).add_event(source, event)

    def edit_event(self, host: ContractHost, source: str, event_id: str, summary: str) -> None:
        state = feishu(host)
        with state.lock:
            state.events[source][event_id]["summary"] = summary
            state._touch(source, event_id)

    def remove_event(self, host: ContractHost, source: str, event_id: str) -> None:
        state = feishu(host)
        with state.lock:
            state.delete(self.credentials[0], source, event_id)

    async def create(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).create_event(event, calendar_id=source)

    async def get(self, client: CalendarProvider, source: str, event_id: str) -> Event:
        return await _client(client).get_event(event_id, calendar_id=source)

    async def update(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).update_event(event, calendar_id=source)

    async def delete(self, client: CalendarProvider, source: str, event: Event) -> None:
        await _client(client).delete_event(event, calendar_id=source)


CONTRACT: ProviderContract = _FeishuContract()
