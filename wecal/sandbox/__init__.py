"""
wecal.sandbox: an embedded WeCom + DingTalk (legacy and v1.0) provider emulator.

One Starlette app serves every provider at its real paths, so a client only
needs ``base_url`` pointed at it: WeCom ``/cgi-bin/gettoken``,
``/cgi-bin/oa/calendar/{add,update,get,del}`` and
``/cgi-bin/oa/schedule/{add,update,get,del,get_by_calendar,add_attendees,del_attendees}``;
DingTalk ``/gettoken`` and ``/topapi/calendar/list``; DingTalk v1.0
``/v1.0/oauth2/accessToken`` and ``/v1.0/calendar/users/{unionId}/...``
(events, eventsview, respond, attendees, querySchedule, calendars) with
``/topapi/v2/user/get`` for userid → unionId — state in
``sandbox.dingtalk_v1``, routes and behaviours in ``wecal.providers.dingtalk._emulator``.
State is kept (create, read back, overwrite-style or partial update,
``op_mode`` splits, ``x-client-token`` replays), tokens expire by the sandbox
clock, errors carry the providers' errcodes (v1.0: HTTP status + ``code``), and
data can be generated from a seed. Faults (latency, 5xx, busy, rate limits,
token revocation, dropped connections, truncated JSON, offset drift, a write
applied and then answered 5xx) are scripted or drawn at a seeded rate, and
every request is recorded for assertions.

In-process, with any anyio backend::

    import httpx
    from wecal.sandbox import Fault, Sandbox, generate

    sandbox = Sandbox(seed=1)
    sandbox.add_wecom_app("ww_corp", "s3cret")
    summary = generate(sandbox, schedules_per_calendar=20)
    sandbox.faults.script("wecom.schedule.get_by_calendar", [Fault.busy()])

    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        creds = {"corpid": "ww_corp", "corpsecret": "s3cret"}
        r = await http.get("/cgi-bin/gettoken", params=creds)
        token = r.json()["access_token"]
        r = await http.post("/cgi-bin/oa/schedule/get_by_calendar",
                            params={"access_token": token},
                            json={"cal_id": summary.wecom_calendars[0], "limit": 10})
        assert r.json()["errcode"] == -1            # the scripted fault
    assert sandbox.requests[-1].api == "wecom.schedule.get_by_calendar"

Over loopback (uvicorn in a thread; ``port=0`` picks a free port)::

    with serve(sandbox) as base_url:
        ...                                          # http://127.0.0.1:<port>

From a shell: ``python -m wecal.sandbox --port 8765`` serves generated data
with the ``DEFAULT_*`` credentials. ``sandbox.wecom_ground_truth(cal_id)`` and
``sandbox.dingtalk_ground_truth(user_id, start=..., end=..., expand=...)``
return what a complete, correct listing must contain.

Behaviours the provider docs leave open, and what the sandbox does, are listed
in the docstrings of ``wecal.providers.wecom._emulator`` (errcodes),
``wecal.providers.dingtalk_legacy._emulator``
(errcodes, quirky recurrence forms, paging) and
``wecal.providers.wecom._emulator_data`` (whole-day convention). Requires the
``sandbox`` extra (starlette, uvicorn).

Change notifications: ``sandbox.notifications.subscribe_wecom(url, token, key)``
(or ``subscribe_dingtalk``) makes every write POST a signed, encrypted
callback to ``url``, with scripted faults (``NotifyFault``: duplicate,
reorder, fail-then-retry); see ``wecal.sandbox._notify``.
"""

from ..providers._emulation._faults import Fault, FaultKind, Faults
from ..providers._emulation._host import Emulator, EmulatorHost
from ..providers.feishu._emulator import CREDENTIALS as _FEISHU_CREDENTIALS
from ._app import create_app
from ._data import (
    DEFAULT_DINGTALK_APP_KEY,
    DEFAULT_DINGTALK_APP_SECRET,
    DEFAULT_WECOM_CORP_ID,
    DEFAULT_WECOM_SECRET,
    GenerateSummary,
    generate,
)
from ._notify import Delivery, NotifyFault, SandboxNotifications
from ._serve import describe, main, run, serve
from ._state import FakeClock, RecordedRequest, Sandbox

#: The Feishu emulator's own app (every sandbox knows it).
DEFAULT_FEISHU_APP_ID, DEFAULT_FEISHU_APP_SECRET = _FEISHU_CREDENTIALS

__all__ = [
    "DEFAULT_DINGTALK_APP_KEY",
    "DEFAULT_DINGTALK_APP_SECRET",
    "DEFAULT_FEISHU_APP_ID",
    "DEFAULT_FEISHU_APP_SECRET",
    "DEFAULT_WECOM_CORP_ID",
    "DEFAULT_WECOM_SECRET",
    "Delivery",
    "Emulator",
    "EmulatorHost",
    "FakeClock",
    "Fault",
    "FaultKind",
    "Faults",
    "GenerateSummary",
    "NotifyFault",
    "RecordedRequest",
    "Sandbox",
    "SandboxNotifications",
    "create_app",
    "describe",
    "generate",
    "main",
    "run",
    "serve",
]
