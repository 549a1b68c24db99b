"""The queue's numbers for the metrics: by state and kind, bounded, done jobs never read."""

from __future__ import annotations

from datetime import timedelta

from connector.store import job_counts, queue
from connector.store.db import Database
from connector.store.queue import utcnow


def test_depth_counts_live_jobs_by_state_and_kind_and_never_done_ones(database: Database) -> None:
    with database.begin() as conn:
        for subject in range(3):
            queue.enqueue(conn, "capture_media", target="media", subject=subject)
        queue.enqueue(conn, "sync_crm", target="hubspot", subject=1)
        done = queue.enqueue(conn, "send_message", target="aircall", subject=1)
        dead = queue.enqueue(conn, "sync_crm", target="salesforce", subject=2)
    with database.begin() as conn:
        for _ in range(3):
            job = queue.claim(conn, "w", timedelta(seconds=30), kinds=["send_message", "sync_crm"])
            assert job is not None
            if job.id == done:
                queue.complete(conn, job, "w")
            elif job.id == dead:
                queue.kill(conn, job, "w", "refused")

    with database.read() as conn:
        found = job_counts.depth(conn)

    assert found == {
        ("queued", "capture_media"): 3,
        ("running", "sync_crm"): 1,
        ("dead", "sync_crm"): 1,
    }


def test_each_state_is_counted_up_to_the_cap(database: Database) -> None:
    with database.begin() as conn:
        for subject in range(5):
            queue.enqueue(conn, "capture_media", target="media", subject=subject)

    with database.read() as conn:
        assert job_counts.depth(conn, cap=3) == {("queued", "capture_media"): 3}


def test_the_oldest_queued_job_is_when_the_first_waiting_job_was_queued(
    database: Database,
) -> None:
    with database.read() as conn:
        assert job_counts.oldest_queued(conn) is None
    before = utcnow()
    with database.begin() as conn:
        queue.enqueue(conn, "capture_media", target="media", subject=1)
        queue.enqueue(conn, "sync_crm", target="hubspot", subject=1)

    with database.read() as conn:
        oldest = job_counts.oldest_queued(conn)

    assert oldest is not None and before <= oldest <= utcnow()
