"""WeCom's side of the provider contract suite (:mod:`wecal.providers._emulation._contract`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from ...models import Event, Provider
from .._common import CalendarProvider
from .._emulation._contract import ContractHost, ProviderContract
from . import _emulator
from ._client import WeComClient

__all__ = ["CONTRACT"]

_PLUS8 = timezone(timedelta(hours=8))


def _client(client: CalendarProvider) -> WeComClient:
    assert isinstance(client, WeComClient), client
    return client


class _WeComContract:
    provider = Provider.WECOM
    credentials = ("ww_contract_corp", "contract-wecom-secret-0123456789")
    list_api = "wecom.schedule.get_by_calendar"
    # No server-side window: an expanded listing pages the same call.
    expand_api = "wecom.schedule.get_by_calendar"
    all_day_zone = "+08:00"
    token_api = "wecom.gettoken"
    page_size = 3
    # 45009 ("api freq out of limit"): the client blocks the app for 60 s.
    rate_limit_retry_after = 60.0
    writes = True
    create_api = "wecom.schedule.add"
    # schedule/del marks the schedule cancelled (status 1); it is still read.
    deleted_reads_cancelled = True
    # The sync compares snapshots: it knows which events are new.
    sync_tells_new = True

    def prepare(self, host: ContractHost) -> str:
        app_id = host.add_app("wecom", *self.credentials)
        state = _emulator.state(host)
        return state.add_calendar(
            {"summary": "contract", "color": "#0000FF", "description": "", "shares": []},
            owner=app_id,
            default=False,
        )

    def missing_source(self) -> str:
        return "wcjgewMissingCalendarId0000000AAA"

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
        reminders: dict[str, Any] = {"is_remind": 0, "is_repeat": 0, "timezone": 8}
        if daily:
            until = start + timedelta(days=daily - 1)
            reminders.update(is_repeat=1, repeat_type=0, repeat_until=int(until.timestamp()))
        return _emulator.state(host).add_schedule(
            {
                "cal_id": source,
                "summary": summary,
                "description": "",
                "location": "",
                "attendees": [],
                "reminders": reminders,
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
                "status": 0,
                "is_whole_day": 0,
            }
        )

    def add_all_day(
        self, host: ContractHost, source: str, *, summary: str, day: date, days: int
    ) -> str:
        # Local (+8) midnights: the first day's and the exclusive end's.
        first = datetime.combine(day, time(), _PLUS8)
        sid = self.add_event(
            host, source, summary=summary, start=first, end=first + timedelta(days=days)
        )
        with host.lock:
            _emulator.state(host).schedules[sid]["is_whole_day"] = 1
        return sid

    def edit_event(self, host: ContractHost, source: str, event_id: str, summary: str) -> None:
        with host.lock:
            _emulator.state(host).schedules[event_id]["summary"] = summary

    def remove_event(self, host: ContractHost, source: str, event_id: str) -> None:
        with host.lock:
            _emulator.state(host).schedules[event_id]["status"] = 1

    async def create(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).create_event(event, calendar_id=source)

    async def get(self, client: CalendarProvider, source: str, event_id: str) -> Event:
        return await _client(client).get_event(event_id)

    async def update(self, client: CalendarProvider, source: str, event: Event) -> Event:
        return await _client(client).update_event(event)

    async def delete(self, client: CalendarProvider, source: str, event: Event) -> None:
        await _client(client).delete_event(event)


CONTRACT: ProviderContract = _WeComContract()
