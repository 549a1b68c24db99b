"""The command tree; each area's commands live in a module of their own."""

from __future__ import annotations

import gc
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from types import FrameType

import typer

from connector import bootstrap
from connector.cli import connect, consent, crm, db, doctor, jobs, lines, mappings, media
from connector.cli.common import fail, settings_or_exit
from connector.logs import configure

app = typer.Typer(
    name="mms-connector",
    help="Keeps Aircall/CloudTalk MMS conversations and writes them into HubSpot and Salesforce.",
    no_args_is_help=True,
)
app.add_typer(crm.app, name="crm")
app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(mappings.app, name="mappings")
app.add_typer(media.app, name="media")
app.add_typer(connect.app, name="connect")
app.add_typer(lines.app, name="lines")
app.command("doctor")(doctor.doctor)
app.add_typer(consent.app, name="consent")

DISTRIBUTION = "mms-crm-connector"


def _version(requested: bool) -> None:
    if not requested:
        return
    try:
        number = version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown (not installed)"
    typer.echo(f"mms-connector {number}")
    raise typer.Exit()


@app.callback()
def main(
    _version_requested: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Keeps Aircall/CloudTalk MMS conversations and writes them into HubSpot and Salesforce."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run the embedded worker."),
) -> None:
    """Run the HTTP API (webhooks, /v1, /docs) and, by default, the worker in one process."""
    import uvicorn

    from connector.api.app import create_app

    settings = settings_or_exit()
    configure(settings.log_level)
    try:
        connector = bootstrap.build(settings)
    except Exception as exc:
        fail(f"cannot start: {exc}")
    app_ = create_app(connector, embedded_worker=worker)
    # Everything built at start-up lives for the whole process: keep it out of the cyclic GC's
    # full collections, whose pauses otherwise show as the webhooks' p99 latency.
    gc.freeze()
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # uvicorn's lines go through the root handler and its redaction
    )


@app.command("worker")
def run_worker(
    concurrency: int = typer.Option(
        0, help="Parallel jobs (default CONNECTOR_WORKER_CONCURRENCY)."
    ),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve /metrics and the liveness probe /healthz on this port (0: none).",
    ),
    stall_seconds: float = typer.Option(
        300.0,
        "--stall-seconds",
        min=1.0,
        help="/healthz answers 503 once a job loop has not come round for this long.",
    ),
) -> None:
    """Run only the worker: claims jobs until SIGTERM/SIGINT, then finishes the jobs in hand."""
    from connector.sync.probe import WorkerProbe

    settings = settings_or_exit()
    configure(settings.log_level)
    connector = bootstrap.build(settings)
    worker = connector.worker(concurrency=concurrency or None)
    probe = None
    if metrics_port:
        try:
            probe = WorkerProbe(
                worker, connector.database, port=metrics_port, stall_seconds=stall_seconds
            ).start()
        except OSError as exc:
            connector.close()
            fail(f"cannot serve the metrics port {metrics_port}: {exc.strerror or exc}")

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run_forever()
    if probe is not None:
        probe.stop()
    connector.close()
    sys.exit(0)
