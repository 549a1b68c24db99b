"""A worker process's own small HTTP port: `/healthz` for the liveness probe, `/metrics` for
Prometheus.

A worker has no API to probe, and a hung one (a job loop stuck in a call that never returns,
its lease renewed by the heartbeat all the while) would otherwise run forever: `/healthz`
answers 503 once a job loop has not come round for `stall_seconds`, so Kubernetes restarts the
process and another worker takes its jobs. The standard library's threaded server is enough
for a probe and a scrape every few seconds.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from connector.store.db import Database
from connector.sync.queue_metrics import exposition
from connector.sync.worker import Worker


class WorkerProbe:
    """Serves the probe in a daemon thread until `stop`."""

    def __init__(
        self,
        worker: Worker,
        database: Database,
        *,
        port: int,
        host: str = "0.0.0.0",  # noqa: S104  (a probe port is reached from the kubelet)
        stall_seconds: float = 300.0,
    ) -> None:
        self.worker = worker
        self.database = database
        self.stall_seconds = stall_seconds
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="worker-probe", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> WorkerProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def health(self) -> tuple[int, dict[str, Any]]:
        stalled = self.worker.stalled_seconds()
        body: dict[str, Any] = {"stalled_seconds": round(stalled, 1)}
        if stalled > self.stall_seconds:
            return 503, {"status": "stalled", **body}
        return 200, {"status": "ok", **body}


def _handler(probe: WorkerProbe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                status, body = probe.health()
                self._answer(status, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, exposition(probe.database))
            else:
                self._answer(404, "application/json", b'{"detail":"Not Found"}')

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes and scrapes every few seconds are not worth a log line each."""

    return Handler
