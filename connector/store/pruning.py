"""Done jobs and webhook events are kept for `CONNECTOR_JOB_RETENTION_DAYS` (14), then deleted.

Both tables grow with every message; nothing reads a done job or an old event after a few days.
Events are the webhooks' deduplication record: a provider redelivers an event within minutes or
hours, never two weeks later, and a message is deduplicated by its provider id besides. A status
event that arrived before its message is read when the message's send receipt comes, which is
seconds later. Dead jobs are never pruned: they wait for an admin.

Deletion goes in bounded chunks, each its own short transaction, oldest first through partial or
plain indexes, so a first pass over a large history never holds the database for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from connector.store.db import Database
from connector.store.tables import DONE, events, jobs

CHUNK = 500


@dataclass(frozen=True)
class Pruned:
    jobs: int
    events: int


def prune(database: Database, before: datetime, *, chunk: int = CHUNK) -> Pruned:
    """Delete done jobs last touched and events received before `before`."""
    return Pruned(
        jobs=_in_chunks(database, _done_jobs, before, chunk),
        events=_in_chunks(database, _old_events, before, chunk),
    )


def _in_chunks(
    database: Database,
    one: Callable[[Connection, datetime, int], int],
    before: datetime,
    chunk: int,
) -> int:
    total = 0
    while True:
        with database.begin() as conn:
            deleted = one(conn, before, chunk)
        total += deleted
        if deleted < chunk:
            return total


def _done_jobs(conn: Connection, before: datetime, chunk: int) -> int:
    oldest = (
        select(jobs.c.id)
        .where(DONE)
        .where(jobs.c.updated_at < before)
        .order_by(jobs.c.updated_at)
        .limit(chunk)
    )
    ids = [job_id for (job_id,) in conn.execute(oldest)]
    if ids:
        conn.execute(delete(jobs).where(jobs.c.id.in_(ids)).where(DONE))
    return len(ids)


def _old_events(conn: Connection, before: datetime, chunk: int) -> int:
    oldest = (
        select(events.c.id)
        .where(events.c.received_at < before)
        .order_by(events.c.received_at)
        .limit(chunk)
    )
    ids = [event_id for (event_id,) in conn.execute(oldest)]
    if ids:
        conn.execute(delete(events).where(events.c.id.in_(ids)))
    return len(ids)
