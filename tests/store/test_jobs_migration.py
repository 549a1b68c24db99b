"""Upgrading a database with jobs in flight: the jobs already queued get their heads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from connector.store import migrate, queue
from connector.store.db import Database
from connector.store.queue import utcnow


def test_jobs_queued_before_the_upgrade_run_in_order_after_it(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(database, "0003")
    now = utcnow()
    with database.begin() as conn:
        for subject, key, state in [
            (1, "k1", "done"),
            (2, "k1", "queued"),
            (3, "k1", "queued"),
            (4, None, "queued"),
            (5, "k2", "running"),
            (6, "k2", "queued"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO jobs (kind, target, subject, ordering_key, state, attempts, "
                    "run_after, lease_until, worker, payload, created_at, updated_at) VALUES "
                    "('sync_crm', 'hubspot', :subject, :key, :state, 0, :now, :lease, :worker, "
                    "'{}', :now, :now)"
                ),
                {
                    "subject": str(subject),
                    "key": key,
                    "state": state,
                    "now": now,
                    "lease": now + timedelta(minutes=5) if state == "running" else None,
                    "worker": "old" if state == "running" else None,
                },
            )

    migrate.upgrade(database)

    claimed = []
    with database.begin() as conn:
        while (job := queue.claim(conn, "new", timedelta(seconds=30))) is not None:
            claimed.append(job.subject)
    assert claimed == ["2", "4"]  # 3 waits behind 2, 6 behind the running 5
    database.dispose()
