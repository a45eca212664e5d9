"""Feishu (飞书) / Lark calendar v4 (``open.feishu.cn`` / ``open.larksuite.com``)."""

from ..._redact import register_secret_names
from ._auth import FeishuUserAuth as FeishuUserAuth
from ._client import FeishuClient as FeishuClient
from ._dialect import SECRET_NAMES as SECRET_NAMES

__all__ = ["SECRET_NAMES", "FeishuClient", "FeishuUserAuth"]

register_secret_names(SECRET_NAMES)
