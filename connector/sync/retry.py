"""When a failed job runs again: exponential backoff with full jitter, or the CRM's Retry-After.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay is drawn
uniformly between nothing and a ceiling that doubles with each attempt up to a cap, so workers
that failed together do not all come back together.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

BASE_SECONDS = 5.0
CAP_SECONDS = 3600.0
# Full jitter may draw a delay of nothing; a failing remote still gets a moment of rest.
MIN_SECONDS = 1.0
# 5 s doubled 10 times already passes the cap; larger exponents would only overflow.
_MAX_DOUBLINGS = 30


def ceiling_seconds(attempt: int) -> float:
    """The longest delay after attempt `attempt` (1 for the first): 5 s, 10 s, 20 s… up to 1 h."""
    doublings = min(max(attempt, 1) - 1, _MAX_DOUBLINGS)
    return min(CAP_SECONDS, BASE_SECONDS * float(2**doublings))


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Delay before attempt `attempt + 1`; a remote `Retry-After` wins when it is longer."""
    jitter = random.uniform(0.0, ceiling_seconds(attempt))  # noqa: S311 (spreading, not secrecy)
    delay = max(jitter, MIN_SECONDS)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def expired(created_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Whether a job has been failing for longer than the operator lets it retry."""
    return now - created_at >= max_age
