"""
Feishu / Lark wire dialect: the tenant token request and where the token goes.

::

    POST /open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret}
         → {code, msg, tenant_access_token, expire}   (flat; expire = seconds *left*)
    every call: Authorization: Bearer <tenant_access_token>

Errors are read by :func:`._errors.classify` (``{code, msg}`` in HTTP 200 and
in 4xx, the code deciding). The documented limit is 1000 calls a minute and
50 a second per app, tenant and API (``reference/feishu.md`` §8): the two
default bands. The free edition's 10,000 calls a month across a tenant's
apps is the caller's to set: ``RateLimitConfig(monthly_quota=10_000,
quota_scope=<tenant>)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ...errors import ResponseFormatError
from .._dialects import Dialect, Failure
from ._errors import FEISHU_ERRORS, RATE_LIMIT_RESET_HEADER, classify

__all__ = ["FEISHU", "FEISHU_BASE_URL", "LARK", "LARK_BASE_URL", "SECRET_NAMES", "FeishuDialect"]

FEISHU_BASE_URL = "https://open.feishu.cn"
LARK_BASE_URL = "https://open.larksuite.com"
#: Query parameters, headers and JSON keys whose values are secrets.
SECRET_NAMES = (
    "app_secret",
    "tenant_access_token",
    "user_access_token",
    "refresh_token",
    "access_token",
)


@attrs.frozen
class FeishuDialect(Dialect):
    """:class:`Dialect` with Feishu's error reading (``{code, msg}``, the code deciding)."""

    def classify(
        self, status: int, body: Mapping[str, Any] | None, api: str | None = None
    ) -> Failure | None:
        if body is not None and 200 <= status < 300 and "code" not in body:
            # Every Feishu answer is a {code, msg, data} envelope: a success
            # status without one is not Feishu's answer (nor an empty page).
            raise ResponseFormatError("a success answer without its code", path="$.code")
        return classify(status, body)

    @property
    def empty_success(self) -> bool:
        """No: Feishu answers every call, deletes included, with a ``{code, msg}`` envelope."""
        return False


def _dialect(name: str, base_url: str) -> FeishuDialect:
    return FeishuDialect(
        name=name,
        provider="feishu",
        default_base_url=base_url,
        default_rate=50.0,
        default_per_minute=1000,
        style="status",
        token_method="POST",
        token_path="/open-apis/auth/v3/tenant_access_token/internal",
        id_name="app_id",
        secret_name="app_secret",
        token_field="tenant_access_token",
        expires_field="expire",
        int_codes=FEISHU_ERRORS,
        retry_after_headers=(RATE_LIMIT_RESET_HEADER, "retry-after"),
        token_scheme="Bearer",
    )


FEISHU = _dialect("feishu", FEISHU_BASE_URL)
LARK = _dialect("lark", LARK_BASE_URL)
