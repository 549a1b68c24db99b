"""What every command needs: settings or a clear error, a database with a schema, one way to
fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from connector.config import ConfigError, Settings, load_settings
from connector.store import migrate
from connector.store.db import Database

if TYPE_CHECKING:
    from connector.bootstrap import Connector

NO_SCHEMA = "the database has no schema yet: run `mms-connector db upgrade`"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), code=2)


def require_schema(database: Database) -> None:
    """One line instead of a traceback when the database cannot answer or was never migrated
    (the database is disposed first)."""
    try:
        migrated = migrate.has_schema(database)
    except SQLAlchemyError as exc:
        database.dispose()
        fail(f"cannot reach the database: {_first_line(exc)}")
    if not migrated:
        database.dispose()
        fail(NO_SCHEMA)


def database_or_exit() -> Database:
    """The configured database, with its schema."""
    database = Database(settings_or_exit().effective_database_url)
    require_schema(database)
    return database


def connector_or_exit() -> Connector:
    """The connector built from the environment (SQLite is upgraded as `serve` does), with a
    database that has its schema."""
    from connector import bootstrap

    try:
        connector = bootstrap.build(settings_or_exit())
    except ConfigError as exc:
        fail(str(exc), code=2)
    except SQLAlchemyError as exc:
        fail(f"cannot reach the database: {_first_line(exc)}")
    try:
        require_schema(connector.database)
    except typer.Exit:
        connector.close()
        raise
    return connector


def _first_line(exc: SQLAlchemyError) -> str:
    """The driver's own reason (engines hide bound values, so it carries none)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
