"""What the metrics say about the queue, read at each scrape at a bounded cost.

Each state is read through its partial index up to a cap (as `/readyz` counts), so a scrape
costs the same with ten jobs or ten million; done jobs are never read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from connector.store.job_record import JobState
from connector.store.queue import COUNT_CAP
from connector.store.tables import DEAD, QUEUED, RUNNING, jobs

_LIVE = ((JobState.QUEUED, QUEUED), (JobState.RUNNING, RUNNING), (JobState.DEAD, DEAD))


def depth(conn: Connection, *, cap: int = COUNT_CAP) -> dict[tuple[str, str], int]:
    """(state, kind) → jobs, for queued, running and dead jobs; each state counts at most `cap`
    rows in all (past the cap, the numbers are a floor)."""
    found: dict[tuple[str, str], int] = {}
    for state, which in _LIVE:
        some = select(jobs.c.kind).where(which).limit(cap).subquery()
        rows = conn.execute(select(some.c.kind, func.count()).group_by(some.c.kind))
        for kind, number in rows:
            found[(state.value, kind)] = int(number)
    return found


def oldest_queued(conn: Connection) -> datetime | None:
    """When the oldest job still waiting to run was queued (the queued index's first entry)."""
    value = conn.execute(select(func.min(jobs.c.created_at)).where(QUEUED)).scalar_one()
    return value  # type: ignore[no-any-return]
