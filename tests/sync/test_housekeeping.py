"""Housekeeping on the worker's clock: credentials re-checked every 30 s, old jobs pruned, and
every periodic task run once at start-up."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from connector.core.errors import CredentialsError, Transient
from connector.periodic import Periodic
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import JobState, PauseCause, utcnow
from connector.store.tables import jobs
from connector.sync import housekeeping
from connector.sync.worker import Worker
from tests.conftest import make_settings


class Check:
    """A CRM's credentials check that raises what it is told to, counting its calls."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def pause(database: Database, name: str, cause: PauseCause) -> None:
    with database.begin() as conn:
        queue.pause_target(
            conn, name, until=utcnow() + timedelta(minutes=5), reason="refused", cause=cause
        )


def test_a_credentials_pause_is_lifted_once_the_check_passes(database: Database) -> None:
    pause(database, "hubspot", PauseCause.CREDENTIALS)
    check = Check(CredentialsError("HubSpot refused the access token"))

    assert housekeeping.probe_credentials(database, {"hubspot": check}) == []
    with database.read() as conn:
        assert "hubspot" in queue.paused_targets(conn)

    check.error = None  # the operator installed a new token
    assert housekeeping.probe_credentials(database, {"hubspot": check}) == ["hubspot"]
    with database.read() as conn:
        assert queue.paused_targets(conn) == {}
    assert check.calls == 2


def test_only_credentials_pauses_are_probed(database: Database) -> None:
    pause(database, "salesforce", PauseCause.THROTTLED)
    check = Check()

    assert housekeeping.probe_credentials(database, {"salesforce": check}) == []
    assert check.calls == 0
    with database.read() as conn:
        assert "salesforce" in queue.paused_targets(conn)


def test_a_check_that_cannot_reach_the_crm_keeps_the_pause(database: Database) -> None:
    pause(database, "hubspot", PauseCause.CREDENTIALS)

    resumed = housekeeping.probe_credentials(
        database, {"hubspot": Check(Transient("503 from HubSpot"))}
    )

    assert resumed == []
    with database.read() as conn:
        assert "hubspot" in queue.paused_targets(conn)


def test_the_probe_runs_every_30_seconds() -> None:
    probe = housekeeping.credentials_probe(None, {})  # type: ignore[arg-type]
    assert (probe.name, probe.interval) == ("credentials_probe", 30.0)


def test_job_retention_prunes_done_jobs_older_than_the_setting(
    database: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, job_retention_days=3)
    with database.begin() as conn:
        old = queue.enqueue(conn, "sync_crm", target="hubspot", subject=1)
        recent = queue.enqueue(conn, "sync_crm", target="hubspot", subject=2)
        for job_id, days in ((old, 4), (recent, 2)):
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(state=JobState.DONE, updated_at=utcnow() - timedelta(days=days))
            )

    housekeeping.job_retention(database, settings).run()

    with database.read() as conn:
        assert queue.get(conn, old) is None
        assert queue.get(conn, recent) is not None


def test_periodic_tasks_run_at_start_up_then_on_their_interval(database: Database) -> None:
    ran = threading.Event()
    runs: list[str] = []

    def task() -> None:
        runs.append("hourly")
        ran.set()

    work = Worker(database, {}, periodic=[Periodic("hourly", 3600.0, task)], name="clock")
    work.start()
    try:
        assert ran.wait(10), "the task did not run at start-up"
    finally:
        work.stop(timeout=5)
    work.run_periodic()  # an hour has not passed: not due again

    assert runs == ["hourly"]
