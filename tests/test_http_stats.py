"""CallStats: the send loop counts requests, retries, rate limits and token refreshes."""

from __future__ import annotations

import pytest

from wecal._http import CallStats
from wecal.providers.wecom._errors import WECOM

from ._mock import FakeProvider, make_core, ok, wecom_error

pytestmark = pytest.mark.anyio

PATH = "/cgi-bin/oa/schedule/get"


async def test_counts_retries_rate_limits_and_refreshes() -> None:
    fake = FakeProvider(WECOM)
    fake.script(PATH, wecom_error(-1), wecom_error(45033), ok({"errcode": 0}))
    core = make_core(fake)
    await core.call("schedule/get", "POST", PATH, json={})
    # 1 token fetch + 3 business requests; -1 and 45033 each retried once.
    assert core.stats == CallStats(requests=4, retries=2, rate_limited=1, token_refreshes=0)

    fake.revoke_all()
    await core.call("schedule/get", "POST", PATH, json={})
    # The revoked token: 1 refused request, 1 token fetch, 1 replay.
    assert core.stats == CallStats(requests=7, retries=2, rate_limited=1, token_refreshes=1)
    await core.aclose()


def test_stats_add_up() -> None:
    total = CallStats(1, 2, 3, 4) + CallStats(10, 20, 30, 40)
    assert total == CallStats(11, 22, 33, 44)
