"""The browser tests' kit: a live connector on loopback, a fake Aircall, real pictures, threads.

`LiveConnector` runs the real app (`bootstrap.build` + `create_app` with its embedded worker)
under uvicorn in a thread on 127.0.0.1, with Aircall's send API pointed at `FakeAircall`, a
stdlib HTTP server that records each send and answers as Aircall does (or refuses, when told).
"""

from __future__ import annotations

import functools
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.core.model import Attachment, DeliveryStatus, Direction
from connector.media.links import LinkKind, sign
from connector.store import conversations
from connector.store.conversations import AttachmentState
from connector.store.tables import attachments
from tests.conftest import make_settings
from tests.factories import SENT_AT, message, received_event, webhook_body
from tests.media.factories import settle, stored
from tests.providers.factories import aircall_event

API_TOKEN = "test-api-token-9f86d081884c7d659a2feaa0c55ad015"
SALES_LINE = "+14155550100"  # Aircall, SMS MMS
TEXT_LINE = "+14155550111"  # Aircall, SMS only
RECIPIENT = "+14155552671"
AIRCALL_NUMBER_IDS = {SALES_LINE: "1284757", TEXT_LINE: "1284758"}

LINES_YAML = f"""\
lines:
  - number: "{SALES_LINE}"
    provider: aircall
    label: US Sales
    mms_capable: true
    provider_line_id: "{AIRCALL_NUMBER_IDS[SALES_LINE]}"
  - number: "{TEXT_LINE}"
    provider: aircall
    label: US Support
    mms_capable: false
    provider_line_id: "{AIRCALL_NUMBER_IDS[TEXT_LINE]}"
"""

KB = 1024
MB = 1024 * 1024

# -- pictures ---------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


@functools.cache
def png(hue: int = 0, *, width: int = 240, height: int = 180, size: int | None = None) -> bytes:
    """A real PNG: a diagonal gradient of `hue` (0-359) with a light band, so each picture is
    told apart at a glance; padded after IEND up to `size` bytes when asked (browsers ignore
    what follows IEND, the rules count it)."""
    r, g, b = _hue(hue)
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            shade = 0.55 + 0.45 * ((x + y) / (width + height))
            band = 1.35 if height // 3 < y < height // 3 + height // 8 else 1.0
            row += bytes(min(255, int(c * shade * band)) for c in (r, g, b))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )
    if size is not None:
        if size < len(data):
            raise ValueError(f"a {width}x{height} picture needs {len(data)} bytes")
        data += bytes(size - len(data))
    return data


def _hue(hue: int) -> tuple[int, int, int]:
    sector, offset = divmod(hue % 360, 60)
    rise, fall = int(255 * offset / 60), int(255 * (60 - offset) / 60)
    return [
        (255, rise, 0),
        (fall, 255, 0),
        (0, 255, rise),
        (0, fall, 255),
        (rise, 0, 255),
        (255, 0, fall),
    ][sector]


def pdf(size: int = 20 * KB) -> bytes:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    return head + b"%" * (size - len(head))


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- the fake Aircall ---------------------------------------------------------------------------


@dataclass
class FakeAircall:
    """Aircall's native send endpoint on loopback: records each send, answers `pending` with a
    fresh id, or refuses with `refuse_with` (status, body) while that is set."""

    sends: list[dict[str, Any]] = field(default_factory=list)
    refuse_with: tuple[int, dict[str, Any]] | None = None
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = fake._answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.refuse_with is not None:
                return self.refuse_with
            message_id = f"ac-{len(self.sends) + 1:04d}"
            self.sends.append({"path": path, "body": body, "id": message_id})
        return 200, {"id": message_id, "status": "pending", "body": body.get("body")}

    def wait_for_send(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.sends) >= count:
                    return self.sends[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"Aircall received {len(self.sends)} sends, expected {count}")


# -- the connector, live -----------------------------------------------------------------------


@dataclass
class LiveConnector:
    url: str
    connector: Connector
    aircall: FakeAircall

    def compose_url(
        self, to: str = RECIPIENT, record: tuple[str, str, str] = ("hubspot", "contact", "901")
    ) -> str:
        """What a CRM integration gets from `POST /v1/compose-links` and opens in its iframe."""
        system, obj, record_id = record
        response = httpx.post(
            f"{self.url}/v1/compose-links",
            json={"crm": {"system": system, "object": obj, "record_id": record_id}, "to": to},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert response.status_code == 201, response.text
        url: str = response.json()["url"]
        assert url.startswith(self.url + "/compose?token=")
        return url

    def aircall_webhook(self, event: str, data: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/aircall", json=aircall_event(event, data=data))

    def deliver(self, provider_message_id: str, status: str = "delivered") -> None:
        """Aircall reports the send's fate, as its `message.status_updated` webhook does."""
        response = self.aircall_webhook(
            "message.status_updated", {"id": provider_message_id, "status": status}
        )
        assert response.status_code in (200, 202), response.text

    def conversation(
        self,
        other_party: str,
        messages: Sequence[tuple[str, Sequence[tuple[str, bytes | AttachmentState]]]],
        *,
        outbound: Sequence[int] = (),
    ) -> str:
        """Store a thread with `other_party`: each message's text and (name, bytes or the state
        of a medium that could not be kept); the messages at the `outbound` positions are ours,
        delivered. Answers the conversation link a CRM record carries."""
        thread_id = 0
        for index, (text, files) in enumerate(messages):
            direction = Direction.OUTBOUND if index in outbound else Direction.INBOUND
            thread_id = self._received(other_party, text, files, index, direction)
        return f"{self.url}/conversations/{sign(self.connector.secret, LinkKind.THREAD, thread_id)}"

    def _received(
        self,
        other_party: str,
        text: str,
        files: Sequence[tuple[str, bytes | AttachmentState]],
        index: int,
        direction: Direction,
    ) -> int:
        msg = message(
            text=text,
            other_party=other_party,
            direction=direction,
            status=DeliveryStatus.RECEIVED
            if direction is Direction.INBOUND
            else DeliveryStatus.DELIVERED,
            sent_at=SENT_AT + timedelta(minutes=index),
            attachments=tuple(
                Attachment(name=name, source_url=f"https://media.example.com/{name}")
                for name, _ in files
            ),
        )
        event = received_event(msg)
        database = self.connector.database
        with database.begin() as conn:
            result = conversations.record_event(conn, event, webhook_body(event), crms=())
            assert result.message_id is not None and result.thread_id is not None
            ids = list(
                conn.execute(
                    select(attachments.c.id)
                    .where(attachments.c.message_id == result.message_id)
                    .order_by(attachments.c.position)
                ).scalars()
            )
        for attachment_id, (name, content) in zip(ids, files, strict=True):
            if isinstance(content, AttachmentState):
                settle(database, attachment_id, content)
            else:
                kind = "application/pdf" if name.endswith(".pdf") else "image/png"
                stored(database, self.connector.media_store, attachment_id, content, kind)
        return result.thread_id


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_connector(folder: Path) -> Iterator[LiveConnector]:
    """The whole connector on loopback (API, pages, embedded worker) with a fake Aircall."""
    aircall = FakeAircall()
    aircall.start()
    mappings = folder / "mappings"
    mappings.mkdir(parents=True)
    (mappings / "lines.yaml").write_text(LINES_YAML, encoding="utf-8")
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        folder,
        mappings_dir=mappings,
        public_url=url,
        aircall_api_id="aircall-api-id",
        aircall_api_token="aircall-api-token",
        aircall_base_url=aircall.url,
        worker_poll_seconds=0.05,
    )
    connector = bootstrap.build(settings)
    app = create_app(connector, embedded_worker=True)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait(lambda: server.started, "the connector did not start")
    try:
        yield LiveConnector(url=url, connector=connector, aircall=aircall)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        connector.close()
        aircall.stop()


def _wait(condition: Callable[[], bool], failure: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.02)
