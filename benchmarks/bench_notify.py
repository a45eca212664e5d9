"""
Benchmark 6 — what a hostile body costs the notification endpoint.

CPU time (``time.process_time``) per request of ``asgi_endpoint`` called as
an ASGI app in-process (no socket: the endpoint's own work is measured, not
the server's), for bodies of the same size, 64,000 bytes (under the default
``max_body`` of 64 KiB):

- plain: a WeCom callback as WeCom sends it, its message an ``add_schedule``
  event carrying 47 KB of text, each request a fresh nonce — verified,
  decrypted, parsed and handed to a handler that does nothing; the same for
  DingTalk (a ``calendar_event_change`` with a long field);
- hostile, unauthenticated (what anyone can send): 64 KB of repeated empty
  tags; the same around a captured ciphertext with a forged signature; a
  captured signed request replayed with 64 KB of empty tags added to its
  (unsigned) envelope; 64 KB of blanks after ``<Encrypt>``; a DingTalk
  envelope whose other members are 64 KB of empty objects.

Rounds alternate the variants so load drifts hit all of them; the figure is
each hostile variant's median CPU per request over plain's (target ≤ 3×).
Also given, for information: a validly signed message whose *decrypted* XML
is 64 KB of empty tags (only a holder of the token and key can send it).

Runs against whichever wecal is importable, so the same file measures an old
checkout: ``PYTHONPATH=/path/to/old python benchmarks/bench_notify.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from _common import Result, median

from wecal._callbacks._crypto import signature
from wecal.notifications import DingTalkCallback, WeComCallback, asgi_endpoint

TARGET = 3.0
SIZE = 64_000
TOKEN = "bench-token"
AES_KEY = "B" * 43
CORP_ID = "ww_bench_corp"
APP_KEY = "dingbenchappkey"

Request = tuple[bytes, bytes]  # query string, body


def _query(**params: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(params).encode()


def _signed_query(name: str, ts: str, nonce: str, ciphertext: str) -> bytes:
    sig = signature(TOKEN, ts, nonce, ciphertext)
    return _query(**{name: sig, "timestamp": ts, "nonce": nonce})


def _junk(size: int) -> bytes:
    return b"<a/>" * (size // 4)


class _Variants:
    """Builds the requests of each variant (n distinct ones where that matters)."""

    def __init__(self) -> None:
        self.wecom = WeComCallback(TOKEN, AES_KEY, CORP_ID, max_age=None)
        self.ding = DingTalkCallback(TOKEN, AES_KEY, APP_KEY, max_age=None)

    def _wecom_signed(self, message: bytes, n: int) -> list[Request]:
        body, query = self.wecom.seal(message)
        enc = body.split(b"<![CDATA[")[2].split(b"]]>")[0].decode()
        ts = query["timestamp"]
        return [(_signed_query("msg_signature", ts, f"n{i}", enc), body) for i in range(n)]

    def plain(self, n: int) -> list[Request]:
        head = (
            "<xml><ToUserName><![CDATA[ww]]></ToUserName><FromUserName><![CDATA[sys]]>"
            "</FromUserName><CreateTime>1717200000</CreateTime><MsgType><![CDATA[event]]>"
            "</MsgType><Event><![CDATA[add_schedule]]></Event><CalId><![CDATA[cal]]></CalId>"
            "<ScheduleId><![CDATA[sched]]></ScheduleId><Note>"
        )
        filler = "x" * (SIZE * 3 // 4 - len(head) - 140)
        requests = self._wecom_signed(f"{head}{filler}</Note></xml>".encode(), n)
        assert abs(len(requests[0][1]) - SIZE) < 200, len(requests[0][1])
        return requests

    def plain_dingtalk(self, n: int) -> list[Request]:
        message = {
            "EventType": "calendar_event_change",
            "calendarEventId": "ev",
            "calendarId": "primary",
            "unionIdList": ["u1"],
            "changeType": "update",
            "calendarEventUpdateTime": 1717200000000,
            "note": "x" * (SIZE * 3 // 4 - 250),
        }
        body, query = self.ding.seal(message)
        enc = json.loads(body)["encrypt"]
        ts = query["timestamp"]
        return [(_signed_query("signature", ts, f"n{i}", enc), body) for i in range(n)]

    def junk_tags(self, n: int) -> list[Request]:
        body = b"<xml>" + _junk(SIZE - 11) + b"</xml>"
        return [(_query(msg_signature="0" * 40, timestamp="1", nonce="n"), body)] * n

    def forged_around_ciphertext(self, n: int) -> list[Request]:
        sealed, _ = self.wecom.seal(b"<xml><MsgType>event</MsgType></xml>")
        body = sealed.replace(b"<xml>", b"<xml>" + _junk(SIZE - len(sealed)))
        return [(_query(msg_signature="0" * 40, timestamp="1", nonce="n"), body)] * n

    def replayed_with_junk(self, n: int) -> list[Request]:
        event = (
            "<xml><FromUserName>sys</FromUserName><CreateTime>1717200000</CreateTime>"
            "<MsgType>event</MsgType><Event>add_schedule</Event><CalId>cal</CalId>"
            "<ScheduleId>sched</ScheduleId></xml>"
        )
        ((query, sealed),) = self._wecom_signed(event.encode(), 1)
        body = sealed.replace(b"<xml>", b"<xml>" + _junk(SIZE - len(sealed)))
        return [(query, body)] * n

    def blanks(self, n: int) -> list[Request]:
        body = b"<xml><Encrypt>" + b" " * (SIZE - 20) + b"x"
        return [(_query(msg_signature="0" * 40, timestamp="1", nonce="n"), body)] * n

    def json_junk(self, n: int) -> list[Request]:
        body, _ = self.ding.seal({"EventType": "check_url"})
        enc = json.loads(body)["encrypt"]
        junk = b"[" + b"{}," * ((SIZE - len(enc) - 40) // 3) + b"{}]"
        forged = b'{"x":' + junk + b',"encrypt":"' + enc.encode() + b'"}'
        return [(_query(signature="0" * 40, timestamp="1", nonce="n"), forged)] * n

    def signed_junk_message(self, n: int) -> list[Request]:
        return self._wecom_signed(b"<xml>" + _junk(SIZE * 3 // 4 - 11) + b"</xml>", n)


async def _handler(_note: Any) -> None:
    return None


async def _call(app: Any, request: Request) -> int:
    query, body = request
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": query, "headers": []}
    await app(scope, receive, send)
    return int(sent[0]["status"])


def _cpu_per_request(app: Any, requests: list[Request]) -> tuple[float, set[int]]:
    statuses: set[int] = set()
    spent = 0.0

    async def go() -> None:
        nonlocal spent
        await _call(app, requests[0])  # warm-up, not counted
        t0 = time.process_time()  # inside the loop: its start-up is not counted
        for request in requests:
            statuses.add(await _call(app, request))
        spent = time.process_time() - t0

    anyio.run(go)
    return spent / len(requests), statuses


VARIANTS: dict[str, tuple[str, Callable[[_Variants, int], list[Request]]]] = {
    "plain": ("WeCom", _Variants.plain),
    "plain_dingtalk": ("DingTalk", _Variants.plain_dingtalk),
    "junk_tags": ("WeCom", _Variants.junk_tags),
    "forged_around_ciphertext": ("WeCom", _Variants.forged_around_ciphertext),
    "replayed_with_junk": ("WeCom", _Variants.replayed_with_junk),
    "blanks": ("WeCom", _Variants.blanks),
    "json_junk": ("DingTalk", _Variants.json_junk),
    "signed_junk_message": ("WeCom", _Variants.signed_junk_message),
}


def measure(n: int, rounds: int) -> dict[str, tuple[list[float], set[int]]]:
    """Alternate the variants for ``rounds`` rounds of ``n`` requests each (fresh apps)."""
    # The endpoint logs every refusal at WARNING: the records are made (and
    # counted) but not printed.
    quiet = logging.getLogger("wecal.notifications")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    variants = _Variants()
    built = {name: make(variants, (n + 1) * rounds) for name, (_, make) in VARIANTS.items()}
    out: dict[str, tuple[list[float], set[int]]] = {name: ([], set()) for name in VARIANTS}
    for r in range(rounds):
        for name, (provider, _) in VARIANTS.items():
            cb = variants.wecom if provider == "WeCom" else variants.ding
            app = asgi_endpoint(cb, _handler)  # type: ignore[arg-type]
            per, statuses = _cpu_per_request(app, built[name][r * (n + 1) : (r + 1) * (n + 1)])
            out[name][0].append(per)
            out[name][1].update(statuses)
    return out


HOSTILE = {
    "junk_tags": ("plain", "64 KB of empty tags, no ciphertext"),
    "forged_around_ciphertext": ("plain", "empty tags around a ciphertext, forged signature"),
    "replayed_with_junk": ("plain", "a captured signed request replayed with 64 KB of empty tags"),
    "blanks": ("plain", "64 KB of blanks after <Encrypt> (a backtracking scan's worst case)"),
    "json_junk": ("plain_dingtalk", "DingTalk envelope with 64 KB of empty objects, forged"),
}


def run(quick: bool) -> list[Result]:
    """Benchmark 6: CPU per request, hostile over plain bodies of the same size."""
    n, rounds = (5, 2) if quick else (40, 9)
    data = measure(n, rounds)
    med = {name: median(values) for name, (values, _) in data.items()}
    statuses = {name: sorted(s) for name, (_, s) in data.items()}
    base = (
        f"plain WeCom {med['plain'] * 1e6:.0f} µs/request {statuses['plain']}, "
        f"plain DingTalk {med['plain_dingtalk'] * 1e6:.0f} µs {statuses['plain_dingtalk']}"
    )
    results = []
    for name, (against, what) in HOSTILE.items():
        ratio = med[name] / med[against]
        results.append(
            Result(
                f"6. endpoint CPU, {name.replace('_', ' ')} ÷ plain, 64 KB",
                ratio,
                "×",
                f"≤ {TARGET:g}×",
                ratio <= TARGET,
                f"{what}: {med[name] * 1e6:.0f} µs/request, answered {statuses[name]}; {base}",
            )
        )
    ratio = med["signed_junk_message"] / med["plain"]
    results.append(
        Result(
            "6. endpoint CPU, signed message of empty tags ÷ plain, 64 KB",
            ratio,
            "×",
            "info",
            None,
            f"needs the token and key: {med['signed_junk_message'] * 1e6:.0f} µs/request, "
            f"answered {statuses['signed_junk_message']}",
        )
    )
    return results


if __name__ == "__main__":
    import sys

    for result in run("--quick" in sys.argv):
        print(f"{result.name}: {result.value:.2f}{result.unit} ({result.target}) {result.detail}")
