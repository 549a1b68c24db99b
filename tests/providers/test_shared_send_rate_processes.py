"""Two sending processes share one Aircall send rate, kept in PostgreSQL or in Redis.

A tiny loopback server stands in for Aircall's send endpoint (respx cannot reach into other
processes): it counts every request in a rolling one-second window and answers 429 past its
limit. Each process alone stays under it; two with a budget each would not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import make_database
from tests.providers.send_process import DONE, READY

ROOT = Path(__file__).resolve().parents[2]
SENDS_PER_PROCESS = 12
# The server's limit: a little above the shared rate (8 a second), far below two of them.
SERVER_LIMIT, SERVER_WINDOW = 10, 1.0
ACCEPTED = {"id": "SM1", "status": "pending", "direction": "outbound", "created_at": 1}


class CountingAircall(ThreadingHTTPServer):
    """Answers sends like Aircall; 429 past `SERVER_LIMIT` in any `SERVER_WINDOW`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.window: deque[float] = deque()
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def admit(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.arrivals.append(now)
            while self.window and self.window[0] <= now - SERVER_WINDOW:
                self.window.popleft()
            if len(self.window) >= SERVER_LIMIT:
                self.refused += 1
                return False
            self.window.append(now)
            return True


class _Handler(BaseHTTPRequestHandler):
    server: CountingAircall

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        admitted = self.server.admit()
        body = json.dumps(ACCEPTED if admitted else {"error": "Too Many Requests"}).encode()
        self.send_response(200 if admitted else 429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def aircall() -> Iterator[CountingAircall]:
    server = CountingAircall()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def store_spec(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return f"redis:redis://127.0.0.1:6379/0 test-send-rate:{uuid.uuid4().hex}:"
    url: str = request.getfixturevalue("postgres_url")
    make_database(url).dispose()
    return f"sql:{url}"


def test_two_processes_sending_through_one_aircall_account_stay_within_its_rate(
    aircall: CountingAircall, store_spec: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    senders = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.providers.send_process",
                aircall.url,
                store_spec,
                str(SENDS_PER_PROCESS),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for sender in senders:
            assert sender.stdout is not None
            assert sender.stdout.readline().strip() == READY
        for sender in senders:  # both start together
            assert sender.stdin is not None
            sender.stdin.write("go\n")
            sender.stdin.flush()
        outputs = [sender.communicate(timeout=60)[0] for sender in senders]
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
            sender.wait(10)

    done = [
        line.split()[1:] for out in outputs for line in out.splitlines() if line.startswith(DONE)
    ]
    assert done == [[str(SENDS_PER_PROCESS), "0"]] * 2
    assert aircall.refused == 0
    assert len(aircall.arrivals) == 2 * SENDS_PER_PROCESS
