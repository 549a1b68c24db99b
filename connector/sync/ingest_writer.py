"""Group commit for webhooks: many events kept in one transaction, each answered after commit.

Under load, committing each webhook on its own spends more time beginning, locking and
committing than writing. The writer threads here take whatever events are waiting (up to a
batch), write them in one transaction and commit once; only then is each request answered. If
anything in a batch fails, the batch is written again with each event in its own savepoint, so
one bad event never sinks the others. A webhook still gets its 2xx only after its event is
durable, and an idle connector still commits each event at once.

Batches take their row locks in one order (`conversations.record_events`), so concurrent
batches wait for each other instead of deadlocking; a batch that still loses a race (a
deadlock, a serialization failure, SQLite's "database is locked") is written again from the
start, a bounded number of times with jittered waits, instead of failing its webhooks.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from connector.core.consent import Keywords
from connector.core.events import ProviderEvent
from connector.core.model import Provider
from connector.store import consent, conversations
from connector.store.conversations import IngestResult, Outcome
from connector.store.db import Database, is_retryable

log = structlog.get_logger(__name__)

MAX_BATCH = 64
# A batch that lost a race is written again up to this many times, waiting a random share of
# an exponentially growing delay (full jitter) so that the losers do not collide again.
RETRIES = 8
_RETRY_LOST_RACES = Retrying(
    retry=retry_if_exception(is_retryable),
    stop=stop_after_attempt(RETRIES + 1),
    wait=wait_random_exponential(multiplier=0.01, max=0.5),
    before_sleep=lambda state: log.info("webhook.batch_retried", attempt=state.attempt_number),
    reraise=True,
)


@dataclass
class _Pending:
    event: ProviderEvent
    payload: Any
    crms: Sequence[str]
    future: asyncio.Future[IngestResult]
    loop: asyncio.AbstractEventLoop


class IngestWriter:
    """Writer threads shared by every webhook request of a process."""

    def __init__(
        self,
        database: Database,
        *,
        threads: int | None = None,
        keywords: Mapping[Provider, Keywords] | None = None,
    ) -> None:
        self.database = database
        self.keywords = keywords  # opt-out/opt-in keywords per provider (policy); None: defaults
        self.threads = threads or (1 if database.is_sqlite else 4)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def write(self, event: ProviderEvent, payload: Any, crms: Sequence[str]) -> IngestResult:
        """Keep one event; returns once it is committed (or raises what its write raised)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestResult] = loop.create_future()
        self._queue.put(_Pending(event, payload, crms, future, loop))
        return await future

    def stop(self) -> None:
        """Finish what is queued, then stop the threads (at shutdown)."""
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(timeout=10)

    def _ensure_started(self) -> None:
        if self._workers:
            return
        with self._lock:
            while len(self._workers) < self.threads:
                worker = threading.Thread(
                    target=self._run, name=f"ingest-writer-{len(self._workers)}", daemon=True
                )
                worker.start()
                self._workers.append(worker)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._retrying(self._write_together, batch)
        except Exception:
            # Something in the batch failed: write each event in a savepoint of its own, so
            # only the event at fault is refused.
            outcomes = self._write_apart(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            item.loop.call_soon_threadsafe(_settle, item.future, outcome)

    def _retrying(
        self,
        write: Callable[[list[_Pending]], list[IngestResult | BaseException]],
        batch: list[_Pending],
    ) -> list[IngestResult | BaseException]:
        """`write(batch)`, run again (bounded, jittered) while it loses a race to a writer."""
        return _RETRY_LOST_RACES(write, batch)

    def _write_together(self, batch: list[_Pending]) -> list[IngestResult | BaseException]:
        """The common case: the whole batch in one transaction, no savepoints."""
        with self.database.begin() as conn:
            outcomes: list[IngestResult | BaseException] = list(
                conversations.record_events(
                    conn, [(item.event, item.payload, item.crms) for item in batch]
                )
            )
            self._record_consent(conn, batch, outcomes)
            return outcomes

    def _write_apart(self, batch: list[_Pending]) -> list[IngestResult | BaseException]:
        try:
            return self._retrying(self._write_each, batch)
        except Exception as exc:
            log.exception("webhook.commit_failed", events=len(batch))
            return [exc] * len(batch)

    def _write_each(self, batch: list[_Pending]) -> list[IngestResult | BaseException]:
        """Each event in a savepoint of its own, in key order; a lost race retries them all."""
        outcomes: list[IngestResult | BaseException] = [RuntimeError("not written")] * len(batch)
        order = sorted(range(len(batch)), key=lambda i: conversations.event_key(batch[i].event))
        with self.database.begin() as conn:
            for index in order:
                item = batch[index]
                try:
                    with conn.begin_nested():
                        outcome = conversations.record_event(
                            conn, item.event, item.payload, crms=item.crms
                        )
                        self._record_consent(conn, [item], [outcome])
                        outcomes[index] = outcome
                except Exception as exc:
                    if is_retryable(exc):
                        raise
                    log.exception("webhook.write_failed", provider=item.event.provider.value)
                    outcomes[index] = exc
        return outcomes

    def _record_consent(
        self,
        conn: Connection,
        batch: Sequence[_Pending],
        outcomes: Sequence[IngestResult | BaseException],
    ) -> None:
        """A STOP (or START) opts its sender out (or in) in the transaction that keeps it."""
        consent.record_keywords(
            conn,
            [
                (item.event, outcome.message_id, outcome.thread_id, item.crms)
                for item, outcome in zip(batch, outcomes, strict=True)
                if isinstance(outcome, IngestResult) and outcome.outcome is Outcome.ACCEPTED
            ],
            self.keywords,
        )


def _settle(future: asyncio.Future[IngestResult], outcome: IngestResult | BaseException) -> None:
    if future.cancelled():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
