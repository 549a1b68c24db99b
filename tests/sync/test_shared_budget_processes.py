"""Two real worker processes on one PostgreSQL spend one HubSpot budget, and two sending
processes one Aircall send rate: the CRM and the provider never see more than their limit.

The HubSpot fake counts every request in rolling windows and answers 429 past its limit (and
past its search rate), as HubSpot does; a tiny loopback server does the same for Aircall's send
endpoint (respx cannot reach into other processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.store import queue
from connector.store.tables import jobs
from tests.conftest import make_database, make_settings
from tests.fakes.hubspot import FakeHubSpot
from tests.providers.factories import aircall_event
from tests.sync.test_crm_sync import mappings_dir

ROOT = Path(__file__).resolve().parents[2]

# A short window, so the test needs several of them: HubSpot's shape, not its size.
LIMIT, WINDOW = 8, 1.0
SEARCHES_PER_SECOND = 4
MESSAGES = 240
CONTACTS = 24


class WorkerProcess:
    """`mms-connector worker` in a process of its own; its log is read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from connector.cli import app; app()", "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # structlog prints there
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def started(self) -> bool:
        return any("worker.started" in line for line in self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(
        token="pat-e2e",
        rate_limit=(LIMIT, WINDOW),
        search_rate_limit=(SEARCHES_PER_SECOND, 1.0),
    ) as fake:
        fake.define_property("communications", "mms_message_key", has_unique_value=True)
        fake.define_property("communications", "mms_thread_key")
        yield fake


@pytest.mark.postgres
def test_two_worker_processes_share_one_hubspot_budget_and_never_get_a_429(
    postgres_url: str, hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    make_database(postgres_url).dispose()
    overrides: dict[str, Any] = {
        "database_url": postgres_url,
        "mappings_dir": mappings_dir(tmp_path),
        "secret_key": "one-key-for-every-process-3f1c9a7e5b2d4086",
        "hubspot_access_token": "pat-e2e",
        "hubspot_base_url": hubspot.url,
        "hubspot_rate_limit": LIMIT,
        "hubspot_rate_window_seconds": WINDOW,
        "hubspot_search_rate": SEARCHES_PER_SECOND,
    }
    settings = make_settings(tmp_path, **overrides)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONNECTOR_LOG_LEVEL": "INFO"}
    env.update({f"CONNECTOR_{k.upper()}": str(v) for k, v in overrides.items()})
    env.update(CONNECTOR_DATA_DIR=str(tmp_path / "var"), CONNECTOR_WORKER_POLL_SECONDS="0.05")
    for index in range(CONTACTS):
        hubspot.add_contact({"phone": f"(415) 555-{index:04d}"})
    connector = bootstrap.build(settings)
    client = TestClient(create_app(connector))  # no lifespan: no embedded worker here

    workers = [WorkerProcess(env) for _ in range(2)]
    try:
        wait_until(
            lambda: all(w.started for w in workers),
            90,
            f"both workers to start: {[(w.process.poll(), w.lines[-5:]) for w in workers]}",
        )
        for index in range(MESSAGES):  # messages trickle in while both workers drain
            other = f"+1415555{index % CONTACTS:04d}"
            body = aircall_event(
                data={"id": f"m{index}", "external_number": other, "media_details": []}
            )
            assert client.post("/webhooks/aircall", json=body).status_code < 300

        def drained() -> bool:
            with connector.database.read() as conn:
                counts = queue.counts(conn)
            return set(counts) == {"done"}

        wait_until(drained, 180, "the sync jobs to be done")
    finally:
        codes = [worker.stop() for worker in workers]
        client.close()

    with connector.database.read() as conn:
        settled_by = {
            name.rsplit("/", 1)[0]
            for name in conn.execute(select(jobs.c.worker).where(jobs.c.kind == "sync_crm"))
            .scalars()
            .all()
        }
    connector.close()
    assert codes == [0, 0]
    assert len(hubspot.communications) == MESSAGES
    assert len(settled_by) == 2, "both processes wrote records"
    assert hubspot.count() > 2 * LIMIT, "the run needed several windows"
    assert hubspot.rate_limited == 0
    assert hubspot.busiest_window(WINDOW) <= LIMIT
    assert hubspot.busiest_window(1.0, searches_only=True) <= SEARCHES_PER_SECOND
