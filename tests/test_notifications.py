"""
wecal.notifications: the providers' published vectors, an independent
implementation of the scheme (encrypt with one, decrypt with the other), the
calendar events of both providers, hostile requests, and the ASGI endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import example, given
from hypothesis import strategies as st

import wecal
from wecal.notifications import (
    DingTalkCallback,
    Notification,
    NotificationKind,
    WeComCallback,
    asgi_endpoint,
)

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "notify_vectors.json").read_text(encoding="utf-8")
)
WV, DV = VECTORS["wecom"], VECTORS["dingtalk"]

# The test app's own settings (not the published ones): nothing may leak them.
TOKEN = "notify-test-token-Zq81"
AES_KEY = base64.b64encode(bytes(range(7, 39))).decode().rstrip("=")
CORP_ID = "ww_notify_corp"
APP_KEY = "dingnotifyappkey"
NOW = 1_717_200_000.0


def clock() -> float:
    return NOW


def wecom_cb(**kw: Any) -> WeComCallback:
    return WeComCallback(TOKEN, AES_KEY, CORP_ID, clock=clock, **kw)


def ding_cb(**kw: Any) -> DingTalkCallback:
    return DingTalkCallback(TOKEN, AES_KEY, APP_KEY, clock=clock, **kw)


# -- an independent implementation of the scheme, for the tests only ----------
# CBC chained by hand over single-block AES-ECB, padding written out: nothing
# shared with the library's CBC mode and PKCS7 padder.


def _ecb(key: bytes, *, decrypt: bool) -> Any:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    return cipher.decryptor() if decrypt else cipher.encryptor()


def ref_encrypt(key43: str, receive_id: str, message: bytes, prefix: bytes = b"R" * 16) -> str:
    key = base64.b64decode(key43 + "=")
    plain = prefix + len(message).to_bytes(4, "big") + message + receive_id.encode()
    n = 32 - len(plain) % 32
    plain += bytes([n]) * n
    ecb, prev, out = _ecb(key, decrypt=False), key[:16], b""
    for i in range(0, len(plain), 16):
        block = bytes(a ^ b for a, b in zip(plain[i : i + 16], prev, strict=True))
        prev = ecb.update(block)
        out += prev
    return base64.b64encode(out).decode()


def ref_decrypt(key43: str, ciphertext: str) -> tuple[bytes, bytes]:
    key = base64.b64decode(key43 + "=")
    data = base64.b64decode(ciphertext)
    ecb, prev, plain = _ecb(key, decrypt=True), key[:16], b""
    for i in range(0, len(data), 16):
        block = data[i : i + 16]
        plain += bytes(a ^ b for a, b in zip(ecb.update(block), prev, strict=True))
        prev = block
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :]


def ref_sign(token: str, timestamp: str, nonce: str, ciphertext: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, ciphertext])).encode()).hexdigest()


def wecom_post(message: str, *, ts: str = str(int(NOW)), receive_id: str = CORP_ID) -> tuple:
    enc = ref_encrypt(AES_KEY, receive_id, message.encode())
    body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    return ref_sign(TOKEN, ts, "n0nce", enc), ts, "n0nce", body.encode()


def ding_post(message: dict[str, Any], *, ts: str = str(int(NOW * 1000))) -> tuple:
    enc = ref_encrypt(AES_KEY, APP_KEY, json.dumps(message).encode())
    return ref_sign(TOKEN, ts, "n0nce", enc), ts, "n0nce", json.dumps({"encrypt": enc}).encode()


# -- published vectors ---------------------------------------------------------


def test_wecom_published_url_verification() -> None:
    cb = WeComCallback(WV["token"], WV["encoding_aes_key"], WV["corp_id"], max_age=None)
    v = WV["verify_url"]
    assert cb.verify_url(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"]) == v["echo"]


def test_wecom_published_message() -> None:
    cb = WeComCallback(WV["token"], WV["encoding_aes_key"], WV["corp_id"], max_age=None)
    d = WV["decrypt"]
    message = cb.decrypt(d["msg_signature"], d["timestamp"], d["nonce"], d["body"].encode())
    assert message.decode() == d["message"]
    # A chat message is not a calendar event: parse says so, by name.
    with pytest.raises(wecal.UnsupportedError) as info:
        cb.parse(d["msg_signature"], d["timestamp"], d["nonce"], d["body"].encode())
    assert info.value.feature == "text"


def test_dingtalk_published_message() -> None:
    cb = DingTalkCallback(DV["token"], DV["aes_key"], DV["app_key"], max_age=None)
    body = json.dumps({"encrypt": DV["encrypt"]}).encode()
    assert cb.decrypt(DV["signature"], DV["timestamp"], DV["nonce"], body) == DV["message"]


def test_published_vectors_agree_with_the_reference_implementation() -> None:
    v = WV["verify_url"]
    assert ref_decrypt(WV["encoding_aes_key"], v["echostr"]) == (
        v["echo"].encode(),
        WV["corp_id"].encode(),
    )
    assert ref_sign(WV["token"], v["timestamp"], v["nonce"], v["echostr"]) == v["msg_signature"]
    message, receive_id = ref_decrypt(DV["aes_key"], DV["encrypt"])
    assert json.loads(message) == DV["message"]
    assert receive_id == DV["app_key"].encode()


# -- one implementation against the other --------------------------------------


@given(message=st.binary(max_size=300), prefix=st.binary(min_size=16, max_size=16))
def test_reference_encrypts_library_decrypts(message: bytes, prefix: bytes) -> None:
    enc = ref_encrypt(AES_KEY, CORP_ID, message, prefix)
    crypt = wecom_cb()._crypt
    assert crypt.decrypt(enc) == message


@given(message=st.binary(max_size=300))
def test_library_encrypts_reference_decrypts(message: bytes) -> None:
    crypt = ding_cb()._crypt
    assert ref_decrypt(AES_KEY, crypt.encrypt(message)) == (message, APP_KEY.encode())


def test_dingtalk_reply_is_the_encrypted_success() -> None:
    reply = ding_cb().reply()
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert reply["timeStamp"] == str(int(NOW * 1000))
    assert (
        ref_sign(TOKEN, reply["timeStamp"], reply["nonce"], reply["encrypt"])
        == (reply["msg_signature"])
    )
    assert ref_decrypt(AES_KEY, reply["encrypt"]) == (b"success", APP_KEY.encode())
    assert ding_cb().reply()["nonce"] != reply["nonce"]


# -- calendar events ------------------------------------------------------------

WECOM_KINDS = {
    "add_schedule": NotificationKind.CREATED,
    "modify_schedule": NotificationKind.UPDATED,
    "delete_schedule": NotificationKind.DELETED,
    "respond_schedule": NotificationKind.RESPONDED,
    "modify_calendar": NotificationKind.CALENDAR_UPDATED,
    "delete_calendar": NotificationKind.CALENDAR_DELETED,
}


@pytest.mark.parametrize("event", sorted(WECOM_KINDS))
def test_wecom_calendar_events(event: str) -> None:
    xml = VECTORS["wecom_events"][event]
    note = wecom_cb(max_age=None).parse(*wecom_post(xml))
    create_time = int(xml.split("<CreateTime>")[1].split("<")[0])
    assert note.provider is wecal.Provider.WECOM
    assert note.kind is WECOM_KINDS[event]
    assert note.calendar_id == "wcjgewCwAAqeJcPI1d8Pwbjt7nttzAAA"
    expected_id = None if "calendar" in event else "17c7d2bd9f20d652840f72f59e796AAA"
    assert note.event_id == expected_id
    assert note.user_ids == (("zhangsan",) if event == "respond_schedule" else ())
    assert note.occurred_at == datetime.fromtimestamp(create_time, UTC)
    assert note.raw["Event"] == event


def test_dingtalk_calendar_event_change() -> None:
    payload = {k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"}
    note = ding_cb().parse(*ding_post(payload))
    assert note == Notification(
        provider=wecal.Provider.DINGTALK,
        kind=NotificationKind.UPDATED,
        calendar_id="primary",
        event_id=payload["calendarEventId"],
        user_ids=tuple(payload["unionIdList"]),
        occurred_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert note.raw["legacyCalendarEventId"] == "123456789"
    for change, kind in [("create", "created"), ("delete", "deleted"), ("whatever", "updated")]:
        other = ding_cb().parse(*ding_post({**payload, "changeType": change}))
        assert other is not None
        assert other.kind == kind


def test_dingtalk_check_url_is_none_and_other_events_unsupported() -> None:
    assert ding_cb().parse(*ding_post({"EventType": "check_url"})) is None
    with pytest.raises(wecal.UnsupportedError) as info:
        ding_cb().parse(*ding_post({"EventType": "user_add_org", "UserId": ["u1"]}))
    assert info.value.feature == "user_add_org"


def test_notification_is_frozen_and_raw_not_compared() -> None:
    a = Notification(provider=wecal.Provider.WECOM, kind=NotificationKind.DELETED, raw={"a": 1})
    b = Notification(provider=wecal.Provider.WECOM, kind=NotificationKind.DELETED, raw={"b": 2})
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.kind = NotificationKind.CREATED  # type: ignore[misc]
    with pytest.raises(TypeError):
        a.raw["c"] = 3  # type: ignore[index]


# -- hostile requests ------------------------------------------------------------


def _assert_clean(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        assert TOKEN not in text
        assert AES_KEY not in text


def test_wrong_signature_is_authentication_error() -> None:
    sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    with pytest.raises(wecal.AuthenticationError) as info:
        wecom_cb().parse("0" * 40, ts, nonce, body)
    assert info.value.code == "signature"
    assert info.value.provider == "wecom"
    _assert_clean(info.value)
    other = WeComCallback("another-token", AES_KEY, CORP_ID, clock=clock)
    with pytest.raises(wecal.AuthenticationError):
        other.parse(sig, ts, nonce, body)


@pytest.mark.parametrize("skew", [-301, 301, 10**6])
def test_stale_or_future_timestamp_is_refused(skew: int) -> None:
    sig, ts, nonce, body = wecom_post(
        VECTORS["wecom_events"]["add_schedule"], ts=str(int(NOW) + skew)
    )
    with pytest.raises(wecal.AuthenticationError) as info:
        wecom_cb().parse(sig, ts, nonce, body)
    assert info.value.code == "timestamp"
    # The window is configurable, and can be turned off.
    assert wecom_cb(max_age=timedelta(seconds=abs(skew) + 1)).parse(sig, ts, nonce, body)
    assert wecom_cb(max_age=None).parse(sig, ts, nonce, body)


def test_dingtalk_timestamp_is_milliseconds() -> None:
    ok = ding_post({"EventType": "check_url"}, ts=str(int(NOW * 1000) - 299_000))
    assert ding_cb().parse(*ok) is None
    stale = ding_post({"EventType": "check_url"}, ts=str(int(NOW * 1000) - 301_000))
    with pytest.raises(wecal.AuthenticationError):
        ding_cb().parse(*stale)


def test_foreign_receive_id_is_authentication_error() -> None:
    sig, ts, nonce, body = wecom_post(
        VECTORS["wecom_events"]["add_schedule"], receive_id="ww_another_corp"
    )
    with pytest.raises(wecal.AuthenticationError) as info:
        wecom_cb().parse(sig, ts, nonce, body)
    assert info.value.code == "decrypt"
    _assert_clean(info.value)


def _signed_wecom(ciphertext: str) -> tuple:
    ts = str(int(NOW))
    body = f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>".encode()
    return ref_sign(TOKEN, ts, "n", ciphertext), ts, "n", body


def _raw_cbc(plain: bytes) -> str:
    key = base64.b64decode(AES_KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


@pytest.mark.parametrize(
    ("ciphertext", "words"),
    [
        ("QUJD", "AES blocks"),  # 3 bytes
        ("QUJDRA=", "base64"),  # truncated
        ("not base64 at all!", "base64"),
    ],
)
def test_malformed_ciphertext_is_response_format_error(ciphertext: str, words: str) -> None:
    # What anyone can see of a ciphertext without the key: a format error.
    with pytest.raises(wecal.ResponseFormatError) as info:
        wecom_cb().parse(*_signed_wecom(ciphertext))
    assert words in str(info.value)
    _assert_clean(info.value)


_FOREIGN = ref_encrypt(AES_KEY, "ww_another_corp", b"<xml><MsgType>event</MsgType></xml>")


@pytest.mark.parametrize(
    "ciphertext",
    [
        _raw_cbc(b"x" * 31 + b"\x21"),  # pad byte 33 > 32
        _raw_cbc(b"x" * 30 + b"\x01\x02"),  # inconsistent pad bytes
        _raw_cbc(b"x" * 16 + b"\x00\x00\xff\xff" + b"\x0c" * 12),  # length lies
        _raw_cbc(b"x" * 10 + b"\x16" * 22),  # too short for the header
        _FOREIGN,  # another receive id
    ],
)
def test_undecryptable_messages_all_get_one_same_error(ciphertext: str) -> None:
    # Bad padding, a lying length and another receive id are told apart by
    # nothing: the same class, code and message (no oracle).
    with pytest.raises(wecal.AuthenticationError) as info:
        wecom_cb().parse(*_signed_wecom(ciphertext))
    with pytest.raises(wecal.AuthenticationError) as foreign:
        wecom_cb().parse(*_signed_wecom(_FOREIGN))
    assert (info.value.code, str(info.value)) == ("decrypt", str(foreign.value))
    _assert_clean(info.value)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xml><Encrypt>&lol2;</Encrypt></xml>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL,
        b"<xml><Encrypt>&undefined;</Encrypt></xml>",
        b"",
        b"\xff\xfe<",
        b"<xml>" * 40 + b"</xml>" * 40,
    ],
)
def test_malformed_or_unsafe_xml_is_refused(body: bytes) -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        wecom_cb().parse("0" * 40, str(int(NOW)), "n", body)
    assert info.value.path == "body"


def test_message_xml_inside_the_envelope_is_parsed_safely_too() -> None:
    with pytest.raises(wecal.ResponseFormatError) as info:
        wecom_cb().parse(*wecom_post(BILLION_LAUGHS.decode()))
    assert info.value.path == "message"
    missing = VECTORS["wecom_events"]["add_schedule"].replace("ScheduleId", "Other")
    with pytest.raises(wecal.ResponseFormatError, match="ScheduleId"):
        wecom_cb().parse(*wecom_post(missing))


@pytest.mark.parametrize(
    "body", [b"", b"[]", b"{", b'{"encrypt": 5}', b'{"other": "x"}', b"\xff", b"[" * 100_000]
)
def test_malformed_dingtalk_body(body: bytes) -> None:
    with pytest.raises(wecal.ResponseFormatError):
        ding_cb().parse("0" * 40, str(int(NOW * 1000)), "n", body)


def test_malformed_dingtalk_payload_names_the_field() -> None:
    bad = {"EventType": "calendar_event_change", "calendarEventId": "e", "unionIdList": "u"}
    with pytest.raises(wecal.ResponseFormatError, match="unionIdList"):
        ding_cb().parse(*ding_post(bad))
    with pytest.raises(wecal.ResponseFormatError, match="calendarEventUpdateTime"):
        ding_cb().parse(*ding_post({**bad, "unionIdList": [], "calendarEventUpdateTime": "soon"}))


@pytest.mark.parametrize(
    "args",
    [
        (TOKEN, AES_KEY[:-1], CORP_ID),
        (TOKEN, AES_KEY[:-1] + "=", CORP_ID),
        (TOKEN, AES_KEY[:-1] + "!", CORP_ID),
        ("", AES_KEY, CORP_ID),
        (TOKEN, AES_KEY, ""),
    ],
)
def test_bad_settings_are_validation_errors_without_the_secret(args: tuple) -> None:
    with pytest.raises(wecal.ValidationError) as info:
        WeComCallback(*args)
    for secret in args[:2]:
        assert not secret or secret not in str(info.value)
    assert WeComCallback("t", "k" * 43, CORP_ID)  # any 43 base64 characters are a key


def test_repr_holds_no_secret() -> None:
    for cb in (wecom_cb(), ding_cb()):
        assert TOKEN not in repr(cb)
        assert AES_KEY not in repr(cb)
        assert TOKEN not in repr(cb._crypt)
        assert AES_KEY not in repr(cb._crypt)


_text = st.text(max_size=60)
_bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda s: f"<xml><Encrypt>{s}</Encrypt></xml>".encode(), _text),
    st.builds(lambda s: json.dumps({"encrypt": s}).encode(), _text),
)


@given(sig=_text, ts=_text, nonce=_text, body=_bodies, echostr=_text)
@example(sig="", ts="", nonce="", body=b"", echostr="")
def test_fuzzed_requests_only_raise_wecal_errors(
    sig: str, ts: str, nonce: str, body: bytes, echostr: str
) -> None:
    for call in (
        lambda: wecom_cb().parse(sig, ts, nonce, body),
        lambda: wecom_cb().verify_url(sig, ts, nonce, echostr),
        lambda: ding_cb().parse(sig, ts, nonce, body),
    ):
        try:
            call()
        except wecal.WecalError as exc:
            _assert_clean(exc)


@given(
    data=st.data(),
    flips=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
)
def test_fuzzed_signed_ciphertexts_only_raise_wecal_errors(
    data: st.DataObject, flips: list[int]
) -> None:
    # Validly signed but mutated ciphertexts get past the signature: decryption
    # and parsing must still fail cleanly.
    message = data.draw(st.sampled_from(sorted(VECTORS["wecom_events"].values())[:-1]))
    raw = bytearray(base64.b64decode(ref_encrypt(AES_KEY, CORP_ID, message.encode())))
    for flip in flips:
        raw[flip % len(raw)] ^= 1 + flip % 255
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    ciphertext = base64.b64encode(bytes(raw[:cut])).decode()
    try:
        wecom_cb().parse(*_signed_wecom(ciphertext))
    except wecal.WecalError as exc:
        _assert_clean(exc)


# -- the ASGI endpoint -------------------------------------------------------------


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.notes: list[Notification] = []
        self.fail = fail

    async def __call__(self, note: Notification) -> None:
        if self.fail:
            raise RuntimeError("the app's database is down")
        self.notes.append(note)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


@pytest.mark.anyio
async def test_endpoint_wecom_handshake_and_notification() -> None:
    seen = Recorder()
    app = asgi_endpoint(wecom_cb(), seen)
    echo_enc = ref_encrypt(AES_KEY, CORP_ID, b"echo-4711")
    ts = str(int(NOW))
    async with _client(app) as http:
        r = await http.get(
            "/",
            params={
                "msg_signature": ref_sign(TOKEN, ts, "n", echo_enc),
                "timestamp": ts,
                "nonce": "n",
                "echostr": echo_enc,
            },
        )
        assert (r.status_code, r.text) == (200, "echo-4711")
        sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["modify_schedule"])
        query = {"msg_signature": sig, "timestamp": ts, "nonce": nonce}
        r = await http.post("/", params=query, content=body)
        assert r.status_code == 200
        assert [n.kind for n in seen.notes] == [NotificationKind.UPDATED]
        # Forged, malformed, wrong method, too large:
        r = await http.post("/", params={**query, "msg_signature": "0" * 40}, content=body)
        assert r.status_code == 403
        r = await http.post("/", params=query, content=b"<xml>")
        assert r.status_code == 400
        assert (await http.put("/", params=query, content=body)).status_code == 405
        assert (await http.post("/", params=query, content=b"x" * 70_000)).status_code == 413
        # A chat message is acknowledged and ignored.
        text = "<xml><MsgType>text</MsgType><Content>hi</Content></xml>"
        sig, ts, nonce, body = wecom_post(text)
        r = await http.post(
            "/", params={"msg_signature": sig, "timestamp": ts, "nonce": nonce}, content=body
        )
        assert r.status_code == 200
    assert len(seen.notes) == 1


@pytest.mark.anyio
async def test_endpoint_dingtalk_replies_success_and_hands_over() -> None:
    seen = Recorder()
    cb = ding_cb()
    app = asgi_endpoint(cb, seen)
    payload = {k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"}
    async with _client(app) as http:
        for message in ({"EventType": "check_url"}, payload, {"EventType": "org_change"}):
            sig, ts, nonce, body = ding_post(message)
            r = await http.post(
                "/", params={"signature": sig, "timestamp": ts, "nonce": nonce}, content=body
            )
            assert r.status_code == 200
            assert cb.open_reply(r.json()) == "success"
    assert [n.event_id for n in seen.notes] == [payload["calendarEventId"]]


@pytest.mark.anyio
async def test_endpoint_handler_failure_is_500_so_the_provider_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = asgi_endpoint(wecom_cb(), Recorder(fail=True))
    sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    async with _client(app) as http:
        r = await http.post(
            "/", params={"msg_signature": sig, "timestamp": ts, "nonce": nonce}, content=body
        )
    assert r.status_code == 500
    assert "database is down" in caplog.text
    assert TOKEN not in caplog.text
    assert AES_KEY not in caplog.text


@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    query=st.dictionaries(
        st.sampled_from(["msg_signature", "signature", "timestamp", "nonce", "echostr", "x"]),
        st.text(max_size=30),
    ),
    body=_bodies,
    which=st.booleans(),
)
def test_fuzzed_endpoint_never_crashes(
    method: str, query: dict[str, str], body: bytes, which: bool
) -> None:
    import anyio

    app = asgi_endpoint(wecom_cb() if which else ding_cb(), Recorder())

    async def go() -> int:
        async with _client(app) as http:
            r = await http.request(method, "/", params=query, content=body)
            return r.status_code

    assert anyio.run(go) in (200, 400, 403, 405)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@given(
    event_type=st.sampled_from(["calendar_event_change", "check_url", "other", None, 7]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "calendarEventId",
                "calendarId",
                "unionIdList",
                "changeType",
                "calendarEventUpdateTime",
                "legacyCalendarEventId",
            ]
        ),
        _json_values,
    ),
)
def test_fuzzed_signed_dingtalk_payloads_only_raise_wecal_errors(
    event_type: object, fields: dict[str, Any]
) -> None:
    # Validly signed and encrypted, so only the payload's shape is hostile.
    try:
        note = ding_cb().parse(*ding_post({"EventType": event_type, **fields}))
    except wecal.WecalError as exc:
        _assert_clean(exc)
    else:
        assert note is None or isinstance(note.event_id, str)


@pytest.mark.anyio
async def test_endpoint_answers_lifespan_and_closes_websockets() -> None:
    app = asgi_endpoint(wecom_cb(), Recorder())
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    await app({"type": "websocket"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "websocket.close",
    ]


# -- the endpoint under attack ------------------------------------------------------


class Asgi:
    """Drive the endpoint as a server would: any query bytes, any body chunks."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0  # body messages the app asked for

    async def call(
        self,
        query: bytes,
        chunks: Any = (),
        *,
        method: str = "POST",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[int, bytes, dict[bytes, bytes]]:
        source = iter(chunks)
        sent: list[dict[str, Any]] = []
        self.received = 0

        async def receive() -> dict[str, Any]:
            self.received += 1
            try:
                chunk = next(source)
            except StopIteration:
                return {"type": "http.request", "body": b"", "more_body": False}
            if chunk is None:  # a client that stops sending
                await anyio.sleep_forever()
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": method,
            "path": "/",
            "query_string": query,
            "headers": headers or [],
        }
        await self.app(scope, receive, send)
        start, body = sent
        return start["status"], body["body"], dict(start["headers"])


def _qs(**params: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(params).encode()


def _wecom_request(message: str, **kw: Any) -> tuple[bytes, bytes]:
    sig, ts, nonce, body = wecom_post(message, **kw)
    return _qs(msg_signature=sig, timestamp=ts, nonce=nonce), body


def _ding_request(message: dict[str, Any]) -> tuple[bytes, bytes]:
    sig, ts, nonce, body = ding_post(message)
    return _qs(signature=sig, timestamp=ts, nonce=nonce), body


def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()


@pytest.mark.anyio
async def test_endless_body_is_413_at_once_and_left_unread() -> None:
    asgi = Asgi(asgi_endpoint(wecom_cb(), Recorder(), max_body=10_000))
    query, _ = _wecom_request(VECTORS["wecom_events"]["add_schedule"])
    endless = (b"<xml>" * 200 for _ in itertools.count())  # 1000 bytes a chunk, forever
    status, _, headers = await asgi.call(query, endless)
    assert status == 413
    assert headers[b"connection"] == b"close"
    assert asgi.received == 11  # 11 000 bytes read: past the limit, and not one chunk more
    # A declared length over the limit is refused before anything is read.
    huge = [(b"content-length", str(100 * 1024 * 1024).encode())]
    status, _, _ = await asgi.call(query, endless, headers=huge)
    assert (status, asgi.received) == (413, 0)


@pytest.mark.anyio
async def test_body_and_handler_have_deadlines() -> None:
    query, body = _wecom_request(VECTORS["wecom_events"]["add_schedule"])
    asgi = Asgi(asgi_endpoint(wecom_cb(), Recorder(), body_timeout=0.05))
    status, _, headers = await asgi.call(query, [body[:10], None])  # then nothing, ever
    assert (status, headers[b"connection"]) == (408, b"close")

    calls: list[Notification] = []

    async def hangs(note: Notification) -> None:
        calls.append(note)
        if len(calls) == 1:
            await anyio.sleep_forever()

    asgi = Asgi(asgi_endpoint(wecom_cb(), hangs, handler_timeout=0.05))
    assert (await asgi.call(query, [body]))[0] == 503
    # The provider's retry of the same request is delivered (it was never accepted).
    assert (await asgi.call(query, [body]))[0] == 200
    assert (await asgi.call(query, [body]))[0] == 200
    assert len(calls) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_replays_reach_the_handler_once(concurrent: bool) -> None:
    seen = Recorder()
    asgi = Asgi(asgi_endpoint(wecom_cb(), seen))
    query, body = _wecom_request(VECTORS["wecom_events"]["add_schedule"])
    statuses: list[int] = []

    async def replay() -> None:
        statuses.append((await Asgi(asgi.app).call(query, [body]))[0])

    if concurrent:
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(replay)
    else:
        for _ in range(1000):
            await replay()
    assert statuses == [200] * 1000
    assert len(seen.notes) == 1
    # Another delivery of the same event (a new nonce: a new request) is not a replay.
    _, ts, _, body2 = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    enc = body2.split(b"CDATA[")[1].split(b"]")[0].decode()
    other = _qs(msg_signature=ref_sign(TOKEN, ts, "n2", enc), timestamp=ts, nonce="n2")
    assert (await asgi.call(other, [body2]))[0] == 200
    assert len(seen.notes) == 2


@pytest.mark.anyio
async def test_dingtalk_replays_are_acknowledged_with_success_and_delivered_once() -> None:
    seen = Recorder()
    cb = ding_cb()
    asgi = Asgi(asgi_endpoint(cb, seen))
    payload = {k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"}
    query, body = _ding_request(payload)
    for _ in range(200):
        status, answer, _ = await asgi.call(query, [body])
        assert status == 200
        assert cb.open_reply(json.loads(answer)) == "success"
    assert len(seen.notes) == 1


@pytest.mark.anyio
async def test_replicas_sharing_a_store_deliver_once() -> None:
    store = wecal.MemoryState()
    seen = Recorder()
    replicas = [Asgi(asgi_endpoint(wecom_cb(), seen, shared=store)) for _ in range(3)]
    query, body = _wecom_request(VECTORS["wecom_events"]["add_schedule"])
    for i in range(30):
        assert (await replicas[i % 3].call(query, [body]))[0] == 200
    assert len(seen.notes) == 1


@pytest.mark.anyio
async def test_a_failed_handler_gets_the_retry() -> None:
    seen = Recorder(fail=True)
    asgi = Asgi(asgi_endpoint(wecom_cb(), seen))
    query, body = _wecom_request(VECTORS["wecom_events"]["add_schedule"])
    assert (await asgi.call(query, [body]))[0] == 500
    seen.fail = False
    assert [(await asgi.call(query, [body]))[0] for _ in range(5)] == [200] * 5
    assert len(seen.notes) == 1


def test_failed_requests_are_remembered_for_a_while_and_boundedly() -> None:
    from wecal.notifications._asgi import _RecentKeys

    now = [0.0]
    store = _RecentKeys(max_keys=3, clock=lambda: now[0])
    assert [store.check_and_add(k, 10) for k in "abca"] == [False, False, False, True]
    now[0] = 11
    assert store.check_and_add("a", 10) is False  # expired
    assert [store.check_and_add(k, 10) for k in "defa"] == [False, False, False, False]
    assert len(store._keys) == 3  # bounded: "a" had to go to hold d, e, f


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "request_"),
    [
        (
            "unknown XML encoding",
            lambda: _wecom_request(
                '<?xml version="1.0" encoding="x-no-such"?>'
                + VECTORS["wecom_events"]["add_schedule"]
            ),
        ),
        (
            "CreateTime out of range",
            lambda: _wecom_request(
                VECTORS["wecom_events"]["add_schedule"].replace("1717200000", "9" * 16)
            ),
        ),
        (
            "calendarEventUpdateTime out of range",
            lambda: _ding_request(
                {**VECTORS["dingtalk_event"], "calendarEventUpdateTime": 9999999999999999}
            ),
        ),
        ("JSON instead of XML", lambda: _wecom_request(json.dumps({"MsgType": "event"}))),
        (
            "lone surrogate in the query",
            lambda: (b"msg_signature=%ED%B3%BF&timestamp=1&nonce=n", b"<xml/>"),
        ),
        (
            "non-UTF-8 query",
            lambda: (b"msg_signature=%FF&timestamp=%ff&nonce=n", b"<xml/>"),
        ),
        ("raw bytes in the query", lambda: (b"msg_signature=\xed\xb3\xbf", b"<xml/>")),
        ("too many fields", lambda: (b"&".join([b"a=1"] * 100), b"<xml/>")),
    ],
)
async def test_bad_requests_are_4xx_without_error_log(
    name: str, request_: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    query, body = request_()
    app = asgi_endpoint(
        ding_cb() if b"signature=" in query and b"msg_" not in query else wecom_cb(), Recorder()
    )
    status, _, _ = await Asgi(app).call(query, [body])
    assert 400 <= status < 500, name
    _no_error_logged(caplog)


@pytest.mark.anyio
async def test_bad_padding_and_foreign_receive_id_get_the_same_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asgi = Asgi(asgi_endpoint(wecom_cb(), Recorder()))
    answers = set()
    for ciphertext in (_raw_cbc(b"x" * 31 + b"\x21"), _FOREIGN):
        sig, ts, nonce, body = _signed_wecom(ciphertext)
        status, text, headers = await asgi.call(
            _qs(msg_signature=sig, timestamp=ts, nonce=nonce), [body]
        )
        answers.add((status, text, tuple(sorted(headers.items()))))
    assert len(answers) == 1
    status, _, _ = answers.pop()
    assert status == 403
    _no_error_logged(caplog)


class _Loud(logging.Handler):
    """Collects the records at ERROR and those with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.loud: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.loud.append(record.getMessage())


_NASTY_TEXT = st.one_of(
    st.sampled_from(
        [
            "9999999999999999",
            "99999999999999999999",
            "-1",
            "1e30",
            "0x10",
            "",
            " ",
            "&amp;",
            "]]>",
            "<x/>",
            "\u0660\u0661",  # Arabic-Indic digits: isdigit() but not ASCII
            '{"a": 1}',
        ]
    ),
    st.text(max_size=12),
    st.integers().map(str),
)
_JSON_NASTY = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    _NASTY_TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def _hostile_requests(draw: st.DrawFn) -> tuple[bool, bytes, bytes]:
    """(is_wecom, query, body): signed envelopes with the message, envelope or query mutated."""
    wecom = draw(st.booleans())
    ts = draw(st.sampled_from([str(int(NOW)), str(int(NOW * 1000))]))
    if wecom:
        name = draw(st.sampled_from(sorted(k for k in WECOM_KINDS)))
        xml = VECTORS["wecom_events"][name]
        for field in draw(
            st.lists(
                st.sampled_from(
                    ["CreateTime", "CalId", "ScheduleId", "MsgType", "Event", "FromUserName"]
                ),
                max_size=3,
            )
        ):
            if f"<{field}>" in xml:
                head, rest = xml.split(f"<{field}>", 1)
                xml = (
                    head
                    + f"<{field}>"
                    + _xml_escape(draw(_NASTY_TEXT))
                    + rest[rest.index(f"</{field}>") :]
                )
        if draw(st.booleans()):
            xml = (
                draw(
                    st.sampled_from(
                        [
                            '<?xml version="1.0" encoding="x-none"?>',
                            '<?xml version="1.0" encoding="utf-16"?>',
                            '<?xml version="1.0" encoding="iso-8859-1"?>',
                            "",
                        ]
                    )
                )
                + xml
            )
        message = xml.encode("utf-8", "surrogatepass")
        receive_id = draw(st.sampled_from([CORP_ID, APP_KEY, ""]))
    else:
        payload: dict[str, Any] = {
            k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"
        }
        for field in draw(st.lists(st.sampled_from(sorted(payload)), max_size=3)):
            payload[field] = draw(_JSON_NASTY)
        message = json.dumps(payload).encode("utf-8", "surrogatepass")
        receive_id = draw(st.sampled_from([APP_KEY, CORP_ID]))
    if draw(st.booleans()):  # mutate the signed message's bytes
        raw = bytearray(message)
        for at in draw(st.lists(st.integers(min_value=0), max_size=3)):
            if raw:
                raw[at % len(raw)] = draw(st.integers(min_value=0, max_value=255))
        message = bytes(raw)
    enc = ref_encrypt(AES_KEY, receive_id, message)
    nonce = draw(st.sampled_from(["n0nce", "n", "\u00e9"]))
    sig = ref_sign(TOKEN, ts, nonce, enc)
    if wecom:
        envelope = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>"
        body = (envelope + "</xml>").encode()
    else:
        body = json.dumps({"encrypt": enc}).encode()
    if draw(st.booleans()):  # mutate the (unsigned) envelope around the ciphertext
        junk = draw(
            st.sampled_from(
                [b"<a/>" * 500, b"\xff\xfe", b"<!DOCTYPE x>", b"[" * 2000, b"{", b"\x00"]
            )
        )
        body = draw(st.sampled_from([junk + body, body + junk, body[: len(body) // 2]]))
    params = {"msg_signature" if wecom else "signature": sig, "timestamp": ts, "nonce": nonce}
    query = _qs(**params)
    if draw(st.booleans()):  # mutate the query string's bytes
        extra = draw(
            st.sampled_from(
                [b"&timestamp=%ED%B3%BF", b"&nonce=%FF", b"&x=\xed\xb3\xbf", b"&" * 50, b"%"]
            )
        )
        query = draw(
            st.sampled_from([query + extra, extra + b"&" + query, query[: len(query) // 2]])
        )
    return wecom, query, body


@pytest.mark.anyio
@given(request=_hostile_requests())
async def test_fuzzed_signed_envelopes_get_2xx_or_4xx_and_no_error_log(
    request: tuple[bool, bytes, bytes],
) -> None:
    wecom, query, body = request
    loud = _Loud()
    root = logging.getLogger()
    root.addHandler(loud)
    try:
        app = asgi_endpoint(wecom_cb() if wecom else ding_cb(), Recorder())
        status, _, _ = await Asgi(app).call(query, [body])
    finally:
        root.removeHandler(loud)
    assert 200 <= status < 300 or 400 <= status < 500
    assert loud.loud == []


@given(request=_hostile_requests())
def test_fuzzed_signed_envelopes_raise_only_wecal_errors_in_the_callbacks(
    request: tuple[bool, bytes, bytes],
) -> None:
    # The same requests, straight to the callback classes: whatever is wrong
    # with them is a WecalError (the endpoint's 4xx), never a foreign exception.
    from urllib.parse import parse_qsl

    wecom, query, body = request
    try:
        params = dict(parse_qsl(query.decode("latin-1"), errors="strict"))
    except UnicodeDecodeError:
        return  # the endpoint refuses these before any callback sees them
    cb = wecom_cb() if wecom else ding_cb()
    try:
        cb.answer("POST", params, body)
    except wecal.WecalError as exc:
        _assert_clean(exc)


_PADDING = b"<a/>" * 16_000  # 64,000 bytes of repeated empty tags


def test_the_signature_is_checked_before_the_envelope_is_read() -> None:
    sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    hostile = [
        BILLION_LAUGHS.replace(b"<xml><Encrypt>&lol2;</Encrypt></xml>", body),
        EXTERNAL.replace(b"<xml><Encrypt>&xxe;</Encrypt></xml>", body),
        body.replace(b"<xml>", b"<xml>" + _PADDING),
        body.replace(b"</xml>", b"<x>" * 40),  # unclosed, too deep
    ]
    for envelope in hostile:
        # Forged: refused for its signature, whatever the envelope holds.
        with pytest.raises(wecal.AuthenticationError) as info:
            wecom_cb().parse("0" * 40, ts, nonce, envelope)
        assert info.value.code == "signature"
        # Signed: the unsigned envelope around the ciphertext is not read.
        assert wecom_cb().parse(sig, ts, nonce, envelope).kind is NotificationKind.CREATED


def test_dingtalk_envelope_members_other_than_encrypt_are_skipped() -> None:
    payload = {k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"}
    sig, ts, nonce, body = ding_post(payload)
    enc = json.loads(body)["encrypt"]
    wide = json.dumps({"x": [{}] * 20_000, "encrypt": enc, "y": "z" * 1000}).encode()
    with pytest.raises(wecal.AuthenticationError):
        ding_cb().parse("0" * 40, ts, nonce, wide)
    note = ding_cb().parse(sig, ts, nonce, wide)
    assert note is not None
    assert note.event_id == payload["calendarEventId"]


@pytest.mark.parametrize("value", ["9999999999999999", "253402300800"])
def test_times_out_of_range_are_format_errors(value: str) -> None:
    xml = VECTORS["wecom_events"]["add_schedule"].replace("1717200000", value)
    with pytest.raises(wecal.ResponseFormatError, match="CreateTime"):
        wecom_cb().parse(*wecom_post(xml))
    payload = {k: v for k, v in VECTORS["dingtalk_event"].items() if k != "_source"}
    payload["calendarEventUpdateTime"] = int(value) * 1000 if len(value) < 16 else int(value)
    with pytest.raises(wecal.ResponseFormatError, match="calendarEventUpdateTime"):
        ding_cb().parse(*ding_post(payload))


def test_the_last_representable_second_is_read() -> None:
    xml = VECTORS["wecom_events"]["add_schedule"].replace("1717200000", "253402214400")
    note = wecom_cb().parse(*wecom_post(xml))
    assert note.occurred_at == datetime(9999, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize("where", ["msg_signature", "timestamp", "nonce"])
def test_lone_surrogates_in_parameters_are_format_errors(where: str) -> None:
    sig, ts, nonce, body = wecom_post(VECTORS["wecom_events"]["add_schedule"])
    args = {"msg_signature": sig, "timestamp": ts, "nonce": nonce}
    args[where] += "\udcff"
    with pytest.raises(wecal.ResponseFormatError) as info:
        wecom_cb().parse(args["msg_signature"], args["timestamp"], args["nonce"], body)
    assert info.value.path == where
    with pytest.raises(wecal.ResponseFormatError):
        ding_cb().parse(args["msg_signature"], args["timestamp"], args["nonce"], body)


_MB = 1 << 20


@pytest.mark.timeout(20)  # linear: milliseconds; one backtracking scan of these: hours
@pytest.mark.parametrize(
    "body",
    [
        b"<Encrypt>" + b" " * (_MB - 20) + b"x",
        b"<Encrypt><![CDATA[" + b"\n" * (_MB - 30) + b"x",
        b"<Encrypt><![CDATA[ " + b"A" * (_MB // 2) + b" " * (_MB // 2 - 40) + b"x",
        (b"<Encrypt>" + b" " * 50) * (_MB // 60),
        b"<Encrypt>" + b"A" * (_MB // 2) + b"\t" * (_MB // 2 - 20),
    ],
    ids=["blanks", "cdata-newlines", "run-then-blanks", "many-opens", "run-then-tabs"],
)
def test_the_envelope_scan_never_backtracks(body: bytes) -> None:
    # Bodies shaped to make a backtracking scan split each run of blanks in
    # every way (quadratic); the scan takes each run once.
    with pytest.raises(wecal.ResponseFormatError):
        wecom_cb().parse("0" * 40, str(int(NOW)), "n", body)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_body": 0},
        {"max_body": True},
        {"body_timeout": float("nan")},
        {"body_timeout": -1},
        {"handler_timeout": "5"},
        {"replay_window": 600},
        {"replay_window": timedelta(0)},
        {"shared": object()},
    ],
)
def test_bad_endpoint_settings_are_validation_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(wecal.ValidationError, match=next(iter(settings))):
        asgi_endpoint(wecom_cb(), Recorder(), **settings)


@pytest.mark.anyio
async def test_a_reader_bug_is_still_a_4xx_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Whatever a provider's reader raises on a request it did not foresee,
    # the request is the caller's fault: 400, one WARNING line, no traceback.
    class Broken:
        def answer(self, method: str, query: Any, body: bytes, *, headers: Any = None) -> Any:
            raise KeyError("a field no reader foresaw")

    status, _, _ = await Asgi(asgi_endpoint(Broken(), Recorder())).call(b"", [b"{}"])
    assert status == 400
    _no_error_logged(caplog)
    assert "KeyError" in caplog.text
