"""The worker settles every job by what its handler reported: done, later, dead, or paused.

No test sleeps through a backoff: time passing is simulated by moving `run_after` or by claiming
with a later `now`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from structlog.testing import capture_logs

from connector.core.errors import CredentialsError, Permanent, Throttled, Transient
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job, JobState, utcnow
from connector.store.tables import jobs
from connector.sync import worker as worker_module
from connector.sync.retry import BASE_SECONDS, CAP_SECONDS, backoff_seconds
from connector.sync.worker import Defer, Worker

UNAVAILABLE = "503 Service Unavailable"


class Handler:
    """Runs jobs, remembering each call, and raises what `failures` says for each subject."""

    def __init__(
        self, failures: dict[str, Callable[[], BaseException | None]] | None = None
    ) -> None:
        self.failures = failures or {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, job: Job) -> None:
        with self._lock:
            self.calls.append(job.subject)
        fail = self.failures.get(job.subject) or self.failures.get(job.target)
        error = fail() if fail else None
        if error is not None:
            raise error


def always(error: BaseException) -> Callable[[], BaseException | None]:
    return lambda: error


def enqueue(
    database: Database, subject: str = "m1", *, target: str = "hubspot", kind: str = "sync_crm"
) -> int:
    with database.begin() as conn:
        return queue.enqueue(conn, kind, target=target, subject=subject)


def get(database: Database, job_id: int) -> Job:
    with database.read() as conn:
        job = queue.get(conn, job_id)
    assert job is not None
    return job


def make_due(database: Database) -> None:
    """Time passes: every waiting job is due now."""
    with database.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.state == JobState.QUEUED.value)
            .values(run_after=utcnow() - timedelta(seconds=1))
        )


def age(database: Database, job_id: int, by: timedelta) -> None:
    with database.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(created_at=utcnow() - by))


def worker(database: Database, handler: Handler, **options: object) -> Worker:
    options.setdefault("name", "test-worker")
    return Worker(database, {"sync_crm": handler}, **options)  # type: ignore[arg-type]


def claim_at(database: Database, now: datetime) -> Job | None:
    """What a worker would claim at `now` (in the future: time has passed)."""
    with database.begin() as conn:
        return queue.claim(
            conn, "other-worker", timedelta(seconds=30), skip_locked=database.is_postgres, now=now
        )


def run_and_time(work: Worker) -> tuple[datetime, datetime]:
    before = utcnow()
    assert work.run_once() is not None
    return before, utcnow()


# -- success ---------------------------------------------------------------------------------


def test_a_job_whose_handler_returns_is_done(database: Database) -> None:
    job_id = enqueue(database)
    handler = Handler()

    assert worker(database, handler).drain() == 1

    assert handler.calls == ["m1"]
    job = get(database, job_id)
    assert (job.state, job.attempts, job.lease_until) == (JobState.DONE, 1, None)


def test_a_worker_claims_only_the_kinds_it_has_handlers_for(database: Database) -> None:
    enqueue(database, kind="capture_media", target="media")
    handler = Handler()

    assert worker(database, handler).drain() == 0
    assert handler.calls == []


# -- transient errors ------------------------------------------------------------------------


def test_transient_errors_are_retried_on_a_full_jitter_schedule(database: Database) -> None:
    job_id = enqueue(database)
    work = worker(database, Handler({"m1": always(Transient(UNAVAILABLE))}))

    for attempt in range(1, 8):
        before, after = run_and_time(work)

        job = get(database, job_id)
        assert job.state is JobState.QUEUED
        assert job.attempts == attempt
        assert job.last_error == UNAVAILABLE
        ceiling = min(CAP_SECONDS, BASE_SECONDS * 2 ** (attempt - 1))
        assert before <= job.run_after <= after + timedelta(seconds=ceiling)
        make_due(database)


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 10, 30])
def test_backoff_is_full_jitter_between_zero_and_a_growing_capped_ceiling(attempt: int) -> None:
    ceiling = min(CAP_SECONDS, BASE_SECONDS * 2 ** (attempt - 1))

    delays = [backoff_seconds(attempt) for _ in range(300)]

    assert all(0 <= delay <= ceiling for delay in delays)
    # Spread across the whole range, not bunched: retries of many jobs do not stampede.
    assert min(delays) < ceiling * 0.25
    assert max(delays) > ceiling * 0.75


def test_a_job_retried_thousands_of_times_still_waits_at_most_the_cap() -> None:
    delays = [backoff_seconds(10_000) for _ in range(300)]

    assert all(1 <= delay <= CAP_SECONDS for delay in delays)
    assert max(delays) > CAP_SECONDS * 0.75


def test_a_longer_retry_after_always_wins_over_the_backoff() -> None:
    assert all(backoff_seconds(1, retry_after=120) == 120 for _ in range(100))
    assert all(backoff_seconds(12, retry_after=1) >= 1 for _ in range(100))


def test_a_rate_limited_job_waits_at_least_its_retry_after(database: Database) -> None:
    job_id = enqueue(database)
    work = worker(database, Handler({"m1": always(Transient("429 Too Many Requests", 600))}))

    before, after = run_and_time(work)

    job = get(database, job_id)
    assert job.last_error == "429 Too Many Requests"
    assert before + timedelta(seconds=600) <= job.run_after <= after + timedelta(seconds=600)
    assert claim_at(database, before + timedelta(seconds=599)) is None


def test_a_retried_job_runs_again_when_its_time_comes_and_is_done(database: Database) -> None:
    job_id = enqueue(database)
    outcomes = iter([Transient("timeout", retry_after=30), None])
    handler = Handler({"m1": lambda: next(outcomes)})
    work = worker(database, handler)

    before, _ = run_and_time(work)
    assert work.run_once() is None
    assert claim_at(database, before + timedelta(seconds=29)) is None
    make_due(database)
    work.drain()

    assert handler.calls == ["m1", "m1"]
    job = get(database, job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 2)


def test_an_unexpected_exception_is_retried_as_an_internal_error(database: Database) -> None:
    job_id = enqueue(database)

    worker(database, Handler({"m1": always(KeyError("contact"))})).run_once()

    job = get(database, job_id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 1)
    assert job.last_error == "internal error: KeyError"


def test_a_job_failing_past_its_max_age_is_dead_with_its_attempts_and_reason(
    database: Database,
) -> None:
    job_id = enqueue(database)
    work = worker(database, Handler({"m1": always(Transient(UNAVAILABLE))}))
    work.run_once()
    make_due(database)
    work.run_once()
    assert get(database, job_id).state is JobState.QUEUED

    age(database, job_id, timedelta(hours=72, minutes=1))
    make_due(database)
    work.run_once()

    job = get(database, job_id)
    assert job.state is JobState.DEAD
    assert job.last_error == f"gave up after 3 attempts: {UNAVAILABLE}"


def test_a_job_younger_than_its_max_age_keeps_retrying(database: Database) -> None:
    job_id = enqueue(database)
    age(database, job_id, timedelta(hours=71, minutes=59))

    worker(database, Handler({"m1": always(Transient(UNAVAILABLE))})).run_once()

    assert get(database, job_id).state is JobState.QUEUED


def test_max_age_is_the_workers_setting(database: Database) -> None:
    job_id = enqueue(database)
    age(database, job_id, timedelta(minutes=11))
    handler = Handler({"m1": always(Transient(UNAVAILABLE))})

    worker(database, handler, max_age=timedelta(minutes=10)).run_once()

    assert get(database, job_id).last_error == f"gave up after 1 attempts: {UNAVAILABLE}"


# -- permanent errors and replay -------------------------------------------------------------


def test_a_permanent_error_kills_the_job_at_once_with_its_reason(database: Database) -> None:
    job_id = enqueue(database)
    handler = Handler({"m1": always(Permanent("INVALID_FIELD: No such column 'Mms__c'"))})

    worker(database, handler).drain()

    job = get(database, job_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 1)
    assert job.last_error == "INVALID_FIELD: No such column 'Mms__c'"
    make_due(database)
    assert worker(database, handler).drain() == 0
    assert handler.calls == ["m1"]


def test_a_dead_job_replayed_after_the_fix_runs_again_and_is_done(database: Database) -> None:
    job_id = enqueue(database)
    broken = {"m1": always(Permanent("mapping refers to a missing field"))}
    handler = Handler(broken)
    worker(database, handler).drain()

    handler.failures = {}  # the admin fixed the mapping
    with database.begin() as conn:
        assert queue.retry(conn, job_id)
    worker(database, handler).drain()

    assert handler.calls == ["m1", "m1"]
    job = get(database, job_id)
    assert (job.state, job.attempts) == (JobState.DONE, 1)


def test_every_dead_job_replayed_at_once_is_done(database: Database) -> None:
    ids = [enqueue(database, f"m{i}") for i in range(5)]
    handler = Handler({"hubspot": always(Permanent("portal closed"))})
    worker(database, handler).drain()

    handler.failures = {}
    with database.begin() as conn:
        assert queue.retry_all_dead(conn) == 5
    assert worker(database, handler).drain() == 5

    assert {get(database, job_id).state for job_id in ids} == {JobState.DONE}


# -- deferral --------------------------------------------------------------------------------


def test_a_deferred_job_waits_without_spending_an_attempt(database: Database) -> None:
    job_id = enqueue(database)
    work = worker(database, Handler({"m1": always(Defer(30, "media still being captured"))}))

    for _ in range(3):
        before, after = run_and_time(work)

        job = get(database, job_id)
        assert (job.state, job.attempts) == (JobState.QUEUED, 0)
        assert job.last_error == "media still being captured"
        assert before + timedelta(seconds=30) <= job.run_after <= after + timedelta(seconds=30)
        make_due(database)


# -- credentials -----------------------------------------------------------------------------


def test_a_credentials_error_pauses_the_target_and_other_targets_keep_running(
    database: Database,
) -> None:
    refused = "INVALID_SESSION_ID: Session expired or invalid"
    first = enqueue(database, "m1", target="salesforce")
    second = enqueue(database, "m2", target="salesforce")
    hubspot = enqueue(database, "m3", target="hubspot")
    handler = Handler({"salesforce": always(CredentialsError(refused))})

    worker(database, handler).drain()

    assert sorted(handler.calls) == ["m1", "m3"]  # m2 was never tried against a refusing CRM
    assert get(database, hubspot).state is JobState.DONE
    for job_id in (first, second):
        job = get(database, job_id)
        assert (job.state, job.attempts) == (JobState.QUEUED, 0)
    assert get(database, first).last_error == refused
    with database.read() as conn:
        assert queue.paused_targets(conn) == {"salesforce": refused}
        assert queue.counts(conn).get("dead", 0) == 0


def test_a_resumed_target_runs_its_waiting_jobs(database: Database) -> None:
    ids = [enqueue(database, f"m{i}", target="salesforce") for i in range(3)]
    handler = Handler({"salesforce": always(CredentialsError("invalid_grant"))})
    worker(database, handler).drain()

    handler.failures = {}  # the operator installed a new key
    with database.begin() as conn:
        queue.resume_target(conn, "salesforce")
    assert worker(database, handler).drain() == 3

    assert {get(database, job_id).state for job_id in ids} == {JobState.DONE}
    with database.read() as conn:
        assert queue.paused_targets(conn) == {}


def test_a_credentials_pause_runs_out_by_itself(database: Database) -> None:
    job_id = enqueue(database, target="salesforce")
    worker(database, Handler({"salesforce": always(CredentialsError("invalid_grant"))})).drain()

    later = utcnow() + worker_module.CREDENTIALS_PAUSE + timedelta(seconds=1)
    assert claim_at(database, later - timedelta(minutes=1)) is None
    job = claim_at(database, later)
    assert job is not None and job.id == job_id


def test_a_spent_daily_limit_pauses_the_target_for_its_retry_after_without_a_retry_storm(
    database: Database,
) -> None:
    limit = "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
    ids = [enqueue(database, f"m{i}", target="salesforce") for i in range(3)]
    hubspot = enqueue(database, "h1", target="hubspot")
    handler = Handler({"salesforce": always(Throttled(limit, retry_after=3600))})

    before = utcnow()
    worker(database, handler).drain()

    assert sorted(handler.calls) == ["h1", "m0"]  # one refused call, not one per job
    assert get(database, hubspot).state is JobState.DONE
    assert [get(database, job_id).attempts for job_id in ids] == [0, 0, 0]
    with database.read() as conn:
        assert queue.paused_targets(conn) == {"salesforce": limit}
        assert queue.counts(conn).get("dead", 0) == 0
    assert claim_at(database, before + timedelta(minutes=59)) is None
    job = claim_at(database, utcnow() + timedelta(hours=1, seconds=1))
    assert job is not None and job.id == ids[0]


# -- leases and lifecycle --------------------------------------------------------------------


def test_a_job_outliving_its_lease_many_times_keeps_it_and_is_done_once(
    database: Database,
) -> None:
    job_id = enqueue(database)
    lease = timedelta(seconds=1.5)
    rival_handler = Handler()
    rival = worker(database, rival_handler, lease=lease, name="rival", poll_seconds=0.05)
    calls: list[str] = []

    def slow(job: Job) -> None:
        calls.append(job.subject)
        rival.start()
        time.sleep(5.25)  # three and a half leases; the rival polls all along

    work = Worker(database, {"sync_crm": slow}, lease=lease, name="slow")
    try:
        with capture_logs() as logs:
            assert work.run_once() is not None
    finally:
        rival.stop(timeout=5)

    job = get(database, job_id)
    assert (job.state, job.worker, job.attempts) == (JobState.DONE, "slow", 1)
    assert calls == ["m1"] and rival_handler.calls == []
    assert not [entry for entry in logs if "lease" in entry["event"]]


def test_a_job_taken_over_by_another_worker_is_settled_by_that_worker_alone(
    database: Database,
) -> None:
    job_id = enqueue(database)
    rescuer = worker(database, Handler(), name="rescuer")

    def stalled(job: Job) -> None:
        # This process stalled past its lease (no heartbeat reached the database) ...
        with database.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        assert rescuer.run_once() is not None  # ... so another worker took the job over,
        assert slow.heartbeat.beat() == {job.id}  # which the next heartbeat finds out

    slow = Worker(database, {"sync_crm": stalled}, name="slow")
    with capture_logs() as logs:
        slow.run_once()

    job = get(database, job_id)
    assert (job.state, job.worker, job.attempts) == (JobState.DONE, "rescuer", 2)
    assert [entry["event"] for entry in logs if entry["event"] == "job.lease_lost"] == [
        "job.lease_lost"
    ]


def test_a_started_worker_runs_every_job_once_in_background_threads(database: Database) -> None:
    ids = [enqueue(database, f"m{i}") for i in range(40)]
    handler = Handler()
    work = worker(database, handler, concurrency=4, poll_seconds=0.02)

    work.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with database.read() as conn:
                if queue.counts(conn) == {"done": 40}:
                    break
            time.sleep(0.05)
    finally:
        work.stop(timeout=5)

    assert {get(database, job_id).state for job_id in ids} == {JobState.DONE}
    assert Counter(handler.calls) == Counter(f"m{i}" for i in range(40))


def test_a_stopped_worker_takes_no_more_jobs(database: Database) -> None:
    handler = Handler()
    work = worker(database, handler, concurrency=2, poll_seconds=0.02)
    work.start()
    work.stop(timeout=5)

    enqueue(database)
    time.sleep(0.1)

    assert handler.calls == []
