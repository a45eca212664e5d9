"""Shared fixtures: every async test runs on both anyio backends."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Every test of the suite checks its log records for the test secrets.
from tests._mock import no_secret_in_logs as no_secret_in_logs

# CI machines are shared and noisy: no deadline flakes, a fixed budget. The
# examples are the same on every run (derandomized), so the budget buys a fixed
# sample, not more of it each run: 100 a property (a test that needs more, or
# whose examples cost a whole client session, says so with its own settings).
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=100,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci")


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


#: coredis 6.9 leaves the anyio memory streams of a connection that failed to
#: connect unclosed: its leak, not wecal's. A test using ``redis_server`` (which
#: may stop or kill it) collects them at its teardown, and ignores only that
#: warning, so it is never raised in whichever test the collector happens to run.
COREDIS_LEAK = "ignore:Exception ignored in.*MemoryObject:pytest.PytestUnraisableExceptionWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.filterwarnings(COREDIS_LEAK))


# The sandbox fixtures (`sandbox`, `sandbox_url`) and a real redis-server
# (`redis_server`) for every test module.
pytest_plugins = ["tests.sandbox_fixtures", "tests._redis"]
