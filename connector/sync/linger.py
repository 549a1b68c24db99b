"""The bounded linger: a small CRM batch waits briefly for more records before its call.

Like a producer's `linger.ms`: a batch that does not fill a call waits up to
`CONNECTOR_SYNC_LINGER_SECONDS` (1 s) and claims the jobs that become runnable meanwhile, so a
steady stream of messages goes out in a few full calls rather than many small ones (each call
spends the CRM's 10-second and daily budgets alike). A second of delay on an activity record is
invisible to a rep; one thread per process gathers at a time, so the arrivals are not split.

When the budget is spent (no call may start now), the batch would wait in the rate limiter for
its slot with the records it has. It waits here instead, for as long as the slot is away (capped
well inside a lease), claiming the jobs that arrive meanwhile: the same latency, fuller calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connector.store.queue import Job

# How often a lingering batch looks for more jobs.
LINGER_POLL_SECONDS = 0.1


def budget_linger(
    seconds: float,
    *,
    fill: int,
    budget_wait: Callable[[list[Job]], float | None] | None = None,
    longest: float = 10.0,
) -> Callable[[list[Job]], float]:
    """How long a batch of fewer than `fill` jobs lingers: `seconds`, or until its target's next
    call slot when none is free now (`budget_wait`); never more than `longest` (a fraction of
    the lease its gathered jobs were claimed with); 0 turns lingering off."""

    def linger(batch: list[Job]) -> float:
        if seconds <= 0 or len(batch) >= fill:
            return 0.0
        wait = budget_wait(batch) if budget_wait is not None else None
        return min(max(seconds, wait or 0.0), longest)

    return linger


def gather(
    claim_more: Callable[[int], list[Job]],
    room: int,
    seconds: float,
    *,
    stopping: threading.Event,
    poll: float = LINGER_POLL_SECONDS,
) -> list[Job]:
    """Claim up to `room` more jobs during `seconds` at most; returns early once full or when
    the worker is stopping. The jobs already claimed keep their leases meanwhile: the linger is
    bounded far below a lease."""
    deadline = time.monotonic() + seconds
    more: list[Job] = []
    while len(more) < room:
        left = deadline - time.monotonic()
        if left <= 0 or stopping.wait(min(poll, left)):
            break
        more += claim_more(room - len(more))
    return more
