"""
DingTalk legacy's side of the provider contract suite
(:mod:`wecal.providers._emulation._contract`). The legacy API is read-only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from ...errors import UnsupportedError
from ...models import Event, Provider
from .._common import CalendarProvider
from .._emulation._contract import ContractHost, ProviderContract
from . import _emulator

__all__ = ["CONTRACT"]

_ZONE = "Asia/Shanghai"


def _wire(moment: datetime) -> dict[str, str]:
    return {"date_time": moment.strftime("%Y-%m-%dT%H:%M:%S%z"), "time_zone": _ZONE}


def _read_only() -> NoReturn:
    raise UnsupportedError("the legacy calendar API has no event writes")


class _LegacyContract:
    provider = Provider.DINGTALK
    credentials = ("dingcontractappkey", "contract-dingtalk-secret-0123456789")
    list_api = "dingtalk.calendar.list"
    expand_api = "dingtalk.calendar.list"
    all_day_zone = "Asia/Shanghai"
    token_api = "dingtalk.gettoken"
    page_size = 3
    # 90018 (over the per-second limit): a one-second pause.
    rate_limit_retry_after = 1.0
    writes = False
    create_api = ""
    deleted_reads_cancelled = False
    # The sync compares snapshots: it knows which events are new.
    sync_tells_new = True

    def prepare(self, host: ContractHost) -> str:
        host.add_app(_emulator.PROVIDER, *self.credentials)
        user_id = "100200300"
        _emulator.state(host).add_user(user_id, "契约")
        return user_id

    def missing_source(self) -> str:
        return "999888777"

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
        item: dict[str, Any] = {
            "organizer": {"self": True, "display_name": "契约", "userid": source},
            "summary": summary,
            "description": "",
            "location": "",
            "status": "confirmed",
            "response_status": "accepted",
            "start": _wire(start),
            "end": _wire(end),
        }
        if daily:
            item["recurrence"] = [f"RRULE:FREQ=DAILY;COUNT={daily}"]
        return _emulator.state(host).add_event(source, item)

    def add_all_day(
        self, host: ContractHost, source: str, *, summary: str, day: date, days: int
    ) -> str:
        item: dict[str, Any] = {
            "organizer": {"self": True, "display_name": "契约", "userid": source},
            "summary": summary,
            "status": "confirmed",
            "start": {"date": day.isoformat()},
            "end": {"date": (day + timedelta(days=days)).isoformat()},
        }
        return _emulator.state(host).add_event(source, item)

    def edit_event(self, host: ContractHost, source: str, event_id: str, summary: str) -> None:
        with host.lock:
            _emulator.state(host).events[source][event_id]["summary"] = summary

    def remove_event(self, host: ContractHost, source: str, event_id: str) -> None:
        with host.lock:
            del _emulator.state(host).events[source][event_id]

    async def create(self, client: CalendarProvider, source: str, event: Event) -> Event:
        _read_only()

    async def get(self, client: CalendarProvider, source: str, event_id: str) -> Event:
        _read_only()

    async def update(self, client: CalendarProvider, source: str, event: Event) -> Event:
        _read_only()

    async def delete(self, client: CalendarProvider, source: str, event: Event) -> None:
        _read_only()


CONTRACT: ProviderContract = _LegacyContract()
