"""
Legacy DingTalk ``calendar.list`` converter: the seed example field by field,
each quirk's rule, and malformed-payload fuzzing.

``tests/data/dingtalk_legacy/calendar_list.json`` and
``calendar_list_error.json`` are the seed document's response examples
verbatim (``errcode`` 15 beside ``success: true`` included). Variants (a
series master, an all-day event) are derived from the seed item in the tests.
Expected values are typed in by hand.
"""

from __future__ import annotations

import calendar
import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given

import wecal
from wecal.providers.dingtalk_legacy._convert import (
    DINGTALK_LEGACY_RESPONSE_STATUS,
    item_to_event,
    page_from_response,
)

from .test_wecom_convert import json_values, mutated, outcome

DATA = Path(__file__).parent / "data" / "dingtalk_legacy"
SH = ZoneInfo("Asia/Shanghai")
PLUS8 = timezone(timedelta(hours=8))
TOKEN = (
    "CjkKKzcza2E0OXRxMm91cmgwYXQ3a3JzcjRybzd2XzIwMTgwNzMwVDAzMzAwMFoY"
    "ASCAgMCAsYi_phYaDQgAEgAY8IyPte3d4AI"
)


def load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return result


def seed_item() -> dict[str, Any]:
    item: dict[str, Any] = load("calendar_list.json")["result"]["items"][0]
    return item


def test_hand_computed_instants() -> None:
    """The hand-typed instants below agree with the calendar module."""
    # recurrence_id 1609466400000 ms = 2021-01-01T02:00:00Z = 10:00 +08:00
    assert calendar.timegm((2021, 1, 1, 2, 0, 0)) * 1000 == 1609466400000
    # 2019-03-01T23:08:53+0800 = 15:08:53 UTC
    assert calendar.timegm((2019, 3, 1, 15, 8, 53)) == int(
        datetime(2019, 3, 1, 23, 8, 53, tzinfo=PLUS8).timestamp()
    )


def test_page_of_the_seed() -> None:
    """The seed body: one item and its next_page_token; errcode is not read here."""
    items, token = page_from_response(load("calendar_list.json"))
    assert len(items) == 1
    assert items[0]["id"] == "1k3io5atbqjbgh9927j8d94abh"
    assert token == TOKEN


def test_seed_item_golden() -> None:
    """Every field of the seed item, one by one."""
    item = seed_item()
    ev = item_to_event(
        item,
        path="$.result.items[0]",
        calendar_id="1k3io5atbqjbgh9927j8d94abh",
        user_id="123134568",
    )
    assert ev.provider is wecal.Provider.DINGTALK
    assert ev.calendar_id == "1k3io5atbqjbgh9927j8d94abh"
    assert ev.summary == "日程标题(生日)"
    assert ev.description == "今天下午在xx会见xx"
    assert ev.location == "第三会议室"
    # date and date_time both present: date_time wins (timed), "+0800" read.
    assert ev.all_day is False
    assert ev.start == datetime(2019, 3, 1, 23, 8, 53, tzinfo=SH)
    assert ev.end == datetime(2019, 3, 1, 23, 8, 53, tzinfo=SH)
    assert isinstance(ev.start, datetime)
    assert ev.start.tzinfo == SH  # shown in the item's time_zone
    assert ev.timezone == "Asia/Shanghai"
    # recurrence_id (epoch ms) marks an occurrence of series unique_id.
    assert ev.series_id == "k3io5atbqjbgh9927j8d94abh"
    assert ev.recurrence_id == datetime(2021, 1, 1, 10, 0, tzinfo=SH)
    assert ev.id == "k3io5atbqjbgh9927j8d94abh_20210101T020000Z"
    assert ev.raw["id"] == "1k3io5atbqjbgh9927j8d94abh"  # DingTalk's own id
    assert ev.recurrence is None  # an occurrence; the series' rule stays in raw
    assert ev.is_occurrence
    assert not ev.is_recurring
    assert ev.status is wecal.EventStatus.CONFIRMED
    assert ev.organizer == wecal.Person(id="12323", display_name="张三")
    # organizer.self is true: the listed user is the organizer, not an attendee.
    assert ev.attendees == ()
    assert ev.reminders == ()
    assert ev.meeting_url is None
    assert ev.created == datetime(2019, 3, 1, 23, 8, 53, tzinfo=PLUS8)
    assert ev.updated == datetime(2019, 3, 1, 23, 8, 53, tzinfo=PLUS8)
    assert ev.raw is item


def test_seed_master_recurrence_quirks() -> None:
    """
    The seed item without recurrence_id is a series master: the wrapped,
    FREQ-less, comma-split rule with pasted prose reads as the rule it meant.
    """
    item = seed_item()
    del item["recurrence_id"]
    ev = item_to_event(item)
    # A master is named by the unique_id its occurrences share; its id stays in raw.
    assert ev.id == "k3io5atbqjbgh9927j8d94abh"
    assert ev.raw["id"] == "1k3io5atbqjbgh9927j8d94abh"
    assert ev.series_id is None
    assert ev.recurrence_id is None
    assert ev.recurrence is not None
    parts = dict(p.split("=", 1) for p in ev.recurrence.rrule.split(";"))
    assert parts == {
        "FREQ": "YEARLY",
        "INTERVAL": "2",
        "BYMONTH": "1",
        "BYDAY": "SU",
        "BYHOUR": "8,9",
    }
    # Same occurrences as the intended rule, computed by dateutil directly.
    start = datetime(2019, 3, 1, 23, 8, 53)
    ours = rrulestr(ev.recurrence.rrule, dtstart=start)
    intended = rrulestr("FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU;BYHOUR=8,9", dtstart=start)
    assert list(ours[:10]) == list(intended[:10])
    assert ours[0] == datetime(2021, 1, 3, 8, 8, 53)  # first Sunday of Jan 2021, 08:xx


def test_all_day_when_date_time_absent() -> None:
    """Without date_time the date wins; the seed's start = end date means one day."""
    item = seed_item()
    for key in ("start", "end"):
        del item[key]["date_time"]
    ev = item_to_event(item)
    assert ev.all_day is True
    assert ev.start == date(2018, 8, 8)
    assert ev.end == date(2018, 8, 9)
    assert ev.timezone == "Asia/Shanghai"
    # An all-day occurrence: recurrence_id and id use the date.
    assert ev.recurrence_id == date(2021, 1, 1)
    assert ev.id == "k3io5atbqjbgh9927j8d94abh_20210101"


def test_all_day_exclusive_end_kept() -> None:
    item = {
        "id": "e",
        "start": {"date": "2024-06-01"},
        "end": {"date": "2024-06-03"},
    }
    ev = item_to_event(item)
    assert (ev.start, ev.end) == (date(2024, 6, 1), date(2024, 6, 3))
    assert ev.timezone is None


def _item(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1",
        "start": {"date_time": "2024-06-03T10:00:00+0800", "time_zone": "Asia/Shanghai"},
        "end": {"date_time": "2024-06-03T11:00:00+0800", "time_zone": "Asia/Shanghai"},
    }
    base.update(kw)
    return base


def test_other_zone_shows_same_instant() -> None:
    """A +0800 time in a Europe/Berlin item: same instant, Berlin wall clock."""
    item = _item(
        start={"date_time": "2024-06-03T10:00:00+0800", "time_zone": "Europe/Berlin"},
        end={"date_time": "2024-06-03T11:00:00+0800", "time_zone": "Europe/Berlin"},
    )
    ev = item_to_event(item)
    assert ev.start == datetime(2024, 6, 3, 2, tzinfo=UTC)
    assert isinstance(ev.start, datetime)
    assert (ev.start.hour, ev.start.utcoffset()) == (4, timedelta(hours=2))
    assert ev.timezone == "Europe/Berlin"


def test_naive_date_time_read_in_its_zone() -> None:
    item = _item(
        start={"date_time": "2024-06-03T10:00:00", "time_zone": "Asia/Shanghai"},
        end={"date_time": "2024-06-03T11:00:00", "time_zone": "Asia/Shanghai"},
    )
    assert item_to_event(item).start == datetime(2024, 6, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "\x00", "a" * 5000])
def test_unknown_zone_name_is_ignored(name: str) -> None:
    """Not a zone: the offsets still say the instant; Event.timezone is None."""
    item = _item(
        start={"date_time": "2024-06-03T10:00:00+0800", "time_zone": name},
        end={"date_time": "2024-06-03T11:00:00+0800", "time_zone": name},
    )
    ev = item_to_event(item)
    assert ev.timezone is None
    assert ev.start == datetime(2024, 6, 3, 10, tzinfo=PLUS8)
    assert ev.start.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("needsAction", wecal.ResponseStatus.NEEDS_ACTION),
        ("accepted", wecal.ResponseStatus.ACCEPTED),
        ("declined", wecal.ResponseStatus.DECLINED),
        ("tentative", wecal.ResponseStatus.TENTATIVE),
        ("needs_action", wecal.ResponseStatus.NEEDS_ACTION),
    ],
)
def test_response_status_of_the_listed_user(value: str, expected: wecal.ResponseStatus) -> None:
    """Not the organizer: the listed user becomes the one attendee, with the answer."""
    item = _item(
        organizer={"self": False, "display_name": "李四", "userid": "u9"}, response_status=value
    )
    ev = item_to_event(item, user_id="123134568")
    assert ev.attendees == (wecal.Attendee(id="123134568", response=expected),)
    assert ev.organizer == wecal.Person(id="u9", display_name="李四")
    # Without user_id there is nobody to attach the answer to.
    assert item_to_event(item).attendees == ()


def test_response_status_table() -> None:
    R = wecal.ResponseStatus
    assert dict(DINGTALK_LEGACY_RESPONSE_STATUS) == {
        "needsaction": R.NEEDS_ACTION,
        "accepted": R.ACCEPTED,
        "tentative": R.TENTATIVE,
        "declined": R.DECLINED,
    }


def test_self_organizer_without_userid_is_the_listed_user() -> None:
    item = _item(organizer={"self": True, "display_name": "张三"})
    assert item_to_event(item, user_id="u1").organizer == wecal.Person(id="u1", display_name="张三")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("confirmed", wecal.EventStatus.CONFIRMED),
        ("cancelled", wecal.EventStatus.CANCELLED),
        ("canceled", wecal.EventStatus.CANCELLED),
        ("tentative", wecal.EventStatus.TENTATIVE),
    ],
)
def test_status_strings(value: str, expected: wecal.EventStatus) -> None:
    assert item_to_event(_item(status=value)).status is expected


def test_recurrence_forms() -> None:
    """A bare list and an RRULE: line read alike; empty forms mean no rule."""
    for form in (["RRULE:FREQ=WEEKLY;BYDAY=MO"], {"string": ["FREQ=WEEKLY;BYDAY=MO"]}):
        ev = item_to_event(_item(recurrence=form))
        assert ev.recurrence is not None
        assert "FREQ=WEEKLY" in ev.recurrence.rrule
        assert "BYDAY=MO" in ev.recurrence.rrule
    for empty in (None, "", [], {"string": []}, {"string": None}):
        assert item_to_event(_item(recurrence=empty)).recurrence is None


def test_recurrence_id_as_number_and_iso() -> None:
    ev = item_to_event(_item(recurrence_id=1609466400000, unique_id="u"))
    assert ev.recurrence_id == datetime(2021, 1, 1, 2, tzinfo=UTC)
    assert ev.id == "u_20210101T020000Z"
    ev = item_to_event(_item(recurrence_id="2021-01-01T10:00:00+08:00"))
    assert ev.series_id == "e1"  # no unique_id: the item's id names the series
    assert ev.recurrence_id == datetime(2021, 1, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"start": {"date": "2024-06-01"}, "end": {"date": "2024-06-02"}}, "items[2].id"),
        (_item(start=None), "items[2].start"),
        (_item(start={"time_zone": "Asia/Shanghai"}), "items[2].start"),
        (_item(start={"date": "2024-06-03"}), "items[2].start.date_time"),
        (_item(start={"date_time": "soon"}), "items[2].start.date_time"),
        (
            _item(start={"date_time": "2024-06-03T10:00:00"}, end={"date_time": "2024-06-03"}),
            "items[2].start.date_time",  # no offset and no time_zone anywhere
        ),
        (_item(end={"date_time": "2024-06-03T09:00:00+0800"}), "items[2].end.date_time"),
        (
            {"id": "e", "start": {"date": "2024-13-01"}, "end": {"date": "2024-06-02"}},
            "items[2].start.date",
        ),
        (_item(start={"date_time": 1717380000}), "items[2].start.date_time"),
        (_item(start={**_item()["start"], "time_zone": 8}), "items[2].start.time_zone"),
        (_item(status="gone"), "items[2].status"),
        (_item(response_status="maybe"), "items[2].response_status"),
        (_item(recurrence_id="soon"), "items[2].recurrence_id"),
        (_item(recurrence_id=10**20), "items[2].recurrence_id"),
        (_item(recurrence_id="1", unique_id=5), "items[2].unique_id"),
        (_item(recurrence={"string": ["NOT A RULE"]}), "items[2].recurrence"),
        (_item(organizer="张三"), "items[2].organizer"),
        (_item(created={"date_time": "yesterday"}), "items[2].created.date_time"),
        (_item(summary=["x"]), "items[2].summary"),
    ],
)
def test_bad_fields_name_their_path(item: dict[str, Any], where: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        item_to_event(item, path="$.result.items[2]")
    assert info.value.path is not None
    assert where in info.value.path


def test_page_shapes() -> None:
    assert page_from_response({"result": {"items": [], "next_page_token": ""}}) == ([], None)
    assert page_from_response({"result": {}}) == ([], None)
    items, token = page_from_response(
        {"result": {"items": {"calendar_item": [{"id": "a"}]}, "next_page_token": "t"}}
    )
    assert items == [{"id": "a"}]
    assert token == "t"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (load("calendar_list_error.json"), "$.result"),
        ({"result": []}, "$.result"),
        ({"result": {"items": "x"}}, "$.result.items"),
        ({"result": {"items": [{}, 1]}}, "$.result.items[1]"),
        ({"result": {"next_page_token": 5}}, "$.result.next_page_token"),
        ("{}", "$"),
    ],
)
def test_bad_pages(body: Any, where: str) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        page_from_response(body)
    assert info.value.path == where


# -- fuzzing -------------------------------------------------------------------------

GOLDEN_ITEMS = [seed_item()]
_master = seed_item()
del _master["recurrence_id"]
_all_day = seed_item()
for _key in ("start", "end"):
    del _all_day[_key]["date_time"]
GOLDEN_ITEMS += [_master, _all_day]


@given(mutated(GOLDEN_ITEMS) | json_values)
def test_malformed_items_raise_only_wecal_errors(doc: Any) -> None:
    """Mutated seed items and random JSON: an Event or a ResponseFormatError."""
    result = outcome(item_to_event, doc, path="$.result.items[0]", user_id="u")
    if isinstance(result, wecal.WecalError):
        assert isinstance(result, wecal.ResponseFormatError)
        assert result.path is not None
        assert result.path.startswith("$.result.items[0]")
    else:
        assert isinstance(result, wecal.Event)


@given(mutated([load("calendar_list.json")]) | json_values)
def test_malformed_pages_raise_only_wecal_errors(doc: Any) -> None:
    result = outcome(page_from_response, doc)
    assert isinstance(result, tuple | wecal.ResponseFormatError)


def test_fixture_not_mutated_by_fuzzing() -> None:
    """The fuzzers deep-copy: the golden items are still the seed's."""
    assert copy.deepcopy(GOLDEN_ITEMS[0]) == seed_item()


def test_repeated_rules_parse_alike_and_errors_name_their_item() -> None:
    """Rules are cached by value: equal rules read alike, bad ones fail per item."""
    weekly = item_to_event(_item(recurrence=["FREQ=WEEKLY;BYDAY=MO"]))
    again = item_to_event(_item(recurrence={"string": ["FREQ=WEEKLY;BYDAY=MO"]}))
    daily = item_to_event(_item(recurrence=["FREQ=DAILY"]))
    assert weekly.recurrence == again.recurrence
    assert daily.recurrence != weekly.recurrence
    bad = _item(recurrence=["FREQ=SOMETIMES"])
    for i in (4, 7):
        with pytest.raises(wecal.ResponseFormatError) as info:
            item_to_event(bad, path=f"$.result.items[{i}]")
        assert info.value.path is not None
        assert info.value.path.startswith(f"$.result.items[{i}].recurrence")


SEED_UNIQUE = "k3io5atbqjbgh9927j8d94abh"


@pytest.mark.parametrize(
    ("master_id", "occurrence_ids"),
    [
        ("1" + SEED_UNIQUE, ["1" + SEED_UNIQUE, "2" + SEED_UNIQUE]),
        (SEED_UNIQUE, [SEED_UNIQUE + "_x", "other-form-7"]),
        ("master", ["master_20240603T020000Z", "master_20240610T020000Z"]),
    ],
    ids=["seed-shape", "unrelated", "google-shape"],
)
def test_server_occurrences_and_expand_of_the_master_agree_whatever_the_ids(
    master_id: str, occurrence_ids: list[str]
) -> None:
    """
    One occurrence, one id and one series_id, whether single_events or
    wecal.expand made it — whatever ``id`` holds beside the series' unique_id.
    """
    unique = "k3io5atbqjbgh9927j8d94abh"
    zone = {"time_zone": "Asia/Shanghai"}
    master = {
        "id": master_id,
        "unique_id": unique,
        "summary": "周会",
        "start": {"date_time": "2024-06-03T10:00:00+0800", **zone},
        "end": {"date_time": "2024-06-03T11:00:00+0800", **zone},
        "recurrence": {"string": ["WEEKLY;BYDAY=MO"]},
    }
    occurrences = [
        {
            **{k: v for k, v in master.items() if k != "recurrence"},
            "id": occ_id,
            "recurrence_id": str(int(datetime(2024, 6, day, 2, tzinfo=UTC).timestamp()) * 1000),
            "start": {"date_time": f"2024-06-{day:02d}T10:00:00+0800", **zone},
            "end": {"date_time": f"2024-06-{day:02d}T11:00:00+0800", **zone},
        }
        for occ_id, day in zip(occurrence_ids, (3, 10), strict=True)
    ]
    server = [item_to_event(o) for o in occurrences]
    listed = item_to_event(master)
    local = list(
        wecal.expand(listed, datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 11, tzinfo=UTC))
    )
    # By hand: the series is the unique_id; each id is it and the UTC start.
    expected = [(f"{unique}_202406{d:02d}T020000Z", unique) for d in (3, 10)]
    assert [(e.id, e.series_id) for e in server] == expected
    assert [(e.id, e.series_id) for e in local] == expected
    assert listed.id == unique
    assert listed.raw["id"] == master_id
