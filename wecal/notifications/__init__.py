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

from ._asgi import CallbackEndpoint as CallbackEndpoint
from ._asgi import asgi_endpoint as asgi_endpoint
from ._dingtalk import DingTalkCallback as DingTalkCallback
from ._model import Notification as Notification
from ._model import NotificationKind as NotificationKind
from ._wecom import WeComCallback as WeComCallback

__all__ = [
    "CallbackEndpoint",
    "DingTalkCallback",
    "Notification",
    "NotificationKind",
    "WeComCallback",
    "asgi_endpoint",
]
