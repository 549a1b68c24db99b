"""`mms-connector doctor`: the set-up checklist, each line ✓ or ✗ with its fix."""

from __future__ import annotations

import contextlib
import json
import sys

import typer

from connector import bootstrap
from connector.api.doctor import diagnose
from connector.api.doctor_report import Check, Report
from connector.cli.common import settings_or_exit
from connector.config import Settings
from connector.store.budgets import MemoryBuckets


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checklist as JSON."),
) -> None:
    """Check the whole set-up (database, key, CRMs, mappings, providers, webhook, public URL,
    lines, pauses, dead jobs); exit 0 only when every check passes."""
    settings = settings_or_exit()
    # Whatever the parts log while they are checked goes to stderr: stdout is the checklist
    # (or its JSON) alone.
    with contextlib.redirect_stdout(sys.stderr):
        report = _diagnose(settings)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(0 if report.ok else 1)


def _diagnose(settings: Settings) -> Report:
    try:
        connector = bootstrap.build(settings, upgrade_sqlite=False)
    except Exception as exc:
        return Report((Check("Start-up", "fail", str(exc), "fix what it names, then run again"),))
    connector.budgets = MemoryBuckets()  # a few calls; the database may not exist yet
    try:
        return diagnose(connector)
    finally:
        connector.close()
