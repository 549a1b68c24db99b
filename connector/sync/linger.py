"""The bounded linger: a small CRM batch waits briefly for more records when calls are scarce.

When the CRM's shared budget has calls to spare, a batch of one record goes out at once: latency
matters more than the call. When the budget is nearly spent, the call waits for a slot anyway,
and a call that carries one record where it could carry a hundred wastes a slot that every
worker process needs. Then a small batch lingers (at most a second or two, see
`CONNECTOR_SYNC_LINGER_SECONDS`) and claims the jobs that became runnable meanwhile, so the
records go out in fewer, fuller calls.

When the budget is spent (no call may start now), the batch would wait in the rate limiter for
its slot with the records it has. It waits here instead, for as long as the slot is away (capped
well inside a lease), claiming the jobs that arrive meanwhile: the same latency, fuller calls.
Under a backlog this is what keeps the calls per message low.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connector.store.queue import Job

# How often a lingering batch looks for more jobs.
LINGER_POLL_SECONDS = 0.1


def budget_linger(
    budget_left: Callable[[list[Job]], int | None],
    seconds: float,
    *,
    fill: int,
    short: int,
    budget_wait: Callable[[list[Job]], float | None] | None = None,
    longest: float = 10.0,
) -> Callable[[list[Job]], float]:
    """How long a batch lingers, when it holds fewer than `fill` jobs: until its target's next
    call slot when none is free now (`budget_wait`, at most `longest`), else `seconds` when the
    budget has fewer than `short` calls left (`budget_left` None: no budget to save)."""

    def linger(batch: list[Job]) -> float:
        if seconds <= 0 or len(batch) >= fill:
            return 0.0
        wait = budget_wait(batch) if budget_wait is not None else None
        if wait is not None and wait > 0:
            return min(wait, longest)
        left = budget_left(batch)
        return seconds if left is not None and left < short else 0.0

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
