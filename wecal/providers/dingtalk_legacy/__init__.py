"""DingTalk's legacy ``topapi/calendar/list`` (staff userids, read only)."""

from ..._redact import register_secret_names
from ._client import DingTalkLegacyClient as DingTalkLegacyClient

__all__ = ["SECRET_NAMES", "DingTalkLegacyClient"]

#: Query parameters, headers and JSON keys whose values are secrets in this
#: API's requests and answers: masked in every message, log line and repr.
SECRET_NAMES = ("appsecret", "app_secret", "access_token")
register_secret_names(SECRET_NAMES)
