"""The job list and replay, for admins watching the sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from connector.api.deps import (
    AUTH_RESPONSES,
    AdminScope,
    DatabaseDep,
    ErrorOut,
    Offset,
    RowId,
    not_found,
)
from connector.store import queue
from connector.store.queue import Job, JobState

router = APIRouter(
    prefix="/v1/jobs", tags=["jobs"], dependencies=[AdminScope], responses=AUTH_RESPONSES
)


class JobOut(BaseModel):
    id: int
    kind: str
    target: str
    subject: str
    state: JobState
    attempts: int
    run_after: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobOut:
        fields: dict[str, Any] = {name: getattr(job, name) for name in cls.model_fields}
        return cls(**fields)


@router.get("", summary="Jobs, newest first")
def list_jobs(
    database: DatabaseDep,
    state: JobState | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[JobOut]:
    with database.read() as conn:
        return [
            JobOut.of(job) for job in queue.list_jobs(conn, state=state, limit=limit, offset=offset)
        ]


@router.post(
    "/{job_id}/retry",
    summary="Replay a dead job",
    responses={
        **not_found("job"),
        409: {"model": ErrorOut, "description": "The job is not dead"},
    },
)
def retry_job(job_id: RowId, database: DatabaseDep) -> JobOut:
    with database.begin() as conn:
        job = queue.get(conn, job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
        if not queue.retry(conn, job_id):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"job {job_id} is {job.state.value}, not dead"
            )
        replayed = queue.get(conn, job_id)
    assert replayed is not None
    return JobOut.of(replayed)
