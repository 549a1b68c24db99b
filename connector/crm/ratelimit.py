"""A client-side rolling-window rate limiter, so a CRM's limit is approached but never exceeded.

CRMs count requests in a rolling window (HubSpot: 100-190 per 10 s per app) and answer 429 past
it. Waiting here costs nothing; a 429 costs a request and, for a batch of 100 records, a retry of
all of them. One limiter is shared by every thread of an adapter.

Each call holds its slot from the moment it starts until `window` seconds after it *ended*. The
server counts a request somewhere between those two instants, so counting from the end can only
over-estimate what the server has seen: latency and jitter never turn into a 429, at the price of
about `latency / window` of the allowance (1 % for 100 ms in 10 s).

What the server says wins over what we counted: `observe` takes its remaining allowance from the
response headers (other processes sharing the token spend it too), and `pause_for` holds every
caller back after a 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# How often a caller looks again while every slot is held by a call still in flight.
_IN_FLIGHT_POLL_SECONDS = 0.01


class RateLimiter:
    """At most `limit` calls in any rolling `window` seconds, across threads.

    `clock` and `sleep` are injectable so tests can run windows without waiting for them.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        name: str = "",
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one call per positive window")
        self.name = name
        self.configured_limit = limit
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._ended: deque[float] = deque()  # when each counted call ended (or was assumed to)
        self._in_flight = 0
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    # ---- taking and giving back slots ------------------------------------------------------

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of a call: `with limiter.slot(): call()`."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> float:
        """Block until a call may start; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_locked(now)
                if wait <= 0:
                    self._in_flight += 1
                    self.waited_seconds += waited
                    return waited
            self._sleep(wait)
            waited += wait

    def release(self) -> None:
        """The call ended: its slot counts for one more window from now."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._ended.append(self._clock())

    # ---- what the server says --------------------------------------------------------------

    def observe(
        self, *, remaining: int | None, limit: int | None = None, window: float | None = None
    ) -> None:
        """Align with the allowance the server reports (call it while still holding the slot).

        A smaller server limit or another window length is adopted (never above the configured
        limit); when the server has counted more calls than we did, the difference is counted
        as spent now, so the callers slow down before the server has to say 429.
        """
        with self._lock:
            if window is not None and window > 0:
                self.window = window
            if limit is not None and limit > 0:
                self.limit = min(self.configured_limit, limit)
            if remaining is None:
                return
            now = self._clock()
            self._purge(now)
            server_used = max(0, self.limit - max(0, remaining))
            ours = len(self._ended) + self._in_flight
            for _ in range(server_used - ours):
                self._ended.append(now)

    def pause_for(self, seconds: float) -> None:
        """Nobody starts a call for `seconds` (a 429's `Retry-After`)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def pause_for_rest_of_window(self) -> float:
        """After a 429 without `Retry-After`: wait until the oldest counted call leaves the
        window (the whole window when we have counted none); returns the pause in seconds."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            rest = self._ended[0] + self.window - now if self._ended else self.window
            rest = max(rest, 0.0)
            # The server said the window is full: count it as full until then.
            for _ in range(self.limit - len(self._ended) - self._in_flight):
                self._ended.append(now - self.window + rest)
            self._paused_until = max(self._paused_until, now + rest)
            return rest

    # ---- inspection ------------------------------------------------------------------------

    def remaining(self) -> int:
        """Calls that may start now without waiting."""
        with self._lock:
            self._purge(self._clock())
            return max(0, self.limit - len(self._ended) - self._in_flight)

    # ---- internals -------------------------------------------------------------------------

    def _purge(self, now: float) -> None:
        while self._ended and self._ended[0] <= now - self.window:
            self._ended.popleft()

    def _wait_locked(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        self._purge(now)
        if len(self._ended) + self._in_flight < self.limit:
            return 0.0
        if self._ended:
            # Calls in flight never free a slot early (they count for a window once ended):
            # the next slot is the oldest ended call leaving the window.
            return max(self._ended[0] + self.window - now, 1e-6)
        return _IN_FLIGHT_POLL_SECONDS  # every slot is held by a call still in flight
