"""
Provider change notifications: WeCom callbacks and DingTalk HTTP event
subscriptions, verified, decrypted and parsed into one :class:`Notification`.

Install with the ``notify`` extra (``pip install 'wecal[notify]'``: the AES
comes from ``cryptography``)::

    from wecal.notifications import WeComCallback, DingTalkCallback, Notification

    wecom_cb = WeComCallback(token, encoding_aes_key, corp_id)
    echo = wecom_cb.verify_url(msg_signature, timestamp, nonce, echostr)
    note = wecom_cb.parse(msg_signature, timestamp, nonce, body)

    ding_cb = DingTalkCallback(token, aes_key, app_key)
    note = ding_cb.parse(signature, timestamp, nonce, body)  # None for check_url
    reply = ding_cb.reply()

:func:`asgi_endpoint` wraps either in an ASGI app that any async framework can
mount. A notification says *what* changed; ``client.sync_events(...)`` fetches
the change.
"""

from typing import TYPE_CHECKING, Any

from .._callbacks._model import CallbackAnswer as CallbackAnswer
from .._callbacks._model import CallbackDelivery as CallbackDelivery
from .._callbacks._model import Notification as Notification
from .._callbacks._model import NotificationKind as NotificationKind
from .._callbacks._model import ProviderCallback as ProviderCallback
from ..providers._registry import PROVIDERS as _PROVIDERS
from ._asgi import CallbackEndpoint as CallbackEndpoint
from ._asgi import asgi_endpoint as asgi_endpoint

if TYPE_CHECKING:
    from ..providers.dingtalk._callback import DingTalkCallback as DingTalkCallback
    from ..providers.feishu._callback import FeishuCallback as FeishuCallback
    from ..providers.wecom._callback import WeComCallback as WeComCallback

__all__ = [
    "CallbackAnswer",
    "CallbackDelivery",
    "CallbackEndpoint",
    "DingTalkCallback",
    "FeishuCallback",
    "Notification",
    "NotificationKind",
    "ProviderCallback",
    "WeComCallback",
    "asgi_endpoint",
]

# The callback classes live in their provider folders (built from
# wecal._callbacks, below this package) and need the notify extra
# (cryptography); they are re-exported on first access, from the registry, so
# that Notification and asgi_endpoint import without the extra.
_CALLBACKS = {"DingTalkCallback", "FeishuCallback", "WeComCallback"}


def __getattr__(name: str) -> Any:
    if name in _CALLBACKS:
        for entry in _PROVIDERS.values():
            if entry.callback.endswith(f":{name}"):
                found = entry.load_callback()
                globals()[name] = found
                return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
