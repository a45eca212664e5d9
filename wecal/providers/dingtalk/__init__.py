"""DingTalk's v1.0 calendar API (``api.dingtalk.com/v1.0/calendar``, unionIds)."""

from ..._redact import register_secret_names
from ._client import DingTalkClient as DingTalkClient
from ._convert import BusySlot as BusySlot

__all__ = ["SECRET_NAMES", "BusySlot", "DingTalkClient"]

#: Query parameters, headers and JSON keys whose values are secrets in this
#: API's requests and answers: masked in every message, log line and repr.
SECRET_NAMES = ("appSecret", "accessToken", "x-acs-dingtalk-access-token")
register_secret_names(SECRET_NAMES)
