"""One deadline for a whole download: connect, TLS, headers, every redirect and the body.

httpx's timeouts bound each socket operation, not their sum: a host that sends one byte every
few seconds never trips a read timeout, so headers or a body trickled that way would hold a
worker for ever. Here every socket operation of a download gets, at most, the time left until
that download's deadline, and none starts once it has passed. The deadline is the caller's
(a context variable set around the download), so one client and its connection pool serve
downloads with different deadlines, in different threads, at once.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "media_download_deadline", default=None
)


class DeadlinePassed(httpcore.ReadTimeout):
    """The download's overall deadline passed (a timeout, so httpx reports it as one)."""


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Socket operations in this block end by `at` (`time.monotonic()` seconds)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds until the current download's deadline (None outside a download)."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def deadline_passed() -> bool:
    at = _DEADLINE.get()
    return at is not None and time.monotonic() >= at


def _bounded(timeout: float | None) -> float | None:
    """`timeout`, shortened to the time left; `DeadlinePassed` when none is left."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the download's deadline passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current download's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket timeout, not each read of it.
        upgraded = self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout))
        return DeadlineStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.SyncBackend):
    """Connects within the deadline and hands out `DeadlineStream`s."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options=socket_options
        )
        return DeadlineStream(stream)
