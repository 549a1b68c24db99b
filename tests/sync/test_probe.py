"""A worker's probe port: `/healthz` turns 503 when a job loop is stuck, `/metrics` serves the
process's counters and the queue; `mms-connector worker --metrics-port` serves both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import Job
from connector.sync.probe import WorkerProbe
from connector.sync.worker import Worker
from tests.api.live import wait_until
from tests.conftest import API_TOKEN, make_database


class StuckHandler:
    """Hangs in the job until released, like a call that never returns."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, _job: Job) -> None:
        self.entered.set()
        self.release.wait(30)


@pytest.fixture
def stuck() -> Iterator[StuckHandler]:
    handler = StuckHandler()
    yield handler
    handler.release.set()


def test_healthz_turns_503_while_a_job_loop_is_stuck_and_200_once_it_comes_round(
    sqlite_database: Database, stuck: StuckHandler
) -> None:
    worker = Worker(sqlite_database, {"hang": stuck}, concurrency=1, poll_seconds=0.02)
    probe = WorkerProbe(worker, sqlite_database, port=0, host="127.0.0.1", stall_seconds=0.3)
    probe.start()
    worker.start()
    url = f"http://127.0.0.1:{probe.port}/healthz"
    try:
        assert httpx.get(url).status_code == 200
        with sqlite_database.begin() as conn:
            queue.enqueue(conn, "hang", target="x", subject=1)
        assert stuck.entered.wait(10)

        wait_until(lambda: httpx.get(url).status_code == 503, "the stuck loop was not reported")
        body = httpx.get(url).json()
        assert body["status"] == "stalled" and body["stalled_seconds"] >= 0.3  # rounded

        stuck.release.set()
        wait_until(lambda: httpx.get(url).status_code == 200, "the loop never came round")
    finally:
        stuck.release.set()
        worker.stop()
        probe.stop()


def test_a_worker_that_has_not_started_is_not_stalled(sqlite_database: Database) -> None:
    worker = Worker(sqlite_database, {}, concurrency=1)

    assert worker.stalled_seconds() == 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_worker_command_serves_its_probe_and_metrics(tmp_path: Path) -> None:
    data = tmp_path / "var"
    make_database(f"sqlite:///{data / 'connector.db'}").dispose()
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONNECTOR_")}
    env |= {"CONNECTOR_DATA_DIR": str(data), "CONNECTOR_API_TOKENS": f"ops:admin:{API_TOKEN}"}
    program = str(Path(sys.executable).with_name("mms-connector"))
    process = subprocess.Popen(
        [program, "worker", "--metrics-port", str(port), "--stall-seconds", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the worker exited: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, "the probe port never answered")
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert "connector_queue_up 1.0" in metrics.text
        assert "connector_jobs_total" in metrics.text
        assert httpx.get(f"{base}/elsewhere").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
