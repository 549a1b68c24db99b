"""What every command needs: settings or a clear error, and one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer

from connector.config import ConfigError, Settings, load_settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), code=2)
