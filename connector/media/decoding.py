"""Undoing a media host's `Content-Encoding` in bounded pieces, so the size cap sees decoded bytes.

The connector asks for `identity`, but a host (often a CDN) may gzip or deflate anyway. httpx
would decode each received chunk in one go: a 64 KB chunk of a deflate bomb becomes 67 MB in
memory before any cap can look at it. Here each layer yields at most `PIECE_BYTES` at a time,
so the spool's cap stops the download after at most one piece more than it allows, whatever
the ratio. Encodings other than gzip and deflate (`br`, `zstd`, unknown names) are refused:
the connector asked for none, and cannot judge bytes it cannot read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from connector.core.errors import Permanent

PIECE_BYTES = 64 * 1024
MAX_LAYERS = 2  # `gzip, gzip` is legal; more is only ever a way to multiply a bomb
_IDENTITY = frozenset({"", "identity"})


class UnreadableEncoding(Permanent):
    """The body is encoded in a way the connector does not (or will not) decode."""


class _Inflate:
    """One gzip or deflate layer. `deflate` is zlib-wrapped by the RFC, but servers also send
    raw deflate: the first bytes decide, as browsers (and httpx) do."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._pieces(data)
        except zlib.error as exc:
            if self._gzip or self._started:
                raise UnreadableEncoding(f"the {self._encoding} body is corrupt") from exc
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, from the start
            self._started = True
            try:
                yield from self._pieces(data)
            except zlib.error as exc:
                raise UnreadableEncoding(f"the {self._encoding} body is corrupt") from exc

    def _pieces(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            piece = self._decoder.decompress(pending, PIECE_BYTES)
            if piece:
                self._started = True
                yield piece
            pending = self._decoder.unconsumed_tail
            if self._decoder.eof or (not pending and len(piece) < PIECE_BYTES):
                return


def decoded(encoding_header: str | None, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks` (the body as sent) with every listed encoding undone, piece by bounded piece."""
    encodings = [
        value.strip().lower()
        for value in (encoding_header or "").split(",")
        if value.strip().lower() not in _IDENTITY
    ]
    if not encodings:
        yield from chunks
        return
    unknown = sorted({e for e in encodings if e not in ("gzip", "x-gzip", "deflate")})
    if unknown:
        raise UnreadableEncoding(
            f"the media host sent an encoding the connector does not read: {', '.join(unknown)}"
        )
    if len(encodings) > MAX_LAYERS:
        raise UnreadableEncoding(f"the media host encoded the body {len(encodings)} times")
    stream: Iterable[bytes] = chunks
    for encoding in reversed(encodings):  # the last encoding listed was applied last
        stream = _layer(_Inflate(encoding), stream)
    yield from stream


def _layer(layer: _Inflate, chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from layer.decode(chunk)
