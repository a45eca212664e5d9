"""
Type-checked, never executed: the notification endpoint's settings and the
shared state it takes type-check under mypy strict, with either callback.

Run ``mypy --strict typing_tests/`` — a wrong setting type here is a type error.
"""

from __future__ import annotations

from datetime import timedelta
from typing import assert_type

import wecal
from wecal.notifications import (
    CallbackEndpoint,
    DingTalkCallback,
    Notification,
    WeComCallback,
    asgi_endpoint,
)
from wecal.redis import RedisBackend


async def handle(note: Notification) -> None:
    assert_type(note.event_id, str | None)


def endpoints(wecom: WeComCallback, ding: DingTalkCallback, backend: RedisBackend) -> None:
    plain = asgi_endpoint(wecom, handle)
    assert_type(plain, CallbackEndpoint)
    asgi_endpoint(
        ding,
        handle,
        max_body=32 * 1024,
        body_timeout=5.0,
        handler_timeout=2,
        replay_window=timedelta(minutes=15),
        shared=backend,
    )
    asgi_endpoint(wecom, handle, shared=wecal.MemoryState())
