"""
Type-checked, never executed: every provider's emulator module, callback class
and client satisfy the public contracts (``wecal.sandbox.Emulator``,
``wecal.notifications.ProviderCallback``, ``wecal.CalendarProvider``).

Run ``mypy --strict typing_tests/`` — an emulator, callback or client that
drifts from its contract is a type error here.
"""

from __future__ import annotations

import wecal
from wecal.notifications import (
    DingTalkCallback,
    FeishuCallback,
    ProviderCallback,
    WeComCallback,
)
from wecal.providers.dingtalk import _emulator as dingtalk_emulator
from wecal.providers.dingtalk_legacy import _emulator as dingtalk_legacy_emulator
from wecal.providers.feishu import _emulator as feishu_emulator
from wecal.providers.wecom import _emulator as wecom_emulator
from wecal.sandbox import Emulator

WECOM: Emulator = wecom_emulator
DINGTALK_LEGACY: Emulator = dingtalk_legacy_emulator
DINGTALK: Emulator = dingtalk_emulator
FEISHU: Emulator = feishu_emulator


def callbacks(
    wecom: WeComCallback, dingtalk: DingTalkCallback, feishu: FeishuCallback
) -> tuple[ProviderCallback, ...]:
    return (wecom, dingtalk, feishu)


def clients(
    wecom: wecal.WeComClient,
    dingtalk: wecal.DingTalkClient,
    legacy: wecal.DingTalkLegacyClient,
    feishu: wecal.FeishuClient,
) -> tuple[wecal.CalendarProvider, ...]:
    return (wecom, dingtalk, legacy, feishu)
