"""`mms-connector connect aircall|cloudtalk`: hook a provider up to this connector, safely twice.

Aircall has a webhook API, so `connect aircall` makes the webhook itself and hands over its token.
CloudTalk has none (workflows are built in its Dashboard), so `connect cloudtalk` prints exactly
what to build, then `--check` proves the running service takes what a workflow will send.
"""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import httpx
import typer

from connector.bootstrap import aircall_admin
from connector.cli.common import fail, settings_or_exit
from connector.cli.envfile import set_variable
from connector.config import Settings
from connector.core.errors import ConnectorError
from connector.providers import cloudtalk
from connector.providers.aircall_admin import WEBHOOK_EVENTS, webhook_url
from connector.providers.sending import json_body, provider_message

app = typer.Typer(help="Connect a provider to this connector.", no_args_is_help=True)

AIRCALL_TOKEN_VARIABLE = "CONNECTOR_AIRCALL_WEBHOOK_TOKEN"  # noqa: S105 (a name)
CLOUDTALK_SECRET_VARIABLE = "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET"  # noqa: S105 (a name)
CLOUDTALK_PATH = "/webhooks/cloudtalk"
_WRITE_ENV_HELP = "Write the variable into this env file (other lines are kept as they are)."


@app.command("aircall")
def connect_aircall(
    write_env: Path | None = typer.Option(None, "--write-env", help=_WRITE_ENV_HELP),
) -> None:
    """Create (or find and fix) the one Aircall webhook to PUBLIC_URL/webhooks/aircall, subscribed
    to exactly the message events, and give its token."""
    settings = settings_or_exit()
    if not settings.aircall.send_enabled:
        fail("set CONNECTOR_AIRCALL_API_ID and CONNECTOR_AIRCALL_API_TOKEN first", code=2)
    if not settings.public_url.startswith("https://"):
        fail(
            f"CONNECTOR_PUBLIC_URL is {settings.public_url}: Aircall only calls https URLs with "
            "a valid certificate; set the address Aircall can reach",
            code=2,
        )
    url = webhook_url(settings.public_url)
    admin = aircall_admin(settings)
    try:
        result = admin.connect(url, WEBHOOK_EVENTS)
    except ConnectorError as exc:
        fail(exc.reason)
    finally:
        admin.close()
    hook = result.webhook
    verb = {"created": "created", "updated": "updated", "unchanged": "already set up"}
    typer.echo(f"Aircall webhook {hook.webhook_id} → {hook.url}: {verb[result.action]}")
    for change in result.changes:
        typer.echo(f"  {change}")
    typer.echo(f"  events: {', '.join(sorted(hook.events))}")
    for other in result.duplicates:
        typer.echo(
            f"warning: webhook {other.webhook_id} also posts to {other.url}: delete it in "
            "Aircall (Integrations → Webhooks), or each event arrives twice",
            err=True,
        )
    _hand_over(settings, AIRCALL_TOKEN_VARIABLE, result.token, write_env)


def _hand_over(settings: Settings, variable: str, value: str, write_env: Path | None) -> None:
    configured = settings.value_of(variable)
    current = configured.get_secret_value() if configured is not None else None
    if write_env is not None:
        try:
            changed = set_variable(write_env, variable, value)
        except OSError as exc:
            fail(f"cannot write {write_env}: {exc}")
        if changed:
            typer.echo(f"wrote {variable} into {write_env}: restart the service to use it")
        else:
            typer.echo(f"{write_env} already has this {variable}")
        return
    typer.echo(f"{variable}={value}")
    if current != value:
        typer.echo(
            "set it where the service reads its settings (or run again with --write-env FILE) "
            "and restart the service",
            err=True,
        )


@app.command("cloudtalk")
def connect_cloudtalk(
    check: bool = typer.Option(
        False, "--check", help="Post a test event to the running service and report its answer."
    ),
    service_url: str | None = typer.Option(
        None, "--service-url", help="Where --check posts (default CONNECTOR_PUBLIC_URL)."
    ),
    write_env: Path | None = typer.Option(
        None, "--write-env", help="With no secret configured: write the new one into this file."
    ),
) -> None:
    """Print the two CloudTalk workflows to build, filled in; --check proves the service takes
    what they send."""
    settings = settings_or_exit()
    configured = settings.cloudtalk.webhook_secret
    if check:
        if configured is None:
            fail(f"set {CLOUDTALK_SECRET_VARIABLE} first (run without --check to get one)", code=2)
        raise typer.Exit(_check(settings, configured.get_secret_value(), service_url))
    secret = configured.get_secret_value() if configured is not None else secrets.token_hex(32)
    _print_workflows(settings, secret)
    if configured is None:
        typer.echo("")
        _hand_over(settings, CLOUDTALK_SECRET_VARIABLE, secret, write_env)


def _print_workflows(settings: Settings, secret: str) -> None:
    field_map = settings.cloudtalk.field_map
    endpoint = settings.public_url + CLOUDTALK_PATH
    typer.echo("In CloudTalk: Settings → Workflow Automations → + Add Workflow, twice.")
    for number, (name, trigger, sent) in enumerate(
        (
            ("MMS received → connector", "Message · Received", False),
            ("MMS sent → connector", "Message · Sent", True),
        ),
        start=1,
    ):
        body = json.dumps(cloudtalk.workflow_body(field_map, sent=sent), indent=2)
        typer.echo(
            f"\n{number}. {name}\n"
            f"   Trigger:  {trigger}\n"
            f"   Action:   API Request\n"
            f"   Endpoint: {endpoint}\n"
            f"   Method:   POST\n"
            f"   Header:   {cloudtalk.AUTH_HEADER}: {secret}\n"
            f"   Values (the JSON body; one row per key):\n"
            + "\n".join("   " + line for line in body.splitlines())
        )
    typer.echo(
        "\nFor each value in <…>, put the cursor in the value and click the matching Message "
        "attribute tag; delete a row whose attribute CloudTalk does not list."
    )
    if not settings.public_url.startswith("https://"):
        typer.echo(
            f"warning: CONNECTOR_PUBLIC_URL is {settings.public_url}: CloudTalk must reach it "
            "over https",
            err=True,
        )


def _check(settings: Settings, secret: str, service_url: str | None) -> int:
    base = (service_url or settings.public_url).rstrip("/")
    url = base + CLOUDTALK_PATH
    body = cloudtalk.test_body(settings.cloudtalk.field_map, uuid.uuid4().hex)
    try:
        response = httpx.post(url, json=body, headers={cloudtalk.AUTH_HEADER: secret}, timeout=10.0)
    except httpx.HTTPError as exc:
        typer.echo(f"✗ could not reach {url} ({type(exc).__name__}): is the service running?")
        return 1
    answer = json_body(response)
    detail = provider_message(answer) or (answer.get("detail") if isinstance(answer, dict) else "")
    status = answer.get("status") if isinstance(answer, dict) else None
    if response.status_code == 200 and status == "ignored":
        typer.echo(
            f"✓ {url} answered 200: it took the {cloudtalk.AUTH_HEADER} header and acknowledged "
            "the test event (nothing stored)"
        )
        return 0
    if response.status_code == 401:
        typer.echo(
            f"✗ {url} answered 401 ({detail or 'refused'}): the service's "
            f"{CLOUDTALK_SECRET_VARIABLE} is not the one here; set the same value on both"
        )
    elif response.status_code == 404:
        typer.echo(f"✗ {url} answered 404: is {base} this connector?")
    else:
        typer.echo(f"✗ {url} answered {response.status_code}: {detail or response.text[:200]}")
    return 1
