"""The bounded linger: a small CRM batch waits briefly for more jobs when calls are scarce."""

from __future__ import annotations

import threading
from datetime import timedelta

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job
from connector.sync.linger import budget_linger, gather
from connector.sync.worker import Batched, Worker
from tests.sync.test_batches import RecordingBatch, queue_syncs


def jobs(count: int) -> list[Job]:
    """A claimed batch of `count` jobs; the linger looks only at how many there are."""
    return [Job.__new__(Job) for _ in range(count)]


def test_a_small_batch_lingers_for_the_configured_time() -> None:
    linger = budget_linger(1.5, fill=100, budget_wait=lambda _batch: 0.0)

    assert linger(jobs(1)) == 1.5


def test_with_no_call_slot_free_a_small_batch_gathers_until_its_slot_comes() -> None:
    # The call would wait for its slot in the rate limiter anyway: waiting here instead costs no
    # latency and lets the jobs that arrive meanwhile ride along.
    linger = budget_linger(1.5, fill=100, budget_wait=lambda _batch: 6.0, longest=20.0)

    assert linger(jobs(1)) == 6.0


def test_waiting_for_a_slot_is_capped_well_inside_a_lease() -> None:
    linger = budget_linger(1.5, fill=100, budget_wait=lambda _batch: 60.0, longest=10.0)

    assert linger(jobs(1)) == 10.0


def test_a_batch_that_fills_a_call_goes_at_once_without_asking_the_budget() -> None:
    asked: list[int] = []
    linger = budget_linger(
        1.5, fill=100, budget_wait=lambda batch: asked.append(len(batch)) or 60.0
    )

    assert linger(jobs(100)) == 0
    assert asked == []


def test_a_target_without_a_budget_lingers_the_configured_time_and_zero_turns_it_off() -> None:
    assert budget_linger(1.5, fill=100, budget_wait=lambda _batch: None)(jobs(1)) == 1.5
    assert budget_linger(0.0, fill=100, budget_wait=lambda _batch: 6.0)(jobs(1)) == 0


def test_a_stopping_worker_does_not_linger() -> None:
    stopping = threading.Event()
    stopping.set()
    claimed: list[int] = []

    more = gather(lambda n: claimed.append(n) or [], 10, 60.0, stopping=stopping)

    assert (more, claimed) == ([], [])


def lingering_worker(
    database: Database, handler: RecordingBatch, *, seconds: float, arrivals: int, size: int
) -> Worker:
    """A worker whose linger sees `arrivals` more jobs queued while the first batch waits."""

    def linger(batch: list[Job]) -> float:
        queue_syncs(database, [(f"late{i}", 100 + i) for i in range(arrivals)])
        return seconds

    return Worker(
        database,
        {},
        batched={"sync_crm": Batched(handler, size, linger)},
        lease=timedelta(seconds=30),
    )


def test_a_lingering_batch_takes_the_jobs_queued_meanwhile_in_the_same_call(
    sqlite_database: Database,
) -> None:
    queue_syncs(sqlite_database, [("first", 1)])
    handler = RecordingBatch()
    worker = lingering_worker(sqlite_database, handler, seconds=5.0, arrivals=4, size=5)

    worker.run_once()

    assert handler.calls == [["first", "late0", "late1", "late2", "late3"]]
    with sqlite_database.read() as conn:
        assert queue.counts(conn) == {"done": 5}


def test_without_a_linger_the_batch_goes_with_what_was_there(sqlite_database: Database) -> None:
    queue_syncs(sqlite_database, [("first", 1)])
    handler = RecordingBatch()
    worker = lingering_worker(sqlite_database, handler, seconds=0.0, arrivals=2, size=5)

    worker.run_once()

    assert handler.calls == [["first"]]


def test_while_one_thread_gathers_a_kind_the_others_leave_its_jobs_to_it(
    sqlite_database: Database,
) -> None:
    queue_syncs(sqlite_database, [("first", 1)])
    handler = RecordingBatch()
    worker = lingering_worker(sqlite_database, handler, seconds=0.0, arrivals=0, size=5)

    with worker._gathering["sync_crm"]:  # another thread of this worker is gathering
        assert worker.run_once() is None
    assert worker.run_once() is not None

    assert handler.calls == [["first"]]
