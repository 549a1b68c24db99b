"""`mms-connector db`: schema management."""

from __future__ import annotations

import typer

from connector.cli.common import settings_or_exit
from connector.store import migrate
from connector.store.db import Database

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Bring the database schema up to date (run before starting replicas on PostgreSQL)."""
    settings = settings_or_exit()
    database = Database(settings.effective_database_url)
    migrate.upgrade(database, revision)
    database.dispose()
    typer.echo(f"database is at {revision}")
