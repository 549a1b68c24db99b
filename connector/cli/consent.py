"""`mms-connector consent show|set|import`: a number's opt-out, changed by an admin, imported."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from connector.cli.common import connector_or_exit, fail
from connector.core.consent import ConsentSource
from connector.sync import consent
from connector.sync.consent import InvalidConsent
from connector.sync.consent_import import import_file

app = typer.Typer(
    help="Opt-outs (STOP) and opt-ins: look up, change, import.", no_args_is_help=True
)


@app.command()
def show(
    number: str = typer.Argument(..., help="The number, E.164 (e.g. +14155550123)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON."),
) -> None:
    """A number's consent state and its history, newest first."""
    connector = connector_or_exit()
    try:
        view = consent.show(connector, number)
    except InvalidConsent as exc:
        fail(str(exc), code=2)
    finally:
        connector.close()
    if as_json:
        typer.echo(json.dumps(view.model_dump(mode="json"), indent=2))
        return
    typer.echo(f"{view.number}: {'OPTED OUT' if view.opted_out else 'may be messaged'}")
    if view.refusal:
        typer.echo(f"  sends are refused: {view.refusal}")
    for change in view.history:
        state = "opted out" if change.opted_out else "opted in"
        who = f" by {change.actor}" if change.actor else ""
        cause = f" (message {change.message_id})" if change.message_id else ""
        typer.echo(
            f"  {change.at.isoformat()}  {state:9}  {change.source.value}{who}{cause}: "
            f"{change.reason}"
        )


@app.command("set")
def set_(
    number: str = typer.Argument(..., help="The number, E.164."),
    opted_out: bool = typer.Option(
        ..., "--opted-out/--opted-in", help="Opt the number out, or back in."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the number's history)."),
    actor: str = typer.Option("", "--actor", help="Who decided (kept with the change)."),
) -> None:
    """Opt a number out, or back in, as an admin (with a reason)."""
    connector = connector_or_exit()
    try:
        change = consent.set_consent(
            connector,
            number,
            opted_out=opted_out,
            reason=reason,
            source=ConsentSource.ADMIN,
            actor=actor or "cli",
        )
    except InvalidConsent as exc:
        fail(str(exc), code=2)
    finally:
        connector.close()
    state = "opted out" if change.opted_out else "opted back in"
    typer.echo(f"{change.number} {state} (change {change.id})")


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="CSV with a header row."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and count, keep nothing."),
) -> None:
    """Import existing opt-outs: columns `number` (required), `opted_out_at`, `reason`.

    Bad lines are reported with their line number and left out; the good ones are kept. Exits 1
    when any line was refused.
    """
    connector = connector_or_exit()
    try:
        report = import_file(connector, file, dry_run=dry_run)
    except InvalidConsent as exc:
        fail(str(exc), code=2)
    finally:
        connector.close()
    for line, error in report.errors:
        typer.echo(f"{file.name}:{line}: {error}", err=True)
    typer.echo(report.summary())
    if report.errors:
        raise typer.Exit(1)
