"""
DingTalk v1.0's side of the provider contract suite
(:mod:`wecal.providers._emulation._contract`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from ...models import Event, Provider
from .._common import CalendarProvider
from .._emulation._contract import ContractHost, ProviderContract
from ._client import DingTalkClient
from ._emulator import v1

__all__ = ["CONTRACT"]

_ZONE = "Asia/Shanghai"


def _client(client: CalendarProvider) -> DingTalkClient:
    assert isinstance(client, DingTalkClient), client
    return client


class _DingTalkContract:
    provider = Provider.DINGTALK
    credentials = ("dingcontractappkey", "contract-dingtalk-secret-0123456789")
    list_api = "dingtalk.v1.events.list"
    expand_api = "dingtalk.v1.events.view"
    # Dates without a zone: days in UTC (reference: keep the timezone None/UTC).
    all_day_zone = "UTC"
    token_api = "dingtalk.v1.oauth2.accessToken"
    page_size = 3
    # The gateway's 403 QpsLimitForAppkeyAndApi: a one-second pause.
    rate_limit_retry_after = 1.0
    writes = True
    create_api = "dingtalk.v1.events.create"
    deleted_reads_cancelled = False
    # A syncToken says what changed, not whether it is new.
    sync_tells_new = False

    def prepare(self, host: ContractHost) -> str:
        host.add_app("dingtalk", *self.credentials)
        return v1(host).add_user("契约", userid="010203040506070")

    def missing_source(self) -> str:
        return "iiiPMissingUnionId000000iEiE"

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
        body: dict[str, Any] = {
            "summary": summary,
            "start": {"dateTime": start.isoformat(), "timeZone": _ZONE},
            "end": {"dateTime": end.isoformat(), "timeZone": _ZONE},
        }
        if daily:
            body["recurrence"] = {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "numberOfOccurrences": daily},
            }
        return v1(host).add_event(source, body)

    def add_all_day(
        self, host: ContractHost, source: str, *, summary: str, day: date, days: int
    ) -> str:
        body = {
            "summary": summary,
            "start": {"date": day.isoformat()},
            "end": {"date": (day + timedelta(days=days)).isoformat()},
            "isAllDay": True,
        }
        return v1(host).add_event(source, body)

    def edit_event(self, host: ContractHost, source: str, event_id: str, summary: str) -> None:
        with host.lock:
            v1(host)._patch(source, event_id, {"id": event_id, "summary": summary})

    def remove_event(self, host: ContractHost, source: str, event_id: str) -> None:
        with host.lock:
            v1(host)._delete(source, event_id)

    async def create(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).create_event(event, user_id=source)

    async def get(self, client: CalendarProvider, source: str, event_id: str) -> Event:
        return await _client(client).get_event(event_id, user_id=source)

    async def update(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).update_event(event, user_id=source)

    async def delete(self, client: CalendarProvider, source: str, event: Event) -> None:
        await _client(client).delete_event(event, user_id=source)


CONTRACT: ProviderContract = _DingTalkContract()
