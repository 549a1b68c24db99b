"""Every log line of a running service is JSON and redacted, the standard library's included:
httpx's request lines never show a signed media URL's query, uvicorn's and alembic's lines go
through the same redaction, and exception text is redacted like any other field."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from connector.logs import scrub
from tests.api.live import Service, wait_until
from tests.conftest import API_TOKEN
from tests.pages.kit import png
from tests.providers.factories import AIRCALL_TOKEN, OTHER_PARTY, aircall_event, aircall_media

SIGNATURE = "X-Amz-Signature=5e3a9c1f0b7d2e8a4c6f1b9d3e7a2c5f"


@pytest.fixture
def media_host() -> Iterator[str]:
    picture = png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_running_service_logs_only_redacted_json(tmp_path: Path, media_host: str) -> None:
    service = Service(
        tmp_path,
        {
            "CONNECTOR_DATA_DIR": str(tmp_path / "var"),
            "CONNECTOR_API_TOKENS": f"ops:admin:{API_TOKEN}",
            "CONNECTOR_AIRCALL_WEBHOOK_TOKEN": AIRCALL_TOKEN,
            "CONNECTOR_ALLOW_PRIVATE_MEDIA_URLS": "true",
            "CONNECTOR_WORKER_POLL_SECONDS": "0.05",
        },
        worker=True,
    ).start()
    try:
        media = aircall_media(presigned_url=f"{media_host}/IMG_0042.png?{SIGNATURE}")
        body = aircall_event(data={"media_details": [media], "body": "private words"})
        answer = httpx.post(f"{service.url}/webhooks/aircall?via=test", json=body)
        assert answer.status_code == 202
        wait_until(lambda: "HTTP Request" in service.logs(), "the medium was never fetched")
    finally:
        logs = service.stop()

    assert "X-Amz-Signature" not in logs
    assert "private words" not in logs
    assert OTHER_PARTY not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    fetched = [line for line in lines if line.get("logger") == "httpx"]
    assert fetched and "?[redacted]" in fetched[0]["event"]
    assert any(line.get("logger", "").startswith("alembic") for line in lines)
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    # One access line per request, with the id the answer carried; a job's lines name the job.
    access = [line for line in lines if line["event"] == "http.request"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("POST", "/webhooks/aircall", 202)
    ]
    assert access[0]["request_id"] == answer.headers["X-Request-ID"]
    assert access[0]["duration_ms"] >= 0
    assert fetched[0]["job_kind"] == "capture_media" and isinstance(fetched[0]["job_id"], int)


_EXCEPTION_SCRIPT = """
import logging
from connector.logs import configure
configure("INFO", json=True)
try:
    raise ValueError(MESSAGE)
except ValueError:
    logging.getLogger("sqlalchemy.test").exception("write failed")
"""


def test_stdlib_exceptions_are_redacted_like_any_event() -> None:
    # A process of its own: `configure` sets up the process-wide logging.
    message = (
        f"insert failed for {OTHER_PARTY} at https://m.example/a.png?{SIGNATURE}\n"
        "[parameters: {'text': 'private words'}]"
    )
    script = f"MESSAGE = {message!r}\n{_EXCEPTION_SCRIPT}"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["logger"] == "sqlalchemy.test"
    assert "ValueError" in line["exception"]
    for leaked in (OTHER_PARTY, SIGNATURE, "private words"):
        assert leaked not in json.dumps(line)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "GET https://s3.example/a.jpg?X-Amz-Signature=abc&X-Amz-Credential=k 200",
            "a.jpg?[redacted]",
        ),
        ("Authorization: Bearer abc.def-ghi", "Bearer [redacted]"),
        ("no url here", "no url here"),
    ],
)
def test_scrub_cuts_query_strings_and_credentials(text: str, kept: str) -> None:
    assert kept in scrub(text)
    assert "abc" not in scrub(text) or text == "no url here"
