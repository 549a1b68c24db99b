"""A job as the queue hands it out, and the states it goes through."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    target: str
    subject: str
    ordering_key: str | None
    state: JobState
    attempts: int
    run_after: datetime
    lease_until: datetime | None
    worker: str | None
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(
            id=m["id"],
            kind=m["kind"],
            target=m["target"],
            subject=m["subject"],
            ordering_key=m["ordering_key"],
            state=JobState(m["state"]),
            attempts=m["attempts"],
            run_after=m["run_after"],
            lease_until=m["lease_until"],
            worker=m["worker"],
            last_error=m["last_error"],
            payload=m["payload"] or {},
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


def utcnow() -> datetime:
    return datetime.now(UTC)
