"""
DingTalk calendar API v1.0 (``/v1.0/...``) on sandbox state, plus the legacy-host
user lookups (``/topapi/v2/user/get``, ``/topapi/user/getbyunionid``).

Routes (the same sandbox base URL serves them all)::

    POST   /v1.0/oauth2/accessToken                      {appKey, appSecret}
    GET    /v1.0/calendar/users/{unionId}/calendars
    GET    /v1.0/calendar/users/{unionId}/calendars/primary/events      (list)
    POST   /v1.0/calendar/users/{unionId}/calendars/primary/events      (create)
    GET    /v1.0/calendar/users/{unionId}/calendars/primary/eventsview  (occurrences)
    GET    .../events/{eventId}       PUT (partial patch)       DELETE
    POST   .../events/{eventId}/respond                     {responseStatus}
    GET    .../events/{eventId}/attendees                    (maxResults, nextToken)
    POST   .../events/{eventId}/attendees                   {attendeesToAdd}
    POST   .../events/{eventId}/attendees/batchRemove       {attendeesToRemove}
    POST   /v1.0/calendar/users/{unionId}/querySchedule     {userIds, startTime, endTime}
           (also at ``/getSchedule``, the path of the doc's own HTTP example)
    POST   /topapi/v2/user/get?access_token=                {userid}  → result.unionid
    POST   /topapi/user/getbyunionid?access_token=          {unionid} → result.userid

Auth is the ``x-acs-dingtalk-access-token`` header. Tokens come from the v1.0
token endpoint or the legacy ``/gettoken`` (the two are interchangeable for an
internal app, as the official tutorial implies); ``expireIn`` is the sandbox's
``token_ttl`` (``token_quirk`` can answer it as ``0`` or leave it out, the
field bug of the reference §3.1).

Errors are HTTP status + ``{code, message, requestid}`` (reference §2.1, §3):

=====  ==================================================  ==========================
HTTP   code                                                when
=====  ==================================================  ==========================
400    ``invalidClientIdOrSecret``                         bad appKey/appSecret
401    ``Unauthorized``                                    no token header; a token
                                                           revoked with errcode 42001
400    ``InvalidAuthentication``                           unknown, expired or revoked
                                                           token
403    ``Forbidden.AccessDenied.AccessTokenPermissionDenied``  a scope the app lacks
                                                           (``accessdenieddetail``
                                                           names it)
403    ``Forbidden.AccessDenied.QpsLimitForAppkeyAndApi``  the ``rate_limited`` and
                                                           ``qps_403`` faults
403    ``Forbidden.AccessDenied.ApiCountLimitForOrg``      ``monthly_quota`` spent
400    ``flowLimit``                                       > ``daily_create_limit``
                                                           creates per user per day
429    ``system.busy``                                     the ``busy`` fault
400    ``invalidParameter``                                a field, limit or cursor
                                                           is wrong (message says which)
400    ``InvalidParameter.ParsedISO8601TimestampError``    a time that is not ISO 8601
                                                           with an offset (a raw ``+``
                                                           in a query decodes to a
                                                           space); ``strict_times``:
                                                           not UTC with milliseconds
404    ``itemNotFound``                                    unknown event, user or
                                                           calendar
400    ``instanceNotExist``                                an event deleted for this user
400    ``permissionDeny``                                  a patch by a non-organizer
400    ``idempotencyProcessing``                           same ``x-client-token`` while
                                                           the first write is in flight
400    ``IdempotentParameterMismatch``                     same token, different request
=====  ==================================================  ==========================

Behaviours the docs leave open, and what the sandbox does:

* ``/events`` returns series **masters** (with ``recurrence``), not the docs'
  "past materialised instances"; ``timeMin``/``timeMax`` bound the **start**
  (a master is listed when one of its occurrences starts in the window), and
  ``timeMax`` is exclusive. ``/eventsview`` expands series across the window
  with the documented overlap (``end >= timeMin`` and ``start < timeMax``).
* Recurrence follows RFC 5545 at the edges (DESIGN.md "Occurrences and
  identity", as ``wecal.expand``): the event start is always the first
  occurrence and counts toward ``numberOfOccurrences``, even when it does not
  fit the pattern; ``absoluteMonthly`` on the 31st skips shorter months;
  ``absoluteYearly`` repeats on the start's month and day; ``range.type`` decides
  between ``endDate`` and ``numberOfOccurrences`` when both are sent (the docs'
  own example sends both); an ``endDate`` date includes that whole day.
* All-day events have no zone (the docs: "全天日程时区固定为UTC"): windows and
  free/busy compare their dates as UTC midnights.
* An occurrence (``/eventsview``) has ``seriesMasterId``, ``originStart``
  (``{"dateTime": "...Z"}``, UTC) and an opaque id; GET, DELETE (that occurrence
  only) and respond accept it. Patching one occurrence is refused
  (``invalidParameter``): the sandbox has no exceptions.
* Paging is keyset: ``nextToken`` remembers the last (start, id) served, so a
  page never repeats or skips an item, whatever changes between pages. A token
  only fits the query that made it (else ``invalidParameter``).
* ``syncToken``: after the last ``/events`` page when no ``timeMax`` was sent.
  A request with it lists what changed since (deletions as ``status:
  "cancelled"`` tombstones whatever ``showDeleted`` says), ignoring the window.
  Expiry is undocumented: ``expire_sync_tokens()`` makes the tokens handed out
  so far answer ``400 invalidParameter`` (the client should resync in full).
* DELETE and the attendee add/batchRemove calls answer ``200`` with an empty
  body (the docs' examples show ``HTTP/1.1 200 OK`` alone); respond answers
  ``{"result": true}``; create and PUT answer the full event.
* Deleting as the organizer cancels the event for everyone: gone from the
  organizer's calendar (a tombstone with ``showDeleted=true``), shown as
  ``cancelled`` to attendees. Deleting as an attendee removes it from that
  attendee's calendar only.
* ``x-client-token`` (create, patch, delete, attendee changes): remembered for a
  day of sandbox time. The same token with the same method, path and body
  answers the first answer again without applying anything; with anything else,
  ``IdempotentParameterMismatch``; while the first is still being applied
  (``apply_delay`` > 0), ``idempotencyProcessing``.
* Free/busy: accepted or organised events are ``BUSY``; tentative and
  needs-action ones ``TENTATIVE``; declined and cancelled ones are left out.
  An unknown user gets ``error: "用户不存在"`` and no items.

The package, by concern: :mod:`._common` (limits, the error answer, small
readers), :mod:`._validation` (request bodies), :mod:`._recurrence` (series
expansion), :mod:`._state` (:class:`DingTalkV1`: state and behaviours),
:mod:`._notify` (change callbacks), :mod:`._data` (demo data) and
:mod:`._routes` (paths, scopes, dispatch, Starlette routes). This module is
what the sandbox asks of an emulator (see ``wecal/sandbox/_app.py``).
"""

from __future__ import annotations

from ._common import CREDENTIALS as CREDENTIALS
from ._common import DEMO_DATA as DEMO_DATA
from ._common import NAME as NAME
from ._common import PROVIDER as PROVIDER
from ._common import RATE_LIMIT_CODE as RATE_LIMIT_CODE
from ._common import TOKEN_APIS as TOKEN_APIS
from ._common import V1Error as V1Error
from ._notify import seal_notification as seal_notification
from ._recurrence import expand_occurrences as expand_occurrences
from ._routes import api_name as api_name
from ._routes import handle as handle
from ._routes import paths as paths
from ._routes import routes as routes
from ._state import DingTalkV1 as DingTalkV1
from ._state import error_body as error_body
from ._state import fault_answer as fault_answer
from ._state import request_token as request_token
from ._state import source_lines as source_lines
from ._state import v1 as v1

__all__ = [
    "CREDENTIALS",
    "DEMO_DATA",
    "NAME",
    "PROVIDER",
    "RATE_LIMIT_CODE",
    "TOKEN_APIS",
    "DingTalkV1",
    "V1Error",
    "api_name",
    "error_body",
    "expand_occurrences",
    "fault_answer",
    "handle",
    "paths",
    "request_token",
    "routes",
    "seal_notification",
    "source_lines",
    "v1",
]
