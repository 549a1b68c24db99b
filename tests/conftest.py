"""Fixtures shared by the whole suite: real databases (SQLite file, PostgreSQL) and a connector."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector import bootstrap
from connector.bootstrap import Connector
from connector.config import Settings
from connector.store import migrate
from connector.store.db import Database, normalize_url
from tests.providers.factories import AIRCALL_TOKEN, CLOUDTALK_SECRET

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
# The admin token of `make_settings` (`name:scopes:secret`); long enough for start-up checks.
API_TOKEN = "test-api-token-9f86d081884c7d659a2feaa0c55ad015"

pytest_plugins = ["tests.fakes.s3"]  # the loopback S3 server and its buckets


def _require_postgres() -> str:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set CONNECTOR_TEST_DATABASE_URL: PostgreSQL tests cannot skip")
        pytest.skip("CONNECTOR_TEST_DATABASE_URL is not set")
    return POSTGRES_URL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of this test's own, dropped afterwards."""
    base = normalize_url(_require_postgres())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def make_database(url: str) -> Database:
    database = Database(url)
    migrate.upgrade(database)
    return database


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    database = make_database(f"sqlite:///{tmp_path / 'connector.db'}")
    yield database
    database.dispose()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    database = make_database(postgres_url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """Each test that takes `database` runs on both supported databases."""
    return request.getfixturevalue(f"{request.param}_database")  # type: ignore[no-any-return]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "var",
        "mappings_dir": Path(__file__).resolve().parent.parent / "mappings",
        "public_url": "https://connector.example.test",
        "api_tokens": [f"tests:admin:{API_TOKEN}"],
        "aircall_webhook_token": AIRCALL_TOKEN,
        "cloudtalk_webhook_secret": CLOUDTALK_SECRET,
        "allow_private_media_urls": True,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def connector(settings: Settings) -> Iterator[Connector]:
    built = bootstrap.build(settings)
    yield built
    built.close()
