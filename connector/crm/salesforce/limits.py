"""The org's rolling 24-hour API allocation, as Salesforce reports it on every answer.

Salesforce counts every REST call against a daily allocation shared with every other integration
and user of the org, and answers 403 REQUEST_LIMIT_EXCEEDED once it is spent. The adapter reads
`Sforce-Limit-Info: api-usage=USED/MAX` from each answer and slows down before that happens:
past `soft` it spaces its calls, past `hard` it stops (Salesforce jobs pause) and leaves the rest
to the org's people and other integrations.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from connector.core.errors import Throttled
from connector.store.budgets import BucketStore, MemoryBuckets, State

log = structlog.get_logger(__name__)

_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")

# How long Salesforce jobs pause when the daily allocation is spent (or about to be): the window
# rolls, so capacity comes back gradually; one probe call per pause costs next to nothing.
DAILY_LIMIT_PAUSE_SECONDS = 30 * 60.0


@dataclass(frozen=True)
class ApiUsage:
    used: int
    limit: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0


def parse_limit_info(header: str | None) -> ApiUsage | None:
    """`api-usage=18/5000; per-app-api-usage=17/250(appName=x)` -> ApiUsage(18, 5000)."""
    if not header:
        return None
    match = _USAGE.search(header)
    if match is None:
        return None
    return ApiUsage(int(match.group(1)), int(match.group(2)))


class ApiBudget:
    """Paces calls by the last reported usage, in every process that shares `store`.

    The reading is the org's, whoever made the call it came with, so it is kept in the store
    (`connector.store.budgets`): usage one process observes slows down or pauses all of them.
    Without a store the budget is this process's alone, on `clock`.
    """

    def __init__(
        self,
        *,
        soft: float = 0.80,
        hard: float = 0.95,
        min_interval: float = 1.0,
        pause: float = DAILY_LIMIT_PAUSE_SECONDS,
        store: BucketStore | None = None,
        key: str = "salesforce",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < soft <= hard <= 1:
            raise ValueError("need 0 < soft <= hard <= 1")
        self.soft = soft
        self.hard = hard
        self.min_interval = min_interval
        self.pause = pause
        self.store: BucketStore = store if store is not None else MemoryBuckets(clock)
        self.key = key
        self._sleep = sleep
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def usage(self) -> ApiUsage | None:
        state, _now = self.store.read(self.key)
        return _usage_of(state)

    def observe(self, header: str | None) -> None:
        usage = parse_limit_info(header)
        if usage is None:
            return
        if not self._worth_writing(usage):
            return

        def step(state: State | None, now: float) -> tuple[State, bool]:
            before = _usage_of(state)
            crossed = usage.share >= self.soft and (before is None or before.share < self.soft)
            new = {**(state or {}), "used": usage.used, "limit": usage.limit, "observed_at": now}
            return new, crossed

        crossed_soft = self.store.update(self.key, step)
        if crossed_soft:
            log.warning(
                "salesforce.api_usage_high", used=usage.used, limit=usage.limit, pacing=True
            )

    def count(self) -> None:
        with self._lock:
            self.calls += 1

    def before_call(self) -> None:
        """Raise `Throttled` past `hard`; wait out the pacing interval past `soft`.

        A reading older than the pause no longer counts, so the first call after a pause goes
        through and brings a fresh reading.
        """
        state, now = self.store.read(self.key)
        usage = _usage_of(state)
        if usage is None or state is None or now - float(state["observed_at"]) > self.pause:
            return
        if usage.share >= self.hard:
            raise Throttled(
                f"Salesforce daily API allocation nearly spent ({usage.used}/{usage.limit} "
                f"calls in the last 24 h); the connector keeps the last "
                f"{round((1 - self.hard) * 100)}% for the org's other users",
                self.pause,
            )
        if usage.share < self.soft:
            return

        def pace(state: State | None, now: float) -> tuple[State, float]:
            next_call_at = float((state or {}).get("next_call_at", 0.0))
            wait = max(0.0, next_call_at - now)
            following = max(now, next_call_at) + self.min_interval
            return {**(state or {}), "next_call_at": following}, wait

        wait = self.store.update(self.key, pace)
        if wait:
            self._sleep(wait)

    def _worth_writing(self, usage: ApiUsage) -> bool:
        """Skip a reading nobody would act on: below `soft`, as the stored one is, and within
        1 % of the allocation of it (Salesforce answers every call with a reading)."""
        if usage.share >= self.soft:
            return True
        stored = _usage_of(self.store.read(self.key)[0])
        if stored is None or stored.share >= self.soft or stored.limit != usage.limit:
            return True
        return abs(usage.used - stored.used) >= 0.01 * usage.limit


def _usage_of(state: State | None) -> ApiUsage | None:
    if not state or "used" not in state:
        return None
    return ApiUsage(int(state["used"]), int(state["limit"]))
