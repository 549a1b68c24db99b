"""The job queue, in the same database as the data it acts on, so a job commits with its cause.

A job is claimed with a lease: a worker that dies leaves a lease that expires, and the job is
claimed again. On PostgreSQL the claim skips rows other workers hold (`FOR UPDATE SKIP LOCKED`),
so many workers on many machines never run one job twice at once. Jobs that share an ordering
key (one thread, one CRM) run one after another, in the order they were queued.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from connector.store.tables import jobs, targets


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    target: str
    subject: str
    ordering_key: str | None
    state: JobState
    attempts: int
    run_after: datetime
    lease_until: datetime | None
    worker: str | None
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(
            id=m["id"],
            kind=m["kind"],
            target=m["target"],
            subject=m["subject"],
            ordering_key=m["ordering_key"],
            state=JobState(m["state"]),
            attempts=m["attempts"],
            run_after=m["run_after"],
            lease_until=m["lease_until"],
            worker=m["worker"],
            last_error=m["last_error"],
            payload=m["payload"] or {},
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


def enqueue(
    conn: Connection,
    kind: str,
    *,
    target: str,
    subject: str | int,
    ordering_key: str | None = None,
    payload: dict[str, Any] | None = None,
    run_after: datetime | None = None,
) -> int:
    now = utcnow()
    result = conn.execute(
        insert(jobs).values(
            kind=kind,
            target=target,
            subject=str(subject),
            ordering_key=ordering_key,
            state=JobState.QUEUED.value,
            attempts=0,
            run_after=run_after or now,
            payload=payload or {},
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def enqueue_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Several jobs in one statement: the webhook path queues a handful per event."""
    if not rows:
        return
    now = utcnow()
    conn.execute(
        insert(jobs),
        [
            {
                "kind": row["kind"],
                "target": row["target"],
                "subject": str(row["subject"]),
                "ordering_key": row.get("ordering_key"),
                "state": JobState.QUEUED.value,
                "attempts": 0,
                "run_after": row.get("run_after") or now,
                "payload": row.get("payload") or {},
                "created_at": now,
                "updated_at": now,
            }
            for row in rows
        ],
    )


def claim(
    conn: Connection,
    worker: str,
    lease: timedelta,
    *,
    kinds: Sequence[str] | None = None,
    skip_locked: bool = False,
    now: datetime | None = None,
) -> Job | None:
    """Take the oldest runnable job, or one whose lease has expired; None when there is none."""
    now = now or utcnow()
    earlier = aliased(jobs)
    blocked_by_earlier = exists().where(
        and_(
            earlier.c.ordering_key == jobs.c.ordering_key,
            earlier.c.id < jobs.c.id,
            earlier.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
        )
    )
    paused = select(targets.c.name).where(
        and_(
            targets.c.paused.is_(True),
            or_(targets.c.paused_until.is_(None), targets.c.paused_until > now),
        )
    )
    candidate = (
        select(jobs.c.id)
        .where(_runnable(now))
        .where(or_(jobs.c.ordering_key.is_(None), ~blocked_by_earlier))
        .where(jobs.c.target.not_in(paused))
        .order_by(jobs.c.id)
        .limit(1)
    )
    if kinds:
        candidate = candidate.where(jobs.c.kind.in_(list(kinds)))
    if skip_locked:
        candidate = candidate.with_for_update(skip_locked=True, of=jobs)
    row = conn.execute(
        update(jobs)
        .where(jobs.c.id == candidate.scalar_subquery())
        .values(**_taken_by(worker, lease, now))
        .returning(*jobs.c)
    ).first()
    return Job.from_row(row) if row else None


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

    Jobs that share an ordering key may travel together, in order, since the batch handles them
    in order; a job waits only behind an earlier job of its key that is not in this batch (held
    by another worker, or waiting for a retry).
    """
    if limit <= 0:
        return []
    now = now or utcnow()
    candidates_query = (
        select(jobs.c.id, jobs.c.ordering_key)
        .where(
            and_(
                jobs.c.kind == first.kind,
                jobs.c.target == first.target,
                jobs.c.id != first.id,
                _runnable(now),
            )
        )
        .order_by(jobs.c.id)
        .limit(limit)
    )
    if skip_locked:
        candidates_query = candidates_query.with_for_update(skip_locked=True, of=jobs)
    candidates = conn.execute(candidates_query).all()
    if not candidates:
        return []
    keys = {row.ordering_key for row in candidates if row.ordering_key is not None}
    candidate_ids = {row.id for row in candidates} | {first.id}
    blockers: dict[str, int] = {}
    if keys:
        rows = conn.execute(
            select(jobs.c.ordering_key, jobs.c.id).where(
                and_(
                    jobs.c.ordering_key.in_(keys),
                    or_(
                        jobs.c.state == JobState.RUNNING.value,
                        and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after > now),
                    ),
                )
            )
        )
        for key, job_id in rows:
            if job_id not in candidate_ids:
                blockers[key] = min(job_id, blockers.get(key, job_id))
    chosen = [
        row.id
        for row in candidates
        if row.ordering_key is None
        or row.ordering_key not in blockers
        or row.id < blockers[row.ordering_key]
    ]
    if not chosen:
        return []
    claimed = conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(chosen))
        .values(**_taken_by(worker, lease, now))
        .returning(*jobs.c)
    ).all()
    return sorted((Job.from_row(row) for row in claimed), key=lambda job: job.id)


def _taken_by(worker: str, lease: timedelta, now: datetime) -> dict[str, Any]:
    """The values a claimed job gets: running, one more attempt, leased to `worker`."""
    return {
        "state": JobState.RUNNING.value,
        "attempts": jobs.c.attempts + 1,
        "lease_until": now + lease,
        "worker": worker,
        "updated_at": now,
    }


def _runnable(now: datetime) -> Any:
    """Queued and due, or running under a lease that has expired (its worker died)."""
    return or_(
        and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= now),
        and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_until < now),
    )


def complete(conn: Connection, job: Job, worker: str) -> bool:
    """Mark done; False if the lease was lost to another worker meanwhile."""
    return _finish(conn, job, worker, state=JobState.DONE, error=None)


def kill(conn: Connection, job: Job, worker: str, reason: str) -> bool:
    return _finish(conn, job, worker, state=JobState.DEAD, error=reason)


def reschedule(
    conn: Connection,
    job: Job,
    worker: str,
    *,
    run_after: datetime,
    error: str | None,
    count_attempt: bool = True,
) -> bool:
    """Back to the queue for later; an attempt that did not count (a pause) is given back."""
    values: dict[str, Any] = {
        "state": JobState.QUEUED.value,
        "run_after": run_after,
        "lease_until": None,
        "worker": None,
        "last_error": error,
        "updated_at": utcnow(),
    }
    if not count_attempt:
        values["attempts"] = jobs.c.attempts - 1
    result = conn.execute(update(jobs).where(_held_by(job, worker)).values(**values))
    return result.rowcount == 1


def release(conn: Connection, job: Job, worker: str) -> bool:
    """Give a job back untouched, e.g. at shutdown before it started."""
    return reschedule(
        conn, job, worker, run_after=utcnow(), error=job.last_error, count_attempt=False
    )


def extend_lease(conn: Connection, job: Job, worker: str, lease: timedelta) -> bool:
    result = conn.execute(
        update(jobs).where(_held_by(job, worker)).values(lease_until=utcnow() + lease)
    )
    return result.rowcount == 1


def _held_by(job: Job, worker: str) -> Any:
    return and_(
        jobs.c.id == job.id, jobs.c.state == JobState.RUNNING.value, jobs.c.worker == worker
    )


def _finish(conn: Connection, job: Job, worker: str, *, state: JobState, error: str | None) -> bool:
    values: dict[str, Any] = {
        "state": state.value,
        "lease_until": None,
        "updated_at": utcnow(),
    }
    if error is not None:
        values["last_error"] = error
    result = conn.execute(update(jobs).where(_held_by(job, worker)).values(**values))
    return result.rowcount == 1


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return Job.from_row(row) if row else None


def list_jobs(
    conn: Connection, *, state: JobState | None = None, limit: int = 100, offset: int = 0
) -> list[Job]:
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit).offset(offset)
    if state is not None:
        query = query.where(jobs.c.state == state.value)
    return [Job.from_row(row) for row in conn.execute(query)]


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
    return {state: int(n) for state, n in rows}


def retry(conn: Connection, job_id: int) -> bool:
    """Replay a dead job from scratch: admins use this once the cause is fixed."""
    return _replay(conn, jobs.c.id == job_id) == 1


def retry_all_dead(conn: Connection) -> int:
    return _replay(conn, jobs.c.state == JobState.DEAD.value)


def _replay(conn: Connection, which: Any) -> int:
    """Dead jobs back to the queue with a fresh attempt count and a fresh retry window."""
    now = utcnow()
    result = conn.execute(
        update(jobs)
        .where(and_(which, jobs.c.state == JobState.DEAD.value))
        .values(
            state=JobState.QUEUED.value,
            attempts=0,
            run_after=now,
            created_at=now,
            updated_at=now,
            lease_until=None,
            worker=None,
        )
    )
    return int(result.rowcount)


def pause_target(conn: Connection, name: str, *, until: datetime | None, reason: str) -> None:
    now = utcnow()
    updated = conn.execute(
        update(targets)
        .where(targets.c.name == name)
        .values(paused=True, paused_until=until, reason=reason, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            insert(targets).values(
                name=name, paused=True, paused_until=until, reason=reason, updated_at=now
            )
        )


def resume_target(conn: Connection, name: str) -> None:
    conn.execute(
        update(targets)
        .where(targets.c.name == name)
        .values(paused=False, paused_until=None, reason=None, updated_at=utcnow())
    )


def paused_targets(conn: Connection, now: datetime | None = None) -> dict[str, str]:
    """Targets whose jobs wait, with the reason, for `/readyz` and the admin page."""
    now = now or utcnow()
    rows = conn.execute(
        select(targets.c.name, targets.c.reason, targets.c.paused_until).where(
            targets.c.paused.is_(True)
        )
    )
    return {name: reason or "" for name, reason, until in rows if until is None or until > now}
