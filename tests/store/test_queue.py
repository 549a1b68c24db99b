"""The job queue: claims with a lease, one thread's jobs in order, paused targets, dead letters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job, JobState, utcnow
from connector.store.tables import jobs

LEASE = timedelta(seconds=30)


def enqueue(
    database: Database,
    subject: str | int = 1,
    *,
    kind: str = "sync_crm",
    target: str = "hubspot",
    ordering_key: str | None = None,
    run_after: datetime | None = None,
) -> int:
    with database.begin() as conn:
        return queue.enqueue(
            conn,
            kind,
            target=target,
            subject=subject,
            ordering_key=ordering_key,
            run_after=run_after,
        )


def claim(
    database: Database,
    worker: str = "w1",
    *,
    lease: timedelta = LEASE,
    now: datetime | None = None,
    kinds: list[str] | None = None,
) -> Job | None:
    with database.begin() as conn:
        return queue.claim(
            conn,
            worker,
            lease,
            kinds=kinds,
            skip_locked=database.is_postgres,
            now=now,
        )


def claim_ids(database: Database, now: datetime | None = None) -> list[int]:
    """Every job claimable now, in the order workers would take them."""
    ids = []
    while (job := claim(database, now=now)) is not None:
        ids.append(job.id)
    return ids


def get(database: Database, job_id: int) -> Job:
    with database.read() as conn:
        job = queue.get(conn, job_id)
    assert job is not None
    return job


def complete(database: Database, job: Job, worker: str = "w1") -> bool:
    with database.begin() as conn:
        return queue.complete(conn, job, worker)


def kill(database: Database, job: Job, reason: str, worker: str = "w1") -> None:
    with database.begin() as conn:
        assert queue.kill(conn, job, worker, reason)


def reschedule(database: Database, job: Job, seconds: float, worker: str = "w1") -> None:
    with database.begin() as conn:
        assert queue.reschedule(
            conn, job, worker, run_after=utcnow() + timedelta(seconds=seconds), error="503"
        )


# -- claiming --------------------------------------------------------------------------------


def test_jobs_are_claimed_oldest_first(database: Database) -> None:
    ids = [enqueue(database, subject) for subject in range(3)]

    assert claim_ids(database) == ids


def test_a_claim_marks_the_job_running_under_a_lease(database: Database) -> None:
    job_id = enqueue(database, 7)
    before = utcnow()

    job = claim(database, "worker-a")

    assert job is not None and job.id == job_id
    assert job.state is JobState.RUNNING
    assert job.attempts == 1
    assert job.worker == "worker-a"
    assert job.subject == "7"
    assert job.lease_until is not None
    assert before + LEASE <= job.lease_until <= utcnow() + LEASE
    assert get(database, job_id) == job


def test_an_empty_queue_gives_nothing(database: Database) -> None:
    assert claim(database) is None


def test_a_job_is_not_claimed_before_its_time(database: Database) -> None:
    later = utcnow() + timedelta(minutes=10)
    job_id = enqueue(database, run_after=later)

    assert claim(database) is None
    job = claim(database, now=later + timedelta(seconds=1))
    assert job is not None and job.id == job_id


def test_a_worker_claims_only_the_kinds_it_handles(database: Database) -> None:
    enqueue(database, kind="capture_media", target="media")
    sync_id = enqueue(database, kind="sync_crm")

    job = claim(database, kinds=["sync_crm"])

    assert job is not None and job.id == sync_id
    assert claim(database, kinds=["sync_crm"]) is None


def test_enqueue_many_queues_every_row_in_one_call(database: Database) -> None:
    with database.begin() as conn:
        queue.enqueue_many(
            conn,
            [
                {"kind": "sync_crm", "target": "hubspot", "subject": 1, "payload": {"a": 1}},
                {"kind": "sync_crm", "target": "salesforce", "subject": 1},
            ],
        )
        queue.enqueue_many(conn, [])

    with database.read() as conn:
        jobs = sorted(queue.list_jobs(conn), key=lambda job: job.id)
    assert [(job.target, job.subject, job.payload) for job in jobs] == [
        ("hubspot", "1", {"a": 1}),
        ("salesforce", "1", {}),
    ]
    assert {job.state for job in jobs} == {JobState.QUEUED}


# -- leases ----------------------------------------------------------------------------------


def test_a_job_under_lease_is_not_claimed_twice(database: Database) -> None:
    enqueue(database)
    assert claim(database, "w1") is not None

    assert claim(database, "w2") is None
    assert claim(database, "w2", now=utcnow() + LEASE - timedelta(seconds=1)) is None


def test_an_expired_lease_is_claimed_again(database: Database) -> None:
    job_id = enqueue(database)
    first = claim(database, "w1")
    assert first is not None and first.lease_until is not None

    again = claim(database, "w2", now=first.lease_until + timedelta(seconds=1))

    assert again is not None and again.id == job_id
    assert again.worker == "w2"
    assert again.attempts == 2


def test_a_worker_that_lost_its_lease_cannot_settle_the_job(database: Database) -> None:
    enqueue(database)
    first = claim(database, "w1")
    assert first is not None and first.lease_until is not None
    again = claim(database, "w2", now=first.lease_until + timedelta(seconds=1))
    assert again is not None

    assert complete(database, first, "w1") is False
    with database.begin() as conn:
        assert queue.kill(conn, first, "w1", "too late") is False
        assert queue.extend_lease(conn, first, "w1", LEASE) is False
    assert get(database, first.id).state is JobState.RUNNING
    assert complete(database, again, "w2") is True
    assert get(database, first.id).state is JobState.DONE


def test_a_lease_can_be_extended_by_its_holder(database: Database) -> None:
    enqueue(database)
    job = claim(database, lease=timedelta(seconds=1))
    assert job is not None

    with database.begin() as conn:
        assert queue.extend_lease(conn, job, "w1", timedelta(minutes=5))

    assert claim(database, "w2", now=utcnow() + timedelta(minutes=4)) is None


@pytest.mark.postgres
def test_concurrent_claims_skip_the_rows_another_worker_holds(
    postgres_database: Database,
) -> None:
    first_id = enqueue(postgres_database, 1)
    second_id = enqueue(postgres_database, 2)

    with postgres_database.begin() as holding:
        held = queue.claim(holding, "w1", LEASE, skip_locked=True)
        # w1 has not committed: w2 neither waits for it nor takes the same row.
        with postgres_database.begin() as other:
            other.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            taken = queue.claim(other, "w2", LEASE, skip_locked=True)

    assert held is not None and held.id == first_id
    assert taken is not None and taken.id == second_id


# -- one thread's jobs in order --------------------------------------------------------------


def test_a_later_job_of_a_thread_waits_while_an_earlier_one_is_queued(database: Database) -> None:
    later = utcnow() + timedelta(minutes=1)
    first = enqueue(database, 1, ordering_key="hubspot:thread:1", run_after=later)
    enqueue(database, 2, ordering_key="hubspot:thread:1")
    other = enqueue(database, 3, ordering_key="hubspot:thread:2")

    assert claim_ids(database) == [other]
    job = claim(database, now=later + timedelta(seconds=1))
    assert job is not None and job.id == first


def test_each_thread_gives_only_its_oldest_job_at_a_time(database: Database) -> None:
    first = enqueue(database, 1, ordering_key="hubspot:thread:1")
    enqueue(database, 2, ordering_key="hubspot:thread:1")
    other = enqueue(database, 3, ordering_key="hubspot:thread:2")

    assert claim_ids(database) == [first, other]


def test_a_later_job_of_a_thread_waits_while_an_earlier_one_is_running(
    database: Database,
) -> None:
    enqueue(database, 1, ordering_key="hubspot:thread:1")
    second = enqueue(database, 2, ordering_key="hubspot:thread:1")
    first = claim(database, "w1")
    assert first is not None

    assert claim(database, "w2") is None

    assert complete(database, first)
    job = claim(database, "w2")
    assert job is not None and job.id == second


def test_a_later_job_of_a_thread_waits_while_an_earlier_one_awaits_its_retry(
    database: Database,
) -> None:
    enqueue(database, 1, ordering_key="hubspot:thread:1")
    enqueue(database, 2, ordering_key="hubspot:thread:1")
    first = claim(database)
    assert first is not None
    reschedule(database, first, seconds=60)

    assert claim(database) is None

    retried = claim(database, now=utcnow() + timedelta(seconds=61))
    assert retried is not None and retried.id == first.id


def test_the_earlier_job_still_comes_first_after_an_expired_lease(database: Database) -> None:
    first_id = enqueue(database, 1, ordering_key="hubspot:thread:1")
    enqueue(database, 2, ordering_key="hubspot:thread:1")
    first = claim(database, "w1", lease=timedelta(seconds=1))
    assert first is not None

    again = claim(database, "w2", now=utcnow() + timedelta(seconds=5))

    assert again is not None and again.id == first_id


def test_a_dead_job_does_not_hold_back_its_thread(database: Database) -> None:
    enqueue(database, 1, ordering_key="hubspot:thread:1")
    second = enqueue(database, 2, ordering_key="hubspot:thread:1")
    first = claim(database)
    assert first is not None
    kill(database, first, "VALIDATION_ERROR")

    job = claim(database)
    assert job is not None and job.id == second


def test_jobs_without_an_ordering_key_never_wait_for_each_other(database: Database) -> None:
    ids = [enqueue(database, subject) for subject in range(3)]
    assert claim(database) is not None

    assert claim_ids(database) == ids[1:]


# -- rescheduling and releasing --------------------------------------------------------------


def test_a_rescheduled_job_waits_and_keeps_its_error(database: Database) -> None:
    job_id = enqueue(database)
    job = claim(database)
    assert job is not None

    reschedule(database, job, seconds=60)

    queued = get(database, job_id)
    assert queued.state is JobState.QUEUED
    assert queued.attempts == 1
    assert queued.last_error == "503"
    assert (queued.worker, queued.lease_until) == (None, None)
    assert claim(database) is None


def test_an_attempt_that_did_not_count_is_given_back(database: Database) -> None:
    job_id = enqueue(database)
    job = claim(database)
    assert job is not None

    with database.begin() as conn:
        assert queue.reschedule(
            conn, job, "w1", run_after=utcnow(), error="paused", count_attempt=False
        )

    assert get(database, job_id).attempts == 0


def test_a_released_job_is_claimable_at_once_and_untouched(database: Database) -> None:
    job_id = enqueue(database)
    job = claim(database)
    assert job is not None

    with database.begin() as conn:
        assert queue.release(conn, job, "w1")

    released = get(database, job_id)
    assert (released.state, released.attempts, released.last_error) == (JobState.QUEUED, 0, None)
    assert claim(database) is not None


# -- dead letters and replay -----------------------------------------------------------------


def test_a_killed_job_is_dead_with_its_reason(database: Database) -> None:
    job_id = enqueue(database)
    job = claim(database)
    assert job is not None

    kill(database, job, "VALIDATION_ERROR: hs_timestamp is invalid")

    dead = get(database, job_id)
    assert dead.state is JobState.DEAD
    assert dead.last_error == "VALIDATION_ERROR: hs_timestamp is invalid"
    assert claim(database, now=utcnow() + timedelta(days=30)) is None


def test_a_dead_job_is_replayed_from_scratch(database: Database) -> None:
    job_id = enqueue(database)
    job = claim(database)
    assert job is not None
    kill(database, job, "refused")

    with database.begin() as conn:
        assert queue.retry(conn, job_id)

    replayed = get(database, job_id)
    assert (replayed.state, replayed.attempts) == (JobState.QUEUED, 0)
    assert replayed.created_at > job.created_at
    again = claim(database)
    assert again is not None and again.id == job_id


def test_only_a_dead_job_can_be_replayed(database: Database) -> None:
    queued = enqueue(database)

    with database.begin() as conn:
        assert queue.retry(conn, queued) is False
        assert queue.retry(conn, 999_999) is False


def test_every_dead_job_is_replayed_at_once(database: Database) -> None:
    for subject in range(3):
        enqueue(database, subject)
    enqueue(database, "alive", run_after=utcnow() + timedelta(hours=1))
    for _ in range(3):
        job = claim(database)
        assert job is not None
        kill(database, job, "refused")

    with database.begin() as conn:
        replayed = queue.retry_all_dead(conn)

    assert replayed == 3
    with database.read() as conn:
        assert queue.counts(conn) == {"queued": 4}


def test_counts_and_listing_by_state(database: Database) -> None:
    ids = [enqueue(database, subject) for subject in range(4)]
    done = claim(database)
    dead = claim(database)
    assert done is not None and dead is not None
    assert complete(database, done)
    kill(database, dead, "refused")
    assert claim(database) is not None

    with database.read() as conn:
        assert queue.counts(conn) == {"done": 1, "dead": 1, "running": 1, "queued": 1}
        assert [job.id for job in queue.list_jobs(conn, state=JobState.DEAD)] == [dead.id]
        assert [job.id for job in queue.list_jobs(conn)] == ids[::-1]
        assert [job.id for job in queue.list_jobs(conn, limit=2, offset=1)] == ids[2:0:-1]


# -- paused targets --------------------------------------------------------------------------


def test_jobs_of_a_paused_target_wait_while_others_run(database: Database) -> None:
    enqueue(database, 1, target="salesforce")
    hubspot = enqueue(database, 2, target="hubspot")
    with database.begin() as conn:
        queue.pause_target(conn, "salesforce", until=None, reason="REQUEST_LIMIT_EXCEEDED")

    assert claim_ids(database) == [hubspot]
    with database.read() as conn:
        assert queue.paused_targets(conn) == {"salesforce": "REQUEST_LIMIT_EXCEEDED"}


def test_a_resumed_target_runs_again(database: Database) -> None:
    job_id = enqueue(database, target="salesforce")
    with database.begin() as conn:
        queue.pause_target(conn, "salesforce", until=None, reason="invalid_grant")
        queue.pause_target(conn, "salesforce", until=None, reason="still invalid_grant")
    with database.read() as conn:
        assert queue.paused_targets(conn) == {"salesforce": "still invalid_grant"}

    with database.begin() as conn:
        queue.resume_target(conn, "salesforce")

    with database.read() as conn:
        assert queue.paused_targets(conn) == {}
    assert claim_ids(database) == [job_id]


def test_a_pause_runs_out_by_itself(database: Database) -> None:
    job_id = enqueue(database, target="salesforce")
    until = utcnow() + timedelta(minutes=5)
    with database.begin() as conn:
        queue.pause_target(conn, "salesforce", until=until, reason="invalid_grant")

    assert claim(database) is None
    later = until + timedelta(seconds=1)
    with database.read() as conn:
        assert queue.paused_targets(conn, now=later) == {}
    job = claim(database, now=later)
    assert job is not None and job.id == job_id


# -- the head of each ordering key -----------------------------------------------------------


def claim_batch(database: Database, worker: str = "w1", limit: int = 10) -> list[Job]:
    with database.begin() as conn:
        first = queue.claim(conn, worker, LEASE, skip_locked=database.is_postgres)
        if first is None:
            return []
        more = queue.claim_more(
            conn, first, worker, LEASE, limit=limit, skip_locked=database.is_postgres
        )
    return [first, *more]


def test_jobs_of_one_key_queued_in_one_call_still_run_one_after_another(
    database: Database,
) -> None:
    with database.begin() as conn:
        queue.enqueue_many(
            conn,
            [
                {"kind": "sync_crm", "target": "hubspot", "subject": s, "ordering_key": "k"}
                for s in range(3)
            ],
        )

    first = claim(database)
    assert first is not None and first.subject == "0"
    assert claim(database) is None
    assert complete(database, first)
    second = claim(database)
    assert second is not None and second.subject == "1"


def test_a_job_that_travelled_behind_its_head_and_failed_runs_next_when_due(
    database: Database,
) -> None:
    ids = [enqueue(database, subject, ordering_key="k") for subject in range(3)]
    head, follower = claim_batch(database, limit=1)
    assert [head.id, follower.id] == ids[:2]
    assert complete(database, head)
    reschedule(database, follower, seconds=60)

    assert claim(database) is None  # the third waits behind the second's retry
    retried = claim(database, now=utcnow() + timedelta(seconds=61))
    assert retried is not None and retried.id == ids[1]


def test_a_replayed_dead_job_goes_ahead_of_the_later_jobs_of_its_key(database: Database) -> None:
    first_id = enqueue(database, 1, ordering_key="k")
    second_id = enqueue(database, 2, ordering_key="k")
    first = claim(database)
    assert first is not None
    kill(database, first, "refused")
    with database.begin() as conn:
        assert queue.retry(conn, first_id)

    job = claim(database)
    assert job is not None and job.id == first_id
    assert claim(database) is None
    assert complete(database, job)
    later = claim(database)
    assert later is not None and later.id == second_id


def test_a_batch_takes_the_heads_and_the_later_jobs_of_their_keys_in_order(
    database: Database,
) -> None:
    ids = [enqueue(database, s, ordering_key=f"k{s % 3}") for s in range(9)]
    busy = enqueue(database, 9, ordering_key="held")
    blocked = enqueue(database, 10, ordering_key="held")
    with database.begin() as conn:
        # Another worker holds the `held` conversation's first job.
        conn.execute(update(jobs).where(jobs.c.id == busy).values(state="running", worker="w9"))

    batch = claim_batch(database, limit=20)

    assert [job.id for job in batch] == ids
    assert blocked not in {job.id for job in batch}


def test_live_counts_leave_out_done_jobs_and_stop_at_their_cap(database: Database) -> None:
    for subject in range(5):
        enqueue(database, subject)
    done = claim(database)
    dead = claim(database)
    assert done is not None and dead is not None
    assert complete(database, done)
    kill(database, dead, "refused")

    with database.read() as conn:
        assert queue.live_counts(conn) == {"queued": 3, "dead": 1}
        assert queue.live_counts(conn, cap=2) == {"queued": 2, "dead": 1}
