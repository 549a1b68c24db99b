"""The worker: claims jobs, runs their handler, and records what happened, visibly.

Every failure is classified by the adapter that saw it: transient ones run again later,
permanent ones are dead at once with their reason, and a credentials failure pauses the whole
target (nothing is dead-lettered for it) until an operator fixes it or the pause runs out.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from connector import metrics
from connector.core.errors import ConnectorError, CredentialsError, Permanent, Transient
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job, utcnow
from connector.sync.retry import backoff_seconds, expired

log = structlog.get_logger(__name__)

Handler = Callable[[Job], None]

CREDENTIALS_PAUSE = timedelta(minutes=5)


class Defer(Exception):
    """The job cannot run yet (e.g. its media are still being captured): try again soon."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


@dataclass
class Periodic:
    """Work the worker does on a clock, e.g. deleting media past their retention."""

    name: str
    interval: float
    run: Callable[[], None]
    last_run: float = field(default=0.0)


class Worker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 4,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 0.5,
        max_age: timedelta = timedelta(hours=72),
        periodic: Sequence[Periodic] = (),
        name: str | None = None,
    ) -> None:
        self.database = database
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.max_age = max_age
        self.periodic = list(periodic)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Run in background threads (embedded in `serve`)."""
        self.stopping.clear()
        for index in range(self.concurrency):
            thread = threading.Thread(
                target=self._loop,
                args=(f"{self.name}/{index}",),
                daemon=True,
                name=f"worker-{index}",
            )
            thread.start()
            self._threads.append(thread)
        if self.periodic:
            thread = threading.Thread(target=self._clock, daemon=True, name="worker-clock")
            thread.start()
            self._threads.append(thread)
        log.info("worker.started", worker=self.name, concurrency=self.concurrency)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs in hand, then return; a job still running past `timeout` keeps its
        lease and is taken again by another worker once the lease expires."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        log.info("worker.stopped", worker=self.name)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop()

    # -- one job ---------------------------------------------------------------------------

    def run_once(self, worker_id: str | None = None) -> Job | None:
        """Claim and run one job; the job as claimed, or None when the queue had nothing."""
        worker_id = worker_id or self.name
        with self.database.begin() as conn:
            job = queue.claim(
                conn,
                worker_id,
                self.lease,
                kinds=list(self.handlers),
                skip_locked=self.database.is_postgres,
            )
        if job is None:
            return None
        self._run(job, worker_id)
        return job

    def drain(self, limit: int = 10_000) -> int:
        """Run jobs until none is runnable now (tests and one-shot CLI use)."""
        count = 0
        while count < limit and self.run_once() is not None:
            count += 1
        return count

    def _run(self, job: Job, worker_id: str) -> None:
        bound = log.bind(job_id=job.id, kind=job.kind, target=job.target, attempt=job.attempts)
        started = time.perf_counter()
        outcome = "done"
        try:
            self.handlers[job.kind](job)
        except Defer as signal:
            outcome = "deferred"
            self._reschedule(job, worker_id, signal.seconds, signal.reason, count_attempt=False)
        except CredentialsError as exc:
            outcome = "paused"
            bound.warning("job.credentials_refused", reason=exc.reason)
            with self.database.begin() as conn:
                queue.pause_target(
                    conn, job.target, until=utcnow() + CREDENTIALS_PAUSE, reason=exc.reason
                )
                queue.reschedule(
                    conn,
                    job,
                    worker_id,
                    run_after=utcnow() + CREDENTIALS_PAUSE,
                    error=exc.reason,
                    count_attempt=False,
                )
        except Permanent as exc:
            outcome = "dead"
            bound.warning("job.dead", reason=exc.reason)
            with self.database.begin() as conn:
                queue.kill(conn, job, worker_id, exc.reason)
        except Transient as exc:
            outcome = self._retry(job, worker_id, exc.reason, exc.retry_after)
        except ConnectorError as exc:
            outcome = self._retry(job, worker_id, exc.reason, None)
        except Exception as exc:
            bound.exception("job.crashed")
            outcome = self._retry(job, worker_id, f"internal error: {type(exc).__name__}", None)
        else:
            with self.database.begin() as conn:
                if not queue.complete(conn, job, worker_id):
                    bound.warning("job.lease_lost")
        metrics.JOBS.labels(kind=job.kind, outcome=outcome).inc()
        metrics.JOB_SECONDS.labels(kind=job.kind).observe(time.perf_counter() - started)
        bound.debug("job.finished", outcome=outcome)

    def _retry(self, job: Job, worker_id: str, reason: str, retry_after: float | None) -> str:
        now = utcnow()
        if expired(job.created_at, now, self.max_age):
            with self.database.begin() as conn:
                queue.kill(conn, job, worker_id, f"gave up after {job.attempts} attempts: {reason}")
            log.warning("job.dead", job_id=job.id, kind=job.kind, reason=reason)
            return "dead"
        delay = backoff_seconds(job.attempts, retry_after)
        self._reschedule(job, worker_id, delay, reason, count_attempt=True)
        log.info("job.retry", job_id=job.id, kind=job.kind, delay=round(delay, 1), reason=reason)
        return "retry"

    def _reschedule(
        self, job: Job, worker_id: str, seconds: float, reason: str, *, count_attempt: bool
    ) -> None:
        with self.database.begin() as conn:
            queue.reschedule(
                conn,
                job,
                worker_id,
                run_after=utcnow() + timedelta(seconds=seconds),
                error=reason,
                count_attempt=count_attempt,
            )

    # -- loops -----------------------------------------------------------------------------

    def _loop(self, worker_id: str) -> None:
        while not self.stopping.is_set():
            try:
                job = self.run_once(worker_id)
            except Exception:
                log.exception("worker.claim_failed")
                job = None
            if job is None:
                self.stopping.wait(self.poll_seconds)

    def _clock(self) -> None:
        while not self.stopping.wait(1.0):
            now = time.monotonic()
            for task in self.periodic:
                if now - task.last_run >= task.interval:
                    task.last_run = now
                    try:
                        task.run()
                    except Exception:
                        log.exception("worker.periodic_failed", task=task.name)
