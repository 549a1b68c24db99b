"""`mms-connector`: the one command operators and admins use (serve, worker, db, jobs, mappings)."""

from __future__ import annotations

from connector.cli.main import app

__all__ = ["app"]
