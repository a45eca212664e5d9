"""
Change notifications from the sandbox: signed, encrypted callbacks POSTed to
the URL an app subscribed, for every write made through the sandbox's API and
for writes made "by a user" with the methods below.

    sandbox.notifications.subscribe_wecom(url, token, encoding_aes_key)
    sandbox.notifications.subscribe_dingtalk(url, token, aes_key, app_key)
    sandbox.notifications.script([NotifyFault.DUPLICATE, None, NotifyFault.REORDER])
    ...                                   # writes → callbacks
    sandbox.notifications.drain()         # block until every delivery is done
    sandbox.notifications.close()

Deliveries run in one background thread, in order, over real HTTP (httpx);
a delivery answered with a non-2xx status (or not answered) is retried up to
``attempts`` times. Scripted faults apply to successive notifications:
``DUPLICATE`` delivers one twice, ``REORDER`` holds one back until after the
next, ``FAIL_FIRST`` sends a first attempt with a broken signature (the
receiver must refuse it) and then retries it properly. Real WeCom only pushes
changes *users* make to API-created objects; the sandbox also pushes for the
app's own writes so the whole chain can be tested.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs

from ..errors import TransportError, ValidationError
from ..providers._registry import PROVIDERS
from ..providers.dingtalk import _emulator as _dingtalk_v1
from ..providers.wecom import _emulator as _wecom

if TYPE_CHECKING:
    from ..providers.dingtalk._callback import DingTalkCallback
    from ..providers.wecom._callback import WeComCallback
    from ._core import SandboxCore

__all__ = ["Delivery", "NotifyFault", "SandboxNotifications"]

log = logging.getLogger("wecal.sandbox")

#: WeCom schedule write (``oa/<op>``) → the callback event it causes.
_WECOM_SCHEDULE_OPS = {
    "schedule.add_attendees": "modify_schedule",
    "schedule.del_attendees": "modify_schedule",
}

#: DingTalk v1.0 API calls → ``changeType`` of the ``calendar_event_change`` they cause.
_V1_CHANGES = {
    "dingtalk.v1.events.create": "create",
    "dingtalk.v1.events.patch": "update",
    "dingtalk.v1.events.delete": "delete",
    "dingtalk.v1.events.respond": "update",
    "dingtalk.v1.attendees.add": "update",
    "dingtalk.v1.attendees.remove": "update",
}


class NotifyFault(enum.StrEnum):
    """What goes wrong with one notification's delivery."""

    DUPLICATE = "duplicate"
    REORDER = "reorder"
    FAIL_FIRST = "fail_first"


@attrs.define
class Delivery:
    """
    One notification as the sandbox sent it: ``statuses`` holds the HTTP status
    of every attempt (0: no answer), of both copies when it was duplicated.
    """

    provider: str
    message: Mapping[str, Any]
    statuses: list[int] = attrs.field(factory=list)

    @property
    def delivered(self) -> bool:
        """True once an attempt was answered 2xx."""
        return any(200 <= s < 300 for s in self.statuses)


@attrs.define
class _Subscription:
    url: str
    callback: WeComCallback | DingTalkCallback


class SandboxNotifications:
    """The sandbox's notification sender (``sandbox.notifications``)."""

    def __init__(
        self, sandbox: SandboxCore, *, attempts: int = 4, retry_delay: float = 0.02
    ) -> None:
        self._sandbox = sandbox
        self._subs: dict[str, _Subscription] = {}
        self._faults: list[NotifyFault | None] = []
        self._held: tuple[_Subscription, Delivery] | None = None
        self._queue: queue.Queue[tuple[_Subscription, Delivery, bool] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.attempts = attempts
        self.retry_delay = retry_delay
        #: Every notification sent, in the order it was first attempted.
        self.deliveries: list[Delivery] = []

    def __repr__(self) -> str:
        return f"<SandboxNotifications subscribed={sorted(self._subs)} sent={len(self.deliveries)}>"

    # -- subscribing -------------------------------------------------------------

    def subscribe_wecom(
        self, url: str, token: str, encoding_aes_key: str, corp_id: str | None = None
    ) -> None:
        """POST WeCom callbacks to ``url`` (corp id: the first WeCom app's, by default)."""
        corp = corp_id or self._first_key("wecom")
        # The callback classes need the notify extra, loaded only when subscribing.
        callback = PROVIDERS["wecom"].load_callback()(token, encoding_aes_key, corp)
        self._subs["wecom"] = _Subscription(url, cast("WeComCallback", callback))

    def subscribe_dingtalk(
        self, url: str, token: str, aes_key: str, app_key: str | None = None
    ) -> None:
        """POST DingTalk ``calendar_event_change`` events to ``url``."""
        key = app_key or self._first_key("dingtalk")
        callback = PROVIDERS["dingtalk"].load_callback()(token, aes_key, key)
        self._subs["dingtalk"] = _Subscription(url, cast("DingTalkCallback", callback))

    def unsubscribe(self, provider: str) -> None:
        """Stop sending ``provider``'s (``"wecom"``, ``"dingtalk"``) notifications."""
        self._subs.pop(provider, None)

    def _first_key(self, provider: str) -> str:
        app_id = self._sandbox.first_app(provider)
        if app_id is None:
            raise ValidationError(f"Sandbox.notifications: add a {provider} app first")
        return self._sandbox.app_key(app_id)

    def script(self, faults: Iterable[NotifyFault | None]) -> None:
        """Faults for the next notifications, one each (None: delivered normally)."""
        with self._lock:
            self._faults.extend(faults)

    # -- WeCom -------------------------------------------------------------------

    def after_wecom(self, op: str, body: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Called by the WeCom emulator after a successful ``oa/<op>`` write."""
        if "wecom" not in self._subs or result.get("errcode") != 0:
            return
        schedules = _wecom.state(self._sandbox).schedules
        if op == "calendar.update":
            self.wecom_event("modify_calendar", str(body["calendar"]["cal_id"]))
        elif op == "calendar.del":
            self.wecom_event("delete_calendar", str(body["cal_id"]))
        elif op == "schedule.add":
            sid = str(result["schedule_id"])
            self.wecom_event("add_schedule", schedules[sid]["cal_id"], sid)
        elif op == "schedule.update":
            target = str(body["schedule"]["schedule_id"])
            self.wecom_event("modify_schedule", schedules[target]["cal_id"], target)
            new = str(result.get("schedule_id") or target)
            if new != target:  # op_mode 1/2 split off a new schedule
                self.wecom_event("add_schedule", schedules[new]["cal_id"], new)
        elif op == "schedule.del":
            sid = str(body["schedule_id"])
            cancelled = schedules[sid].get("status") == 1
            event = "delete_schedule" if cancelled else "modify_schedule"
            self.wecom_event(event, schedules[sid]["cal_id"], sid)
        elif op in _WECOM_SCHEDULE_OPS:
            sid = str(body["schedule_id"])
            self.wecom_event(_WECOM_SCHEDULE_OPS[op], schedules[sid]["cal_id"], sid)

    def wecom_event(
        self, event: str, cal_id: str, schedule_id: str | None = None, *, user: str = "sys"
    ) -> None:
        """Send one WeCom calendar callback (``event`` as in reference/wecom.md §1.5)."""
        sub = self._subs.get("wecom")
        message = {
            "ToUserName": sub.callback._crypt.receive_id if sub is not None else "",
            "FromUserName": user,
            "CreateTime": str(int(time.time())),
            "MsgType": "event",
            "Event": event,
            "CalId": cal_id,
        }
        if schedule_id is not None:
            message["ScheduleId"] = schedule_id
        self._send("wecom", message)

    def user_update_wecom_schedule(self, schedule_id: str, **fields: Any) -> None:
        """A member edits a schedule in the WeCom app: ``fields`` overwrite it."""
        with self._sandbox.lock:
            sched = _wecom.state(self._sandbox).schedules[schedule_id]
            sched.update(fields)
            cal_id = sched["cal_id"]
        self.wecom_event("modify_schedule", cal_id, schedule_id)

    def user_delete_wecom_schedule(self, schedule_id: str) -> None:
        """A member cancels a schedule in the WeCom app."""
        with self._sandbox.lock:
            sched = _wecom.state(self._sandbox).schedules[schedule_id]
            sched["status"] = 1
            cal_id = sched["cal_id"]
        self.wecom_event("delete_schedule", cal_id, schedule_id)

    def user_respond_wecom_schedule(self, schedule_id: str, userid: str, status: int) -> None:
        """Attendee ``userid`` answers (WeCom ``response_status`` 1-4)."""
        with self._sandbox.lock:
            sched = _wecom.state(self._sandbox).schedules[schedule_id]
            for attendee in sched["attendees"]:
                if attendee["userid"] == userid:
                    attendee["response_status"] = status
            cal_id = sched["cal_id"]
        self.wecom_event("respond_schedule", cal_id, schedule_id, user=userid)

    # -- DingTalk ----------------------------------------------------------------

    def after_dingtalk_v1(
        self, name: str, params: Mapping[str, str], answer: tuple[int, Any]
    ) -> None:
        """Called by the v1.0 emulator after an API call it applied."""
        change = _V1_CHANGES.get(name)
        if change is None or "dingtalk" not in self._subs or not 200 <= answer[0] < 300:
            return
        created = name == "dingtalk.v1.events.create"
        event_id = str(answer[1]["id"]) if created else params["event"]
        self.dingtalk_event(event_id, change, union_ids=self._v1_people(params["user"], event_id))

    def _v1_people(self, union_id: str, event_id: str) -> list[str]:
        """The acting user, then the event's organizer and attendees (unionIds)."""
        stored = _dingtalk_v1.v1(self._sandbox).events.get(event_id) or {}
        people = [union_id, (stored.get("organizer") or {}).get("id")]
        people += [a.get("id") for a in stored.get("attendees") or []]
        return [p for p in dict.fromkeys(people) if isinstance(p, str) and p]

    def user_create_dingtalk_event(self, organizer: str, event: Mapping[str, Any]) -> str:
        """``organizer`` creates an event in the DingTalk app (a v1.0 create body)."""
        event_id = _dingtalk_v1.v1(self._sandbox).add_event(organizer, event)
        self.dingtalk_event(event_id, "create", union_ids=self._v1_people(organizer, event_id))
        return event_id

    def user_update_dingtalk_event(
        self, union_id: str, event_id: str, changes: Mapping[str, Any]
    ) -> None:
        """The organizer edits an event in the app (``changes``: a v1.0 patch body)."""
        with self._sandbox.lock:
            _dingtalk_v1.v1(self._sandbox)._patch(union_id, event_id, {"id": event_id, **changes})
        self.dingtalk_event(event_id, "update", union_ids=self._v1_people(union_id, event_id))

    def user_delete_dingtalk_event(self, union_id: str, event_id: str) -> None:
        """``union_id`` deletes an event in the app (the organizer: for everyone)."""
        people = self._v1_people(union_id, event_id)
        with self._sandbox.lock:
            _dingtalk_v1.v1(self._sandbox)._delete(union_id, event_id)
        self.dingtalk_event(event_id, "delete", union_ids=people)

    def dingtalk_event(
        self,
        event_id: str,
        change_type: str,
        *,
        union_ids: Iterable[str] = (),
        calendar_id: str = "primary",
        legacy_event_id: str | None = None,
    ) -> None:
        """Send one ``calendar_event_change`` (reference/dingtalk.md §2.5)."""
        message: dict[str, Any] = {
            "EventType": "calendar_event_change",
            "calendarEventId": event_id,
            "calendarId": calendar_id,
            "unionIdList": list(union_ids),
            "changeType": change_type,
            "operator": {"type": "user"},
            "calendarEventUpdateTime": int(time.time() * 1000),
        }
        if legacy_event_id is not None:
            message["legacyCalendarEventId"] = legacy_event_id
        self._send("dingtalk", message)

    # -- delivery ----------------------------------------------------------------

    def _send(self, provider: str, message: Mapping[str, Any]) -> None:
        sub = self._subs.get(provider)
        if sub is None:
            return
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            delivery = Delivery(provider, dict(message))
            self.deliveries.append(delivery)
            if fault is NotifyFault.REORDER and self._held is None:
                self._held = (sub, delivery)
                return
            self._enqueue(sub, delivery, fail_first=fault is NotifyFault.FAIL_FIRST)
            if fault is NotifyFault.DUPLICATE:
                self._enqueue(sub, delivery, fail_first=False)
            if self._held is not None:
                held, self._held = self._held, None
                self._enqueue(*held, fail_first=False)

    def _enqueue(self, sub: _Subscription, delivery: Delivery, *, fail_first: bool) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="wecal-sandbox-notify", daemon=True
            )
            self._thread.start()
        self._queue.put((sub, delivery, fail_first))

    def drain(self, timeout: float = 30.0) -> None:
        """Block until every queued delivery finished (a held-back one is released)."""
        with self._lock:
            if self._held is not None:
                held, self._held = self._held, None
                self._enqueue(*held, fail_first=False)
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                raise TransportError(
                    f"sandbox notifications were not all delivered within {timeout:g}s"
                )
            time.sleep(0.005)

    def close(self) -> None:
        """Stop the delivery thread once the deliveries queued so far are done."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    def _work(self) -> None:
        import httpx

        with httpx.Client(timeout=10) as http:
            while True:
                item = self._queue.get()
                try:
                    if item is None:
                        return
                    self._deliver(http, *item)
                finally:
                    self._queue.task_done()

    def _deliver(self, http: Any, sub: _Subscription, delivery: Delivery, fail_first: bool) -> None:
        import httpx

        for attempt in range(self.attempts):
            body, query = self._seal(sub, delivery)
            if fail_first and attempt == 0:
                query = {**query, "nonce": query["nonce"] + "-tampered"}
            try:
                status = http.post(sub.url, params=query, content=body).status_code
            except httpx.HTTPError as exc:
                log.info("sandbox notification to %s failed: %s", sub.url, type(exc).__name__)
                status = 0
            delivery.statuses.append(status)
            if 200 <= status < 300:
                return
            time.sleep(self.retry_delay * 2**attempt)

    @staticmethod
    def _seal(sub: _Subscription, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        if delivery.provider == "wecom":
            xml = "".join(
                f"<{k}><![CDATA[{v}]]></{k}>" if k != "CreateTime" else f"<{k}>{v}</{k}>"
                for k, v in delivery.message.items()
            )
            return cast("WeComCallback", sub.callback).seal(f"<xml>{xml}</xml>".encode())
        return cast("DingTalkCallback", sub.callback).seal(delivery.message)
