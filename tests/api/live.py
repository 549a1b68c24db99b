"""The connector as a client on the network meets it: a real server on loopback, raw sockets.

`serving` runs an app under uvicorn in a thread; `Service` runs `mms-connector serve` as a
process of its own (its RSS in `/proc`, its log lines on stderr). `raw_post` speaks HTTP/1.1 on a
bare socket, so a test decides what is sent and when (headers first, the body in chunks, or never).
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

MB = 1024 * 1024


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def wait_until(condition: Any, failure: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.05)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on a loopback port of its own; yields its base URL."""
    sock = free_socket()
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the connector did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Answer:
    status: int
    head: str
    body: bytes
    sent: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = head.decode("latin-1")
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in headers.split("\r\n")
            if line.lower().startswith("content-length:")
        ),
        None,
    )
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    status = int(headers.split(" ", 2)[1]) if headers.startswith("HTTP/") else 0
    return Answer(status=status, head=headers, body=body, sent=sent)


def raw_post(
    url: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    content_length: int | None = None,
    chunks: Iterator[bytes] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """POST on a bare socket. `content_length` alone declares a body that is never sent (the
    answer must come without it); `chunks` streams a chunked body until the server answers."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        given = {"Content-Type": "application/json", **(headers or {})}
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in given.items()]
        if chunks is not None:
            lines.append("Transfer-Encoding: chunked")
        else:
            declared = content_length if content_length is not None else len(body or b"")
            lines.append(f"Content-Length: {declared}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        sent = 0
        if body is not None:
            sock.sendall(body)
            sent = len(body)
        if chunks is not None:
            for chunk in chunks:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break  # the server answered before the body ended
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")
        return _read_answer(sock, sent)
    finally:
        sock.close()


def filler(total: int, *, prefix: bytes = b'{"token": "', chunk: int = MB) -> Iterator[bytes]:
    """A JSON-looking body of `total` bytes, in chunks: one long string that never ends."""
    yield prefix
    left = total - len(prefix)
    while left > 0:
        size = min(chunk, left)
        yield b"a" * size
        left -= size


@dataclass
class Service:
    """`mms-connector serve` as its own process, on a loopback port, logging JSON to a file."""

    folder: Path
    env: dict[str, str]
    worker: bool = False
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "service.log"

    def start(self) -> Service:
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{port}"
        program = str(Path(sys.executable).with_name("mms-connector"))
        command = [program, "serve", "--port", str(port)]
        if not self.worker:
            command.append("--no-worker")
        env = {key: value for key, value in os.environ.items() if not key.startswith("CONNECTOR_")}
        env.update(self.env)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        wait_until(self._alive, f"the service did not start: {self.logs()}")
        return self

    def _alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the service exited: {self.logs()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def peak_rss(self) -> int:
        """The process's peak resident set size in bytes (VmHWM)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.logs()
