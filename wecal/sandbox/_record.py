"""The request log's entry: what the sandbox received and answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["RecordedRequest"]


@attrs.frozen
class RecordedRequest:
    """
    One request the sandbox received, as tests assert on it.

    ``query`` has ``access_token``, ``corpsecret`` and ``appsecret`` replaced by
    ``"REDACTED"``. ``status`` is None when the connection was dropped;
    ``errcode`` is the provider errcode answered (None for non-JSON answers),
    ``code`` the string code of a DingTalk v1.0 error answer;
    ``fault`` names the injected fault kind, if any. JSON ``appSecret`` values,
    and query or top-level JSON values named by any registered provider's
    secret names, are ``"REDACTED"`` too. ``at`` is when the request arrived
    (``clock()``).
    """

    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    provider: str | None
    api: str | None
    status: int | None
    errcode: int | None
    fault: str | None
    at: float
    code: str | None = None
    #: The app the request is for (corp id / app key): its token's app, or
    #: the credentials of a token request; None when neither says.
    app: str | None = None
