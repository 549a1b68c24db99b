"""Claiming jobs: each claim reads the first rows of an index that holds only what it may take.

Two sources, tried in this order: a running job whose lease ran out (its worker died; a few rows
of `ix_jobs_leases`), then the oldest due queued head of a target that is not paused (the first
rows of `ix_jobs_heads`). Neither sorts nor filters the backlog, so a claim costs the same with
a hundred or a hundred thousand jobs queued. On PostgreSQL the claim skips rows other workers are
claiming (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select, true, update
from sqlalchemy.orm import aliased

from connector.store import job_heads
from connector.store.job_record import Job, JobState, utcnow
from connector.store.tables import QUEUED_HEAD, RUNNING, jobs
from connector.store.targets import paused_names


def claim(
    conn: Connection,
    worker: str,
    lease: timedelta,
    *,
    kinds: Sequence[str] | None = None,
    skip_locked: bool = False,
    now: datetime | None = None,
) -> Job | None:
    """Take the oldest runnable job: a queued head, or a job whose lease has expired."""
    now = now or utcnow()

    def locked(query: Any) -> Any:
        return query.with_for_update(skip_locked=True, of=jobs) if skip_locked else query

    chosen: Any = locked(_queued_head(now, kinds)).scalar_subquery()
    expired = conn.execute(locked(_expired(now, kinds))).scalar()
    if expired is not None:  # rare (a worker died): the older of the two goes first
        head = conn.execute(locked(_queued_head(now, kinds).where(jobs.c.id < expired))).scalar()
        chosen = expired if head is None else head
    row = conn.execute(
        update(jobs)
        .where(jobs.c.id == chosen)
        .values(**_taken_by(worker, lease, now))
        .returning(*jobs.c)
    ).first()
    return Job.from_row(row) if row else None


def _queued_head(now: datetime, kinds: Sequence[str] | None) -> Any:
    """The oldest due head of a target that is not paused: the first rows of `ix_jobs_heads`."""
    query = (
        select(jobs.c.id)
        .where(QUEUED_HEAD)
        .where(jobs.c.run_after <= now)
        .where(jobs.c.target.not_in(paused_names(now)))
        .order_by(jobs.c.id)
        .limit(1)
    )
    return query.where(jobs.c.kind.in_(list(kinds))) if kinds else query


def _expired(now: datetime, kinds: Sequence[str] | None) -> Any:
    """A running job whose lease ran out (a few rows of `ix_jobs_leases`), unless an earlier
    job of its key is unfinished too: that one is taken first."""
    earlier = aliased(jobs)
    blocked = exists().where(
        and_(
            earlier.c.ordering_key == jobs.c.ordering_key,
            earlier.c.state.in_(job_heads.UNFINISHED),
            earlier.c.id < jobs.c.id,
        )
    )
    query = (
        select(jobs.c.id)
        .where(RUNNING)
        .where(jobs.c.lease_until < now)
        .where(or_(jobs.c.ordering_key.is_(None), ~blocked))
        .where(jobs.c.target.not_in(paused_names(now)))
        .order_by(jobs.c.lease_until)
        .limit(1)
    )
    return query.where(jobs.c.kind.in_(list(kinds))) if kinds else query


def claim_more(
    conn: Connection,
    first: Job,
    worker: str,
    lease: timedelta,
    *,
    limit: int,
    skip_locked: bool = False,
    now: datetime | None = None,
) -> list[Job]:
    """More runnable jobs of `first`'s kind and target, for one batched call to a CRM.

    The batch takes the oldest queued heads of the target, and the later jobs of the keys in the
    batch, in order, since the batch handles them in order; a job comes along only if no earlier
    job of its key stays behind (held by another worker, or waiting for a retry).
    """
    if limit <= 0:
        return []
    now = now or utcnow()
    same = and_(
        jobs.c.kind == first.kind,
        jobs.c.target == first.target,
        jobs.c.id != first.id,
        jobs.c.run_after <= now,
    )

    def rows(query: Any) -> list[Any]:
        if skip_locked:
            query = query.with_for_update(skip_locked=True, of=jobs)
        return list(conn.execute(query.order_by(jobs.c.id).limit(limit)))

    heads = rows(select(jobs.c.id, jobs.c.ordering_key).where(QUEUED_HEAD).where(same))
    keys = {row.ordering_key for row in heads if row.ordering_key is not None}
    if first.ordering_key is not None:
        keys.add(first.ordering_key)
    followers: list[Any] = []
    if keys:
        query = select(jobs.c.id, jobs.c.ordering_key).where(
            and_(
                jobs.c.state == JobState.QUEUED.value,
                jobs.c.head.is_not(true()),
                jobs.c.ordering_key.in_(sorted(keys)),
                same,
            )
        )
        # A follower comes after its key's head; and past the last head it could not make a
        # full batch anyway. Both bounds keep the read to the batch's own stretch of ids.
        query = query.where(jobs.c.id > min([first.id, *(row.id for row in heads)]))
        if len(heads) == limit:
            query = query.where(jobs.c.id < heads[-1].id)
        followers = rows(query)
    candidates = sorted([*heads, *followers], key=lambda row: row.id)[:limit]
    chosen = _unblocked(conn, first, candidates)
    if not chosen:
        return []
    claimed = conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(chosen))
        .values(**_taken_by(worker, lease, now))
        .returning(*jobs.c)
    ).all()
    return sorted((Job.from_row(row) for row in claimed), key=lambda job: job.id)


def _unblocked(conn: Connection, first: Job, candidates: Sequence[Any]) -> list[int]:
    """The candidates no earlier unfinished job of their key (outside the batch) holds back."""
    keys = {row.ordering_key for row in candidates if row.ordering_key is not None}
    if not keys:
        return [row.id for row in candidates]
    in_batch = {row.id for row in candidates} | {first.id}
    blockers: dict[str, int] = {}
    rows = conn.execute(
        select(jobs.c.ordering_key, jobs.c.id).where(
            and_(
                jobs.c.ordering_key.in_(sorted(keys)),
                jobs.c.state.in_(job_heads.UNFINISHED),
                jobs.c.id < max(row.id for row in candidates),
            )
        )
    )
    for key, job_id in rows:
        if job_id not in in_batch:
            blockers[key] = min(job_id, blockers.get(key, job_id))
    return [
        row.id
        for row in candidates
        if row.ordering_key is None
        or row.ordering_key not in blockers
        or row.id < blockers[row.ordering_key]
    ]


def _taken_by(worker: str, lease: timedelta, now: datetime) -> dict[str, Any]:
    """The values a claimed job gets: running, one more attempt, leased to `worker`."""
    return {
        "state": JobState.RUNNING.value,
        "attempts": jobs.c.attempts + 1,
        "lease_until": now + lease,
        "worker": worker,
        "updated_at": now,
    }
