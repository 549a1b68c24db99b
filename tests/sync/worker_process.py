"""A worker in a process of its own, for the crash and concurrency tests.

    python -m tests.sync.worker_process URL --until N [--sleep S] [--lease L]
        runs jobs until it has run N of them (a crash test kills it before that);
    python -m tests.sync.worker_process URL --drain
        says `worker-ready`, waits for a line on stdin, drains the queue, says
        `worker-drained N` and exits.

Its one job kind, `effect`, records that it started (`starts`), sleeps, then records its effect
(`effects`): a job that ran to the end once has exactly one `effects` row.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from connector import logs as connector_logs
from connector.store.db import Database
from connector.store.queue import Job
from connector.sync.worker import Handler, Worker

KIND = "effect"
# Lines of the `--drain` protocol on stdout, which the worker's log lines may share.
READY = "worker-ready"
DRAINED = "worker-drained"

side_metadata = MetaData()
starts = Table(
    "test_starts",
    side_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
)
# No unique key on purpose: a job run twice must show as two rows, not as a retried error.
effects = Table(
    "test_effects",
    side_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("worker", String(96), nullable=False),
)


def effect_handler(database: Database, worker_name: str, sleep: float) -> Handler:
    def run(job: Job) -> None:
        if sleep:
            with database.begin() as conn:
                conn.execute(insert(starts).values(job_id=job.id, pid=os.getpid()))
            time.sleep(sleep)
        with database.begin() as conn:
            conn.execute(insert(effects).values(job_id=job.id, worker=worker_name))

    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--until", type=int, default=0)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=20.0)
    args = parser.parse_args(argv)
    connector_logs.configure("WARNING")

    database = Database(args.url, pool_size=2)
    name = f"proc-{os.getpid()}"
    worker = Worker(
        database,
        {KIND: effect_handler(database, name, args.sleep)},
        lease=timedelta(seconds=args.lease),
        name=name,
    )
    try:
        if args.drain:
            print(READY, flush=True)
            sys.stdin.readline()
            print(f"{DRAINED} {worker.drain(limit=100_000)}", flush=True)
            return 0
        ran = 0
        deadline = time.monotonic() + args.deadline
        while ran < args.until:
            if worker.run_once() is not None:
                ran += 1
            elif time.monotonic() > deadline:
                return 1
            else:
                time.sleep(0.05)
        return 0
    finally:
        database.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
