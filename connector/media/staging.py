"""A file on its way in (a download or an upload), held on disk until the rules have judged it.

Nothing is judged from a name: the spool keeps the first bytes for sniffing, counts the size and
stops at a cap, so neither memory nor disk grows with what a sender chooses to send. Only a file
the rules accept goes on to the media store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from connector.core.sniff import SNIFF_BYTES
from connector.media.store import CHUNK_BYTES
from connector.store.files import private_folder

# A file may pass the policy's largest size by this much before reading stops, so the rules
# (not the reader) judge a file that is just over a limit, and say so in the limit's words.
CAP_MARGIN_BYTES = 64 * 1024


class SpoolOverflow(Exception):
    """More bytes arrived than the cap allows; the spool keeps its head for the verdict."""

    def __init__(self, size: int, cap: int) -> None:
        super().__init__(f"more than {cap} bytes")
        self.size = size
        self.cap = cap


class Spool:
    """An anonymous temporary file (gone with the process if it dies) plus its size and head."""

    def __init__(self, directory: Path, cap: int) -> None:
        private_folder(directory)
        self.cap = cap
        self.size = 0
        self._head = bytearray()
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115

    @property
    def head(self) -> bytes:
        """The first bytes, enough for `connector.core.sniff`."""
        return bytes(self._head)

    def write(self, chunk: bytes) -> None:
        """Append `chunk`; `SpoolOverflow` (and nothing written) once the cap is passed."""
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self.size += len(chunk)
        if self.size > self.cap:
            raise SpoolOverflow(self.size, self.cap)
        self._file.write(chunk)

    def chunks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The kept bytes from the start, in bounded chunks."""
        self._file.flush()
        self._file.seek(0)
        while chunk := self._file.read(chunk_bytes):
            yield chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
