"""`mms-connector media`: the media store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from connector.cli.common import fail, settings_or_exit
from connector.config import Settings

app = typer.Typer(help="The media store.", no_args_is_help=True)


@app.command()
def migrate(
    to: str = typer.Option(..., "--to", help="The bucket: s3://bucket/prefix."),
    source: str = typer.Option(
        "",
        "--from",
        help="The folder store: file:///path (default: the configured folder, DATA_DIR/media).",
    ),
) -> None:
    """Copy the folder media store into a bucket; run it again to finish an interrupted copy
    (objects already there with the same size are skipped). Then set
    CONNECTOR_MEDIA_STORE_URL to the bucket and restart."""
    from connector.media.locations import Bucket, parse_store_url

    settings = settings_or_exit()
    try:
        bucket = parse_store_url(to)
        folder = parse_store_url(source) if source else _configured_folder(settings)
    except ValueError as exc:
        fail(str(exc), code=2)
    if not isinstance(bucket, Bucket):
        fail(f"--to {to!r}: must be an s3:// URL", code=2)
    if not isinstance(folder, Path):
        fail(f"--from {source!r}: must be a file:// URL", code=2)
    if not folder.is_dir():
        fail(f"--from: {folder} is not a folder")

    from connector.media.migrate import folder_blobs, migrate_folder
    from connector.media.s3 import S3MediaStore

    target = S3MediaStore(
        bucket.name, bucket.prefix, endpoint_url=settings.media.s3_endpoint_url, attempts=5
    )
    blobs = list(folder_blobs(folder))
    console = Console(stderr=True)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("copying", total=sum(blob.size for blob in blobs))
            report = migrate_folder(
                blobs, target, progress=lambda blob: progress.advance(task, blob.size)
            )
    except OSError as exc:
        fail(f"cannot use {to}: {exc}")
    finally:
        target.close()
    for failure in report.failed:
        typer.echo(f"failed: {failure}", err=True)
    typer.echo(
        f"{len(blobs)} media in {folder}: {report.copied} copied "
        f"({report.copied_bytes / 1_048_576:.1f} MB), {report.skipped} already in {to}, "
        f"{len(report.failed)} failed"
    )
    if report.failed:
        raise typer.Exit(1)


def _configured_folder(settings: Settings) -> Path:
    from connector.media.locations import parse_store_url

    if settings.media.store_url:
        where = parse_store_url(settings.media.store_url)
        if isinstance(where, Path):
            return where
    return settings.media_dir
