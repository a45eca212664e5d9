"""WeCom (企业微信): calendars and schedules (``cgi-bin/oa/*``)."""

from ..._redact import register_secret_names
from ._client import WeComClient as WeComClient

__all__ = ["SECRET_NAMES", "WeComClient"]

#: Query parameters, headers and JSON keys whose values are secrets in this
#: API's requests and answers: masked in every message, log line and repr.
SECRET_NAMES = ("corpsecret", "corp_secret", "access_token", "suite_secret")
register_secret_names(SECRET_NAMES)
