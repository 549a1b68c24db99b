"""`mms-connector lines import`: fill `lines.yaml` from the provider's own list of numbers."""

from __future__ import annotations

from pathlib import Path

import typer

from connector.bootstrap import aircall_admin, cloudtalk_admin
from connector.cli.common import fail, settings_or_exit
from connector.config import Settings
from connector.core.errors import ConnectorError
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.mapping import LINES_FILE, MappingError
from connector.mapping.lines_import import merge_numbers
from connector.mapping.loader import display_path
from connector.store.files import replace_text

app = typer.Typer(help="The company's lines in mappings/lines.yaml.", no_args_is_help=True)


def provider_numbers(settings: Settings, provider: Provider) -> list[ProviderNumber]:
    """Every number `provider` lists for the account; `ConnectorError` when it cannot say."""
    admin = aircall_admin if provider is Provider.AIRCALL else cloudtalk_admin
    with admin(settings) as api:
        return api.numbers()


@app.command("import")
def import_lines(
    provider: Provider = typer.Argument(..., help="aircall or cloudtalk."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would change; write nothing."
    ),
) -> None:
    """Merge the provider's numbers into lines.yaml (comments and your edits are kept)."""
    settings = settings_or_exit()
    if not settings.provider(provider).send_enabled:
        variables = {
            Provider.AIRCALL: "CONNECTOR_AIRCALL_API_ID and CONNECTOR_AIRCALL_API_TOKEN",
            Provider.CLOUDTALK: "CONNECTOR_CLOUDTALK_API_KEY_ID and …_API_KEY_SECRET",
        }[provider]
        fail(f"set {variables} first", code=2)
    path = Path(settings.mappings_dir) / LINES_FILE
    if not path.exists():
        fail(f"{display_path(path)} does not exist: create it with `lines:` and one line", code=2)
    try:
        numbers = provider_numbers(settings, provider)
    except ConnectorError as exc:
        fail(exc.reason)
    text = path.read_text(encoding="utf-8")
    try:
        merge = merge_numbers(text, display_path(path), provider, numbers)
    except MappingError as exc:
        fail(f"fix {display_path(path)} first:\n{exc}")
    typer.echo(f"{provider.value} lists {len(numbers)} number(s)")
    for change in merge.changes:
        typer.echo(str(change))
    if not merge.changed:
        typer.echo(f"{display_path(path)}: nothing to change")
        return
    if dry_run:
        typer.echo(f"{display_path(path)}: not written (--dry-run)")
        return
    replace_text(path, merge.text, path.stat().st_mode & 0o777)
    typer.echo(f"{display_path(path)}: written; `mms-connector mappings check` to review it")
