"""`mms-connector jobs` as an admin runs it against the configured database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.store import queue
from connector.store.db import Database
from tests.conftest import make_database

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    return make_database(f"sqlite:///{tmp_path / 'var' / 'connector.db'}")


def kill_one(database: Database, reason: str) -> int:
    with database.begin() as conn:
        job_id = queue.enqueue(conn, "sync_crm", target="salesforce", subject=3)
        job = queue.claim(conn, "w", timedelta(seconds=30))
        assert job is not None
        queue.kill(conn, job, "w", reason)
    return job_id


def test_jobs_list_shows_dead_jobs_with_their_reason(database: Database) -> None:
    job_id = kill_one(database, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject required")

    result = runner.invoke(app, ["jobs", "list", "--state", "dead"])

    assert result.exit_code == 0, result.output
    assert str(job_id) in result.output
    assert "Subject required" in result.output


def test_jobs_retry_replays_one_dead_job(database: Database) -> None:
    job_id = kill_one(database, "boom")

    result = runner.invoke(app, ["jobs", "retry", str(job_id)])

    assert result.exit_code == 0, result.output
    with database.read() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.state is queue.JobState.QUEUED


def test_jobs_retry_all_dead(database: Database) -> None:
    kill_one(database, "one")
    kill_one(database, "two")

    result = runner.invoke(app, ["jobs", "retry", "--all-dead"])

    assert result.exit_code == 0
    assert "2 dead jobs queued again" in result.output


def test_jobs_retry_needs_an_id_or_all_dead(database: Database) -> None:
    result = runner.invoke(app, ["jobs", "retry"])

    assert result.exit_code == 2


def test_invalid_configuration_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_MEDIA_RETENTION_DAYS", "half a year")

    result = runner.invoke(app, ["jobs", "list"])

    assert result.exit_code == 2
    assert "CONNECTOR_MEDIA_RETENTION_DAYS" in result.output


def test_db_upgrade_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh.db").exists()
