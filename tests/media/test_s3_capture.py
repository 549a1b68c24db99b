"""Capture into an S3 bucket (moto's server on loopback, through boto3): each medium once whichever
replica captured it, and a bucket that cannot be reached makes the capture wait and retry, never
die, while `/readyz` says the media store is down."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.queue import JobState
from connector.store.tables import jobs
from tests.conftest import make_settings
from tests.fakes.s3 import S3_SECRET_KEY, closed_port_url, objects
from tests.media.capture_process import DRAINED, READY
from tests.media.factories import KB, attachment_row, jpeg, media_url, png, receive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3_connector(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Iterator[Connector]:
    built = bootstrap.build(
        make_settings(
            tmp_path,
            media_store_url=f"s3://{s3_bucket}/media",
            s3_endpoint_url=s3_endpoint,
            secret_key=S3_SECRET_KEY,
        )
    )
    yield built
    built.close()


def test_a_captured_medium_lands_in_the_bucket_once(
    s3_connector: Connector, s3_endpoint: str, s3_bucket: str, respx_mock: respx.MockRouter
) -> None:
    data = jpeg(300 * KB)
    respx_mock.get(media_url("a.jpg")).respond(200, content=data)
    respx_mock.get(media_url("same.jpg")).respond(200, content=data)
    _, _, [first, second] = receive(s3_connector.database, [("a.jpg", None), ("same.jpg", None)])

    assert s3_connector.worker().drain() == 2

    digest = hashlib.sha256(data).hexdigest()
    for attachment_id in (first, second):
        row = attachment_row(s3_connector.database, attachment_id)
        assert (row.state, row.content_hash, row.size) == ("stored", digest, len(data))
    assert objects(s3_endpoint, s3_bucket) == {
        f"media/{digest[:2]}/{digest[2:4]}/{digest}": len(data)
    }


def test_an_unreachable_bucket_makes_the_capture_retry_and_readyz_say_so(
    tmp_path: Path, aws_env: None, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get(media_url("a.png")).respond(200, content=png())
    connector = bootstrap.build(
        make_settings(
            tmp_path,
            media_store_url="s3://media",
            s3_endpoint_url=closed_port_url(),
            secret_key=S3_SECRET_KEY,
        )
    )
    try:
        _, _, [attachment_id] = receive(connector.database, [("a.png", None)])

        assert connector.worker().drain() == 1

        with connector.database.read() as conn:
            job = conn.execute(select(jobs)).one()
        assert job.state == JobState.QUEUED.value, "retried later, not dead"
        assert job.attempts == 1
        assert "media store" in job.last_error
        assert attachment_row(connector.database, attachment_id).state == "pending"
        with TestClient(create_app(connector)) as client:
            ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["media_store"]["ok"] is False
        assert "S3 bucket 'media'" in ready.json()["media_store"]["error"]
    finally:
        connector.close()


class _SameMedium(BaseHTTPRequestHandler):
    """Serves the same PNG at every path, but only once two requests are in: both replicas
    then hold the medium at the same moment and store it concurrently."""

    protocol_version = "HTTP/1.1"
    body = png(200 * KB)
    both_in = threading.Barrier(2, timeout=60)

    def do_GET(self) -> None:
        try:
            self.both_in.wait()
        except threading.BrokenBarrierError:
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def media_host() -> Iterator[str]:
    _SameMedium.both_in.reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SameMedium)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)


def test_two_worker_processes_capturing_the_same_medium_store_one_object(
    database: Database, tmp_path: Path, s3_endpoint: str, s3_bucket: str, media_host: str
) -> None:
    _, _, [first] = receive(database, [("one.png", f"{media_host}/one.png")])
    _, _, [second] = receive(database, [("two.png", f"{media_host}/two.png")])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "CONNECTOR_DATABASE_URL": database.url,
        "CONNECTOR_MEDIA_STORE_URL": f"s3://{s3_bucket}/media",
        "CONNECTOR_SECRET_KEY": S3_SECRET_KEY,
        "CONNECTOR_S3_ENDPOINT_URL": s3_endpoint,
        "CONNECTOR_ALLOW_PRIVATE_MEDIA_URLS": "true",
        "CONNECTOR_MAPPINGS_DIR": str(ROOT / "mappings"),
    }
    workers = []
    for name in ("a", "b"):
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.media.capture_process"],
                cwd=tmp_path,
                env={**env, "CONNECTOR_DATA_DIR": str(tmp_path / name)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert READY in worker.stdout.readline()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=90)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)

    drained = [
        int(line.split()[1]) for out in outputs for line in out.splitlines() if DRAINED in line
    ]
    assert drained == [1, 1], "each process captured one of the two"
    digest = hashlib.sha256(_SameMedium.body).hexdigest()
    rows = [attachment_row(database, attachment_id) for attachment_id in (first, second)]
    assert [(row.state, row.content_hash) for row in rows] == [
        (AttachmentState.STORED.value, digest)
    ] * 2
    assert objects(s3_endpoint, s3_bucket) == {
        f"media/{digest[:2]}/{digest[2:4]}/{digest}": len(_SameMedium.body)
    }
