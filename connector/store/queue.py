"""The job queue, in the same database as the data it acts on, so a job commits with its cause.

A job is claimed with a lease: a worker that dies leaves a lease that expires, and the job is
claimed again. On PostgreSQL the claim skips rows other workers hold (`FOR UPDATE SKIP LOCKED`),
so many workers on many machines never run one job twice at once. Jobs that share an ordering
key (one thread, one CRM) run one after another, in the order they were queued: only the head of
each key (connector/store/job_heads.py) may be claimed, so a claim reads the first rows of one
small index whatever the backlog.

A running job's lease is renewed by its worker's heartbeat (`renew_leases`). A worker whose job
was taken over (its lease had expired) writes nothing more for it: every settle checks that the
job is still held by that worker, and so do the handlers' own result writes (`still_held`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from connector.store import job_heads
from connector.store.claims import claim, claim_more
from connector.store.job_record import Job, JobState, utcnow
from connector.store.tables import DEAD, QUEUED, RUNNING, jobs
from connector.store.targets import PauseCause, pause_target, paused_targets, resume_target

__all__ = [
    "Job",
    "JobState",
    "PauseCause",
    "claim",
    "claim_more",
    "complete",
    "counts",
    "enqueue",
    "enqueue_many",
    "extend_lease",
    "get",
    "kill",
    "list_jobs",
    "live_counts",
    "pause_target",
    "paused_targets",
    "release",
    "renew_leases",
    "reschedule",
    "resume_target",
    "retry",
    "retry_all_dead",
    "still_held",
    "utcnow",
]


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
    row = _new_row(
        {
            "kind": kind,
            "target": target,
            "subject": subject,
            "ordering_key": ordering_key,
            "payload": payload,
            "run_after": run_after,
        },
        now,
    )
    row["head"] = _heads_of_new(conn, [ordering_key])[0]
    result = conn.execute(insert(jobs).values(**row))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def enqueue_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Several jobs in one statement: the webhook path queues a handful per event."""
    if not rows:
        return
    now = utcnow()
    values = [_new_row(row, now) for row in rows]
    heads = _heads_of_new(conn, [row["ordering_key"] for row in values])
    for row, head in zip(values, heads, strict=True):
        row["head"] = head
    conn.execute(insert(jobs), values)


def _new_row(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
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


def _heads_of_new(conn: Connection, keys: Sequence[str | None]) -> list[bool]:
    """For jobs about to be queued in this order: which are the head of their key."""
    named = {key for key in keys if key is not None}
    job_heads.lock(conn, named)
    taken = job_heads.busy(conn, named)
    heads = []
    for key in keys:
        heads.append(key is None or key not in taken)
        if key is not None:
            taken.add(key)
    return heads


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
    if job.ordering_key is None:
        values["head"] = True
    result = conn.execute(update(jobs).where(_held_by(job, worker)).values(**values))
    if result.rowcount == 1 and job.ordering_key is not None:
        # A job that travelled behind its key's head may now be the earliest one left.
        job_heads.promote(conn, job.ordering_key)
    return result.rowcount == 1


def release(conn: Connection, job: Job, worker: str) -> bool:
    """Give a job back untouched, e.g. at shutdown before it started."""
    return reschedule(
        conn, job, worker, run_after=utcnow(), error=job.last_error, count_attempt=False
    )


def extend_lease(conn: Connection, job: Job, worker: str, lease: timedelta) -> bool:
    return job.id in renew_leases(conn, {worker: [job.id]}, lease)


def renew_leases(
    conn: Connection,
    held: Mapping[str, Collection[int]],
    lease: timedelta,
    *,
    now: datetime | None = None,
) -> set[int]:
    """Renew, in one statement, the leases of the jobs each worker id holds; the ids renewed.
    A job missing from the answer is no longer held (another worker took it, or it is settled)."""
    which = [
        and_(jobs.c.worker == worker, jobs.c.id.in_(sorted(ids)))
        for worker, ids in sorted(held.items())
        if ids
    ]
    if not which:
        return set()
    # The rows are locked in id order (as `still_held` locks them), so a renewal and a
    # handler's result write never wait for each other in opposite orders.
    mine = (
        select(jobs.c.id)
        .where(and_(jobs.c.state == JobState.RUNNING.value, or_(*which)))
        .order_by(jobs.c.id)
        .with_for_update()
    )
    result = conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(mine.scalar_subquery()))
        .values(lease_until=(now or utcnow()) + lease)
        .returning(jobs.c.id)
    )
    return {job_id for (job_id,) in result}


def still_held(conn: Connection, claimed: Sequence[Job]) -> set[int]:
    """The ids of these jobs still running under the worker that claimed them.

    Call it in the transaction that writes a handler's result, and write only for these: on
    PostgreSQL the rows stay locked until that transaction ends, so no other worker takes the
    jobs meanwhile. A job never claimed (no worker) counts as held: tests run handlers directly.
    """
    unclaimed = {job.id for job in claimed if job.worker is None}
    which = [
        and_(jobs.c.id == job.id, jobs.c.worker == job.worker)
        for job in claimed
        if job.worker is not None
    ]
    if not which:
        return unclaimed
    query = (
        select(jobs.c.id)
        .where(and_(jobs.c.state == JobState.RUNNING.value, or_(*which)))
        .order_by(jobs.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return unclaimed | {job_id for (job_id,) in conn.execute(query)}


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
    if result.rowcount == 1 and job.ordering_key is not None:
        job_heads.promote(conn, job.ordering_key)  # the next job of its key may run
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


COUNT_CAP = 10_000


def live_counts(conn: Connection, *, cap: int = COUNT_CAP) -> dict[str, int]:
    """Queued, running and dead jobs, each counted through its partial index up to `cap`:
    what `/readyz` and the admin page show, at a bounded cost whatever the history (done jobs
    are not counted at all)."""
    found = {}
    for state, which in (
        (JobState.QUEUED, QUEUED),
        (JobState.RUNNING, RUNNING),
        (JobState.DEAD, DEAD),
    ):
        some = select(jobs.c.id).where(which).limit(cap).subquery()
        number = int(conn.execute(select(func.count()).select_from(some)).scalar_one())
        if number:
            found[state.value] = number
    return found


def counts(conn: Connection) -> dict[str, int]:
    """Jobs in every state, done included: reads the whole table (tests, one-off CLI use)."""
    rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
    return {state: int(n) for state, n in rows}


def retry(conn: Connection, job_id: int) -> bool:
    """Replay a dead job from scratch: admins use this once the cause is fixed."""
    return _replay(conn, jobs.c.id == job_id) == 1


def retry_all_dead(conn: Connection) -> int:
    return _replay(conn, jobs.c.state == JobState.DEAD.value)


def _replay(conn: Connection, which: Any) -> int:
    """Dead jobs back to the queue with a fresh attempt count and a fresh retry window; an
    old job replayed becomes its key's head again, ahead of the key's later jobs."""
    now = utcnow()
    dead = and_(which, jobs.c.state == JobState.DEAD.value)
    keys = [
        key
        for (key,) in conn.execute(
            select(jobs.c.ordering_key)
            .where(dead)
            .where(jobs.c.ordering_key.is_not(None))
            .distinct()
        )
    ]
    job_heads.lock(conn, keys)
    result = conn.execute(
        update(jobs)
        .where(dead)
        .values(
            state=JobState.QUEUED.value,
            attempts=0,
            run_after=now,
            created_at=now,
            updated_at=now,
            lease_until=None,
            worker=None,
            head=jobs.c.ordering_key.is_(None),
        )
    )
    job_heads.recompute(conn, keys)
    return int(result.rowcount)
