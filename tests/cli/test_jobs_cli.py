"""`mms-connector jobs` as an admin runs it against the configured database."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from importlib.metadata import version
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


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"mms-connector {version('mms-crm-connector')}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def never_migrated(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The configured database exists but `db upgrade` never ran on it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    if request.param == "postgres":
        url: str = request.getfixturevalue("empty_postgres_url")
        monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
        return url
    return f"sqlite:///{tmp_path / 'var' / 'connector.db'}"


@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "list"],
        ["jobs", "list", "--json"],
        ["jobs", "retry", "--all-dead"],
        ["crm", "resume", "hubspot"],
    ],
    ids=" ".join,
)
def test_a_database_never_migrated_gets_one_line_saying_to_run_db_upgrade(
    never_migrated: str, command: list[str]
) -> None:
    result = runner.invoke(app, command)

    assert result.exit_code == 1
    assert result.output == (
        "error: the database has no schema yet: run `mms-connector db upgrade`\n"
    )


def test_an_unreachable_database_is_one_line_naming_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{port}/none")

    result = runner.invoke(app, ["jobs", "list"])

    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach the database: ")
    assert result.output.count("\n") == 1


def test_jobs_list_json_gives_each_job_as_the_api_does(database: Database) -> None:
    job_id = kill_one(database, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject required")
    with database.begin() as conn:
        queued = queue.enqueue(conn, "capture_media", target="media", subject=7)

    result = runner.invoke(app, ["jobs", "list", "--json"])

    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [job["id"] for job in listed] == [queued, job_id]  # newest first
    assert listed[1] == {
        "id": job_id,
        "kind": "sync_crm",
        "target": "salesforce",
        "subject": "3",
        "state": "dead",
        "attempts": listed[1]["attempts"],
        "run_after": listed[1]["run_after"],
        "last_error": "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject required",
        "created_at": listed[1]["created_at"],
        "updated_at": listed[1]["updated_at"],
    }
    assert listed[0]["state"] == "queued"


def test_jobs_list_json_of_no_jobs_is_an_empty_array(database: Database) -> None:
    result = runner.invoke(app, ["jobs", "list", "--json"])

    assert result.exit_code == 0
    assert json.loads(result.output) == []
