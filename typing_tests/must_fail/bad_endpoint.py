"""
Must FAIL to type-check: each line marked ``# expect: CODE`` is an error
``mypy --strict`` reports there, with that error code, and no other line is.
The notification endpoint's settings and shared state are typed. Never executed.
"""

from __future__ import annotations

from wecal.notifications import Notification, WeComCallback, asgi_endpoint


async def handle(note: Notification) -> None:
    return None


def endpoints(wecom: WeComCallback) -> None:
    asgi_endpoint(wecom, handle, body_timeout="10")  # expect: arg-type
    asgi_endpoint(wecom, handle, replay_window=600)  # expect: arg-type
    asgi_endpoint(wecom, handle, shared={"seen": set()})  # expect: arg-type
    asgi_endpoint(wecom, print)  # expect: arg-type
