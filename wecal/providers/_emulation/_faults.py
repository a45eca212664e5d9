"""
Fault injection: what can go wrong between a client and a provider.

A :class:`Fault` is one misbehaviour applied to one request. ``Faults`` holds
them: *scripted* (the next N matching requests get these faults, in order) or
*by rate* (each matching request gets the fault with probability ``p``, drawn
from a seeded generator so a run is reproducible)::

    sandbox.faults.script("wecom.schedule.get_by_calendar", [None, Fault.busy()])
    sandbox.faults.rate(Fault.latency(0.05), p=0.2, seed=7)
    sandbox.faults.revoke_tokens_after(10)

What each kind produces, in-process (``httpx.ASGITransport``) and over
loopback (uvicorn):

=================  ===========================================================
``latency``        the normal answer, ``seconds`` late (``anyio.sleep``)
``server_error``   HTTP ``status`` (5xx) with a small HTML body, like a gateway
``busy``           HTTP 200, errcode -1 (WeCom "system busy", DingTalk 系统繁忙);
                   DingTalk v1.0: HTTP 429 ``system.busy``
``rate_limited``   HTTP 200, errcode 45009 (WeCom) or 90018 (DingTalk); v1.0:
                   HTTP 403 ``Forbidden.AccessDenied.QpsLimitForAppkeyAndApi``
``qps_403``        HTTP 403 ``{"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}``
                   — the v1.0-style DingTalk throttle
``error``          HTTP 200 with any ``errcode`` / ``errmsg`` you name; v1.0:
                   ``Fault.error_code(status, code)`` answers that status and code
``revoke_token``   the token used is revoked now; this and later calls with it
                   get 40014 (``errcode=42001`` to look expired instead)
``dropped``        headers are sent, then the connection is closed before any
                   body: ``httpx.RemoteProtocolError`` in both cases (in-process
                   the app raises it; over uvicorn the socket is closed)
``truncated``      the request is handled (side effects happen), then the JSON
                   body is cut in half with a matching Content-Length
``applied_error``  the request is handled (a write is applied), then HTTP
                   ``status`` (503) with an HTML body replaces its answer
``offset_drift``   before a listing is served, a new schedule (DingTalk: event)
                   is inserted ahead of every listed one, so offset paging
                   repeats the last item of the previous page
=================  ===========================================================
"""

from __future__ import annotations

import enum
import fnmatch
import random
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs

from ...errors import ValidationError

__all__ = ["Fault", "FaultKind", "Faults", "qps_403_body"]


class FaultKind(enum.StrEnum):
    """The kinds of :class:`Fault`."""

    LATENCY = "latency"
    SERVER_ERROR = "server_error"
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    QPS_403 = "qps_403"
    ERROR = "error"
    REVOKE_TOKEN = "revoke_token"
    DROPPED = "dropped"
    TRUNCATED = "truncated"
    APPLIED_ERROR = "applied_error"
    OFFSET_DRIFT = "offset_drift"


@attrs.frozen
class Fault:
    """
    One misbehaviour for one request. Build it with the class methods::

        Fault.latency(0.2), Fault.server_error(502), Fault.busy(),
        Fault.rate_limited(), Fault.qps_403(), Fault.error(45033),
        Fault.revoke_token(), Fault.dropped(), Fault.truncated(),
        Fault.offset_drift(), Fault.applied_error(503), Fault.error_code(403, "...")
    """

    kind: FaultKind
    seconds: float = 0.0
    status: int = 200
    errcode: int | None = None
    errmsg: str | None = None
    #: A string error code (DingTalk v1.0), for ``Fault.error_code``.
    code: str | None = None

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Answer normally, ``seconds`` late."""
        if seconds < 0:
            raise ValidationError(f"Fault.latency: seconds must be >= 0, got {seconds!r}")
        return cls(FaultKind.LATENCY, seconds=seconds)

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        """Answer with HTTP ``status`` (a 5xx) and an HTML body."""
        if not 500 <= status <= 599:
            raise ValidationError(f"Fault.server_error: status must be 5xx, got {status!r}")
        return cls(FaultKind.SERVER_ERROR, status=status)

    @classmethod
    def busy(cls) -> Fault:
        """errcode -1: the provider is busy, retry later."""
        return cls(FaultKind.BUSY, errcode=-1)

    @classmethod
    def rate_limited(cls) -> Fault:
        """errcode 45009 (WeCom) / 90018 (DingTalk legacy): over the frequency limit."""
        return cls(FaultKind.RATE_LIMITED)

    @classmethod
    def qps_403(cls) -> Fault:
        """HTTP 403 ``Forbidden.AccessDenied.QpsLimitForAppkeyAndApi`` (DingTalk v1.0 style)."""
        return cls(FaultKind.QPS_403, status=403)

    @classmethod
    def error(cls, errcode: int, errmsg: str | None = None) -> Fault:
        """HTTP 200 with this errcode, e.g. ``Fault.error(45033)`` or ``Fault.error(6000)``."""
        return cls(FaultKind.ERROR, errcode=errcode, errmsg=errmsg)

    @classmethod
    def error_code(cls, status: int, code: str, message: str | None = None) -> Fault:
        """
        A v1.0-style error: HTTP ``status`` with ``{code, message, requestid}``,
        e.g. ``Fault.error_code(403, "Forbidden.AccessDenied.ApiCountLimitForOrg")``.
        Other providers answer it as ``error`` with errcode -1.
        """
        if not 400 <= status <= 599 or not code:
            raise ValidationError(
                f"Fault.error_code: want a 4xx/5xx status and a code, got {status!r}, {code!r}"
            )
        return cls(FaultKind.ERROR, status=status, errcode=-1, errmsg=message, code=code)

    @classmethod
    def applied_error(cls, status: int = 503) -> Fault:
        """Apply the request (a write happens), then answer HTTP ``status`` (5xx) instead."""
        if not 500 <= status <= 599:
            raise ValidationError(f"Fault.applied_error: status must be 5xx, got {status!r}")
        return cls(FaultKind.APPLIED_ERROR, status=status)

    @classmethod
    def revoke_token(cls, errcode: int = 40014) -> Fault:
        """Revoke the request's token; it answers ``errcode`` (40014, or 42001) from now on."""
        return cls(FaultKind.REVOKE_TOKEN, errcode=errcode)

    @classmethod
    def dropped(cls) -> Fault:
        """Close the connection after the headers, before any body."""
        return cls(FaultKind.DROPPED)

    @classmethod
    def truncated(cls) -> Fault:
        """Handle the request, then send only the first half of the JSON body."""
        return cls(FaultKind.TRUNCATED)

    @classmethod
    def offset_drift(cls) -> Fault:
        """Insert a new item ahead of the listing before serving this page."""
        return cls(FaultKind.OFFSET_DRIFT)


def qps_403_body(request_id: str) -> dict[str, Any]:
    """The body of a ``qps_403`` fault's HTTP 403 (the API gateway's throttle, any emulator)."""
    return {
        "code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "message": "调用该接口触发了限流",
        "requestid": request_id,
    }


def _matches(target: str, api: str, path: str) -> bool:
    return path == target or fnmatch.fnmatchcase(api, target)


@attrs.define
class _RateRule:
    fault: Fault
    p: float
    target: str
    rng: random.Random


class Faults:
    """
    The faults a :class:`~wecal.sandbox.Sandbox` applies to incoming requests.

    ``target`` is an API name (``"wecom.schedule.get_by_calendar"``,
    ``"dingtalk.calendar.list"``, ``"wecom.gettoken"``), a glob over API names
    (``"wecom.*"``, ``"*"``), or an exact path (``"/cgi-bin/oa/schedule/get"``).
    Scripted faults win over rate faults; a ``None`` in a script lets that
    request through untouched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, deque[Fault | None]]] = []
        self._rates: list[_RateRule] = []
        self._revoke_after: int | None = None
        self._revoke_code = 40014

    def script(self, target: str, faults: Iterable[Fault | None]) -> None:
        """Apply ``faults`` in order to the next matching requests, one each."""
        with self._lock:
            self._scripts.append((target, deque(faults)))

    def rate(self, fault: Fault, *, p: float, seed: int = 0, target: str = "*") -> None:
        """Apply ``fault`` to each matching request with probability ``p`` (seeded)."""
        if not 0.0 <= p <= 1.0:
            raise ValidationError(f"Faults.rate: p must be within [0, 1], got {p!r}")
        with self._lock:
            self._rates.append(_RateRule(fault, p, target, random.Random(seed)))

    def revoke_tokens_after(self, calls: int, *, errcode: int = 40014) -> None:
        """
        After ``calls`` more API calls (token fetches not counted), revoke every
        token issued so far: later calls with them get ``errcode`` (40014, or
        42001 to look expired). A fresh ``gettoken`` works again.
        """
        if calls < 0:
            raise ValidationError(f"Faults.revoke_tokens_after: calls must be >= 0, got {calls!r}")
        with self._lock:
            self._revoke_after = calls
            self._revoke_code = errcode

    def clear(self) -> None:
        """Forget every scripted and rate fault and any pending revocation."""
        with self._lock:
            self._scripts.clear()
            self._rates.clear()
            self._revoke_after = None

    @property
    def pending(self) -> int:
        """How many scripted faults (``None`` entries included) are still queued."""
        with self._lock:
            return sum(len(q) for _, q in self._scripts)

    def _next(self, api: str, path: str) -> Fault | None:
        """The fault for this request (consumes a scripted one), or None."""
        with self._lock:
            for target, queue in self._scripts:
                if queue and _matches(target, api, path):
                    return queue.popleft()
            for rule in self._rates:
                # Draw for every matching request so the sequence only depends
                # on the seed and the request order, not on earlier outcomes.
                if _matches(rule.target, api, path) and rule.rng.random() < rule.p:
                    return rule.fault
            return None

    def _count_call(self) -> int | None:
        """
        Count one API call, before it is served. Returns the errcode to revoke
        every token with when the countdown has run out (this call then fails).
        """
        with self._lock:
            if self._revoke_after is None:
                return None
            if self._revoke_after > 0:
                self._revoke_after -= 1
                return None
            self._revoke_after = None
            return self._revoke_code
