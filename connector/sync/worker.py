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
from dataclasses import dataclass
from datetime import timedelta

import structlog

from connector import metrics
from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    Permanent,
    Throttled,
    Transient,
)
from connector.periodic import Periodic
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job, PauseCause, utcnow
from connector.sync import linger
from connector.sync.heartbeat import Heartbeat
from connector.sync.retry import backoff_seconds, expired

log = structlog.get_logger(__name__)

Handler = Callable[[Job], None]
# A batch handler takes several jobs of one kind and target and says, per job id, what happened:
# None for success, or the exception that job would have raised on its own.
BatchHandler = Callable[[list[Job]], Mapping[int, BaseException | None]]


@dataclass(frozen=True)
class Batched:
    """A job kind whose handler takes many jobs in one call, e.g. one CRM batch request."""

    handler: BatchHandler
    size: int
    # Seconds a batch smaller than `size` may wait for more jobs before it runs (see
    # `sync/linger.py`), asked after each claim; None or 0: it runs at once.
    linger: Callable[[list[Job]], float] | None = None


CREDENTIALS_PAUSE = timedelta(minutes=5)


class Defer(Exception):
    """The job cannot run yet (e.g. its media are still being captured): try again soon."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


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
        batched: Mapping[str, Batched] | None = None,
    ) -> None:
        self.database = database
        self.handlers = dict(handlers)
        self.batched = dict(batched or {})
        self._gathering = {kind: threading.Lock() for kind in self.batched}
        self.concurrency = concurrency
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.max_age = max_age
        self.periodic = list(periodic)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.heartbeat = Heartbeat(database, lease)
        # When each job loop last came round (monotonic): a loop stuck in one job stops ticking,
        # which the liveness probe reports (`stalled_seconds`).
        self._ticks: dict[str, float] = {}

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
        self._ticks.clear()
        log.info("worker.stopped", worker=self.name)

    def stalled_seconds(self) -> float:
        """How long the slowest job loop has gone without coming round (0 before any runs)."""
        ticks = list(self._ticks.values())
        return max(0.0, time.monotonic() - min(ticks)) if ticks else 0.0

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop()

    # -- one job ---------------------------------------------------------------------------

    def run_once(self, worker_id: str | None = None) -> Job | None:
        """Claim and run one job (or one batch); the first job claimed, or None when idle."""
        worker_id = worker_id or self.name
        skip_locked = self.database.is_postgres
        # While one thread gathers a batch of a kind, the others leave that kind's jobs to it:
        # several threads gathering at once would split the arrivals into smaller calls.
        kinds = [*self.handlers, *(k for k in self.batched if not self._gathering[k].locked())]
        if not kinds:
            return None
        with self.database.begin() as conn:
            job = queue.claim(conn, worker_id, self.lease, kinds=kinds, skip_locked=skip_locked)
            batch = [job] if job else []
            if job is not None and job.kind in self.batched:
                batch += queue.claim_more(
                    conn,
                    job,
                    worker_id,
                    self.lease,
                    limit=self.batched[job.kind].size - 1,
                    skip_locked=skip_locked,
                )
        if job is None:
            return None
        with self.heartbeat.holding(batch):
            if job.kind not in self.batched:
                self._run(job, worker_id)
                return job
            # The batch's leases are renewed while it lingers; the jobs it gathers are claimed
            # with a fresh lease, and lingering is capped well inside one.
            more = self._linger(batch, worker_id)
            with self.heartbeat.holding(more):
                self._run_batch(batch + more, worker_id)
        return job

    def drain(self, limit: int = 10_000) -> int:
        """Run jobs until none is runnable now (tests and one-shot CLI use)."""
        count = 0
        while count < limit and self.run_once() is not None:
            count += 1
        return count

    def _linger(self, batch: list[Job], worker_id: str) -> list[Job]:
        """More jobs for a small batch, claimed while it lingers (as long as its kind says)."""
        spec = self.batched[batch[0].kind]
        room = spec.size - len(batch)
        seconds = spec.linger(batch) if spec.linger is not None and room > 0 else 0.0
        gathering = self._gathering[batch[0].kind]
        if seconds <= 0 or not gathering.acquire(blocking=False):
            return []

        def claim_more(limit: int) -> list[Job]:
            with self.database.begin() as conn:
                return queue.claim_more(
                    conn,
                    batch[0],
                    worker_id,
                    self.lease,
                    limit=limit,
                    skip_locked=self.database.is_postgres,
                )

        try:
            return linger.gather(claim_more, room, seconds, stopping=self.stopping)
        finally:
            gathering.release()

    def _run(self, job: Job, worker_id: str) -> None:
        started = time.perf_counter()
        # Every line logged while the job runs (adapters, SDKs, httpx) carries its id.
        with structlog.contextvars.bound_contextvars(job_id=job.id, job_kind=job.kind):
            try:
                self.handlers[job.kind](job)
            except Exception as exc:
                self._settle(job, worker_id, exc)
            else:
                self._settle(job, worker_id, None)
        metrics.JOB_SECONDS.labels(kind=job.kind).observe(time.perf_counter() - started)

    def _run_batch(self, batch: list[Job], worker_id: str) -> None:
        started = time.perf_counter()
        # A batch is named by its first job; `_settle` names each job of it.
        with structlog.contextvars.bound_contextvars(
            job_batch=batch[0].id, job_kind=batch[0].kind, batch_size=len(batch)
        ):
            handler = self.batched[batch[0].kind].handler
            try:
                outcomes: Mapping[int, BaseException | None] = handler(batch)
            except Exception as exc:
                outcomes = {job.id: exc for job in batch}
        for job in batch:
            if job.id in outcomes:
                self._settle(job, worker_id, outcomes[job.id])
            else:
                self._settle(job, worker_id, Transient("the batch reported no outcome for it"))
        elapsed = time.perf_counter() - started
        metrics.JOB_SECONDS.labels(kind=batch[0].kind).observe(elapsed / len(batch))

    def _settle(self, job: Job, worker_id: str, error: BaseException | None) -> None:
        """Record what became of one job, by the class of its error."""
        bound = log.bind(job_id=job.id, kind=job.kind, target=job.target, attempt=job.attempts)
        outcome = "done"
        if self.heartbeat.release(job.id):
            # Another worker took the job (its lease had run out): it is that worker's now.
            outcome = "lost"
            bound.warning("job.lease_lost")
        elif error is None:
            with self.database.begin() as conn:
                if not queue.complete(conn, job, worker_id):
                    bound.warning("job.lease_lost")
        elif isinstance(error, Defer):
            outcome = "deferred"
            self._reschedule(job, worker_id, error.seconds, error.reason, count_attempt=False)
        elif isinstance(error, CredentialsError):
            outcome = "paused"
            bound.warning("job.credentials_refused", reason=error.reason)
            now = utcnow()
            with self.database.begin() as conn:
                # Lifted early once a cheap call shows the credentials work again (the
                # credentials probe), or at once by an admin.
                queue.pause_target(
                    conn,
                    job.target,
                    until=now + CREDENTIALS_PAUSE,
                    reason=error.reason,
                    cause=PauseCause.CREDENTIALS,
                )
                # The pause holds the job back; it runs first once the target is resumed.
                queue.reschedule(
                    conn, job, worker_id, run_after=now, error=error.reason, count_attempt=False
                )
        elif isinstance(error, Throttled):
            outcome = "throttled"
            until = utcnow() + timedelta(seconds=error.retry_after)
            bound.warning("job.target_throttled", reason=error.reason, seconds=error.retry_after)
            with self.database.begin() as conn:
                queue.pause_target(
                    conn, job.target, until=until, reason=error.reason, cause=PauseCause.THROTTLED
                )
                queue.reschedule(
                    conn, job, worker_id, run_after=until, error=error.reason, count_attempt=False
                )
        elif isinstance(error, Permanent):
            outcome = "dead"
            bound.warning("job.dead", reason=error.reason)
            with self.database.begin() as conn:
                queue.kill(conn, job, worker_id, error.reason)
        elif isinstance(error, Transient):
            outcome = self._retry(job, worker_id, error.reason, error.retry_after)
        elif isinstance(error, ConnectorError):
            outcome = self._retry(job, worker_id, error.reason, None)
        else:
            bound.error("job.crashed", error=type(error).__name__, exc_info=error)
            outcome = self._retry(job, worker_id, f"internal error: {type(error).__name__}", None)
        metrics.JOBS.labels(kind=job.kind, outcome=outcome).inc()
        metrics.JOB_AGE.labels(kind=job.kind, outcome=outcome).observe(
            max(0.0, (utcnow() - job.created_at).total_seconds())
        )
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
            self._ticks[worker_id] = time.monotonic()
            try:
                job = self.run_once(worker_id)
            except Exception:
                log.exception("worker.claim_failed")
                job = None
            if job is None:
                self.stopping.wait(self.poll_seconds)

    def _clock(self) -> None:
        while not self.stopping.is_set():
            self.run_periodic()
            self.stopping.wait(1.0)

    def run_periodic(self) -> None:
        """Run the periodic tasks that are due (each is due at once the first time)."""
        now = time.monotonic()
        for task in self.periodic:
            if task.last_run is None or now - task.last_run >= task.interval:
                task.last_run = now
                try:
                    task.run()
                except Exception:
                    log.exception("worker.periodic_failed", task=task.name)
