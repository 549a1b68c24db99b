"""`mms-connector mappings`: admins check, preview and prepare their field mappings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from connector import bootstrap
from connector.cli.common import fail, settings_or_exit
from connector.core.errors import ConnectorError
from connector.core.events import MalformedEvent
from connector.mapping import (
    FieldDescriber,
    MappingError,
    PreviewError,
    check_mappings,
    load_mappings,
    preview_event,
    preview_json,
)
from connector.providers import aircall, cloudtalk
from connector.store.budgets import MemoryBuckets

app = typer.Typer(help="Field mappings under CONNECTOR_MAPPINGS_DIR.", no_args_is_help=True)


@app.command()
def check(
    online: bool = typer.Option(
        False, "--online", help="Also check each target field against the live CRM."
    ),
) -> None:
    """Validate the mapping files and render them against sample messages."""
    settings = settings_or_exit()
    describers: dict[str, FieldDescriber] | None = None
    connector = None
    if online:
        connector = bootstrap.build(settings, upgrade_sqlite=False)
        connector.budgets = MemoryBuckets()  # a few calls; the database may not exist yet
        describers = {crm: connector.adapter(crm) for crm in connector.adapter_factories}
        if not describers:
            fail("--online needs CRM credentials: no CRM is configured", code=2)
    try:
        report = check_mappings(
            settings.mappings_dir, public_url=settings.public_url, describers=describers
        )
    except ConnectorError as exc:
        fail(f"cannot reach the CRM: {exc.reason}")
    finally:
        if connector is not None:
            connector.close()
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("mappings are valid")


@app.command()
def preview(
    event_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A webhook body."),
    provider: str = typer.Option(
        "auto", help="aircall, cloudtalk, or auto (decided by the body's shape)."
    ),
) -> None:
    """Print the exact CRM payloads an event would produce, for each configured CRM."""
    settings = settings_or_exit()
    try:
        payload = json.loads(event_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{event_file}: not JSON ({exc})", code=2)
    if not isinstance(payload, dict):
        fail(f"{event_file}: the body must be a JSON object", code=2)
    parse = _parser(provider, payload, settings.cloudtalk.field_map)
    enabled = [
        name
        for name, on in (
            ("hubspot", settings.hubspot.enabled),
            ("salesforce", settings.salesforce.enabled),
        )
        if on
    ]
    try:
        mappings = load_mappings(settings.mappings_dir)
        records = preview_event(
            mappings, payload, parse, public_url=settings.public_url, crms=enabled or None
        )
    except (MappingError, PreviewError, MalformedEvent) as exc:
        fail(str(exc))
    typer.echo(json.dumps(preview_json(records), indent=2, ensure_ascii=False))


def _parser(provider: str, payload: Mapping[str, Any], field_map: Any) -> Any:
    if provider == "auto":
        provider = "aircall" if "resource" in payload and "data" in payload else "cloudtalk"
    if provider == "aircall":
        return aircall.parse_event
    if provider == "cloudtalk":
        return lambda body: cloudtalk.parse_event(body, field_map)
    fail(f"unknown provider {provider!r}: aircall, cloudtalk or auto", code=2)


@app.command()
def setup(
    crm: str = typer.Option(..., "--crm", help="hubspot or salesforce."),
) -> None:
    """Create the custom fields the mapping needs: idempotency keys, opt-out (safe to run twice)."""
    settings = settings_or_exit()
    try:
        mapping = load_mappings(settings.mappings_dir).get(crm)
    except MappingError as exc:
        fail(str(exc))
    except ValueError:
        fail(f"unknown CRM {crm!r}: hubspot or salesforce", code=2)
    if mapping is None:
        fail(f"no mapping for {crm}: add {settings.mappings_dir}/{crm}.yaml")
    connector = bootstrap.build(settings, upgrade_sqlite=False)
    connector.budgets = MemoryBuckets()  # a few calls; the database may not exist yet
    try:
        if crm not in connector.adapter_factories:
            fail(f"{crm} is not configured: set its credentials first", code=2)
        adapter = connector.adapter(crm)
        lines = adapter.ensure_fields(mapping.object_name, mapping.key_field, mapping.thread_field)
        fields = mapping.spec.consent
        if fields is not None:  # the opt-out fields on the contact objects
            objects = [m.object for m in mapping.spec.contact.match]
            lines += adapter.ensure_consent_fields(
                objects, fields.opted_out_field, fields.opted_out_at_field
            )
    except ConnectorError as exc:
        fail(f"{crm}: {exc.reason}")
    finally:
        connector.close()
    for line in lines:
        typer.echo(line)
