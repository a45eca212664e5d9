"""The retry policy: a pure function, tested without sleeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wecal
from wecal._retry import Decision, RetryConfig, backoff_ceiling, decide


def test_backoff_doubles_up_to_the_cap() -> None:
    config = RetryConfig(backoff_base=0.5, backoff_max=8.0)
    # By hand: 0.5 * 2**(n-1), capped at 8.
    assert [backoff_ceiling(config, n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    base=st.floats(min_value=0.01, max_value=5.0),
    cap=st.floats(min_value=0.01, max_value=100.0),
)
def test_full_jitter_stays_within_zero_and_the_ceiling(
    attempt: int, jitter: float, base: float, cap: float
) -> None:
    config = RetryConfig(
        max_attempts=attempt + 1, backoff_base=base, backoff_max=cap, deadline=None
    )
    verdict = decide(config, attempt=attempt, elapsed=0.0, retryable=True, jitter=jitter)
    assert verdict.retry
    assert 0.0 <= verdict.delay <= min(cap, base * 2.0 ** min(attempt - 1, 60))
    assert verdict.delay == pytest.approx(jitter * min(cap, base * 2.0 ** min(attempt - 1, 60)))


def test_not_retryable_and_attempts_exhausted() -> None:
    config = RetryConfig(max_attempts=3)
    assert decide(config, attempt=1, elapsed=0, retryable=False) == Decision(
        False, reason="not retryable"
    )
    assert decide(config, attempt=2, elapsed=0, retryable=True, jitter=0).retry
    assert decide(config, attempt=3, elapsed=0, retryable=True).reason == "attempts exhausted"


def test_hint_replaces_backoff_and_respects_deadline() -> None:
    config = RetryConfig(deadline=90.0)
    assert decide(config, attempt=1, elapsed=10, retryable=True, hint=60.0) == Decision(True, 60.0)
    late = decide(config, attempt=1, elapsed=31, retryable=True, hint=60.0)
    assert (late.retry, late.reason, late.delay) == (False, "deadline", 60.0)


@given(
    elapsed=st.floats(min_value=0, max_value=200),
    jitter=st.floats(min_value=0, max_value=1),
    attempt=st.integers(min_value=1, max_value=20),
)
def test_a_retry_never_ends_past_the_deadline(elapsed: float, jitter: float, attempt: int) -> None:
    config = RetryConfig(max_attempts=50, deadline=60.0)
    verdict = decide(config, attempt=attempt, elapsed=elapsed, retryable=True, jitter=jitter)
    if verdict.retry:
        assert elapsed + verdict.delay <= 60.0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"max_attempts": 1.5}, {"backoff_base": 0}, {"deadline": -1}],
)
def test_bad_config_is_validation_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(wecal.ValidationError):
        RetryConfig(**kwargs)  # type: ignore[arg-type]
