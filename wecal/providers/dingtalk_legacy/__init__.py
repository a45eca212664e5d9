"""DingTalk's legacy ``topapi/calendar/list`` (staff userids, read only)."""

from ._client import DingTalkLegacyClient as DingTalkLegacyClient

__all__ = ["DingTalkLegacyClient"]
