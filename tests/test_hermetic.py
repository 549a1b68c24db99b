"""The suite is hermetic: whatever the developer's shell exports, no test reads it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import load_settings
from connector.store import migrate
from tests.conftest import make_database

CALLERS_SHELL = {
    "CONNECTOR_HUBSPOT_ACCESS_TOKEN": "pat-na1-a-real-portals-token",
    "CONNECTOR_DATABASE_URL": "postgresql://prod@db.example.com/connector",
    "AWS_ACCESS_KEY_ID": "AKIAREALACCOUNTKEY",
    "AWS_PROFILE": "production",
    "CONNECTOR_TEST_HARNESS_INPUT": "kept",
}


@pytest.fixture(scope="module")
def _callers_shell() -> Iterator[None]:
    """What a developer may have exported before running the tests: set before any test's own
    fixtures run (module scope comes first), as the real environment would be."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CALLERS_SHELL.items():
            patch.setenv(name, value)
        yield


@pytest.mark.usefixtures("_callers_shell")
def test_the_callers_connector_settings_and_aws_credentials_never_reach_a_test() -> None:
    leaked = [name for name in CALLERS_SHELL if name in os.environ]

    assert leaked == ["CONNECTOR_TEST_HARNESS_INPUT"]  # the harness's own inputs stay
    settings = load_settings(_env_file=None)
    assert not settings.hubspot.enabled
    assert settings.database_url is None


def test_a_new_sqlite_database_starts_at_head(tmp_path: Path) -> None:
    database = make_database(f"sqlite:///{tmp_path / 'connector.db'}")

    assert migrate.is_current(database)
    assert migrate.current(database) == migrate.heads()
    database.dispose()
