"""Schema upgrades with Alembic, from the CLI (`db upgrade`) or at start-up on SQLite."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from connector.store.db import Database


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("connector.store") / "migrations")
    )
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    config = alembic_config(database)
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def is_current(database: Database) -> bool:
    """Whether the schema is at the newest revision, for `/readyz`."""
    script = ScriptDirectory.from_config(alembic_config(database))
    with database.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return set(current) == set(script.get_heads())
