"""
Retry policy: a small pure function, so it is tested without sleeping.

The HTTP core asks :func:`decide` after every failed attempt and sleeps for
the delay it returns (or gives up). Backoff is exponential with *full
jitter* — a uniform draw in ``[0, min(cap, base * 2**(attempt-1))]`` — so a
burst of clients that failed together do not retry together. A block hint
from the provider (WeCom 45009: 60 s) replaces the backoff.

What counts as *ambiguous* (the request may have been acted on although no
good answer came back) is decided by the core; see ``wecal._http``.
"""

from __future__ import annotations

import attrs

from .errors import ValidationError, _describe

__all__ = ["RETRY_AFTER_TOO_LONG", "Decision", "RetryConfig", "backoff_ceiling", "decide"]

#: The reason of a :class:`Decision` to stop because the server asked for a
#: wait longer than ``RetryConfig.max_retry_after``.
RETRY_AFTER_TOO_LONG = "retry-after over max_retry_after"


def _positive(instance: object, attribute: attrs.Attribute[float], value: float | None) -> None:
    if value is None:
        return
    # A number first: comparing a string with 0 would raise a bare TypeError.
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(
            f"RetryConfig.{attribute.name}: must be a number > 0, got {_describe(value)}"
        )


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"RetryConfig.{attribute.name}: must be an int ≥ 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryConfig:
    """
    How hard a client tries before it gives up on one call.

    ``max_attempts`` counts every send (1 = never retry); ``deadline`` bounds
    the whole call, waits included (None = no bound). A block hint longer
    than what is left of the deadline ends the call with
    :class:`~wecal.RateLimitError` and its ``retry_after``::

        WeComClient(corp_id, secret, retry=RetryConfig(max_attempts=6, deadline=120))

    ``max_retry_after`` caps a wait the server asks for (``Retry-After``, a
    provider's block time), default 5 minutes, whatever the deadline (also
    with ``deadline=None``): a longer one is not slept but raised at once as
    :class:`~wecal.RateLimitError` with that ``retry_after``, for the caller
    to schedule. None lifts the cap.
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    backoff_base: float = attrs.field(default=0.5, validator=_positive)
    backoff_max: float = attrs.field(default=8.0, validator=_positive)
    #: Seconds for the whole call. 90 s lets a call sit out one 60 s WeCom block.
    deadline: float | None = attrs.field(default=90.0, validator=_positive)
    #: The longest wait a server may ask for that is slept (seconds; None: no cap).
    max_retry_after: float | None = attrs.field(default=300.0, validator=_positive)


@attrs.frozen
class Decision:
    """The verdict on a failed attempt: retry after ``delay`` s, or stop (``reason``)."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


def backoff_ceiling(config: RetryConfig, attempt: int) -> float:
    """
    The upper bound of the jittered wait after failed attempt ``attempt`` (1-based).

    >>> backoff_ceiling(RetryConfig(backoff_base=0.5, backoff_max=8), 3)
    2.0
    """
    # Cap the exponent so a huge attempt count cannot overflow a float.
    return float(min(config.backoff_max, config.backoff_base * 2 ** min(attempt - 1, 60)))


def decide(
    config: RetryConfig,
    *,
    attempt: int,
    elapsed: float,
    retryable: bool,
    hint: float | None = None,
    jitter: float = 1.0,
) -> Decision:
    """
    Whether to retry after failed attempt ``attempt`` (1-based), and when.

    ``elapsed`` is the time already spent on the call; ``hint`` a wait the
    provider asked for; ``jitter`` a uniform draw in ``[0, 1]`` (injected, so
    this stays a pure function).

    >>> decide(RetryConfig(), attempt=1, elapsed=0.0, retryable=True, jitter=0.5)
    Decision(retry=True, delay=0.25, reason='')
    >>> decide(RetryConfig(), attempt=1, elapsed=0.0, retryable=False).reason
    'not retryable'
    """
    if not retryable:
        return Decision(False, reason="not retryable")
    if attempt >= config.max_attempts:
        return Decision(False, reason="attempts exhausted")
    if hint is not None:
        if config.max_retry_after is not None and hint > config.max_retry_after:
            return Decision(False, delay=hint, reason=RETRY_AFTER_TOO_LONG)
        delay = hint
    else:
        delay = min(max(jitter, 0.0), 1.0) * backoff_ceiling(config, attempt)
    if config.deadline is not None and elapsed + delay > config.deadline:
        return Decision(False, delay=delay, reason="deadline")
    return Decision(True, delay=delay)
