"""Leases that hold: a CRM sync outlasting its lease many times is written and settled once,
and a worker whose job was really taken over writes nothing more for it.

The real pipeline (webhook, SQLite, worker, the Salesforce fake through simple-salesforce) with a
1.5-second lease, and a CRM whose writes block for three and a half leases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from structlog.testing import capture_logs

from connector.bootstrap import Connector
from connector.crm.base import CrmAdapter, RecordWrite, WriteResult
from connector.store import queue
from connector.store.conversations import SYNC_CRM
from connector.store.queue import Job, JobState, utcnow
from connector.store.tables import crm_records, jobs
from tests.fakes.salesforce import FakeSalesforce
from tests.providers.factories import aircall_event
from tests.sync.test_crm_sync import build, post, salesforce, salesforce_server, tasks

__all__ = ["post", "salesforce", "salesforce_server"]  # fixtures shared with test_crm_sync

TEXT_ONLY = aircall_event(data={"body": "Call me back", "media_details": []})


class SlowCrm:
    """The real adapter, whose writes first wait (and may run `meanwhile` as they wait)."""

    def __init__(
        self, inner: CrmAdapter, seconds: float, meanwhile: Callable[[], None] | None = None
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = seconds
        self.meanwhile = meanwhile
        self.writes = 0
        self._lock = threading.Lock()

    def write(self, records: Sequence[RecordWrite]) -> list[WriteResult]:
        with self._lock:
            self.writes += 1
        if self.meanwhile is not None:
            self.meanwhile()
        time.sleep(self.seconds)
        return self.inner.write(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def slow_salesforce(connector: Connector, **options: Any) -> SlowCrm:
    slow = SlowCrm(connector.adapter("salesforce"), **options)
    connector._adapters["salesforce"] = slow  # type: ignore[assignment]
    return slow


def sync_job(connector: Connector) -> Job:
    with connector.database.read() as conn:
        [job] = [job for job in queue.list_jobs(conn) if job.kind == SYNC_CRM]
    return job


def test_a_sync_whose_crm_call_outlasts_several_leases_is_done_exactly_once(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    salesforce.add_record("Contact", {"LastName": "Rivera", "Phone": "(555) 123-4567"})
    connector = build(tmp_path, salesforce, job_lease_seconds=1.5)
    crm = slow_salesforce(connector, seconds=5.25)
    assert post(connector, TEXT_ONLY) == 202
    workers = [connector.worker(concurrency=2) for _ in range(2)]

    with capture_logs() as logs:
        for work in workers:
            work.start()
        try:
            deadline = time.monotonic() + 30
            while sync_job(connector).state is not JobState.DONE:
                assert time.monotonic() < deadline, "the sync never finished"
                time.sleep(0.1)
        finally:
            for work in workers:
                work.stop(timeout=10)

    assert crm.writes == 1
    assert len(tasks(salesforce)) == 1
    job = sync_job(connector)
    assert (job.state, job.attempts) == (JobState.DONE, 1)
    assert not [entry for entry in logs if "lease" in entry["event"]]
    connector.close()


def test_a_sync_whose_job_was_taken_over_meanwhile_records_nothing(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    salesforce.add_record("Contact", {"LastName": "Rivera", "Phone": "(555) 123-4567"})
    connector = build(tmp_path, salesforce, job_lease_seconds=1.0)

    def take_over() -> None:
        # This worker stalled past its lease and another one claimed the job.
        with connector.database.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.kind == SYNC_CRM)
                .values(worker="rival", lease_until=utcnow().replace(year=2100), attempts=2)
            )

    slow_salesforce(connector, seconds=0.5, meanwhile=take_over)
    assert post(connector, TEXT_ONLY) == 202

    with capture_logs() as logs:
        connector.worker().drain()

    with connector.database.read() as conn:
        assert conn.execute(select(crm_records)).all() == []
    job = sync_job(connector)
    assert (job.state, job.worker, job.attempts) == (JobState.RUNNING, "rival", 2)
    assert [entry["event"] for entry in logs if entry["event"] == "job.lease_lost"] == [
        "job.lease_lost"
    ]
    connector.close()
