"""DingTalk's v1.0 calendar API (``api.dingtalk.com/v1.0/calendar``, unionIds)."""

from ._client import DingTalkClient as DingTalkClient
from ._convert import BusySlot as BusySlot

__all__ = ["BusySlot", "DingTalkClient"]
