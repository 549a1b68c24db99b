"""A per-minute send rate, shared by every worker process, so a sender stays under its provider's
rate limit.

Why here and not only in the worker's retry schedule: Aircall allows about 120 requests a minute
and CloudTalk 60, *per company*, shared with every other integration on the account. Answering
429s with backoff would still spend part of that shared budget on refused requests, so each
sender paces itself before a request leaves. The budget is the account's, not the process's, so
its state lives in a `BucketStore` every process reaches (`connector.store.budgets`: the
database or Redis); without one it is this process's alone (tests, one-shot tools).

The algorithm is GCRA (a token bucket kept as one "theoretical arrival time"): each `acquire`
reserves the next free slot in one atomic step of the store and then sleeps *outside* it until
its slot, so many threads and processes sharing one rate wait concurrently, in the order they
asked, and nothing is locked across a sleep. With the default `burst=1` requests are evenly
spaced `60 / per_minute` seconds apart, which never exceeds the provider's per-minute count
however the provider aligns its minute window.

`max_wait` exists for at-most-once sending: a job holds a lease, and a thread that waited past
its lease could send a message another worker has meanwhile claimed again. A caller that cannot
wait long gets `BudgetExhausted` (with the wait it would have needed) instead, and nothing is
reserved, so the job can be rescheduled without a request ever leaving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from connector.store.budgets import BucketStore, BudgetExhausted, MemoryBuckets, State

__all__ = ["BudgetExhausted", "SendRate"]

# After an answer saying the budget is spent without saying until when: the budget is per minute.
SPENT_PAUSE_SECONDS = 60.0


class SendRate:
    """At most `per_minute` requests a minute, at most `burst` of them back to back.

    `clock` (monotonic seconds) and `sleep` are injectable for tests; `clock` is the in-memory
    store's, a shared store has its own. `remaining_headers` name the provider's "requests left"
    headers and `reset` reads how long until the budget is back from an answer's headers: an
    answer that says none is left pauses every process until then.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        store: BucketStore | None = None,
        key: str = "send-rate",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        remaining_headers: tuple[str, ...] = (),
        reset: Callable[[Mapping[str, str]], float | None] | None = None,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute
        self.burst = burst
        self._tolerance = (burst - 1) * self.interval
        self.store: BucketStore = store if store is not None else MemoryBuckets(clock)
        self.key = key
        self._sleep = sleep
        self._remaining_headers = tuple(name.lower() for name in remaining_headers)
        self._reset = reset

    def acquire(self, n: int = 1, max_wait: float | None = None) -> float:
        """Wait for `n` back-to-back slots and take them; returns the seconds waited.

        Raises `BudgetExhausted` without taking a slot when the wait would exceed `max_wait`.
        """
        if n < 1:
            raise ValueError("acquire at least one slot")

        def step(state: State | None, now: float) -> tuple[State | None, tuple[bool, float]]:
            tat = self._tat(state)
            next_free = now if tat is None else max(tat, now)
            wait = max(0.0, next_free + (n - 1) * self.interval - self._tolerance - now)
            if max_wait is not None and wait > max_wait:
                return state, (False, wait)
            return self._state(next_free + n * self.interval), (True, wait)

        taken, wait = self.store.update(self.key, step)
        if not taken:
            raise BudgetExhausted(wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause_for(self, seconds: float) -> None:
        """Take no slot for `seconds` from now, in any process: the provider said its budget is
        spent (a 429). Never shortens a pause already in place."""
        if seconds <= 0:
            return

        def step(state: State | None, now: float) -> tuple[State | None, None]:
            # The slot after the pause must be free at once, hence the tolerance is added back.
            resume = now + seconds + self._tolerance
            tat = self._tat(state)
            if tat is not None and tat >= resume:
                return state, None
            return self._state(resume), None

        self.store.update(self.key, step)

    defer = pause_for

    def observe(self, headers: Mapping[str, str]) -> None:
        """An answer that says no request is left pauses every sender until the reset."""
        lowered = {k.lower(): v for k, v in headers.items()}
        for name in self._remaining_headers:
            value = lowered.get(name)
            if value is None:
                continue
            try:
                left = int(value)
            except ValueError:
                continue
            if left <= 0:
                seconds = self._reset(headers) if self._reset else None
                self.pause_for(seconds if seconds is not None else SPENT_PAUSE_SECONDS)
            return

    def _tat(self, state: State | None) -> float | None:
        """The theoretical arrival time, unless the state is of another rate (reconfigured)."""
        if state is None or state.get("interval") != self.interval:
            return None
        return float(state["tat"])

    def _state(self, tat: float) -> State:
        return {"tat": tat, "interval": self.interval}
