"""The worker's heartbeat: every lease this process holds, renewed in one statement.

A job may run far longer than its lease (a CRM batch waiting on the rate budget, a capture from
a slow media host); its lease must still hold, or another worker takes it and runs it a second
time. One thread per worker renews all the leases the process holds every third of a lease. A
job missing from a renewal's answer was taken over (its lease had run out while this process
stalled): it is marked lost, and the worker writes nothing more for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

import structlog

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job

log = structlog.get_logger(__name__)


class Heartbeat:
    """Renews the leases of the jobs held through `holding`, while any is held."""

    def __init__(self, database: Database, lease: timedelta, interval: float | None = None):
        self.database = database
        self.lease = lease
        self.interval = interval if interval is not None else lease.total_seconds() / 3
        self._held: dict[int, str] = {}  # job id -> the worker id that claimed it
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, jobs: Sequence[Job]) -> Iterator[None]:
        """Keep these jobs' leases alive for the duration of the block."""
        with self._lock:
            for job in jobs:
                if job.worker is not None:
                    self._held[job.id] = job.worker
            if self._held and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="worker-heartbeat"
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                for job in jobs:
                    self._held.pop(job.id, None)
                    self._lost.discard(job.id)
                if not self._held:
                    self._wake.set()  # let the thread see it has nothing left to do

    def release(self, job_id: int) -> bool:
        """Stop renewing this job's lease, before its outcome is written; True if it had been
        lost already (then nothing is to be written for it)."""
        with self._lock:
            self._held.pop(job_id, None)
            lost = job_id in self._lost
            self._lost.discard(job_id)
            return lost

    def beat(self) -> set[int]:
        """Renew every held lease now; the ids found lost by this renewal."""
        with self._lock:
            held = {job_id: worker for job_id, worker in self._held.items()}
        if not held:
            return set()
        by_worker: dict[str, list[int]] = {}
        for job_id, worker in held.items():
            by_worker.setdefault(worker, []).append(job_id)
        with self.database.begin() as conn:
            renewed = queue.renew_leases(conn, by_worker, self.lease)
        with self._lock:
            # Only jobs still in hand: one settled meanwhile is simply no longer running.
            lost = {job_id for job_id in held if job_id not in renewed and job_id in self._held}
            self._lost |= lost
        for job_id in sorted(lost):
            log.warning("job.lease_taken_over", job_id=job_id, worker=held[job_id])
        return lost

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.beat()
            except Exception:
                log.exception("worker.heartbeat_failed")
