"""Fixtures shared by the whole suite: real databases (SQLite file, PostgreSQL) and a connector.

Every test runs with no `CONNECTOR_*` or `AWS_*` variable of the caller's environment, so a
developer's exported credentials never reach a real CRM, provider or bucket. A new SQLite
database is a copy of one migrated once per test process (an Alembic upgrade costs ~0.1-0.3 s,
a copy ~1 ms); Alembic then finds it at head and does nothing. The shipped mappings are compiled
once per process too (~70 ms each time otherwise).
"""

from __future__ import annotations

import atexit
import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from connector import bootstrap
from connector.bootstrap import Connector
from connector.config import Settings, load_settings
from connector.mapping import registry as mapping_registry
from connector.mapping.loader import watched_files
from connector.mapping.model import MappingSet
from connector.store import migrate, tables
from connector.store.db import Database, normalize_url
from tests.providers.factories import AIRCALL_TOKEN, CLOUDTALK_SECRET

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_DATABASE_URL")
# The admin token of `make_settings` (`name:scopes:secret`); long enough for start-up checks.
API_TOKEN = "test-api-token-9f86d081884c7d659a2feaa0c55ad015"

pytest_plugins = ["tests.fakes.s3"]  # the loopback S3 server and its buckets
# Property tests: `ci` (CI is set) tries fewer examples, with no deadline, since a loaded machine
# makes any example slow; `dev` keeps Hypothesis's example count. HYPOTHESIS_PROFILE overrides.
hypothesis_settings.register_profile("ci", max_examples=25, deadline=None, database=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that start several processes (`*_processes.py`) hold the longest tests: they
    start first, so that under xdist they do not run alone at the end."""
    items.sort(key=lambda item: not item.path.name.endswith("_processes.py"))


# The test harness's own inputs, read when the suite starts; never a connector setting.
HARNESS_PREFIX = "CONNECTOR_TEST_"


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's connector settings or AWS credentials (each test that needs
    some sets its own)."""
    hermetic(monkeypatch)


def hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the caller's connector settings and AWS credentials, also for fixtures of a wider
    scope than one test (which start before `_hermetic_environment`)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or (
            name.startswith("CONNECTOR_") and not name.startswith(HARNESS_PREFIX)
        ):
            monkeypatch.delenv(name)


def _require_postgres() -> str:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set CONNECTOR_TEST_DATABASE_URL: PostgreSQL tests cannot skip")
        pytest.skip("CONNECTOR_TEST_DATABASE_URL is not set")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(_postgres_worker_schema: str) -> str:
    """A PostgreSQL URL whose search_path is a schema at head with no rows, this process's own.

    Creating, migrating and dropping a schema per test costs ~0.5-1 s of catalog work on the
    server; emptying the few rows a test wrote costs a few milliseconds. Row ids start again at
    1, as in a new schema.
    """
    return _emptied(_postgres_worker_schema)


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new schema nothing was ever migrated in."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_worker_schema() -> Iterator[str]:
    with postgres_schema() as url:
        database = Database(url)
        migrate.upgrade(database)
        database.dispose()
        yield url


# Set once by `_emptied` when a test left the shared schema unusable: later tests get a new one.
_replaced_schemas: dict[str, str] = {}


def _emptied(url: str) -> str:
    """`url` after deleting every row of its schema (children first) and restarting its
    sequences; a schema a test left locked or off head is replaced by a new migrated one."""
    url = _replaced_schemas.get(url, url)
    schema = _schema_of(url)
    admin = create_engine(normalize_url(_require_postgres()), poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            present = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                    {"schema": schema},
                ).scalars()
            )
            if not _at_head(conn, schema, present):
                raise _Unusable(schema)
            ours = [table.name for table in reversed(tables.metadata.sorted_tables)]
            others = sorted(present - set(ours) - {"alembic_version"})  # tests' own side tables
            for name in [*others, *(name for name in ours if name in present)]:
                conn.execute(text(f'DELETE FROM "{schema}"."{name}"'))
            conn.execute(
                text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
                    "FROM pg_sequences WHERE schemaname = :schema"
                ),
                {"schema": schema},
            )
    except (_Unusable, OperationalError):
        replacement = _new_migrated_schema()
        _replaced_schemas[url] = replacement
        return replacement
    finally:
        admin.dispose()
    return url


class _Unusable(Exception):
    pass


def _at_head(conn: Connection, schema: str, present: set[str]) -> bool:
    if "alembic_version" not in present:
        return False
    versions = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
    return frozenset(versions.scalars()) == migrate.heads()


def _new_migrated_schema() -> str:
    """A schema for the rest of the session, dropped when the process ends."""
    context = postgres_schema()
    url = context.__enter__()
    atexit.register(context.__exit__, None, None, None)
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    return url


def _schema_of(url: str) -> str:
    return url.rsplit(SEARCH_PATH, 1)[1].split("%20", 1)[0]


# Options of every test connection: its own schema, and commits that do not wait for the disk
# (a test database needs no durability; thousands of commits in the worker tests then cost
# milliseconds instead of an fsync each).
SEARCH_PATH = "options=-csearch_path%3D"
NO_FSYNC_WAIT = "%20-csynchronous_commit%3Doff"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new empty schema, dropped at the end (for
    fixtures of a wider scope than one test)."""
    base = normalize_url(_require_postgres())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}{SEARCH_PATH}{schema}{NO_FSYNC_WAIT}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@functools.cache
def _sqlite_template() -> bytes:
    """A SQLite database at head, migrated once per test process (xdist workers each have
    theirs)."""
    with tempfile.TemporaryDirectory(prefix="connector-template-") as folder:
        path = Path(folder) / "connector.db"
        database = Database(f"sqlite:///{path}")
        _real_upgrade(database)
        database.dispose()  # the last connection checkpoints the WAL into the file
        return path.read_bytes()


_real_upgrade = migrate.upgrade


def _upgrade_from_template(database: Database, revision: str = "head") -> None:
    """`migrate.upgrade`, except that a SQLite file nothing was ever written to (`Database`
    creates it empty) first becomes a copy of the template, which Alembic finds at head."""
    path = _sqlite_path(database.url)
    if revision == "head" and path is not None and _untouched(path):
        with path.open("r+b") as file:
            file.write(_sqlite_template())
    _real_upgrade(database, revision)


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and "?" not in url and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def _untouched(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return path.exists() and path.stat().st_size == 0 and not wal.exists()


@pytest.fixture(autouse=True)
def _migrated_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's new SQLite database (`make_database`, `bootstrap.build`, in-process CLI
    commands) starts from the migrated template instead of running every migration again."""
    monkeypatch.setattr(migrate, "upgrade", _upgrade_from_template)


SHIPPED_MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
_real_load_mappings = mapping_registry.load_mappings


@functools.cache
def _shipped_mappings(_signature: tuple[tuple[str, int, int], ...]) -> MappingSet:
    return _real_load_mappings(SHIPPED_MAPPINGS)


def _load_mappings_once(directory: Path | str) -> MappingSet:
    """`load_mappings`, compiled once per process for the repository's own `mappings/` (most
    connectors the tests build use them; a `MappingSet` is immutable). Other folders, which
    tests write and change, load every time."""
    if Path(directory).resolve() != SHIPPED_MAPPINGS:
        return _real_load_mappings(directory)
    signature = tuple(
        (path.name, stat.st_mtime_ns, stat.st_size)
        for path in watched_files(SHIPPED_MAPPINGS)
        if path.exists() and (stat := path.stat())
    )
    return _shipped_mappings(signature)


@pytest.fixture(autouse=True)
def _shipped_mappings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping_registry, "load_mappings", _load_mappings_once)


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
    return load_settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def connector(settings: Settings) -> Iterator[Connector]:
    built = bootstrap.build(settings)
    yield built
    built.close()
