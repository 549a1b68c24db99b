"""A thread-safe per-minute request budget, so a sender stays under its provider's rate limit.

Why here and not only in the worker's retry schedule: Aircall allows about 120 requests a minute
and CloudTalk 60, *per company*, shared with every other integration on the account. Answering
429s with backoff would still spend part of that shared budget on refused requests, so each
sender paces itself before a request leaves.

The algorithm is GCRA (a token bucket kept as one "theoretical arrival time"): each `acquire`
reserves the next free slot under a lock and then sleeps *outside* the lock until its slot, so
many worker threads sharing one sender wait concurrently, in the order they asked, and the lock
is never held across a sleep. With the default `burst=1` requests are evenly spaced
`60 / per_minute` seconds apart, which never exceeds the provider's per-minute count however the
provider aligns its minute window.

`max_wait` exists for at-most-once sending: a job holds a lease, and a thread that waited past
its lease could send a message another worker has meanwhile claimed again. A caller that cannot
wait long gets `BudgetExhausted` (with the wait it would have needed) instead, and nothing is
reserved, so the job can be rescheduled without a request ever leaving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["BudgetExhausted", "RateLimiter"]


class BudgetExhausted(Exception):
    """The next free slot is further away than the caller agreed to wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"rate limit budget exhausted; next slot in {wait_seconds:.2f}s")
        self.wait_seconds = wait_seconds


class RateLimiter:
    """At most `per_minute` acquisitions a minute, at most `burst` of them back to back.

    `clock` must be monotonic (seconds); `clock` and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute
        self._tolerance = (burst - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free: float | None = None  # the theoretical arrival time of GCRA

    def acquire(self, max_wait: float | None = None) -> float:
        """Wait for a slot and take it; returns the seconds waited.

        Raises `BudgetExhausted` without taking a slot when the wait would exceed `max_wait`.
        """
        with self._lock:
            now = self._clock()
            next_free = now if self._next_free is None else max(self._next_free, now)
            wait = max(0.0, next_free - self._tolerance - now)
            if max_wait is not None and wait > max_wait:
                raise BudgetExhausted(wait)
            self._next_free = next_free + self.interval
        if wait > 0:
            self._sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        """Take no slot for `seconds` from now: the provider said its budget is spent (a 429).

        Every thread sharing this limiter then waits, not only the one that was refused.
        """
        if seconds <= 0:
            return
        with self._lock:
            # The slot after the pause must be free at once, hence the tolerance is added back.
            resume = self._clock() + seconds + self._tolerance
            if self._next_free is None or self._next_free < resume:
                self._next_free = resume
