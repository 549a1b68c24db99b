"""Clocks a test moves by hand, for code that reads the time through an injected callable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Monotonic:
    """A `time.monotonic` stand-in: `now` moves only when the test moves it."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class WallClock:
    """A `datetime.now(UTC)` stand-in: `now` moves only when the test moves it."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now
