"""Real worker processes: one killed with SIGKILL mid-job, and four racing over one PostgreSQL.

Each job's handler writes one `effects` row at its very end, so a job that ran to completion
twice would show two rows; the tests assert exactly one per job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import JobState
from connector.store.tables import jobs
from tests.conftest import make_database
from tests.sync.worker_process import DRAINED, KIND, READY, effects, side_metadata, starts

ROOT = Path(__file__).resolve().parents[2]


class Processes:
    """Worker processes started by one test, none left behind."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.sync.worker_process", self.url, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def processes(database: Database) -> Iterator[Processes]:
    side_metadata.create_all(database.engine)
    started = Processes(database.url)
    yield started
    started.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def drained_count(output: str) -> int:
    """How many jobs a `--drain` worker ran, from its last protocol line."""
    [count] = [line.split()[1] for line in output.splitlines() if line.startswith(DRAINED)]
    return int(count)


def rows(database: Database, table: object) -> list[tuple[object, ...]]:
    with database.read() as conn:
        return [tuple(row) for row in conn.execute(select(table))]  # type: ignore[call-overload]


def test_a_job_whose_worker_was_killed_mid_way_is_done_exactly_once_after_a_restart(
    database: Database, processes: Processes
) -> None:
    with database.begin() as conn:
        job_id = queue.enqueue(conn, KIND, target="crm", subject=1)

    killed = processes.start("--until", "1", "--sleep", "60", "--lease", "1")
    wait_until(lambda: bool(rows(database, starts)), 10, "the job to start")
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(5) == -signal.SIGKILL

    with database.read() as conn:
        orphan = queue.get(conn, job_id)
    assert orphan is not None
    assert (orphan.state, orphan.worker) == (JobState.RUNNING, f"proc-{killed.pid}")
    assert rows(database, effects) == []

    restarted = processes.start("--until", "1", "--lease", "1", "--deadline", "10")
    assert restarted.wait(15) == 0

    assert [(job, worker) for _seq, job, worker in rows(database, effects)] == [
        (job_id, f"proc-{restarted.pid}")
    ]
    with database.read() as conn:
        done = queue.get(conn, job_id)
    assert done is not None
    assert (done.state, done.attempts, done.worker) == (
        JobState.DONE,
        2,
        f"proc-{restarted.pid}",
    )


JOBS = 2_000
WORKERS = 4
THREADS = 50


@pytest.mark.postgres
def test_four_workers_on_postgresql_drain_2000_jobs_running_each_exactly_once(
    postgres_url: str,
) -> None:
    database = make_database(postgres_url)
    side_metadata.create_all(database.engine)
    # Half the jobs belong to conversations (ordering keys), half stand alone.
    with database.begin() as conn:
        queue.enqueue_many(
            conn,
            [
                {
                    "kind": KIND,
                    "target": "crm",
                    "subject": i,
                    "ordering_key": f"crm:thread:{i // 2 % THREADS}" if i % 2 == 0 else None,
                }
                for i in range(JOBS)
            ],
        )
    processes = Processes(database.url)
    try:
        workers = [processes.start("--drain") for _ in range(WORKERS)]
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == READY
        for worker in workers:  # all four start together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        drained = [drained_count(worker.communicate(timeout=60)[0]) for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * WORKERS
    finally:
        processes.close()

    assert sum(drained) == JOBS
    with database.read() as conn:
        assert queue.counts(conn) == {JobState.DONE.value: JOBS}
        runs = Counter(conn.execute(select(effects.c.job_id)).scalars())
        by_worker: dict[str, int] = dict(
            conn.execute(select(effects.c.worker, func.count()).group_by(effects.c.worker)).all()
        )
        order = conn.execute(
            select(effects.c.job_id, jobs.c.ordering_key)
            .join(jobs, jobs.c.id == effects.c.job_id)
            .where(jobs.c.ordering_key.is_not(None))
            .order_by(effects.c.seq)
        ).all()
        assert max(job.attempts for job in queue.list_jobs(conn, limit=JOBS)) == 1
    database.dispose()

    assert len(runs) == JOBS
    assert set(runs.values()) == {1}
    assert len(by_worker) == WORKERS, by_worker  # every process took its share
    # Within a conversation, jobs ran one after another in the order they were queued.
    ran_per_thread: dict[str, list[int]] = {}
    for job_id, key in order:
        ran_per_thread.setdefault(key, []).append(job_id)
    assert len(ran_per_thread) == THREADS
    assert all(ids == sorted(ids) for ids in ran_per_thread.values())
