"""The exporter: formats, group commit, checkpoints and resume (sources are plain page lists)."""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anyio
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
    # Its master is not in the file: a VEVENT of its own, never a
    # RECURRENCE-ID that points at nothing.
    assert "RECURRENCE-ID" not in occ
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
    progress = wecal.export.Progress()
    result = await export(
        sources(*data), Pages(data, page_size=4), output=out, fmt="jsonl", concurrency=5,
        progress=progress,
    )  # fmt: skip
    assert result.events == 500
    assert progress.done_sources == 20
    assert progress._marks == {}  # a finished source's rate marks are let go
    ids = [e.id for e in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 500


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        wecal.export.writer_for("csv")


# --- checkpoints bound to their export, validated, locked -----------------------------


async def _partial(tmp_path: Path, fmt: str = "jsonl") -> tuple[Path, Path, Pages]:
    """A run that committed some pages of a, then failed: resumable state on disk."""
    opener = Pages({s: make_events(s, 9) for s in "ab"})
    opener.fail_at["a"] = 3
    out, ckpt = tmp_path / f"out.{fmt}", tmp_path / "ckpt.json"
    result = await export(sources("a", "b"), opener, output=out, fmt=fmt, checkpoint=ckpt)
    assert [f.source.id for f in result.failed] == ["a"]
    return out, ckpt, opener


#: Beside an output: which checkpoint owns it.
NOTE = "out.jsonl.wecal-checkpoint"


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _snapshot(*paths: Path) -> dict[str, bytes | None]:
    return {p.name: p.read_bytes() if p.exists() else None for p in paths}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": "other.jsonl"}, "its output is .*out.jsonl, this run's is .*other.jsonl"),
        ({"fmt": "ics"}, "its format is jsonl, this run's is ics"),
        ({"ids": ("a", "b", "c")}, "its sources differ: this run adds calendar:c"),
        ({"ids": ("a",)}, "its sources differ: this run lacks calendar:b"),
        ({"options": {"--start": "2024-01-01"}}, r"--start \(none\), this run has 2024-01-01"),
    ],
)
async def test_checkpoint_is_bound_to_its_export(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    out, ckpt, opener = await _partial(tmp_path)
    before = _snapshot(out, ckpt, tmp_path / "other.jsonl")
    # The first run had no options; a run with options differs, and vice versa.
    kwargs: dict[str, object] = {
        "output": tmp_path / str(change.get("output", "out.jsonl")),
        "fmt": change.get("fmt", "jsonl"),
        "checkpoint": ckpt,
        "options": change.get("options", {}),
    }
    with pytest.raises(wecal.ValidationError, match=message) as info:
        await export(sources(*change.get("ids", ("a", "b"))), opener, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert _snapshot(out, ckpt, tmp_path / "other.jsonl") == before
    assert _names(tmp_path) == ["ckpt.json", "out.jsonl", NOTE]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(done="false"), r"\$\.done: expected true or false, got 'false'"),
        (lambda d: d.update(committed=-5), "committed: expected a count from 0"),
        (lambda d: d.update(committed=10**18), "committed: expected a count from 0"),
        (lambda d: d.update(committed=True), r"\$\.committed: expected an integer"),
        (lambda d: d.update(version=1), "version 1, this wecal reads version 2"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["sources"]["calendar:a"].update(events="3"), "expected an integer"),
        (lambda d: d.pop("binding"), "binding"),
    ],
)
async def test_checkpoint_that_does_not_fit_the_schema_is_refused(
    tmp_path: Path, edit: object, message: str
) -> None:
    out, ckpt, opener = await _partial(tmp_path)
    data = json.loads(ckpt.read_text())
    edit(data)  # type: ignore[operator]
    ckpt.write_text(json.dumps(data))
    before = _snapshot(out, ckpt)
    with pytest.raises(wecal.ValidationError, match=message) as info:
        await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert "\n" not in str(info.value)
    assert "delete it to start the export over" in str(info.value)
    assert _snapshot(out, ckpt) == before


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's stack
        '{"version": 2, "writer": ' + '{"a": ' * 600 + "1" + "}" * 600 + "}",  # parses
        '{"version": 2, "sources": ' + "[" * 70 + "]" * 70 + "}",
    ],
    ids=["parser", "writer-state", "sources"],
)
async def test_a_deeply_nested_checkpoint_is_damaged_not_a_recursion_error(
    tmp_path: Path, text: str
) -> None:
    out, ckpt, opener = await _partial(tmp_path)
    ckpt.write_text(text)
    before = _snapshot(out, ckpt)
    with pytest.raises(wecal.ValidationError) as info:
        await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert str(info.value) == (
        f"checkpoint {ckpt} is unusable: damaged (JSON nested deeper than 64 levels); "
        "delete it to start the export over"
    )
    assert _snapshot(out, ckpt) == before


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "resumable"])
@pytest.mark.parametrize("other", ["other.json", None], ids=["other-checkpoint", "none"])
async def test_an_output_its_checkpoint_still_holds_is_not_overwritten(
    tmp_path: Path, finished: bool, other: str | None
) -> None:
    if finished:
        opener = Pages({s: make_events(s, 9) for s in "ab"})
        out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
        assert (await export(sources("a", "b"), opener, output=out, fmt="jsonl",
                             checkpoint=ckpt)).ok  # fmt: skip
    else:
        out, ckpt, opener = await _partial(tmp_path)
    before = _snapshot(out, ckpt)
    second = tmp_path / other if other is not None else None
    # Another export (other sources, other options) onto the same file.
    with pytest.raises(wecal.ValidationError) as info:
        await export(sources("b"), opener, output=out, fmt="jsonl", checkpoint=second)
    assert str(info.value) == (
        f"output {out} belongs to the export checkpointed in {ckpt}; resume it with "
        f"--checkpoint {ckpt}, or delete {ckpt} to start that export over"
    )
    assert _snapshot(out, ckpt) == before
    assert _names(tmp_path) == ["ckpt.json", "out.jsonl", NOTE]
    # Its own checkpoint resumes (or says it is done) as before.
    again = await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert again.ok
    assert again.events == 18
    # Once that checkpoint is gone the output is free again.
    ckpt.unlink()
    third = await export(sources("b"), opener, output=out, fmt="jsonl", checkpoint=second)
    assert third.ok
    assert sorted(e.id for e in read_jsonl(out)) == sorted(f"b-{i}" for i in range(9))
    if other is None:
        assert _names(tmp_path) == ["out.jsonl"]
    else:
        assert _names(tmp_path) == ["other.json", "out.jsonl", NOTE]
        with pytest.raises(wecal.ValidationError, match=r"checkpointed in .*other\.json"):
            await export(sources("a"), opener, output=out, fmt="jsonl")


async def test_committed_bytes_beyond_the_file_are_refused_not_padded(tmp_path: Path) -> None:
    out, ckpt, opener = await _partial(tmp_path)
    data = json.loads(ckpt.read_text())
    data["committed"] = 10**12
    ckpt.write_text(json.dumps(data))
    size = out.stat().st_size
    with pytest.raises(wecal.ValidationError, match=f"has {size} bytes, fewer than the 10"):
        await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert out.stat().st_size == size


@pytest.mark.parametrize("damage", ["truncate", "replace", "delete", "edit"])
async def test_output_changed_between_runs_is_detected(tmp_path: Path, damage: str) -> None:
    out, ckpt, opener = await _partial(tmp_path)
    original = out.read_bytes()
    if damage == "truncate":
        out.write_bytes(original[:-10])
    elif damage == "replace":
        out.write_bytes(b"x" * (len(original) + 5))
    elif damage == "delete":
        out.unlink()
    else:
        out.write_bytes(original.replace(b"a-0", b"a-X", 1))
    before = _snapshot(out, ckpt)
    expected = {
        "truncate": "fewer than",
        "replace": "was changed since",
        "delete": "is missing",
        "edit": "was changed since",
    }[damage]
    with pytest.raises(wecal.ValidationError, match=expected):
        await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert _snapshot(out, ckpt) == before


async def test_output_equal_to_checkpoint_is_refused(tmp_path: Path) -> None:
    opener = Pages({"a": make_events("a", 3)})
    for name in ("ckpt.json", "ckpt.json.tmp", "ckpt.json.lock"):
        with pytest.raises(wecal.ValidationError, match="checkpoint's own file"):
            await export(
                sources("a"),
                opener,
                output=tmp_path / name,
                fmt="jsonl",
                checkpoint=tmp_path / "ckpt.json",
            )
    assert _names(tmp_path) == []


async def test_a_held_checkpoint_or_output_refuses_a_second_run(tmp_path: Path) -> None:
    import fcntl

    out, ckpt, opener = await _partial(tmp_path)
    before = _snapshot(out, ckpt)
    for held, what in [(ckpt.with_name("ckpt.json.lock"), "checkpoint"), (out, "output")]:
        with open(held, "a+b") as fh:  # noqa: ASYNC230 - a plain holder of the lock
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(wecal.ValidationError, match=f"{what} .* in use by another"):
                await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
        assert _snapshot(out, ckpt) == before
    done = await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert done.ok
    assert _names(tmp_path) == ["ckpt.json", "out.jsonl", NOTE]


async def test_every_source_failing_leaves_no_output(tmp_path: Path) -> None:
    opener = Pages({s: make_events(s, 4) for s in "ab"})
    opener.fail_at.update(a=0, b=0)
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    result = await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert [f.source.id for f in result.failed] == ["a", "b"]
    assert _names(tmp_path) == []
    # An existing file is left as it was.
    out.write_bytes(b"keep me\n")
    opener.fail_at.update(a=0, b=0)
    await export(sources("a", "b"), opener, output=out, fmt="jsonl", checkpoint=ckpt)
    assert out.read_bytes() == b"keep me\n"
    assert _names(tmp_path) == ["out.jsonl"]


class _Refusing(wecal.export.JsonlWriter):
    """A writer that cannot write events whose summary says so (an .ics year 1, say)."""

    def encode(self, events: Iterable[wecal.Event]) -> bytes:
        for e in events:
            if e.summary == "unwritable":
                raise OverflowError("date value out of range")
        return super().encode(events)


async def test_an_unwritable_event_fails_only_its_source(tmp_path: Path) -> None:
    data = {s: make_events(s, 7) for s in "abc"}
    data["b"][4] = attrs.evolve(data["b"][4], summary="unwritable")
    opener = Pages(data)
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    first = await export(sources(*"abc"), opener, output=out, fmt=_Refusing(), checkpoint=ckpt)
    assert [(f.source.id, f.error) for f in first.failed] == [
        ("b", "event 'b-4' cannot be written as jsonl: OverflowError: date value out of range")
    ]
    ids = [e.id for e in read_jsonl(out)]
    # a and c complete; b up to the page before the bad one (pages of 3).
    assert sorted(ids) == sorted([f"a-{i}" for i in range(7)] + [f"c-{i}" for i in range(7)]
                                 + [f"b-{i}" for i in range(3)])  # fmt: skip
    # A rerun retries only b, and fails it again the same way; nothing is repeated.
    second = await export(sources(*"abc"), opener, output=out, fmt=_Refusing(), checkpoint=ckpt)
    assert [f.source.id for f in second.failed] == ["b"]
    assert sorted(e.id for e in read_jsonl(out)) == sorted(ids)
    assert sorted(o for o in opener.opened if o[0] != "b") == [("a", None), ("c", None)]


async def test_jsonl_keeps_every_record_on_one_line(tmp_path: Path) -> None:
    odd = "lone \ud83d surrogate, \u2028 line sep, \u2029 para sep, \u0085 next line"
    events = [attrs.evolve(e, summary=odd) for e in make_events("a", 2)]
    out = tmp_path / "out.jsonl"
    result = await export(sources("a"), Pages({"a": events}), output=out, fmt="jsonl")
    assert result.ok
    raw = out.read_bytes()
    assert raw.count(b"\n") == 2
    for sep in ("\u2028", "\u2029", "\u0085", "\r"):
        assert sep.encode() not in raw
    assert b"\\ud83d" in raw
    assert raw.decode("utf-8").splitlines() == raw.decode().split("\n")[:-1]
    assert read_jsonl(out) == events


async def test_cancelling_an_export_closes_its_output(tmp_path: Path) -> None:
    """No ResourceWarning (filterwarnings=error), locks released, rerun resumes."""

    started = anyio.Event()

    async def slow(source: Source, cursor: str | None) -> AsyncIterator[Page]:
        yield Page(tuple(make_events(source.id, 2)), "2")
        started.set()
        await anyio.sleep_forever()
        yield Page((), None)  # pragma: no cover

    out, ckpt = tmp_path / "out.jsonl", tmp_path / "ckpt.json"
    with anyio.move_on_after(5):  # a hang fails the assertions below, it does not block
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(
                    export, sources("a"), slow, output=out, fmt="jsonl", checkpoint=ckpt
                )
            )
            await started.wait()
            while not ckpt.exists():  # noqa: ASYNC110 - a file the writer thread makes
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    gc.collect()
    assert _names(tmp_path) == ["ckpt.json", "out.jsonl", NOTE]
    saved = Checkpoint.load(ckpt)
    assert saved is not None
    assert saved.sources["calendar:a"].cursor == "2"


def test_remaining_seconds_shrinks_as_events_arrive() -> None:
    p = wecal.export.Progress(total_sources=4)
    assert p.remaining_seconds(10.0) is None  # nothing finished: no rate yet
    p.per_source = {"s1": 100, "s2": 0}
    p.finished = {"s1"}
    first = p.remaining_seconds(10.0)  # 1 of 4 sources in 10 s: 30 s left
    assert first == pytest.approx(30.0)
    p.per_source["s2"] = 50  # half of a typical source more, 2 s later
    second = p.remaining_seconds(12.0)
    assert second == pytest.approx((4 - 1.5) * 12.0 / 1.5)
    assert second is not None
    assert second < first


def test_a_failed_checkpoint_save_leaves_no_temp_file(tmp_path: Path) -> None:
    """Whatever step fails (here the rename, onto a directory), no ``.tmp`` stays."""
    target = tmp_path / "ckpt.json"
    target.mkdir()
    state = Checkpoint(binding=wecal.export.Binding("out.jsonl", "jsonl", ("calendar:a",)))
    with pytest.raises(OSError, match="directory"):
        state.save(target)
    assert _names(tmp_path) == ["ckpt.json"]
    target.rmdir()
    state.save(target)
    assert Checkpoint.load(target) == state
    assert _names(tmp_path) == ["ckpt.json"]


@pytest.mark.parametrize(
    "when",
    [
        (datetime(9999, 12, 31, 23, tzinfo=UTC), datetime(9999, 12, 31, 23, 30, tzinfo=UTC)),
        (date(1, 1, 1), date(1, 1, 2)),
    ],
)
async def test_an_event_at_the_edge_of_time_in_ics_never_stops_the_others(
    tmp_path: Path, when: tuple[datetime | date, datetime | date]
) -> None:
    """Year 9999 or year 1: written safely, or only its source fails, naming it."""
    data = {s: make_events(s, 5) for s in "abc"}
    edge = wecal.Event(provider="wecom", id="edge", start=when[0], end=when[1])
    data["b"].insert(1, edge)
    out, ckpt = tmp_path / "out.ics", tmp_path / "ckpt.json"
    for _ in range(2):  # the rerun neither repeats nor loses anything
        result = await export(sources(*"abc"), Pages(data), output=out, fmt="ics", checkpoint=ckpt)
        cal = icalendar.Calendar.from_ical(out.read_bytes())
        uids = sorted(str(c["UID"]) for c in cal.walk("VEVENT"))
        healthy = [f"wecom:{s}-{i}" for s in "ac" for i in range(5)]
        if result.ok:
            assert uids == sorted([*healthy, *(f"wecom:{e.id}" for e in data["b"])])
        else:
            assert [f.source.id for f in result.failed] == ["b"]
            assert (result.failed[0].error or "").startswith(
                "event 'edge' cannot be written as ics: "
            )
            assert uids == sorted([*healthy, "wecom:b-0"])
