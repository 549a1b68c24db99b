"""Where captured media and uploads are kept: a small port, and its filesystem implementation.

Blobs are content addressed (SHA-256), so a medium received twice is kept once and a blob never
changes once written. The port is what the S3-compatible store (`connector.media.s3`) implements
for replicas that do not share a disk; nothing outside the stores knows where bytes live.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast, runtime_checkable

from connector.store.files import private_folder

CHUNK_BYTES = 64 * 1024
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Blob:
    """What a store kept: the name it answers to (the content's SHA-256) and its size."""

    content_hash: str
    size: int


class BlobMissing(LookupError):
    """No blob has this hash (never stored, or deleted by the retention)."""


class StoreUnavailable(OSError):
    """The store cannot be reached or refused the call: a transient failure, never a verdict on
    the blob (an `OSError`, so callers that retry on I/O errors retry on this too)."""


@runtime_checkable
class MediaStore(Protocol):
    """The port every media store implements (filesystem now, S3-compatible for replicas).

    `put` consumes the chunks once, so callers can stream a download or an upload straight
    through it; a failure half-way leaves nothing behind.
    """

    def put(self, chunks: Iterable[bytes]) -> Blob: ...

    def open(self, content_hash: str, start: int = 0, stop: int | None = None) -> BinaryIO:
        """The blob for reading, from byte `start` up to (not including) `stop` when given;
        `BlobMissing` if absent. The bytes are streamed, never read whole."""
        ...

    def stat(self, content_hash: str) -> Blob | None:
        """The blob's size, or None when absent."""
        ...

    def delete(self, content_hash: str, *, if_older_than: datetime | None = None) -> bool:
        """Remove the blob; with `if_older_than`, only one last written before then (so a
        blob that a capture has just written again survives the retention's sweep)."""
        ...

    def exists(self, content_hash: str) -> bool: ...

    def local_path(self, content_hash: str) -> Path | None:
        """A path the API can serve with range support, or None for a remote store."""
        ...

    def presigned_url(
        self, content_hash: str, *, expires_in: int, content_type: str, content_disposition: str
    ) -> str | None:
        """A short-lived URL that serves the blob without the connector, or None when the store
        has no such thing (the folder store)."""
        ...

    def check(self) -> None:
        """Raise `StoreUnavailable` when the store cannot be used right now (for `/readyz`)."""
        ...


def check_hash(content_hash: str) -> str:
    """A hash that is safe to turn into a path: 64 lowercase hex digits, nothing else."""
    if not _HASH.fullmatch(content_hash):
        raise ValueError("not a SHA-256 hex digest")
    return content_hash


class FilesystemMediaStore:
    """Blobs under `root/ab/cd/<sha256>`, each written to a temporary file then renamed.

    `os.replace` is atomic on one filesystem, so a reader sees the whole blob or none, and two
    replicas writing the same content at once both end with the same bytes.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / ".tmp"

    def __repr__(self) -> str:
        return f"FilesystemMediaStore({self.root})"

    def _path(self, content_hash: str) -> Path:
        check_hash(content_hash)
        return self.root / content_hash[:2] / content_hash[2:4] / content_hash

    def put(self, chunks: Iterable[bytes]) -> Blob:
        private_folder(self._tmp)
        digest = hashlib.sha256()
        size = 0
        handle = tempfile.NamedTemporaryFile(dir=self._tmp, delete=False)  # noqa: SIM115
        try:
            with handle:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            content_hash = digest.hexdigest()
            target = self._path(content_hash)
            private_folder(target.parent)
            if target.exists():
                # Same content, same bytes: keep the blob, but mark it freshly written so a
                # retention sweep running now does not take it from the capture that needs it.
                os.utime(target)
                os.unlink(handle.name)
            else:
                os.replace(handle.name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(handle.name)
            raise
        return Blob(content_hash=content_hash, size=size)

    def open(self, content_hash: str, start: int = 0, stop: int | None = None) -> BinaryIO:
        try:
            handle = self._path(content_hash).open("rb")
        except FileNotFoundError:
            raise BlobMissing(content_hash) from None
        if start == 0 and stop is None:
            return handle
        handle.seek(start)
        return cast(BinaryIO, _Window(handle, None if stop is None else max(stop - start, 0)))

    def stat(self, content_hash: str) -> Blob | None:
        try:
            return Blob(content_hash, self._path(content_hash).stat().st_size)
        except FileNotFoundError:
            return None

    def delete(self, content_hash: str, *, if_older_than: datetime | None = None) -> bool:
        path = self._path(content_hash)
        try:
            if if_older_than is not None and path.stat().st_mtime >= if_older_than.timestamp():
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, content_hash: str) -> bool:
        return self._path(content_hash).is_file()

    def local_path(self, content_hash: str) -> Path | None:
        return self._path(content_hash)

    def presigned_url(
        self, content_hash: str, *, expires_in: int, content_type: str, content_disposition: str
    ) -> str | None:
        return None

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"{self.root}: {exc.strerror or type(exc).__name__}") from exc
        if not os.access(self.root, os.W_OK):
            raise StoreUnavailable(f"{self.root} is not writable")

    def sweep_temporary(self, older_than_seconds: float = 86400.0) -> int:
        """Remove temporary files a crashed writer left behind; how many were removed."""
        if not self._tmp.is_dir():
            return 0
        limit = time.time() - older_than_seconds
        removed = 0
        for entry in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < limit:
                    entry.unlink()
                    removed += 1
        return removed


class _Window(io.RawIOBase):
    """At most `length` bytes of an open file from where it stands (a byte range)."""

    def __init__(self, handle: BinaryIO, length: int | None) -> None:
        self._handle = handle
        self._left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._left is not None:
            size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(-1 if size is None else size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def read_chunks(handle: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A blob's bytes in bounded chunks, closing it at the end."""
    with handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk
