"""Which job of each ordering key may run next: the `head` flag the claim reads.

Jobs that share an ordering key (one thread in one CRM) run in the order they were queued. Rather
than asking, for every queued job at every claim, whether an earlier job of its key is still
unfinished (which made claims cost as much as the backlog), the earliest unfinished job of each
key carries `head = true`, kept up to date by every transition that can change it: queueing a job
whose key has nothing unfinished, a head leaving the queue (done, dead), a job going back to the
queue, a dead job replayed. A job without an ordering key is always a head.

On PostgreSQL two transactions could each miss the other's change (one queues a job while the
other finishes the key's last one, and neither makes a head); a transaction-scoped advisory lock
per key, always taken in key order, serialises those few statements. SQLite already admits one
writer at a time.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, and_, bindparam, func, select, text, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from connector.store.tables import jobs

# The first half of PostgreSQL's two-part advisory lock key: the queue's own namespace.
LOCK_CLASS = 0x6A6F
UNFINISHED = ("queued", "running")

_lock_keys = text(
    "SELECT count(pg_advisory_xact_lock(:class, hashtext(key))) "
    "FROM (SELECT unnest(:keys) AS key ORDER BY 1) AS keys"
).bindparams(bindparam("keys", type_=postgresql.ARRAY(postgresql.TEXT)))


def lock(conn: Connection, keys: Collection[str]) -> None:
    """Serialise head changes of these keys with other transactions (PostgreSQL only)."""
    if keys and conn.dialect.name == "postgresql":
        conn.execute(_lock_keys, {"class": LOCK_CLASS, "keys": sorted(set(keys))})


def busy(conn: Connection, keys: Collection[str]) -> set[str]:
    """The keys that have a queued or running job: a new job of these is not a head."""
    if not keys:
        return set()
    rows = conn.execute(
        select(jobs.c.ordering_key)
        .where(and_(jobs.c.ordering_key.in_(sorted(set(keys))), jobs.c.state.in_(UNFINISHED)))
        .distinct()
    )
    return {key for (key,) in rows}


def promote(conn: Connection, key: str) -> None:
    """Make the earliest unfinished job of `key` its head, when that job is queued."""
    lock(conn, [key])
    first = (
        select(func.min(jobs.c.id))
        .where(and_(jobs.c.ordering_key == key, jobs.c.state.in_(UNFINISHED)))
        .scalar_subquery()
    )
    conn.execute(
        update(jobs)
        .where(and_(jobs.c.id == first, jobs.c.state == "queued", jobs.c.head.is_not(true())))
        .values(head=True)
    )


def recompute(conn: Connection, keys: Collection[str]) -> None:
    """Set the head of each key from scratch (after a replay put old jobs back in the queue)."""
    if not keys:
        return
    lock(conn, keys)
    earlier = aliased(jobs)
    first = (
        select(func.min(earlier.c.id))
        .where(and_(earlier.c.ordering_key == jobs.c.ordering_key, earlier.c.state.in_(UNFINISHED)))
        .scalar_subquery()
    )
    conn.execute(
        update(jobs)
        .where(and_(jobs.c.ordering_key.in_(sorted(set(keys))), jobs.c.state == "queued"))
        .values(head=jobs.c.id == first)
    )
