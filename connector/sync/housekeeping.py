"""The worker's periodic housekeeping: pruning old jobs and events, probing refused credentials.

A target paused because its credentials were refused is re-checked every 30 seconds with one
cheap call (`check_credentials` of its CRM adapter), and resumed as soon as the call succeeds,
instead of waiting out the whole pause. Every replica may run these: each step is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import structlog

from connector.config import Settings
from connector.core.errors import ConnectorError, CredentialsError
from connector.periodic import Periodic
from connector.store import pruning
from connector.store.db import Database
from connector.store.queue import PauseCause, resume_target, utcnow
from connector.store.targets import paused_by

log = structlog.get_logger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0
PROBE_INTERVAL_SECONDS = 30.0

# One cheap call per target that raises CredentialsError while the credentials are refused.
CredentialsCheck = Callable[[], None]


def job_retention(database: Database, settings: Settings) -> Periodic:
    retention = timedelta(days=settings.jobs.retention_days)

    def run() -> None:
        pruned = pruning.prune(database, utcnow() - retention)
        if pruned.jobs or pruned.events:
            log.info("jobs.pruned", jobs=pruned.jobs, events=pruned.events)

    return Periodic(name="job_retention", interval=PRUNE_INTERVAL_SECONDS, run=run)


def probe_credentials(database: Database, checks: Mapping[str, CredentialsCheck]) -> list[str]:
    """Re-check each credentials-paused target that has a check; the targets resumed."""
    with database.read() as conn:
        paused = paused_by(conn, PauseCause.CREDENTIALS)
    resumed = []
    for name in paused:
        check = checks.get(name)
        if check is None:
            continue
        try:
            check()
        except CredentialsError as exc:
            log.info("target.credentials_still_refused", target=name, reason=exc.reason)
            continue
        except ConnectorError as exc:  # the CRM is down or slow: not an answer about credentials
            log.info("target.credentials_probe_failed", target=name, reason=exc.reason)
            continue
        with database.begin() as conn:
            # Only a credentials pause: a pause for another cause that replaced it stays.
            if resume_target(conn, name, cause=PauseCause.CREDENTIALS):
                resumed.append(name)
                log.info("target.resumed", target=name, by="credentials_probe")
    return resumed


def credentials_probe(database: Database, checks: Mapping[str, CredentialsCheck]) -> Periodic:
    def run() -> None:
        probe_credentials(database, checks)

    return Periodic(name="credentials_probe", interval=PROBE_INTERVAL_SECONDS, run=run)
