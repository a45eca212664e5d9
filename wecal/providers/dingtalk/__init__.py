"""DingTalk's v1.0 calendar API (``api.dingtalk.com/v1.0/calendar``, unionIds)."""
