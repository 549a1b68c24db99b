"""A loopback media host that misbehaves on purpose, over real sockets.

respx replaces httpx's transport, so it cannot show what the connector's own transport does with
a host that trickles its headers or sends a compression bomb: this server can. Each path is one
behaviour:

* `/image.png`: a plain PNG.
* `/gzip.png`: the same PNG, gzip-encoded (as some CDNs send whatever the client asked for).
* `/br.png`: a body labelled `Content-Encoding: br`.
* `/slow-headers.png`: the status line, then one byte of headers every `interval` seconds.
* `/slow-body.png`: full headers, the PNG's first bytes, then one byte every `interval` seconds.
* `/bomb.png`: a deflate bomb (`bomb_bytes` of PNG once inflated, a few hundred KB on the wire).

`sent(path)` is how many body bytes the server wrote for that path, `open_connections()` how
many trickles are still writing: a client that gave up shows as a closed connection.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

MB = 1024 * 1024


def png_bytes(size: int) -> bytes:
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    return head + bytes(size - len(head))


class HostileMediaHost:
    def __init__(
        self, *, interval: float = 0.2, trickle_for: float = 60.0, bomb_bytes: int = 64 * MB
    ) -> None:
        self.interval = interval
        self.trickle_for = trickle_for
        self.image = png_bytes(20 * 1024)
        self.bomb = zlib.compress(png_bytes(bomb_bytes), 9)
        self._sent: Counter[str] = Counter()
        self._open = 0
        self._lock = threading.Lock()
        host = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                host._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileMediaHost:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sent(self, path: str) -> int:
        with self._lock:
            return self._sent[path]

    def open_connections(self) -> int:
        with self._lock:
            return self._open

    # -- the behaviours ---------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(4096)
            if not data:
                return
            request += data
        path = request.split(b" ", 2)[1].decode("ascii").split("?", 1)[0]
        with contextlib.suppress(OSError):  # the client hung up: what the slow paths wait for
            self._answer(conn, path)

    def _answer(self, conn: socket.socket, path: str) -> None:
        if path == "/image.png":
            self._send(conn, path, self._headers(len(self.image)), self.image)
        elif path == "/gzip.png":
            body = gzip.compress(self.image)
            self._send(conn, path, self._headers(len(body), "Content-Encoding: gzip"), body)
        elif path == "/br.png":
            body = b"\x1b\x00\x00" * 10
            self._send(conn, path, self._headers(len(body), "Content-Encoding: br"), body)
        elif path == "/bomb.png":
            headers = self._headers(len(self.bomb), "Content-Encoding: deflate")
            self._send(conn, path, headers, self.bomb)
        elif path == "/slow-headers.png":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            with self._trickling():
                self._trickle(conn, path, b"X-Padding: " + b"a" * 100_000)
        elif path == "/slow-body.png":
            conn.sendall(self._headers(len(self.image)))
            conn.sendall(self.image[:64])
            with self._trickling():
                self._trickle(conn, path, self.image[64:])
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    @staticmethod
    def _headers(length: int, *extra: str) -> bytes:
        lines = ["HTTP/1.1 200 OK", "Content-Type: image/png", f"Content-Length: {length}"]
        return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode("ascii")

    def _send(self, conn: socket.socket, path: str, headers: bytes, body: bytes) -> None:
        conn.sendall(headers)
        for start in range(0, len(body), 16 * 1024):
            conn.sendall(body[start : start + 16 * 1024])
            with self._lock:
                self._sent[path] += len(body[start : start + 16 * 1024])

    @contextmanager
    def _trickling(self) -> Iterator[None]:
        with self._lock:
            self._open += 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    def _trickle(self, conn: socket.socket, path: str, data: bytes) -> None:
        """One byte every `interval`, until the client hangs up or `trickle_for` passes."""
        stop = time.monotonic() + self.trickle_for
        for index in range(len(data)):
            if time.monotonic() > stop:
                return
            conn.sendall(data[index : index + 1])
            with self._lock:
                self._sent[path] += 1
            time.sleep(self.interval)
