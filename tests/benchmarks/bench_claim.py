"""Claim benchmark: how long claiming one batch of 100 jobs takes as the backlog grows.

For each backlog size, a fresh database gets that many queued `sync_crm` jobs (ten per
conversation, conversations interleaved as webhooks queue them), plus as many done jobs (the
retention keeps two weeks of them). Then a batch is claimed the way the worker claims it
(`claim` + `claim_more` in one transaction) and rolled back, several times, and the median time
of one batch is printed.

    python -m tests.benchmarks.bench_claim [--sizes 1000,10000,100000] [--batches 7]
        [--postgres URL]

Run it on two checkouts to compare query shapes; the figures are only comparable on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text, update

from connector.store import migrate, queue
from connector.store.db import Database, normalize_url
from connector.store.queue import JobState
from connector.store.tables import jobs

BATCH = 100
PER_THREAD = 10
LEASE = timedelta(seconds=60)


def fill(database: Database, queued: int) -> None:
    threads = max(1, queued // PER_THREAD)
    rows = [
        {
            "kind": "sync_crm",
            "target": "hubspot",
            "subject": i,
            "ordering_key": f"hubspot:thread:{i % threads}",
        }
        for i in range(queued)
    ]
    # First the history, done jobs the retention still keeps; then the backlog.
    _enqueue(database, rows)
    with database.begin() as conn:
        conn.execute(update(jobs).values(state=JobState.DONE.value, worker="bench"))
    _enqueue(database, rows)
    if database.is_postgres:
        with database.begin() as conn:
            conn.execute(text("ANALYZE jobs"))


def _enqueue(database: Database, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), 5_000):
        with database.begin() as conn:
            queue.enqueue_many(conn, rows[start : start + 5_000])


def claim_batch(database: Database, worker: str) -> tuple[float, int]:
    with database.engine.connect() as conn:
        started = time.perf_counter()
        transaction = conn.begin()
        first = queue.claim(conn, worker, LEASE, skip_locked=database.is_postgres)
        batch = [first] if first else []
        if first is not None:
            batch += queue.claim_more(
                conn, first, worker, LEASE, limit=BATCH - 1, skip_locked=database.is_postgres
            )
        elapsed = (time.perf_counter() - started) * 1000
        transaction.rollback()  # the next measurement starts from the same backlog
    return elapsed, len(batch)


def run(database: Database, label: str, queued: int, batches: int) -> None:
    migrate.upgrade(database)
    fill(database, queued)
    timings = []
    sizes = []
    for index in range(batches):
        elapsed, size = claim_batch(database, f"bench-{index}")
        timings.append(elapsed)
        sizes.append(size)
    print(
        f"{label:<10} queued={queued:>7}  batch of {statistics.median(sizes):>3.0f}: "
        f"median {statistics.median(timings):7.2f} ms  (min {min(timings):.2f}, "
        f"max {max(timings):.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--postgres", default=None, help="also run on this PostgreSQL URL")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    for queued in sizes:
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                run(database, "sqlite", queued, args.batches)
            finally:
                database.dispose()
    if args.postgres:
        for queued in sizes:
            base = normalize_url(args.postgres)
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            separator = "&" if "?" in base else "?"
            database = Database(f"{base}{separator}options=-csearch_path%3D{schema}")
            try:
                run(database, "postgresql", queued, args.batches)
            finally:
                database.dispose()
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
