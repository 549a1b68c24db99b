"""`mms-connector crm`: lift a CRM's pause at once (after installing new credentials, say)."""

from __future__ import annotations

import enum

import typer

from connector.cli.common import database_or_exit
from connector.store import queue

app = typer.Typer(help="The CRMs the connector writes to.", no_args_is_help=True)


class Crm(enum.StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


@app.command()
def resume(crm: Crm = typer.Argument(..., help="The CRM whose pause to lift.")) -> None:
    """Lift the CRM's pause now: its waiting jobs run at once."""
    database = database_or_exit()
    try:
        with database.begin() as conn:
            resumed = queue.resume_target(conn, crm.value)
    finally:
        database.dispose()
    typer.echo(f"{crm.value} resumed" if resumed else f"{crm.value} was not paused")
