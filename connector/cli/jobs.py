"""`mms-connector jobs`: see what the sync is doing and replay what died."""

from __future__ import annotations

import json

import typer

from connector.cli.common import database_or_exit, fail
from connector.store import queue
from connector.store.queue import JobState

app = typer.Typer(help="The job queue.", no_args_is_help=True)


@app.command("list")
def list_jobs(
    state: JobState | None = typer.Option(None, help="Only jobs in this state."),
    limit: int = typer.Option(50, min=1),
    as_json: bool = typer.Option(
        False, "--json", help="A JSON array, each job as `GET /v1/jobs` gives it."
    ),
) -> None:
    """Jobs, newest first."""
    database = database_or_exit()
    try:
        with database.read() as conn:
            found = queue.list_jobs(conn, state=state, limit=limit)
    finally:
        database.dispose()
    if as_json:
        from connector.api.jobs import JobOut

        typer.echo(json.dumps([JobOut.of(job).model_dump(mode="json") for job in found], indent=2))
        return
    for job in found:
        error = f"  {job.last_error}" if job.last_error else ""
        typer.echo(
            f"{job.id:>8}  {job.state.value:<7}  {job.kind:<14} {job.target:<10} "
            f"{job.subject:<10} attempts={job.attempts}{error}"
        )
    if not found:
        typer.echo("no jobs")


@app.command()
def retry(
    job_id: int | None = typer.Argument(None, help="The dead job to replay."),
    all_dead: bool = typer.Option(False, "--all-dead", help="Replay every dead job."),
) -> None:
    """Replay a dead job (or all of them) once its cause is fixed."""
    if (job_id is None) == (not all_dead):
        fail("give a job id or --all-dead (not both)", code=2)
    database = database_or_exit()
    with database.begin() as conn:
        if all_dead:
            typer.echo(f"{queue.retry_all_dead(conn)} dead jobs queued again")
            return
        assert job_id is not None
        job = queue.get(conn, job_id)
        if job is None:
            fail(f"no job {job_id}")
        if not queue.retry(conn, job_id):
            fail(f"job {job_id} is {job.state.value}, not dead")
    typer.echo(f"job {job_id} queued again")
