"""`mms-connector crm resume` lifts a CRM's pause at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.store import queue
from connector.store.db import Database
from connector.store.queue import PauseCause
from tests.conftest import make_database

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    return make_database(f"sqlite:///{tmp_path / 'var' / 'connector.db'}")


def test_crm_resume_lifts_the_pause_of_that_crm_only(database: Database) -> None:
    with database.begin() as conn:
        for crm in ("hubspot", "salesforce"):
            queue.pause_target(conn, crm, until=None, reason="limit", cause=PauseCause.THROTTLED)

    result = runner.invoke(app, ["crm", "resume", "salesforce"])

    assert result.exit_code == 0, result.output
    assert "salesforce resumed" in result.output
    with database.read() as conn:
        assert queue.paused_targets(conn) == {"hubspot": "limit"}


def test_crm_resume_says_when_the_crm_was_not_paused(database: Database) -> None:
    result = runner.invoke(app, ["crm", "resume", "hubspot"])

    assert result.exit_code == 0, result.output
    assert "hubspot was not paused" in result.output


def test_crm_resume_refuses_an_unknown_crm(database: Database) -> None:
    result = runner.invoke(app, ["crm", "resume", "pipedrive"])

    assert result.exit_code == 2
