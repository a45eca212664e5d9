"""
``FeishuCallback``: the docs' AES test vector, the SHA-256 signature over the
raw body, the URL check, the replay window, dedupe by ``event_id`` and the
reference's own callback example (``tests/data/feishu/event_changed_callback.json``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import wecal
from wecal.notifications import Notification, NotificationKind
from wecal.providers.feishu._callback import FeishuCallback, decrypt, encrypt, signature

DATA = Path(__file__).parent / "data" / "feishu"
TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"  # the example's header.token
KEY = "feishu-encrypt-key-for-tests"
NOW = 1_608_725_990.0  # a second after the example's create_time


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "event_changed_callback.json").read_text("utf-8"))
    return data


def callback(**kwargs: Any) -> FeishuCallback:
    return FeishuCallback(TOKEN, KEY, "cli_9f5343c580712544", clock=lambda: NOW, **kwargs)


def test_the_docs_test_vector() -> None:
    assert decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "test key") == b"hello world"


def test_encrypt_then_decrypt_and_a_fixed_iv() -> None:
    text = "日程变更 🎉".encode()
    sealed = encrypt(text, "k", iv=bytes(16))
    assert decrypt(sealed, "k") == text
    assert sealed == encrypt(text, "k", iv=bytes(16))
    with pytest.raises(wecal.ResponseFormatError):
        decrypt(sealed, "another key")


def test_signature_is_sha256_over_timestamp_nonce_key_and_raw_body() -> None:
    body = b'{"encrypt":"abc"}'
    expected = hashlib.sha256(b"1700000000" + b"n1" + b"k" + body).hexdigest()
    assert signature("1700000000", "n1", "k", body) == expected


def test_the_reference_example_becomes_a_notification() -> None:
    cb = callback()
    body, headers = cb.seal(example(), timestamp=str(int(NOW)))
    answer, note = cb.receive(headers, body)
    assert answer == {}
    assert note == Notification(
        provider=wecal.Provider.FEISHU,
        kind=NotificationKind.CREATED,
        calendar_id="feishu.cn_xxxxxxxxxx@group.calendar.feishu.cn",
        event_id="efa67a98-06a8-4df5-8559-746c8f4477ef_0",
        user_ids=("ou_xxxxxx",),
        occurred_at=datetime(2020, 12, 23, 12, 19, 49, tzinfo=UTC),  # 1608725989000 ms
    )


def test_a_duplicate_delivery_is_acknowledged_once() -> None:
    cb = callback()
    body, headers = cb.seal(example(), timestamp=str(int(NOW)))
    assert cb.receive(headers, body)[1] is not None
    assert cb.receive(headers, body) == ({}, None)
    shared: set[str] = set()

    def seen(event_id: str) -> bool:
        found = event_id in shared
        shared.add(event_id)
        return found

    first, second = callback(seen=seen), callback(seen=seen)
    assert first.receive(headers, body)[1] is not None
    assert second.receive(headers, body)[1] is None  # another replica saw it


def test_url_verification_plain_and_encrypted() -> None:
    check = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    plain = FeishuCallback(TOKEN)
    assert plain.receive({}, json.dumps(check).encode()) == ({"challenge": "ajls384kdjx98XX"}, None)
    cb = callback()
    body = json.dumps({"encrypt": encrypt(json.dumps(check).encode(), KEY)}).encode()
    assert cb.receive({}, body) == ({"challenge": "ajls384kdjx98XX"}, None)
    with pytest.raises(wecal.AuthenticationError):
        plain.receive({}, json.dumps({**check, "token": "forged"}).encode())


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "stale", "token", "missing"],
)
def test_forged_or_stale_requests_are_refused(tamper: str) -> None:
    cb = callback()
    message = example()
    if tamper == "token":
        message["header"]["token"] = "forged"
    timestamp = str(int(NOW - 600)) if tamper == "stale" else str(int(NOW))
    body, headers = cb.seal(message, timestamp=timestamp)
    if tamper == "body":
        body = body.replace(b'"}', b'=="}')
    elif tamper == "signature":
        headers["X-Lark-Signature"] = "0" * 64
    elif tamper == "missing":
        headers = {}
    with pytest.raises(wecal.AuthenticationError) as info:
        cb.receive(headers, body)
    assert KEY not in f"{info.value} {info.value!r}"


def test_without_an_encrypt_key_only_the_token_is_checked() -> None:
    cb = FeishuCallback(TOKEN, clock=lambda: NOW)
    _, note = cb.receive({}, json.dumps(example()).encode())
    assert note is not None
    assert note.kind is NotificationKind.CREATED


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"change_type": "update"}, NotificationKind.UPDATED),
        ({"change_type": "delete"}, NotificationKind.DELETED),
        ({"change_type": "rsvp"}, NotificationKind.RESPONDED),
        ({"change_type": None, "calendar_event_id": None}, NotificationKind.UPDATED),
    ],
)
def test_change_types_and_the_gray_release_fields(change: dict[str, Any], kind: Any) -> None:
    message = example()
    message["event"].update(change)
    note = FeishuCallback(TOKEN).receive({}, json.dumps(message).encode())[1]
    assert note is not None
    assert note.kind is kind


def test_calendar_changes_and_other_events() -> None:
    message = example()
    message["header"]["event_type"] = "calendar.calendar.changed_v4"
    note = FeishuCallback(TOKEN).receive({}, json.dumps(message).encode())[1]
    assert note is not None
    assert (note.kind, note.event_id) == (NotificationKind.CALENDAR_UPDATED, None)
    message["header"]["event_type"] = "im.message.receive_v1"
    message["header"]["event_id"] = "other"
    assert FeishuCallback(TOKEN).receive({}, json.dumps(message).encode()) == ({}, None)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"encrypt": 5}',
        b'{"encrypt": "%%%"}',
        b'{"schema": "1.0"}',
        b'{"schema": "2.0", "header": {}}',
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(wecal.ResponseFormatError):
        FeishuCallback(TOKEN).receive({}, body)
    # Signed with the Encrypt Key, the same bodies are read (and refused) after the check.
    ts, nonce = str(int(NOW)), "n0nce"
    headers = {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature(ts, nonce, KEY, body),
    }
    with pytest.raises(wecal.ResponseFormatError):
        callback().receive(headers, body)


#: Unsigned bodies a forger may send where an Encrypt Key is set.
FORGED = {
    "not base64": b'{"encrypt": "%%%"}',
    "not a string": b'{"encrypt": 5}',
    "short": json.dumps({"encrypt": encrypt(b"", "other")[:20]}).encode(),
    "bad padding": json.dumps({"encrypt": encrypt(b"x" * 40, "other key")}).encode(),
    "not JSON inside": json.dumps({"encrypt": encrypt(b"hello", KEY)}).encode(),
    "a list inside": json.dumps({"encrypt": encrypt(b"[1]", KEY)}).encode(),
    "an event inside": json.dumps({"encrypt": encrypt(b'{"schema": "2.0"}', KEY)}).encode(),
    "a URL check with a wrong token": json.dumps(
        {"encrypt": encrypt(b'{"type": "url_verification", "token": "no", "challenge": "c"}', KEY)}
    ).encode(),
    "plain event": json.dumps(example()).encode(),
    "not JSON": b"not json",
}


def test_unsigned_forgeries_all_get_one_same_refusal() -> None:
    # No padding or format oracle: whatever a forged ciphertext decrypts to
    # (or fails to), the refusal is the same error with the same words.
    seen = set()
    for body in FORGED.values():
        with pytest.raises(wecal.AuthenticationError) as info:
            callback().receive({}, body)
        seen.add((type(info.value), str(info.value)))
        assert KEY not in str(info.value)
        assert TOKEN not in str(info.value)
    assert len(seen) == 1, seen


def test_repr_and_bad_setup() -> None:
    assert KEY not in repr(callback())
    with pytest.raises(wecal.ValidationError):
        FeishuCallback("")


@pytest.mark.anyio
async def test_through_asgi_endpoint() -> None:
    """The endpoint gives the callback the request's headers; duplicates are handled once."""
    import httpx

    from wecal.notifications import asgi_endpoint

    got: list[Notification] = []

    async def handler(note: Notification) -> None:
        got.append(note)

    cb = FeishuCallback(TOKEN, KEY, "cli_9f5343c580712544")
    app = asgi_endpoint(cb, handler)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as http:
        check = {"challenge": "c-1", "token": TOKEN, "type": "url_verification"}
        r = await http.post("/feishu", content=json.dumps(check).encode())
        assert (r.status_code, r.json()) == (200, {"challenge": "c-1"})
        for nonce in ("n-1", "n-2"):  # Feishu's redelivery: a new nonce, the same event_id
            body, headers = cb.seal(example(), nonce=nonce)
            r = await http.post("/feishu", content=body, headers=headers)
            assert (r.status_code, r.json()) == (200, {})
        body, headers = cb.seal(example())
        headers["X-Lark-Signature"] = "f" * 64
        r = await http.post("/feishu", content=body, headers=headers)
        assert r.status_code == 403
    assert [n.event_id for n in got] == ["efa67a98-06a8-4df5-8559-746c8f4477ef_0"]
