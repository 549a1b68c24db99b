"""Done jobs and old webhook events go after the retention; live and dead jobs stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from connector.store import pruning, queue
from connector.store.db import Database
from connector.store.queue import JobState, utcnow
from connector.store.tables import events, jobs

LEASE = timedelta(seconds=30)


def job_in_state(database: Database, state: JobState, age: timedelta) -> int:
    with database.begin() as conn:
        job_id = queue.enqueue(conn, "sync_crm", target="hubspot", subject=1)
        conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(state=state, updated_at=utcnow() - age)
        )
    return job_id


def event_received(database: Database, event_id: str, age: timedelta) -> None:
    with database.begin() as conn:
        conn.execute(
            events.insert().values(
                provider="aircall",
                event_id=event_id,
                kind="message.received",
                received_at=utcnow() - age,
                payload={},
            )
        )


def ids(database: Database) -> set[int]:
    with database.read() as conn:
        return {job_id for (job_id,) in conn.execute(select(jobs.c.id))}


def test_done_jobs_past_the_retention_are_deleted_and_every_other_job_stays(
    database: Database,
) -> None:
    old = timedelta(days=15)
    old_done = job_in_state(database, JobState.DONE, old)
    recent_done = job_in_state(database, JobState.DONE, timedelta(days=13))
    old_dead = job_in_state(database, JobState.DEAD, old)
    old_queued = job_in_state(database, JobState.QUEUED, old)

    pruned = pruning.prune(database, utcnow() - timedelta(days=14))

    assert pruned.jobs == 1
    assert ids(database) == {recent_done, old_dead, old_queued}
    assert old_done not in ids(database)


def test_events_past_the_retention_are_deleted(database: Database) -> None:
    event_received(database, "old", timedelta(days=20))
    event_received(database, "recent", timedelta(days=1))

    pruned = pruning.prune(database, utcnow() - timedelta(days=14))

    assert pruned.events == 1
    with database.read() as conn:
        assert [e for (e,) in conn.execute(select(events.c.event_id))] == ["recent"]


def test_a_large_history_goes_in_bounded_chunks(database: Database) -> None:
    for _ in range(7):
        job_in_state(database, JobState.DONE, timedelta(days=30))

    pruned = pruning.prune(database, utcnow() - timedelta(days=14), chunk=3)

    assert pruned.jobs == 7
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 0
