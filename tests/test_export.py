"""The exporter: formats, group commit, checkpoints and resume (sources are plain page lists)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import icalendar
import pytest

import wecal
from wecal.export import Checkpoint, Source, export

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@attrs.frozen
class Page:
    items: tuple[wecal.Event, ...]
    cursor: str | None


def make_events(source: str, n: int) -> list[wecal.Event]:
    base = datetime(2024, 3, 1, 9, tzinfo=SH)
    out = []
    for i in range(n):
        start = base + timedelta(hours=i)
        out.append(
            wecal.Event(
                provider="wecom",
                id=f"{source}-{i}",
                calendar_id=source,
                summary=f"会议 {i} 🎉",
                start=start,
                end=start + timedelta(minutes=30),
                timezone="Asia/Shanghai",
            )
        )
    return out


class Pages:
    """A source of pages over fixed events; can be told to fail at a page once."""

    def __init__(self, data: dict[str, list[wecal.Event]], page_size: int = 3) -> None:
        self.data = data
        self.page_size = page_size
        self.fail_at: dict[str, int] = {}
        self.opened: list[tuple[str, str | None]] = []

    async def __call__(self, source: Source, cursor: str | None) -> AsyncIterator[Page]:
        self.opened.append((source.id, cursor))
        events = self.data[source.id]
        pos = int(cursor) if cursor else 0
        while True:
            if self.fail_at.get(source.id) == pos:
                del self.fail_at[source.id]
                raise wecal.TransportError(f"connection dropped at {pos}")
            chunk = events[pos : pos + self.page_size]
            pos += len(chunk)
            nxt = str(pos) if pos < len(events) else None
            yield Page(tuple(chunk), nxt)
            if nxt is None:
                return


def sources(*ids: str) -> list[Source]:
    return [Source("calendar", i) for i in ids]


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def read_jsonl(path: Path) -> list[wecal.Event]:
    return [wecal.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


pytestmark = pytest.mark.anyio


async def test_jsonl_exports_everything_once(tmp_path: Path) -> None:
    data = {s: make_events(s, n) for s, n in [("a", 10), ("b", 7), ("c", 0)]}
    out = tmp_path / "out.jsonl"
    result = await export(sources("a", "b", "c"), Pages(data), output=out, fmt="jsonl")
    assert result.ok
    assert result.events == 17
    got = read_jsonl(out)
    assert sorted(e.id for e in got) == sorted(e.id for v in data.values() for e in v)
    assert {e.id: e for e in got} == {e.id: e for v in data.values() for e in v}


async def test_failed_source_does_not_stop_others_and_rerun_finishes(tmp_path: Path) -> None:
    data = {s: make_events(s, 10) for s in "abc"}
    opener = Pages(data)
    opener.fail_at["b"] = 6  # after two pages of b
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    first = await export(sources(*"abc"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert not first.ok
    assert [s.source.id for s in first.failed] == ["b"]
    assert "connection dropped" in (first.failed[0].error or "")
    saved = Checkpoint.load(ckpt)
    assert saved is not None
    assert saved.sources["calendar:b"].cursor == "6"
    assert not saved.done

    second = await export(sources(*"abc"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert second.ok
    assert ("b", "6") in opener.opened
    ids = [e.id for e in read_jsonl(out)]
    assert sorted(ids) == sorted(f"{s}-{i}" for s in "abc" for i in range(10))
    assert len(ids) == len(set(ids))

    third = await export(sources(*"abc"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert third.already_done
    assert len(read_jsonl(out)) == 30


async def test_resume_truncates_uncommitted_tail(tmp_path: Path) -> None:
    """Bytes after the committed length (a crash mid-write) are dropped on resume."""
    data = {"a": make_events("a", 9)}
    opener = Pages(data)
    opener.fail_at["a"] = 3
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    await export(sources("a"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    _append(out, b'{"half": "a line that a crash left beh')
    await export(sources("a"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert [e.id for e in read_jsonl(out)] == [f"a-{i}" for i in range(9)]


async def test_checkpoint_of_another_export_is_refused(tmp_path: Path) -> None:
    data = {s: make_events(s, 2) for s in "ab"}
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    await export(sources("a"), Pages(data), output=out, fmt="jsonl", checkpoint=ckpt)
    with pytest.raises(wecal.ValidationError, match="different export"):
        await export(sources("a", "b"), Pages(data), output=out, fmt="jsonl", checkpoint=ckpt)


def _rich_event() -> wecal.Event:
    return wecal.Event(
        provider="dingtalk",
        id="ev1",
        summary="周会 standup",
        description="line1\nline2",
        location="第三会议室",
        start=datetime(2024, 3, 28, 9, tzinfo=BERLIN),
        end=datetime(2024, 3, 28, 10, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        recurrence=wecal.Recurrence(
            rrule="FREQ=DAILY;COUNT=5", exdates=(datetime(2024, 3, 30, 9, tzinfo=BERLIN),)
        ),
        organizer=wecal.Person(id="u1", display_name="张三"),
        attendees=(
            wecal.Attendee(id="u2", display_name="李四", response="accepted"),
            wecal.Attendee(id="u3", response="declined", optional=True),
        ),
        reminders=(timedelta(minutes=-15),),
        status="tentative",
    )


async def test_ics_is_a_valid_calendar_with_every_property(tmp_path: Path) -> None:
    fixed = timedelta(hours=8)
    from datetime import timezone

    events = {
        "a": [
            _rich_event(),
            wecal.Event(provider="wecom", id="d1", start=date(2024, 5, 1), end=date(2024, 5, 2)),
            wecal.Event(
                provider="wecom",
                id="s1_20240301T010000Z",
                start=datetime(2024, 3, 1, 9, tzinfo=timezone(fixed)),
                end=datetime(2024, 3, 1, 10, tzinfo=timezone(fixed)),
                timezone="+08:00",
                series_id="s1",
                recurrence_id=datetime(2024, 3, 1, 9, tzinfo=timezone(fixed)),
            ),
        ]
    }
    out = tmp_path / "out.ics"
    await export(sources("a"), Pages(events), output=out, fmt="ics")
    cal = icalendar.Calendar.from_ical(out.read_bytes())
    vevents = {str(c["UID"]): c for c in cal.walk("VEVENT")}
    assert set(vevents) == {"dingtalk:ev1", "wecom:d1", "wecom:s1_20240301T010000Z"}
    ev1 = vevents["dingtalk:ev1"]
    assert ev1.decoded("DTSTART") == datetime(2024, 3, 28, 9, tzinfo=BERLIN)
    assert ev1["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert sorted(str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")) == ["Etc/GMT-8", "Europe/Berlin"]
    assert ev1["RRULE"].to_ical() == b"FREQ=DAILY;COUNT=5"
    assert str(ev1["SUMMARY"]) == "周会 standup"
    assert str(ev1["STATUS"]) == "TENTATIVE"
    assert ev1["ORGANIZER"].params["CN"] == "张三"
    partstats = sorted(a.params["PARTSTAT"] for a in ev1["ATTENDEE"])
    assert partstats == ["ACCEPTED", "DECLINED"]
    alarm = ev1.walk("VALARM")[0]
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-15)
    d1 = vevents["wecom:d1"]
    assert d1.decoded("DTSTART") == date(2024, 5, 1)
    assert d1["DTSTART"].params.get("VALUE") == "DATE"
    occ = vevents["wecom:s1_20240301T010000Z"]
    # A fixed +08:00 offset is written in the equivalent Etc/GMT-8 zone, so
    # the wall clock (and a repeat rule's BYDAY) is kept.
    assert occ["DTSTART"].params["TZID"] == "Etc/GMT-8"
    assert occ.decoded("DTSTART") == datetime(2024, 3, 1, 1, tzinfo=UTC)
    assert occ.decoded("DTSTART").hour == 9
    assert occ.decoded("RECURRENCE-ID") == datetime(2024, 3, 1, 1, tzinfo=UTC)
    assert out.read_bytes().endswith(b"END:VCALENDAR\r\n")


async def test_ics_resume_keeps_one_calendar_and_no_repeated_zone(tmp_path: Path) -> None:
    evs = [attrs.evolve(_rich_event(), id=f"ev{i}") for i in range(7)]
    opener = Pages({"a": evs}, page_size=2)
    opener.fail_at["a"] = 4
    out, ckpt = tmp_path / "out.ics", tmp_path / "ckpt.json"
    first = await export(sources("a"), opener, output=out, fmt="ics", checkpoint=ckpt)
    assert not first.ok
    # Valid even after the failure: the footer is rewritten at every commit.
    partial = icalendar.Calendar.from_ical(out.read_bytes())
    assert len(partial.walk("VEVENT")) == 4
    await export(sources("a"), opener, output=out, fmt="ics", checkpoint=ckpt)
    raw = out.read_bytes()
    assert raw.count(b"BEGIN:VCALENDAR") == 1
    assert raw.count(b"END:VCALENDAR") == 1
    assert raw.count(b"BEGIN:VTIMEZONE") == 1
    cal = icalendar.Calendar.from_ical(raw)
    assert sorted(str(c["UID"]) for c in cal.walk("VEVENT")) == sorted(
        f"dingtalk:ev{i}" for i in range(7)
    )


async def test_many_sources_concurrently(tmp_path: Path) -> None:
    data = {f"s{i}": make_events(f"s{i}", 25) for i in range(20)}
    out = tmp_path / "out.jsonl"
    result = await export(
        sources(*data), Pages(data, page_size=4), output=out, fmt="jsonl", concurrency=5
    )
    assert result.events == 500
    ids = [e.id for e in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 500


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        wecal.export.writer_for("csv")
