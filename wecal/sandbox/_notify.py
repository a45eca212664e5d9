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

Each provider's emulator builds its messages (its folder's
``notify_*``/``user_*`` functions and ``seal_notification``), and sends
them with :meth:`SandboxNotifications.send`; the per-provider methods here
delegate to them.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import TransportError, ValidationError
from ..providers._registry import PROVIDERS
from ..providers.dingtalk._emulator import _notify as _dingtalk_notify
from ..providers.wecom import _emulator as _wecom

if TYPE_CHECKING:
    from ._core import SandboxCore

__all__ = ["Delivery", "NotifyFault", "SandboxNotifications"]

log = logging.getLogger("wecal.sandbox")


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
    #: The app key it was made for (the callback's receiver id).
    key: str
    #: The provider's callback class, which seals each message.
    callback: Any
    #: The emulator's ``seal_notification(callback, message)``: (body, query).
    seal: Callable[[Any, Mapping[str, Any]], tuple[bytes, dict[str, str]]]


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

    def subscribe(
        self, provider: str, url: str, token: str, aes_key: str, app_key: str | None = None
    ) -> None:
        """
        POST ``provider``'s (registry name) callbacks to ``url``, sealed with
        ``token`` and ``aes_key`` for ``app_key`` (default: its first app's).
        """
        seal = getattr(PROVIDERS[provider].load_emulator(), "seal_notification", None)
        if seal is None:
            raise ValidationError(f"Sandbox.notifications: {provider} sends no notifications")
        key = app_key or self._first_key(provider)
        # The callback classes need the notify extra, loaded only when subscribing.
        callback = PROVIDERS[provider].load_callback()(token, aes_key, key)
        self._subs[provider] = _Subscription(url, key, callback, seal)

    def subscribed(self, provider: str) -> bool:
        """Whether ``provider``'s notifications go anywhere."""
        return provider in self._subs

    def subscribed_key(self, provider: str) -> str | None:
        """The app key ``provider``'s subscription was made for, None without one."""
        sub = self._subs.get(provider)
        return None if sub is None else sub.key

    def subscribe_wecom(
        self, url: str, token: str, encoding_aes_key: str, corp_id: str | None = None
    ) -> None:
        """POST WeCom callbacks to ``url`` (corp id: the first WeCom app's, by default)."""
        self.subscribe("wecom", url, token, encoding_aes_key, corp_id)

    def subscribe_dingtalk(
        self, url: str, token: str, aes_key: str, app_key: str | None = None
    ) -> None:
        """POST DingTalk ``calendar_event_change`` events to ``url``."""
        self.subscribe("dingtalk", url, token, aes_key, app_key)

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

    # -- each provider's messages (built by its emulator) -------------------------

    def after_wecom(self, op: str, body: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """The WeCom callbacks a successful ``oa/<op>`` write causes."""
        _wecom.notify_write(self._sandbox, op, body, result)

    def wecom_event(
        self, event: str, cal_id: str, schedule_id: str | None = None, *, user: str = "sys"
    ) -> None:
        """Send one WeCom calendar callback (``event`` as in reference/wecom.md §1.5)."""
        _wecom.notify_event(self._sandbox, event, cal_id, schedule_id, user=user)

    def user_update_wecom_schedule(self, schedule_id: str, **fields: Any) -> None:
        """A member edits a schedule in the WeCom app: ``fields`` overwrite it."""
        _wecom.user_update_schedule(self._sandbox, schedule_id, **fields)

    def user_delete_wecom_schedule(self, schedule_id: str) -> None:
        """A member cancels a schedule in the WeCom app."""
        _wecom.user_delete_schedule(self._sandbox, schedule_id)

    def user_respond_wecom_schedule(self, schedule_id: str, userid: str, status: int) -> None:
        """Attendee ``userid`` answers (WeCom ``response_status`` 1-4)."""
        _wecom.user_respond_schedule(self._sandbox, schedule_id, userid, status)

    def after_dingtalk_v1(
        self, name: str, params: Mapping[str, str], answer: tuple[int, Any]
    ) -> None:
        """The callback a DingTalk v1.0 API call the emulator applied causes."""
        _dingtalk_notify.notify_call(self._sandbox, name, params, answer)

    def user_create_dingtalk_event(self, organizer: str, event: Mapping[str, Any]) -> str:
        """``organizer`` creates an event in the DingTalk app (a v1.0 create body)."""
        return _dingtalk_notify.user_create_event(self._sandbox, organizer, event)

    def user_update_dingtalk_event(
        self, union_id: str, event_id: str, changes: Mapping[str, Any]
    ) -> None:
        """The organizer edits an event in the app (``changes``: a v1.0 patch body)."""
        _dingtalk_notify.user_update_event(self._sandbox, union_id, event_id, changes)

    def user_delete_dingtalk_event(self, union_id: str, event_id: str) -> None:
        """``union_id`` deletes an event in the app (the organizer: for everyone)."""
        _dingtalk_notify.user_delete_event(self._sandbox, union_id, event_id)

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
        _dingtalk_notify.notify_change(
            self._sandbox,
            event_id,
            change_type,
            union_ids=union_ids,
            calendar_id=calendar_id,
            legacy_event_id=legacy_event_id,
        )

    # -- delivery ----------------------------------------------------------------

    def send(self, provider: str, message: Mapping[str, Any]) -> None:
        """Deliver ``message`` to ``provider``'s subscription (none: dropped)."""
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
        return sub.seal(sub.callback, delivery.message)
