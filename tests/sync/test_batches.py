"""Batched jobs: many CRM writes in one call, each job still settled on its own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from connector.core.errors import Permanent, Transient
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job, JobState
from connector.sync.worker import Batched, Defer, Worker


class RecordingBatch:
    """A batch handler that remembers each call and fails the jobs it is told to."""

    def __init__(self, failures: Mapping[str, BaseException] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.failures = dict(failures or {})

    def __call__(self, jobs: list[Job]) -> dict[int, BaseException | None]:
        self.calls.append([job.subject for job in jobs])
        return {job.id: self.failures.get(job.subject) for job in jobs}


def queue_syncs(database: Database, subjects_and_threads: list[tuple[str, int]]) -> None:
    with database.begin() as conn:
        for subject, thread in subjects_and_threads:
            queue.enqueue(
                conn,
                "sync_crm",
                target="hubspot",
                subject=subject,
                ordering_key=f"hubspot:thread:{thread}",
            )


def worker_with(database: Database, handler: RecordingBatch, size: int = 100) -> Worker:
    return Worker(
        database,
        {},
        batched={"sync_crm": Batched(handler, size)},
        lease=timedelta(seconds=30),
    )


def states(database: Database) -> dict[str, JobState]:
    with database.read() as conn:
        return {job.subject: job.state for job in queue.list_jobs(conn, limit=1000)}


def test_pending_jobs_of_one_crm_travel_in_one_batch(database: Database) -> None:
    queue_syncs(database, [(f"m{i}", i % 5) for i in range(12)])
    handler = RecordingBatch()

    worker_with(database, handler).drain()

    assert len(handler.calls) == 1
    assert handler.calls[0] == [f"m{i}" for i in range(12)]
    assert set(states(database).values()) == {JobState.DONE}


def test_batch_size_is_respected(database: Database) -> None:
    queue_syncs(database, [(f"m{i}", i) for i in range(7)])
    handler = RecordingBatch()

    worker_with(database, handler, size=3).drain()

    assert [len(call) for call in handler.calls] == [3, 3, 1]


def test_each_job_of_a_batch_is_settled_by_its_own_outcome(database: Database) -> None:
    queue_syncs(database, [("ok", 1), ("bad", 2), ("later", 3), ("wait", 4)])
    handler = RecordingBatch(
        {
            "bad": Permanent("VALIDATION_ERROR: hs_timestamp is invalid"),
            "later": Transient("503 from HubSpot"),
            "wait": Defer(30, "media still being captured"),
        }
    )

    worker_with(database, handler).run_once()

    with database.read() as conn:
        jobs = {job.subject: job for job in queue.list_jobs(conn)}
    assert jobs["ok"].state is JobState.DONE
    assert jobs["bad"].state is JobState.DEAD
    assert jobs["bad"].last_error == "VALIDATION_ERROR: hs_timestamp is invalid"
    assert jobs["later"].state is JobState.QUEUED and jobs["later"].attempts == 1
    assert jobs["wait"].state is JobState.QUEUED and jobs["wait"].attempts == 0


def test_a_thread_waiting_for_a_retry_holds_back_its_later_jobs(database: Database) -> None:
    queue_syncs(database, [("first", 1)])
    worker_with(database, RecordingBatch({"first": Transient("timeout")})).run_once()
    queue_syncs(database, [("second", 1), ("other-thread", 2)])
    handler = RecordingBatch()

    worker_with(database, handler).drain()

    assert handler.calls == [["other-thread"]]
    assert states(database)["second"] is JobState.QUEUED


def test_a_batch_that_crashes_retries_every_job_in_it(database: Database) -> None:
    queue_syncs(database, [("a", 1), ("b", 2)])

    def crash(_jobs: list[Job]) -> dict[int, BaseException | None]:
        raise RuntimeError("bug")

    Worker(database, {}, batched={"sync_crm": Batched(crash, 10)}).run_once()

    with database.read() as conn:
        jobs = queue.list_jobs(conn)
    assert {job.state for job in jobs} == {JobState.QUEUED}
    assert {job.last_error for job in jobs} == {"internal error: RuntimeError"}
