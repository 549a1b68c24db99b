"""A rolling-window rate budget, so a CRM's limit is approached but never exceeded.

CRMs count requests in a rolling window (HubSpot: 100-190 per 10 s per app) and answer 429 past
it. Waiting here costs nothing; a 429 costs a request and, for a batch of 100 records, a retry of
all of them. The window is counted per app, not per process, so its state lives in a
`BucketStore` every worker process shares (`connector.store.budgets`); an in-memory store serves
a single process and the tests.

Each call holds its slot from the moment it starts until `window` seconds after it *ended*. The
server counts a request somewhere between those two instants, so counting from the end can only
over-estimate what the server has seen: latency and jitter never turn into a 429, at the price of
about `latency / window` of the allowance (1 % for 100 ms in 10 s). A slot still in flight is
kept for at most `max_call_seconds` (plus the window), so a process that died mid-call does not
hold it for ever.

What the server says wins over what we counted: `observe` takes its remaining allowance from the
response headers (another client with the same token spends it too), and `pause_for` holds every
caller in every process back after a 429.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from connector.store.budgets import BucketStore, BudgetExhausted, MemoryBuckets, State

__all__ = ["BudgetExhausted", "Clock", "RollingWindowBudget", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# How often a caller looks again while every slot is held by a call still in flight.
IN_FLIGHT_POLL_SECONDS = 0.05
# A call in flight longer than this (connect + read timeouts, with margin) is taken for dead.
MAX_CALL_SECONDS = 120.0

_REMAINING = "x-hubspot-ratelimit-remaining"
_MAX = "x-hubspot-ratelimit-max"
_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"


class RollingWindowBudget:
    """At most `limit` calls in any rolling `window` seconds, across threads and processes.

    The state (`limit` and `window` as the server last said, a pause, and one `[until, token]`
    per counted call, token "" once the call ended) is kept under `key` in `store`. Without a
    store the budget is this process's alone, on `clock`; `sleep` is injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        store: BucketStore | None = None,
        key: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        name: str = "",
        max_call_seconds: float = MAX_CALL_SECONDS,
        poll_seconds: float = IN_FLIGHT_POLL_SECONDS,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one call per positive window")
        self.name = name
        self.key = key or name or "rolling-window"
        self.configured_limit = limit
        self.configured_window = window
        self.store: BucketStore = store if store is not None else MemoryBuckets(clock)
        self._sleep = sleep
        self.max_call_seconds = max_call_seconds
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._line = threading.Lock()  # this process's callers waiting for a slot, in turn
        self._mine: list[str] = []  # tokens of this instance's calls in flight
        self.waited_seconds = 0.0

    # ---- taking and giving back slots ------------------------------------------------------

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of a call: `with budget.slot(): call()`."""
        token, _ = self._take(1, None)
        try:
            yield
        finally:
            self._end(token)

    def acquire(self, n: int = 1, max_wait: float | None = None) -> float:
        """Block until `n` calls may start; the seconds spent waiting. Give each back with
        `release()` when its call ended. `BudgetExhausted` (nothing taken) past `max_wait`."""
        token, waited = self._take(n, max_wait)
        with self._lock:
            self._mine.append(token)
        return waited

    def release(self) -> None:
        """A call taken with `acquire` ended: its slots count for one more window from now."""
        with self._lock:
            token = self._mine.pop(0) if self._mine else None
        if token is not None:
            self._end(token)

    # ---- what the server says --------------------------------------------------------------

    def observe(self, headers: Mapping[str, str]) -> None:
        """Align with the allowance HubSpot's `X-HubSpot-RateLimit-*` headers report (call it
        while still holding the slot; header names in any case).

        A smaller server limit or another window length is adopted (never above the configured
        limit); when the server has counted more calls than we did, the difference is counted
        as spent now, so every caller slows down before the server has to say 429.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        remaining = _int_or_none(lowered.get(_REMAINING))
        limit = _int_or_none(lowered.get(_MAX))
        interval_ms = _int_or_none(lowered.get(_INTERVAL_MS))
        if remaining is None and limit is None and not interval_ms:
            return
        window = interval_ms / 1000 if interval_ms else None

        def step(state: State | None, now: float) -> tuple[State, None]:
            st = self._fresh(state, now)
            if window is not None and window > 0:
                st["window"] = window
            if limit is not None and limit > 0:
                st["limit"] = min(self.configured_limit, limit)
            if remaining is not None:
                server_used = max(0, st["limit"] - max(0, remaining))
                missing = server_used - len(st["slots"])
                st["slots"] += [[now + st["window"], ""] for _ in range(missing)]
            return st, None

        self.store.update(self.key, step)

    def pause_for(self, seconds: float) -> None:
        """Nobody starts a call for `seconds` (a 429's `Retry-After`)."""

        def step(state: State | None, now: float) -> tuple[State, None]:
            st = self._fresh(state, now)
            st["paused_until"] = max(st["paused_until"], now + max(0.0, seconds))
            return st, None

        self.store.update(self.key, step)

    def pause_for_rest_of_window(self) -> float:
        """After a 429 without `Retry-After`: wait until the oldest counted call leaves the
        window (the whole window when we have counted none); returns the pause in seconds."""

        def step(state: State | None, now: float) -> tuple[State, float]:
            st = self._fresh(state, now)
            ended = [until for until, token in st["slots"] if not token]
            rest = max(min(ended) - now if ended else st["window"], 0.0)
            # The server said the window is full: count it as full until then.
            missing = st["limit"] - len(st["slots"])
            st["slots"] += [[now + rest, ""] for _ in range(missing)]
            st["paused_until"] = max(st["paused_until"], now + rest)
            return st, rest

        return self.store.update(self.key, step)

    # ---- inspection ------------------------------------------------------------------------

    def remaining(self) -> int:
        """Calls that may start now without waiting (every process counted)."""
        state, now = self.store.read(self.key)
        st = self._fresh(state, now)
        if now < st["paused_until"]:
            return 0
        return max(0, int(st["limit"]) - len(st["slots"]))

    def next_slot_in(self) -> float:
        """Seconds until one call could start (0 now), every process counted; takes nothing."""
        state, now = self.store.read(self.key)
        return max(0.0, self._try_take(state, now, "", 1)[1])

    @property
    def limit(self) -> int:
        """The limit in force: the configured one, or less when the server said so."""
        state, now = self.store.read(self.key)
        return int(self._fresh(state, now)["limit"])

    @property
    def window(self) -> float:
        state, now = self.store.read(self.key)
        return float(self._fresh(state, now)["window"])

    # ---- internals -------------------------------------------------------------------------

    def _take(self, n: int, max_wait: float | None) -> tuple[str, float]:
        """Take `n` slots under one token, waiting as long as needed (or `max_wait`).

        The threads of one process wait in line behind one another, so only the first of them
        asks the shared store again when a slot frees: a freed slot costs each process one
        query, not one per waiting thread.
        """
        if n < 1 or n > self.configured_limit:
            raise ValueError(f"cannot take {n} slots of a budget of {self.configured_limit}")
        if not self._line.acquire(timeout=-1 if max_wait is None else max_wait):
            raise BudgetExhausted(max_wait or 0.0)
        try:
            token = uuid.uuid4().hex[:12]
            waited = 0.0
            while True:
                wait = self.store.update(self.key, lambda s, now: self._try_take(s, now, token, n))
                if wait <= 0:
                    with self._lock:
                        self.waited_seconds += waited
                    return token, waited
                if max_wait is not None and waited + wait > max_wait:
                    raise BudgetExhausted(wait)
                self._sleep(wait)
                waited += wait
        finally:
            self._line.release()

    def _try_take(
        self, state: State | None, now: float, token: str, n: int
    ) -> tuple[State | None, float]:
        st = self._fresh(state, now)
        if now < st["paused_until"]:
            return state, st["paused_until"] - now
        slots = st["slots"]
        if len(slots) + n <= st["limit"]:
            hold = now + self.max_call_seconds + st["window"]
            slots += [[hold, token] for _ in range(n)]
            return st, 0.0
        # A call in flight frees nothing early (it counts for a window once ended): the next
        # slots are the oldest ended calls leaving the window; in-flight ones are polled.
        frees = sorted(
            until if not held else min(until, now + self.poll_seconds) for until, held in slots
        )
        needed = len(slots) + n - st["limit"]
        return state, max(frees[needed - 1] - now, 1e-6)

    def _end(self, token: str) -> None:
        def step(state: State | None, now: float) -> tuple[State, None]:
            st = self._fresh(state, now)
            for held in st["slots"]:
                if held[1] == token:
                    held[0], held[1] = now + st["window"], ""
            return st, None

        self.store.update(self.key, step)

    def _fresh(self, state: State | None, now: float) -> State:
        """A copy of the state with expired slots dropped; a new one when the configuration
        changed (the server's word about an old configuration no longer holds)."""
        configured = [self.configured_limit, self.configured_window]
        if state is None or state.get("configured") != configured:
            return {
                "configured": configured,
                "limit": self.configured_limit,
                "window": self.configured_window,
                "paused_until": 0.0,
                "slots": [],
            }
        return {
            **state,
            "slots": [[until, token] for until, token in state["slots"] if until > now],
        }


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
