"""When a failed job runs again: exponential backoff with full jitter, or the CRM's Retry-After."""

from __future__ import annotations

from datetime import datetime, timedelta

from tenacity import RetryCallState, wait_random_exponential

BASE_SECONDS = 5.0
CAP_SECONDS = 3600.0
# Full jitter may draw a delay of nothing; a failing remote still gets a moment of rest.
MIN_SECONDS = 1.0

_wait = wait_random_exponential(multiplier=BASE_SECONDS, max=CAP_SECONDS)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Delay before attempt `attempt + 1`; a remote `Retry-After` wins when it is longer."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(attempt, 1)
    delay = max(float(_wait(state)), MIN_SECONDS)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def expired(created_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Whether a job has been failing for longer than the operator lets it retry."""
    return now - created_at >= max_age
