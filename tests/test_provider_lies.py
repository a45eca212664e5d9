"""
The provider contract, lying: every provider of the registry, its real client
against its emulator behind a liar (``tests.hostile.Liar``, an ASGI app in
front of the sandbox's that rewrites chosen answers).

Parametrized over the registry through ``tests.test_provider_contract``'s
``h`` fixture: a provider added to the registry is tried here without an
edit. The lies are written against what the emulator itself answered (its
pages, its error bodies), found by comparing two honest answers, never by
naming a provider's fields:

- lying pagination: the same page again (a cursor or offset that never
  advances), a cursor cycle A→B→A, empty pages with fresh cursors forever,
  the same items under fresh cursors, a cursor taken away while the page
  says there is more;
- malformed bodies on every api a client calls (token, listing, get, sync,
  writes): not JSON, truncated, the wrong top-level type, deeply nested,
  bytes that are not UTF-8, beyond the client's size bound; and values
  changed inside the real answers (huge numbers, strings for numbers and
  back, keys taken away, times out of range, two values swapped);
- error codes where they do not belong: an unknown code, an error body with
  HTTP 200, a success body with HTTP 4xx, a 429 without a reset header, a
  reset header that is garbage or huge.

What is asserted: the listing ends after a bounded number of requests
(counted at the liar), nothing is yielded twice, every failure is a
``wecal.WecalError`` subclass (never KeyError/ValueError/TypeError/...), no
secret is in an error's text or any log record, and no call hangs (a
generous ``fail_after`` turns a hang into a failure; nothing waits on it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

import anyio
import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wecal
from tests._mock import no_secret_in_logs, secrets_used
from tests.hostile import Liar, served
from tests.test_provider_contract import HOUR, W0, W1, Harness, h
from wecal.paging import NO_PROGRESS_PAGES
from wecal.sandbox import FakeClock, Fault

__all__ = ["h", "no_secret_in_logs"]

pytestmark = pytest.mark.anyio

#: A hang would be a failure; nothing here waits for it.
HANG = 30.0
#: The most listing requests a lying listing may take before it ends.
BOUND = 3 + NO_PROGRESS_PAGES + 2
#: The client's response size bound in these tests.
MAX_BYTES = 1 << 20
RETRY = wecal.RetryConfig(
    max_attempts=3, backoff_base=0.001, backoff_max=0.005, deadline=10.0, max_retry_after=5.0
)

Path = tuple[Any, ...]


def liar_client(h: Harness, liar: Liar, **settings: Any) -> wecal.CalendarProvider:
    defaults: dict[str, Any] = {
        "transport": httpx.ASGITransport(app=liar),
        "retry": RETRY,
        "max_response_bytes": MAX_BYTES,
    }
    return h.client(**(defaults | settings))


def make_liar(h: Harness) -> Liar:
    emulator = h.entry.load_emulator()
    return Liar(h.sb.app, lambda path, method: emulator.api_name(path, method))


def no_secret(exc: BaseException) -> None:
    text = f"{exc}\n{exc!r}\n{exc.args!r}"
    leaked = [s for s in secrets_used() if s in text]
    assert not leaked, f"secret in {type(exc).__name__}: {text[:300]}"


def foreign(exc: BaseException) -> str:
    return f"not a WecalError: {type(exc).__name__}: {str(exc)[:300]}"


# -- reading the emulator's own answers ---------------------------------------------------


def leaves(doc: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Every scalar in a JSON document by path."""
    out: dict[Path, Any] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out |= leaves(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out |= leaves(v, (*prefix, i))
    else:
        out[prefix] = doc
    return out


def items_path(doc: Any, prefix: Path = ()) -> Path | None:
    """The path of the longest list of objects in ``doc`` (a page's items)."""
    best: tuple[int, Path | None] = (0, None)

    def walk(node: Any, at: Path) -> None:
        nonlocal best
        if isinstance(node, list):
            if node and all(isinstance(x, dict) for x in node) and len(node) > best[0]:
                best = (len(node), at)
            for i, x in enumerate(node):
                walk(x, (*at, i))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*at, k))

    walk(doc, prefix)
    return best[1]


def under(path: Path, parent: Path | None) -> bool:
    return parent is not None and path[: len(parent)] == parent


def cursor_paths(p1: Any, p2: Any, items: Path | None) -> list[Path]:
    """What changes from one honest page to the next outside the items: the cursor."""
    a, b = leaves(p1), leaves(p2)
    return [p for p in a if not under(p, items) and p in b and a[p] != b[p]]


def at(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def put(doc: Any, path: Path, value: Any) -> None:
    at(doc, path[:-1])[path[-1]] = value


def drop(doc: Any, path: Path) -> None:
    parent = at(doc, path[:-1])
    if isinstance(parent, dict):
        del parent[path[-1]]


def fresh(value: Any, n: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value + 7 * n
    return f"{value}{n}"


def body_of(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# -- lying pagination -------------------------------------------------------------------


def seed(h: Harness, n: int) -> list[str]:
    return [h.add(f"p{i}", W0 + i * HOUR, W0 + i * HOUR + HOUR / 2) for i in range(n)]


async def honest_pages(h: Harness, size: int, expand: bool) -> list[bytes]:
    """The emulator's own listing answers, through a pass-through liar."""
    liar = make_liar(h)
    async with liar_client(h, liar) as client:
        [e async for e in h.listing(client, start=W0, end=W1, page_size=size, expand=expand)]
    api = h.contract.expand_api if expand else h.contract.list_api
    return [body for status, body in liar.answers[api] if status == 200]


def pagination_lie(mode: str, pages: list[bytes]) -> Callable[[int], bytes | None]:
    """Answer number ``n`` of the listing under the lie ``mode`` (None: the honest one)."""
    p1, p2 = json.loads(pages[0]), json.loads(pages[1])
    items = items_path(p1)
    cursors = cursor_paths(p1, p2, items)

    def lie(n: int) -> bytes | None:
        if mode == "same_page_again":  # cursor/offset never advances
            return pages[0] if n >= 1 else None
        if mode == "cursor_cycle":  # A → B → A → B ...
            return pages[n % 2] if n >= 2 else None
        doc = json.loads(pages[0])
        if mode == "empty_pages_fresh_cursor":
            if n == 0:
                return None
            if items is not None:
                put(doc, items, [])
            for path in cursors:
                put(doc, path, fresh(at(doc, path), n))
            return body_of(doc)
        if mode == "same_items_fresh_cursor":
            if n == 0:
                return None
            for path in cursors:
                put(doc, path, fresh(at(doc, path), n))
            return body_of(doc)
        if mode == "cursor_missing":  # the first page keeps "has more", loses its cursor
            if n >= 1:
                return None
            for path in cursors:
                drop(doc, path)
            return body_of(doc)
        raise AssertionError(mode)

    return lie


LIES = [
    "same_page_again",
    "cursor_cycle",
    "empty_pages_fresh_cursor",
    "same_items_fresh_cursor",
    "cursor_missing",
]


@pytest.mark.parametrize("expand", [False, True], ids=["masters", "expand"])
@pytest.mark.parametrize("mode", LIES)
async def test_lying_pagination_ends_bounded_and_repeats_nothing(
    h: Harness, mode: str, expand: bool
) -> None:
    size = h.contract.page_size
    stored = seed(h, 2 * size + 1)
    pages = await honest_pages(h, size, expand)
    if len(pages) < 3:
        # This provider's expanded listing does not page (one answer per window).
        assert expand, "the listing did not page"
        pytest.skip("the expanded listing does not page")
    lie = pagination_lie(mode, pages)
    liar = make_liar(h)
    api = h.contract.expand_api if expand else h.contract.list_api

    def rewrite(name: str, n: int, status: int, headers: Any, body: bytes) -> Any:
        if name != api:
            return None
        told = lie(n)
        return None if told is None else (200, headers, told)

    liar.rewrite = rewrite
    got: list[str] = []
    error: BaseException | None = None
    async with liar_client(h, liar) as client:
        try:
            with anyio.fail_after(HANG):
                listing = h.listing(client, start=W0, end=W1, page_size=size, expand=expand)
                async for event in listing:
                    got.append(event.id)
        except wecal.ResponseFormatError as exc:
            error = exc
            no_secret(exc)
    assert len(got) == len(set(got)), f"yielded twice: {len(got) - len(set(got))}"
    assert set(got) <= set(stored)
    assert liar.requests[api] <= BOUND, f"{liar.requests[api]} listing requests"
    if mode in ("same_page_again", "cursor_cycle", "same_items_fresh_cursor"):
        # The first honest page(s) were listed before the lie was seen.
        assert len(got) >= size
        if liar.requests[api] > 3:
            assert error is not None, "a lying listing ended as if complete"


# -- malformed bodies on every api a client calls ------------------------------------------


async def scenario(h: Harness, client: wecal.CalendarProvider, event_id: str) -> None:
    """Every kind of call the client makes: listings, sync and (where there are) writes."""
    size = h.contract.page_size
    [e async for e in h.listing(client, start=W0, end=W1, page_size=size)]
    [e async for e in h.listing(client, start=W0, end=W1, expand=True)]
    [c async for c in h.entry.sync_source(client, h.source)]
    if not h.contract.writes:
        return
    await h.contract.get(client, h.source, event_id)
    start = W0 + timedelta(days=3, hours=9)
    new = wecal.Event(
        provider=h.contract.provider, id="", summary="made", start=start, end=start + HOUR
    )
    made = await h.contract.create(client, h.source, new)
    later = start + 2 * HOUR
    changed = await h.contract.update(
        client, h.source, attrs.evolve(made, summary="changed", start=later, end=later + HOUR)
    )
    await h.contract.delete(client, h.source, changed)


def tick(h: Harness) -> None:
    """A minute later: the emulator's per-second and per-minute limits start afresh."""
    clock = h.sb.clock
    assert isinstance(clock, FakeClock)
    clock.advance(61)


async def run_scenario(h: Harness, liar: Liar, event_id: str) -> BaseException | None:
    tick(h)
    async with liar_client(h, liar) as client:
        try:
            with anyio.fail_after(HANG):
                await scenario(h, client, event_id)
        except wecal.WecalError as exc:
            no_secret(exc)
            return exc
        except Exception as exc:
            pytest.fail(foreign(exc))
    return None


def seed_scenario(h: Harness) -> str:
    ids = seed(h, h.contract.page_size + 1)
    h.add("daily", W0 + 3 * HOUR, W0 + 4 * HOUR, daily=3)
    return ids[0]


async def honest_run(h: Harness, event_id: str) -> Liar:
    """The scenario through a pass-through liar: the apis it calls and their answers."""
    liar = make_liar(h)
    assert await run_scenario(h, liar, event_id) is None
    return liar


def _non_utf8(body: bytes) -> bytes:
    """Bytes that are not UTF-8 at the start of every string value (those read among them)."""
    spoiled = re.sub(rb'(":\s*")', lambda m: m.group(1) + b"\xff\xc3(", body)
    return spoiled if spoiled != body else b"\xff" + body


#: Whole-body garbage: (the replacement of a body).
BODIES: dict[str, Callable[[bytes], bytes]] = {
    "html": lambda body: b"<html><body>502 Bad Gateway</body></html>",
    "empty": lambda body: b"",
    "truncated": lambda body: body[: max(1, len(body) // 2)],
    "top_list": lambda body: b"[" + body + b"]",
    "top_string": lambda body: json.dumps(body.decode("utf-8", "replace")).encode(),
    "top_null": lambda body: b"null",
    "top_number": lambda body: b"18446744073709551617",
    "deep": lambda body: b"[" * 100_000 + b"]" * 100_000,
    "deep_object": lambda body: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "non_utf8": _non_utf8,
    "oversized": lambda body: body + b" " * (2 * MAX_BYTES),
}


class Apis(NamedTuple):
    """What the honest scenario calls of a provider: the same on every fresh sandbox."""

    #: In the order first called.
    called: list[str]
    #: Those that answered a body (a delete may answer nothing).
    with_body: set[str]
    #: The HTTP method of each.
    methods: dict[str, str]


#: Per provider, found once by the first test of the process that needs it.
_APIS: dict[str, Apis] = {}


async def scenario_apis(h: Harness, event_id: str) -> Apis:
    """
    The apis the honest scenario calls (:func:`honest_run`, once a provider:
    eleven kinds of body ran the same honest scenario each to learn the same
    list).
    """
    name = h.entry.name
    if name not in _APIS:
        honest = await honest_run(h, event_id)
        _APIS[name] = Apis(
            list(honest.requests),
            {api for api, answers in honest.answers.items() if any(b for _, b in answers)},
            dict(honest.methods),
        )
    return _APIS[name]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("kind", list(BODIES))
async def test_malformed_bodies_on_every_api(h: Harness, kind: str) -> None:
    event_id = seed_scenario(h)
    honest = await scenario_apis(h, event_id)
    apis = honest.called
    assert h.contract.token_api in apis
    assert h.contract.list_api in apis
    spoil = BODIES[kind]
    for api in apis:
        if api not in honest.with_body:
            continue  # an api answering nothing (a delete): no body to spoil
        h.sb.faults.clear()
        liar = make_liar(h)
        liar.rewrite = lambda name, n, status, headers, body, api=api: (
            (status, headers, spoil(body)) if name == api else None
        )
        error = await run_scenario(h, liar, event_id)
        if kind == "empty" and honest.methods[api] != "GET":
            # Where the status is the verdict, a write may answer nothing (read back after).
            continue
        assert error is not None, f"{kind} from {api} was taken as an answer"
        # A token answer that is not the provider's at all says the base URL looks wrong.
        allowed = (wecal.ResponseFormatError, wecal.OutcomeUnknownError, wecal.ProviderError)
        if api == h.contract.token_api:
            allowed += (wecal.ConfigurationError,)
        assert isinstance(error, allowed), f"{kind} from {api}: {type(error).__name__}: {error}"
        assert liar.requests[api] <= RETRY.max_attempts


#: Values put in place of a real answer's values.
ODD_VALUES = st.sampled_from(
    [
        2**64 + 1,
        -(2**63) - 1,
        10**400,
        -1,
        0,
        1.5e308,
        float("inf"),
        "9" * 40,
        "",
        "x",
        "-1",
        "1e999",
        None,
        True,
        [],
        {},
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00+08:00",
        253_402_300_800,  # year 10000, in seconds
        -62_198_755_200,  # year 0
        1_718_000_000_000,  # milliseconds where seconds are meant
        "1718000000000",
        "\ud800",
        "未知状态",
    ]
)


@st.composite
def changed(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with 1–3 values changed, keys taken away or two values swapped."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(leaves(doc)) + [p for p in _containers(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(sorted(paths, key=repr)))
        how = draw(st.sampled_from(["value", "drop", "swap", "as_text"]))
        if how == "drop":
            drop(doc, path)
        elif how == "swap":
            other = draw(st.sampled_from(sorted(paths, key=repr)))
            if not under(other, path) and not under(path, other):
                a, b = at(doc, path), at(doc, other)
                put(doc, path, b)
                put(doc, other, a)
        elif how == "as_text":
            value = at(doc, path)
            put(doc, path, str(value) if not isinstance(value, str) else _as_number(value))
        else:
            put(doc, path, draw(ODD_VALUES))
    return doc


def _as_number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return 12345


def _containers(doc: Any, prefix: Path = ()) -> list[Path]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, dict | list):
                out += _containers(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            if isinstance(v, dict | list):
                out += _containers(v, (*prefix, i))
    return out


def _dumps(doc: Any) -> bytes:
    # allow_nan: an infinity is a hostile value too (json's Infinity is not JSON).
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_values_changed_in_real_answers(h: Harness) -> None:
    event_id = seed_scenario(h)
    honest = make_liar(h)
    assert anyio.run(run_scenario, h, honest, event_id) is None
    bodies = [
        (api, json.loads(body))
        for api, answers in honest.answers.items()
        for status, body in answers[:2]
        if status == 200 and body.startswith(b"{")
    ]

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        api, doc = data.draw(st.sampled_from(bodies))
        spoiled = _dumps(data.draw(changed(doc)))
        seen: dict[str, int] = {}

        def rewrite(name: str, n: int, status: int, headers: Any, body: bytes) -> Any:
            if name != api or status != 200:
                return None
            seen[name] = seen.get(name, 0) + 1
            return (status, headers, spoiled) if seen[name] == 1 else None

        h.sb.faults.clear()
        liar = make_liar(h)
        liar.rewrite = rewrite
        anyio.run(run_scenario, h, liar, event_id)

    check()


async def collect_into(listing: wecal.Paginator[wecal.Event], got: list[str]) -> None:
    async for event in listing:
        got.append(event.id)


# -- error codes in unexpected places ---------------------------------------------------


def _reset_headers(headers: Any, value: bytes) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if b"retry-after" not in k.lower()]
    kept = [(k, v) for k, v in kept if b"ratelimit" not in k.lower()]
    return [*kept, (b"retry-after", value), (b"x-ogw-ratelimit-reset", value)]


ANSWERS: dict[str, Callable[[int, Any, bytes], Any]] = {
    "success_as_400": lambda status, headers, body: (400, headers, body),
    "success_as_404": lambda status, headers, body: (404, headers, body),
    "429_no_reset": lambda status, headers, body: (429, _reset_headers(headers, b"")[:-2], b""),
    "429_garbage_reset": lambda status, headers, body: (
        429,
        _reset_headers(headers, b"soon, maybe -1e999 NaN"),
        b"{}",
    ),
    "429_huge_reset": lambda status, headers, body: (
        429,
        _reset_headers(headers, b"9" * 30),
        b"{}",
    ),
    "429_negative_reset": lambda status, headers, body: (
        429,
        _reset_headers(headers, b"-5"),
        b"{}",
    ),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_status_and_code_disagree(h: Harness, answer: str) -> None:
    seed(h, 3)
    liar = make_liar(h)
    api = h.contract.list_api
    make = ANSWERS[answer]
    liar.rewrite = lambda name, n, status, headers, body: (
        make(status, headers, body) if name == api else None
    )
    got: list[str] = []
    async with liar_client(h, liar) as client:
        with pytest.raises(wecal.WecalError) as info, anyio.fail_after(HANG):
            await collect_into(h.listing(client, start=W0, end=W1), got)
    assert got == []
    no_secret(info.value)
    assert liar.requests[api] <= RETRY.max_attempts
    if answer.startswith("429"):
        assert isinstance(info.value, wecal.RateLimitError), repr(info.value)
        wait = info.value.retry_after
        assert wait is None or wait >= 0, wait


@pytest.mark.parametrize("where", ["rate_limited", "error_body_as_200", "unknown_code"])
async def test_error_codes_where_they_do_not_belong(h: Harness, where: str) -> None:
    seed(h, 3)
    liar = make_liar(h)
    api = h.contract.list_api
    if where == "rate_limited":
        # The provider's own throttle answer with a huge reset: raised, not slept.
        h.sb.faults.script(api, [Fault.rate_limited()] * 5)
        liar.rewrite = lambda name, n, status, headers, body: (
            (status, _reset_headers(headers, b"9" * 30), body) if name == api else None
        )
    elif where == "error_body_as_200":
        h.sb.faults.script(api, [Fault.error_code(403, "Forbidden.Odd")] * 5)
        liar.rewrite = lambda name, n, status, headers, body: (
            (200, headers, body) if name == api else None
        )
    else:
        h.sb.faults.script(api, [Fault.error(987_654_321, "odd")] * 5)
    # Any wait the provider asks for is over this cap: raised at once, never slept.
    capped = attrs.evolve(RETRY, max_retry_after=0.5)
    async with liar_client(h, liar, retry=capped) as client:
        with pytest.raises(wecal.ProviderError) as info, anyio.fail_after(HANG):
            [e async for e in h.listing(client, start=W0, end=W1)]
    no_secret(info.value)
    assert liar.requests[api] <= RETRY.max_attempts
    if where == "rate_limited":
        assert isinstance(info.value, wecal.RateLimitError)
        assert liar.requests[api] == 1, "a wait over max_retry_after is raised, not slept"


# -- a body that trickles -----------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_trickled_answer_ends_at_the_deadline(h: Harness) -> None:
    seed(h, 3)
    liar = make_liar(h)
    api = h.contract.list_api
    liar.trickle.add(api)
    retry = attrs.evolve(RETRY, max_attempts=2, deadline=1.0)
    with served(liar) as url:
        async with liar_client(h, liar, base_url=url, transport=None, retry=retry) as client:
            with pytest.raises(wecal.TransportError) as info, anyio.fail_after(HANG):
                [e async for e in h.listing(client, start=W0, end=W1)]
    no_secret(info.value)
    (_, body), *_ = liar.answers[api]
    # Ended by the deadline, well before the whole answer came (a byte per 50 ms).
    assert liar.streamed < len(body)


# -- every value of a listed event, replaced -------------------------------------------

#: Values a lying server puts where an event's fields are.
TARGETED = [
    2**64 + 1,
    -1,
    253_402_300_800,  # year 10000, in seconds
    -62_198_755_200,  # year 0
    1_718_000_000_000_000,  # microseconds where seconds are meant
    "253402300800",
    "0000-01-01T00:00:00+08:00",
    "",
    None,
    {},
    [],
    "未知",
]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_every_value_of_a_listed_event_replaced(h: Harness) -> None:
    h.add("one", W0 + HOUR, W0 + 2 * HOUR)
    pages = await honest_pages(h, h.contract.page_size, False)
    doc = json.loads(pages[0])
    items = items_path(doc)
    assert items is not None
    item_leaves = [p for p in leaves(doc) if under(p, items)]
    api = h.contract.list_api
    outcomes: dict[str, int] = {}
    # One client for every replaced value: only the listing's answer is spoiled
    # (its token, fetched once, is honest), and a listing keeps no state in the
    # client from one call to the next. A client per value fetched a token and
    # built a connection pool for each of the ~300 listings.
    liar = make_liar(h)
    async with liar_client(h, liar) as client:
        for path in item_leaves:
            for value in TARGETED:
                spoiled = json.loads(pages[0])
                put(spoiled, path, value)
                body = _dumps(spoiled)
                liar.rewrite = lambda name, n, status, headers, _, body=body: (
                    (status, headers, body) if name == api else None
                )
                tick(h)
                error: wecal.WecalError | None = None
                try:
                    with anyio.fail_after(HANG):
                        [e async for e in h.listing(client, start=W0, end=W1)]
                except wecal.WecalError as exc:
                    error = exc
                except Exception as exc:
                    pytest.fail(f"{path}={value!r}: {foreign(exc)}")
                if error is None:
                    continue
                no_secret(error)
                outcomes[type(error).__name__] = outcomes.get(type(error).__name__, 0) + 1
                if isinstance(error, wecal.ResponseFormatError):
                    assert error.path, f"{path}={value!r}: no JSON path in {error}"
    assert outcomes, "no replaced value was refused"


# -- sync streams that lie --------------------------------------------------------------


SYNC_LIES = ["same_page_again", "cursor_cycle", "same_items_fresh_cursor"]


@pytest.mark.parametrize("mode", SYNC_LIES)
async def test_lying_sync_pages_end_bounded_and_report_each_event_once(
    h: Harness, mode: str
) -> None:
    stored = seed(h, 201)
    honest = make_liar(h)
    async with liar_client(h, honest) as client:
        [c async for c in h.entry.sync_source(client, h.source)]
    (api,) = [a for a in honest.requests if a != h.contract.token_api][-1:]
    pages = [body for status, body in honest.answers[api] if status == 200]
    if len(pages) < 2:
        pytest.skip("this provider's sync does not page at 201 events")
    lie = pagination_lie(mode, pages)
    liar = make_liar(h)
    liar.rewrite = lambda name, n, status, headers, body: (
        None if name != api or lie(n) is None else (200, headers, lie(n))
    )
    got: list[str | None] = []
    async with liar_client(h, liar) as client:
        try:
            with anyio.fail_after(HANG):
                async for change in h.entry.sync_source(client, h.source):
                    got.append(change.event_id)
        except wecal.ResponseFormatError as exc:
            no_secret(exc)
    ids = [i for i in got if i]  # a RESET names no event
    assert len(ids) == len(set(ids)), "an event was reported twice"
    assert set(ids) <= set(stored)
    assert liar.requests[api] <= BOUND


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_every_paged_api_of_a_listing_lies(h: Harness) -> None:
    # Events running across the window's start and inside it: whatever calls
    # a client pages through for a window (the events running at its start
    # included), each is told the same page again.
    size = h.contract.page_size
    across = [
        h.add(f"a{i}", W0 - HOUR - i * timedelta(minutes=1), W0 + HOUR) for i in range(size + 1)
    ]
    stored = across + seed(h, size + 1)
    honest = make_liar(h)
    async with liar_client(h, honest) as client:
        [e async for e in h.listing(client, start=W0, end=W1, page_size=size)]
    paged = [a for a, answers in honest.answers.items() if len(answers) >= 2]
    paged = [a for a in paged if a != h.contract.token_api]
    assert paged
    for api in paged:
        first = honest.answers[api][0][1]
        liar = make_liar(h)
        liar.rewrite = lambda name, n, status, headers, body, api=api, first=first: (
            (200, headers, first) if name == api and n >= 1 else None
        )
        got: list[str] = []
        tick(h)
        async with liar_client(h, liar) as client:
            try:
                with anyio.fail_after(HANG):
                    await collect_into(h.listing(client, start=W0, end=W1, page_size=size), got)
            except wecal.ResponseFormatError as exc:
                no_secret(exc)
        assert len(got) == len(set(got)), f"{api}: yielded twice"
        assert set(got) <= set(stored)
        assert liar.requests[api] <= BOUND, f"{api}: {liar.requests[api]} requests"
