"""
Error-code tables: what each provider code means to wecal.

Each provider folder keeps its API's table (``wecom/_errors.py``,
``dingtalk_legacy/_errors.py``, ``dingtalk/_errors.py``), mapping every code the
reference docs list to a :class:`CodeRule`: the error class to raise, whether the failure is worth a
retry, whether it means "this access token is dead" (drop it, fetch a new one,
replay once), and a block hint (WeCom 45009 blocks every call for 60 s).

The HTTP core reads these rules; nothing here sends, sleeps or decides
*when* to retry — that is :mod:`wecal._retry`. :class:`CodeRule` and the
shared rules are the core's (:mod:`wecal._dialect`), re-exported here for
the provider folders.
"""

from __future__ import annotations

from .._dialect import BUSY as BUSY
from .._dialect import TOKEN_INVALID as TOKEN_INVALID
from .._dialect import CodeRule as CodeRule
from .._dialect import code_table as code_table
from .._dialect import rule_for_status as rule_for_status

__all__ = ["BUSY", "TOKEN_INVALID", "CodeRule", "code_table", "rule_for_status"]
