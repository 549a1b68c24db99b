"""Schema upgrades with Alembic, from the CLI (`db upgrade`) or at start-up on SQLite."""

from __future__ import annotations

import functools
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from connector.store.db import Database

SCRIPT_LOCATION = str(resources.files("connector.store") / "migrations")


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


@functools.cache
def heads() -> frozenset[str]:
    """The newest revisions this installation ships. Alembic reads every migration file to learn
    them, so a process does it once (the files do not change while it runs)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current(database: Database) -> frozenset[str]:
    """The revisions the database is at (empty for a database never migrated)."""
    with database.engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade to `revision`; a database already at head costs one query, not Alembic's whole
    script directory (SQLite is upgraded at every start-up)."""
    if revision == "head" and current(database) == heads():
        return
    config = alembic_config(database)
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def is_current(database: Database) -> bool:
    """Whether the schema is at the newest revision, for `/readyz`."""
    return current(database) == heads()


def has_schema(database: Database) -> bool:
    """Whether the database was ever migrated: commands that read it say what to do when not."""
    with database.engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")
