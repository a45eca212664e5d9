"""
Every sandbox fault mode through the real clients.

A fault the retry policy absorbs must leave the listing complete, with no
page lost or repeated; when the retries run out the right ``WecalError``
subclass comes out, carrying a cursor from which a fresh client resumes to
exactly the rest of the listing. Writes are never replayed after an
ambiguous failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import wecal
from tests._mock import note_sandbox_tokens
from tests.sandbox_fixtures import (
    DINGTALK_APP_KEY,
    DINGTALK_APP_SECRET,
    FAST_LIMITS,
    WECOM_CORP_ID,
    WECOM_SECRET,
)
from wecal.sandbox import Fault, Sandbox, generate, serve

pytestmark = pytest.mark.anyio

PLUS8 = timezone(timedelta(hours=8))
#: Small backoff and a short deadline: a WeCom 45009 (60 s block) or a
#: DingTalk 90018 (1 s) then ends the call at once with RateLimitError.
FAST = wecal.RetryConfig(max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=0.5)
PAGE = 5

Client = wecal.WeComClient | wecal.DingTalkLegacyClient


class Setup:
    """A sandbox with data for one provider and how to list it."""

    def __init__(self, sb: Sandbox, provider: str, base_url: str | None = None) -> None:
        self.sb = sb
        self.provider = provider
        self.base_url = base_url
        summary = generate(
            sb,
            wecom_calendars=1,
            schedules_per_calendar=17,
            dingtalk_users=1,
            events_per_user=17,
            max_attendees=3,
        )
        self.cal_id = summary.wecom_calendars[0]
        self.user = summary.dingtalk_users[0]
        self.api = (
            "wecom.schedule.get_by_calendar" if provider == "wecom" else "dingtalk.calendar.list"
        )

    def client(self, **kw: Any) -> Client:
        settings: dict[str, Any] = {
            "token_store": wecal.MemoryTokenStore(),
            "retry": FAST,
            "rate_limit": FAST_LIMITS,
        }
        if self.base_url is None:
            settings.update(
                base_url="http://sandbox", transport=httpx.ASGITransport(app=self.sb.app)
            )
        else:
            settings.update(base_url=self.base_url)
        settings.update(kw)
        if self.provider == "wecom":
            return wecal.WeComClient(WECOM_CORP_ID, WECOM_SECRET, **settings)
        return wecal.DingTalkLegacyClient(DINGTALK_APP_KEY, DINGTALK_APP_SECRET, **settings)

    def listing(self, client: Client) -> wecal.Paginator[wecal.Event]:
        if isinstance(client, wecal.WeComClient):
            return client.list_events(self.cal_id, page_size=PAGE)
        return client.list_events(user_id=self.user, page_size=PAGE)

    def truth(self) -> list[str]:
        """Ids of a complete listing now (before any drift), in order."""
        if self.provider == "wecom":
            return [s["schedule_id"] for s in self.sb.wecom_ground_truth(self.cal_id)]
        return [i["id"] for i in self.sb.dingtalk_ground_truth(self.user)]

    def listing_calls(self) -> list[Any]:
        return [r for r in self.sb.requests if r.api == self.api]


@pytest.fixture(params=["wecom", "dingtalk"])
def setup(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Setup]:
    yield Setup(sandbox, request.param)
    note_sandbox_tokens(sandbox)


async def collect(
    setup: Setup, cursor: str | None = None, **kw: Any
) -> list[wecal.Page[wecal.Event]]:
    async with setup.client(**kw) as client:
        return [page async for page in setup.listing(client).by_page(cursor)]


def ids(pages: list[wecal.Page[wecal.Event]]) -> list[str]:
    return [e.id for p in pages for e in p.items]


# -- faults the retries absorb --------------------------------------------------------

RECOVERABLE: list[tuple[str, Callable[[], Fault]]] = [
    ("latency", lambda: Fault.latency(0.02)),
    ("server_error_502", lambda: Fault.server_error(502)),
    ("server_error_503", lambda: Fault.server_error(503)),
    ("busy", Fault.busy),
    ("error_45033", lambda: Fault.error(45033)),
    ("error_6000", lambda: Fault.error(6000)),
    ("revoke_token", Fault.revoke_token),
    ("revoke_token_42001", lambda: Fault.revoke_token(42001)),
    ("dropped", Fault.dropped),
    ("truncated", Fault.truncated),
]


@pytest.mark.parametrize(("name", "fault"), RECOVERABLE, ids=[n for n, _ in RECOVERABLE])
async def test_one_fault_mid_listing_loses_and_repeats_nothing(
    setup: Setup, name: str, fault: Callable[[], Fault]
) -> None:
    if setup.provider == "dingtalk" and name in ("error_45033", "error_6000"):
        pytest.skip("WeCom codes")
    truth = setup.truth()
    # Pages 1 and 2 go through; page 3 meets the fault once.
    setup.sb.faults.script(setup.api, [None, None, fault()])
    pages = await collect(setup)
    assert ids(pages) == truth
    assert setup.sb.faults.pending == 0
    faulted = [r for r in setup.listing_calls() if r.fault is not None]
    assert len(faulted) == 1
    if name.startswith("revoke"):
        gettokens = [r for r in setup.sb.requests if r.api and r.api.endswith("gettoken")]
        assert len(gettokens) == 2  # dropped the dead token, fetched one, replayed once


async def test_token_revoked_after_n_calls(setup: Setup) -> None:
    truth = setup.truth()
    setup.sb.faults.revoke_tokens_after(2)
    pages = await collect(setup)
    assert ids(pages) == truth
    assert [r.errcode for r in setup.listing_calls()].count(40014) == 1


async def test_dingtalk_rate_limit_is_waited_out(sandbox: Sandbox) -> None:
    """90018 asks for a 1 s pause: the client sits it out and the listing completes."""
    setup = Setup(sandbox, "dingtalk")
    truth = setup.truth()
    sandbox.faults.script(setup.api, [None, Fault.rate_limited()])
    pages = await collect(setup, retry=wecal.RetryConfig(backoff_base=0.001, deadline=5))
    note_sandbox_tokens(sandbox)
    assert ids(pages) == truth
    assert [r.errcode for r in setup.listing_calls()].count(90018) == 1


# -- retries exhausted: the right error, a cursor, and a clean resume -----------------

# (name, fault for wecom, for dingtalk, error class(es: wecom, dingtalk), sends: wecom, dingtalk)
EXHAUSTING: list[tuple[str, Fault, Fault, tuple[type[wecal.WecalError], ...], int, int]] = [
    (
        "server_error",
        Fault.server_error(503),
        Fault.server_error(503),
        (wecal.ProviderError,),
        3,
        3,
    ),
    ("busy", Fault.busy(), Fault.busy(), (wecal.ProviderError,), 3, 3),
    # A provider block (60 s / 1 s) longer than the deadline: raised at once.
    ("rate_limited", Fault.rate_limited(), Fault.rate_limited(), (wecal.RateLimitError,), 1, 1),
    # DingTalk's gateway 403 QPS answer is a rate limit (1 s block); WeCom
    # never sends one, so there a 403 stays a permission error (not retried).
    (
        "qps_403",
        Fault.qps_403(),
        Fault.qps_403(),
        (wecal.PermissionDeniedError, wecal.RateLimitError),
        1,
        1,
    ),
    ("error_unknown", Fault.error(987654), Fault.error(987654), (wecal.ProviderError,), 1, 1),
    # 40058 on a listing names an unknown calendar: not found, whatever the code.
    (
        "error_invalid",
        Fault.error(40058),
        Fault.error(41),
        (wecal.NotFoundError, wecal.InvalidRequestError),
        1,
        1,
    ),
    (
        "error_denied_or_quota",
        Fault.error(48002),
        Fault.error(90020),
        (wecal.PermissionDeniedError, wecal.QuotaExceededError),
        1,
        1,
    ),
    ("dropped", Fault.dropped(), Fault.dropped(), (wecal.TransportError,), 3, 3),
    ("truncated", Fault.truncated(), Fault.truncated(), (wecal.ResponseFormatError,), 3, 3),
]


@pytest.mark.parametrize(
    ("name", "wecom_fault", "ding_fault", "errors", "wecom_sent", "ding_sent"),
    EXHAUSTING,
    ids=[e[0] for e in EXHAUSTING],
)
async def test_exhausted_retries_raise_the_right_error_and_resume(
    setup: Setup,
    name: str,
    wecom_fault: Fault,
    ding_fault: Fault,
    errors: tuple[type[wecal.WecalError], ...],
    wecom_sent: int,
    ding_sent: int,
) -> None:
    wecom = setup.provider == "wecom"
    fault = wecom_fault if wecom else ding_fault
    error = errors[0] if wecom else errors[-1]
    truth = setup.truth()
    setup.sb.faults.script(setup.api, [None, fault, fault, fault])
    done: list[str] = []

    async def run() -> None:
        async with setup.client() as client:
            async for page in setup.listing(client).by_page():
                done.extend(e.id for e in page.items)

    with pytest.raises(wecal.WecalError) as info:
        await run()
    exc = info.value
    assert type(exc) is error, repr(exc)
    assert done == truth[:PAGE]
    assert exc.cursor is not None
    faulted = [r for r in setup.listing_calls() if r.fault is not None]
    assert len(faulted) == (wecom_sent if wecom else ding_sent)
    if isinstance(exc, wecal.RateLimitError):
        assert exc.retry_after == pytest.approx(60.0 if wecom else 1.0, abs=0.5)
    setup.sb.faults.clear()
    rest = await collect(setup, exc.cursor)
    assert done + ids(rest) == truth


async def test_revoked_twice_is_an_authentication_error(setup: Setup) -> None:
    """The token is refused again right after a refresh: no endless refresh loop."""
    setup.sb.faults.script(setup.api, [Fault.revoke_token(), Fault.revoke_token()])
    async with setup.client() as client:
        with pytest.raises(wecal.AuthenticationError) as info:
            [e async for e in setup.listing(client)]
    assert info.value.code == 40014
    assert info.value.cursor is not None
    assert len(setup.listing_calls()) == 2


async def test_cursor_of_an_interrupted_page_iteration_resumes(setup: Setup) -> None:
    """A cursor saved after each page (as an exporter would) survives a crash."""
    truth = setup.truth()
    setup.sb.faults.script(
        setup.api, [None, None, Fault.dropped(), Fault.dropped(), Fault.dropped()]
    )
    saved: list[str | None] = [None]
    got: list[str] = []

    async def run() -> None:
        async with setup.client() as client:
            async for page in setup.listing(client).by_page():
                got.extend(e.id for e in page.items)
                saved[0] = page.cursor

    with pytest.raises(wecal.TransportError):
        await run()
    assert saved[0] is not None
    rest = await collect(setup, saved[0])
    assert got + ids(rest) == truth


# -- offset drift --------------------------------------------------------------------


async def test_offset_drift_repeats_nothing_and_loses_nothing(setup: Setup) -> None:
    truth = setup.truth()
    setup.sb.faults.script(setup.api, [None, Fault.offset_drift(), Fault.offset_drift()])
    got = ids(await collect(setup))
    assert len(got) == len(set(got)), "an item was yielded twice"
    # Every item that existed before the drift is there, in order; the items
    # inserted ahead of the listing position are not required.
    assert [i for i in got if i in set(truth)] == truth


# -- writes are not replayed after an ambiguous failure -------------------------------


def one_off(summary: str) -> wecal.Event:
    start = datetime(2024, 6, 3, 10, tzinfo=PLUS8)
    return wecal.Event(
        provider="wecom", id="", summary=summary, start=start, end=start + timedelta(hours=1)
    )


@pytest.fixture
def wecom_setup(sandbox: Sandbox) -> Iterator[Setup]:
    yield Setup(sandbox, "wecom")
    note_sandbox_tokens(sandbox)


@pytest.mark.parametrize(
    ("fault", "error", "created"),
    [
        (Fault.dropped, wecal.TransportError, 0),
        (Fault.truncated, wecal.ResponseFormatError, 1),
        (Fault.busy, wecal.ProviderError, 0),
        (lambda: Fault.server_error(502), wecal.ProviderError, 0),
    ],
    ids=["dropped", "truncated", "busy", "502"],
)
async def test_create_is_not_replayed_after_an_ambiguous_failure(
    wecom_setup: Setup, fault: Callable[[], Fault], error: type[wecal.WecalError], created: int
) -> None:
    # The outcome is unknown: OutcomeUnknownError, what happened chained as its cause.
    sb = wecom_setup.sb
    before = len(sb.wecom_schedules)
    sb.faults.script("wecom.schedule.add", [fault()])
    async with wecom_setup.client() as client:
        assert isinstance(client, wecal.WeComClient)
        with pytest.raises(wecal.OutcomeUnknownError) as info:
            await client.create_event(one_off("maybe"), calendar_id=wecom_setup.cal_id)
    assert isinstance(info.value.__cause__, error)
    assert info.value.client_token is None  # WeCom has no idempotency key
    assert len([r for r in sb.requests if r.api == "wecom.schedule.add"]) == 1
    # truncated: WeCom did create it (the answer was lost), and nobody created it twice.
    assert len(sb.wecom_schedules) - before == created


async def test_create_is_replayed_after_a_refusal(wecom_setup: Setup) -> None:
    """45033 comes before any processing: safe to send again, created once."""
    sb = wecom_setup.sb
    before = len(sb.wecom_schedules)
    sb.faults.script("wecom.schedule.add", [Fault.error(45033)])
    async with wecom_setup.client() as client:
        assert isinstance(client, wecal.WeComClient)
        made = await client.create_event(one_off("once"), calendar_id=wecom_setup.cal_id)
    assert len(sb.wecom_schedules) - before == 1
    assert sb.wecom_schedules[made.id]["summary"] == "once"
    assert len([r for r in sb.requests if r.api == "wecom.schedule.add"]) == 2


async def test_create_blocked_by_45009_creates_nothing(wecom_setup: Setup) -> None:
    """A 60 s block longer than the deadline: RateLimitError, nothing created, one send."""
    sb = wecom_setup.sb
    before = len(sb.wecom_schedules)
    sb.faults.script("wecom.schedule.add", [Fault.rate_limited()])
    async with wecom_setup.client() as client:
        assert isinstance(client, wecal.WeComClient)
        with pytest.raises(wecal.RateLimitError) as info:
            await client.create_event(one_off("x"), calendar_id=wecom_setup.cal_id)
        # The block holds for the whole client: the next call is refused unsent.
        with pytest.raises(wecal.RateLimitError):
            await client.get_events(wecom_setup.truth()[:1])
    assert info.value.retry_after == 60.0
    assert len(sb.wecom_schedules) == before
    assert [r.api for r in sb.requests if r.api != "wecom.gettoken"] == ["wecom.schedule.add"]


async def test_get_events_batches_survive_faults(wecom_setup: Setup) -> None:
    sb = wecom_setup.sb
    wanted = wecom_setup.truth()
    sb.faults.script("wecom.schedule.get", [Fault.busy(), Fault.truncated()])
    async with wecom_setup.client() as client:
        assert isinstance(client, wecal.WeComClient)
        events = await client.get_events(wanted)
    assert [e.id for e in events] == wanted


async def test_get_events_exhausted_is_a_plain_wecal_error(wecom_setup: Setup) -> None:
    sb = wecom_setup.sb
    sb.faults.script("wecom.schedule.get", [Fault.dropped()] * 3)
    async with wecom_setup.client() as client:
        assert isinstance(client, wecal.WeComClient)
        with pytest.raises(wecal.TransportError):
            await client.get_events(wecom_setup.truth())


# -- over a real socket ---------------------------------------------------------------


@pytest.mark.parametrize("provider", ["wecom", "dingtalk"])
async def test_loopback_faults_and_timeouts(sandbox: Sandbox, provider: str) -> None:
    """Dropped connections and slow answers over uvicorn: retried, then a TransportError."""
    with serve(sandbox) as url:
        setup = Setup(sandbox, provider, base_url=url)
        truth = setup.truth()
        sandbox.faults.script(setup.api, [None, Fault.dropped(), Fault.server_error(502)])
        assert ids(await collect(setup)) == truth
        sandbox.faults.script(setup.api, [Fault.latency(0.5)] * 3)
        async with setup.client(timeout=0.05) as client:
            # Each attempt times out; on a loaded machine the retries' deadline may
            # pass first. Either way a TransportError that says which.
            with pytest.raises(wecal.TransportError, match=r"Timeout|retry deadline"):
                [e async for e in setup.listing(client)]
    note_sandbox_tokens(sandbox)


def test_utc_anchor() -> None:
    """The fixture clock is 2024-06-01T00:00Z (the data is generated around it)."""
    assert datetime(2024, 6, 1, tzinfo=UTC).timestamp() == 1_717_200_000
