"""WeCom (企业微信): calendars and schedules (``cgi-bin/oa/*``)."""

from ._client import WeComClient as WeComClient

__all__ = ["WeComClient"]
