"""The mappings a running service uses, reloaded when an admin edits a file, never lost to a typo.

Readers ask `current()` on every use; at most every `interval` seconds that compares the files'
modification times and sizes with the loaded ones (a few `stat` calls) and, when they changed,
loads the whole directory again. An invalid edit keeps the last good mapping in force, is
logged, and shows in `status()` (and so in `/readyz`) until it is fixed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from connector.mapping.errors import MappingError
from connector.mapping.loader import load_mappings, watched_files
from connector.mapping.model import MappingSet

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = 2.0
Signature = tuple[tuple[str, int, int], ...]


class MappingRegistry:
    """The current `MappingSet` of a directory, hot-reloaded; safe to share between threads."""

    def __init__(
        self,
        directory: Path | str,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._mappings: MappingSet | None = None
        self._loaded_at: datetime | None = None
        self._signature: Signature | None = None
        self._failure: MappingError | None = None
        self._checked_at: float | None = None
        self.reload(force=True)

    def current(self) -> MappingSet:
        """The mappings in force; `MappingError` only when no valid mapping was ever loaded."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self.interval:
            self.reload()
        mappings, failure = self._mappings, self._failure
        if mappings is None:
            raise failure or MappingError([])
        return mappings

    def reload(self, *, force: bool = False) -> bool:
        """Load again if a file changed (or `force`); True when new mappings are now in force."""
        with self._lock:
            self._checked_at = self._clock()
            signature = self._stat()
            if not force and signature == self._signature:
                return False
            self._signature = signature
            try:
                mappings = load_mappings(self.directory)
            except MappingError as exc:
                self._failure = exc
                log.warning(
                    "mappings_invalid",
                    directory=str(self.directory),
                    problems=[str(p) for p in exc.problems],
                    keeping="last good mapping" if self._mappings else "none loaded",
                )
                return False
            self._mappings = mappings
            self._failure = None
            self._loaded_at = datetime.now(UTC)
            log.info(
                "mappings_loaded",
                directory=str(self.directory),
                crms=sorted(c.value for c in mappings.crms),
                lines=len(mappings.lines),
            )
            return True

    def status(self) -> dict[str, Any]:
        """For `/readyz`: `ok` False while the files on disk are invalid (or none ever loaded)."""
        mappings, failure = self._mappings, self._failure
        result: dict[str, Any] = {
            "ok": failure is None and mappings is not None,
            "error": str(failure) if failure else None,
            "directory": str(self.directory),
            "loaded_at": self._loaded_at.isoformat() if self._loaded_at else None,
            "crms": sorted(c.value for c in mappings.crms) if mappings else [],
            "lines": len(mappings.lines) if mappings else 0,
        }
        if failure is not None and mappings is not None:
            result["using"] = "the last valid mappings, loaded at " + str(result["loaded_at"])
        return result

    def _stat(self) -> Signature:
        entries = []
        for path in watched_files(self.directory):
            try:
                found = path.stat()
            except OSError:
                entries.append((path.name, -1, -1))
            else:
                entries.append((path.name, found.st_mtime_ns, found.st_size))
        return tuple(entries)
