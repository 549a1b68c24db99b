"""`mms-connector doctor` and the admin page's checklist: what is wrong, and how to fix it.

One list of checks, each ✓ (passes), ✗ (fails, with the fix) or - (not applicable: a CRM or a
provider that is off). The command exits 0 only when nothing fails; `/admin` shows the same list
through `GET /v1/doctor`. It reuses what already judges each part (`/readyz`'s readiness for the
database, pauses, jobs and the media store; `mappings check --online`; the CRM adapters'
`describe`; the providers' admin APIs that `connect` and `lines import` use) rather than a second
opinion of its own.

It lives with the API because `/readyz` does, and the CLI imports it from here. Every remote call
is bounded by its client's timeouts; a provider's answer counts against the same per-company
rate limit as sending (a handful of calls per run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select, text

from connector.api.doctor_providers import ProviderChecks
from connector.api.doctor_report import NAMES, Check, Report, failed, passed, skipped
from connector.api.health import readiness
from connector.bootstrap import Connector
from connector.core.errors import ConnectorError
from connector.core.events import EventKind
from connector.mapping import Crm, CrmMapping, MappingError, check_mappings, load_mappings
from connector.store import migrate
from connector.store.tables import events

log = structlog.get_logger(__name__)

HEALTH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def diagnose(
    connector: Connector, *, http: Callable[[str], httpx.Response] | None = None
) -> Report:
    """Run every check against this connector's settings, database, CRMs and providers."""
    return _Doctor(connector, http or _get).run()


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=HEALTH_TIMEOUT, follow_redirects=False)


class _Doctor:
    def __init__(self, connector: Connector, http: Callable[[str], httpx.Response]) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.http = http
        self.checks: list[Check] = []
        self.provider_checks = ProviderChecks(self.settings, self.add)

    def run(self) -> Report:
        ready = self._database()
        for name, step in (
            ("Secret key", self._secret_key),
            ("CRMs", self._crms),
            ("Providers", self.provider_checks.providers),
            ("Public URL", self._public_url),
            ("Lines at their providers", self.provider_checks.lines),
        ):
            self._guarded(name, step)
        if ready is not None:
            self._guarded("Jobs", lambda: self._pauses_and_dead_jobs(ready))
        return Report(tuple(self.checks))

    def _guarded(self, name: str, step: Callable[[], None]) -> None:
        """A check that breaks is one failed line, never a doctor that cannot say the rest."""
        try:
            step()
        except Exception as exc:
            log.warning("doctor.check_failed", check=name, error=type(exc).__name__)
            self.add(
                failed(
                    name,
                    f"the check itself failed: {type(exc).__name__}: {str(exc)[:200]}",
                    "fix the checks above first, then run again",
                )
            )

    def add(self, check: Check) -> None:
        self.checks.append(check)

    # -- database, key ----------------------------------------------------------------------------

    def _database(self) -> dict[str, Any] | None:
        """Readiness's verdict; the report too when the jobs and pauses can be read."""
        name = "Database and schema"
        ok, report = readiness(self.connector)
        if ok and report.get("database") == "ok":
            self.add(passed(name, "answers; the schema is current"))
            return report
        if self._answers() and not migrate.is_current(self.connector.database):
            self.add(failed(name, "the schema is missing or old", "run `mms-connector db upgrade`"))
            return None
        fix = "check CONNECTOR_DATABASE_URL and that the database server is up"
        self.add(failed(name, str(report.get("database")), fix))
        return None

    def _answers(self) -> bool:
        try:
            with self.connector.database.read() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _secret_key(self) -> None:
        name = "Secret key"
        previous = len(self.settings.previous_secret_keys)
        if self.settings.secret_key is not None:
            kept = f"; {previous} previous key(s) still open older links" if previous else ""
            self.add(passed(name, f"CONNECTOR_SECRET_KEY is set{kept}"))
        elif not self.connector.database.is_sqlite:
            self.add(
                failed(
                    name,
                    "generated under CONNECTOR_DATA_DIR: each replica on PostgreSQL makes its own, "
                    "so a link one signs, another refuses",
                    "set CONNECTOR_SECRET_KEY to the same 32+ random bytes on every replica",
                )
            )
        else:
            self.add(passed(name, "generated and kept in CONNECTOR_DATA_DIR/secret.key"))

    # -- CRMs ------------------------------------------------------------------------------------

    def _crms(self) -> None:
        connector = self.connector
        if not connector.adapter_factories:
            self.add(
                failed(
                    "CRMs",
                    "no CRM is configured: nothing would be written anywhere",
                    "set HubSpot or Salesforce credentials (README: Connecting the CRMs)",
                )
            )
            return
        try:
            mappings = load_mappings(self.settings.mappings_dir)
        except MappingError as exc:
            self.add(
                failed(
                    "Mappings",
                    f"{len(exc.problems)} error(s), first: {(exc.problems or (exc,))[0]}",
                    "run `mms-connector mappings check` and fix what it lists",
                )
            )
            return
        for crm in ("hubspot", "salesforce"):
            if crm not in connector.adapter_factories:
                self.add(skipped(f"{NAMES[crm]} credentials", "off (no credentials configured)"))
                continue
            self._crm(crm, mappings.crms.get(Crm(crm)))
        self._online_mappings()

    def _crm(self, crm: str, mapping: CrmMapping | None) -> None:
        name = NAMES[crm]
        if mapping is None:
            self.add(
                failed(
                    f"{name} credentials",
                    f"configured, but {self.settings.mappings_dir}/{crm}.yaml is missing",
                    f"add {crm}.yaml to CONNECTOR_MAPPINGS_DIR (copy the shipped one)",
                )
            )
            return
        adapter = self.connector.adapter(crm)
        objects = [mapping.object_name, *(m.object for m in mapping.spec.contact.match)]
        described: dict[str, Any] = {}
        try:
            for object_name in dict.fromkeys(objects):
                described[object_name] = adapter.describe(object_name)
        except ConnectorError as exc:
            self.add(
                failed(
                    f"{name} credentials and scopes",
                    exc.reason,
                    f"check the {name} credentials and the scopes in README (Connecting the CRMs)",
                )
            )
            return
        self.add(passed(f"{name} credentials and scopes", "reads " + ", ".join(described)))
        fields = {key.casefold() for key in described[mapping.object_name]}
        wanted = [f for f in (mapping.key_field, mapping.thread_field) if f]
        missing = [f for f in wanted if f.casefold() not in fields]
        if missing:
            self.add(
                failed(
                    f"{name} custom fields",
                    f"{mapping.object_name} lacks {', '.join(missing)}",
                    f"run `mms-connector mappings setup --crm {crm}`",
                )
            )
        else:
            self.add(passed(f"{name} custom fields", f"{', '.join(wanted)} exist"))

    def _online_mappings(self) -> None:
        connector = self.connector
        describers = {crm: connector.adapter(crm) for crm in connector.adapter_factories}
        try:
            report = check_mappings(
                self.settings.mappings_dir,
                public_url=self.settings.public_url,
                describers=describers,
            )
        except ConnectorError as exc:
            self.add(failed("Mappings (check --online)", exc.reason, "see the CRM checks above"))
            return
        if report.ok:
            warned = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
            self.add(passed("Mappings (check --online)", "valid against the live CRMs" + warned))
            return
        first = "; ".join(str(p) for p in report.errors[:3])
        more = f" (and {len(report.errors) - 3} more)" if len(report.errors) > 3 else ""
        self.add(
            failed(
                "Mappings (check --online)",
                first + more,
                "run `mms-connector mappings check --online` for the whole list",
            )
        )

    # -- providers -------------------------------------------------------------------------------

    # -- public URL, jobs -----------------------------------------------------------------

    def _public_url(self) -> None:
        name = "Public URL"
        url = self.settings.public_url
        fix = (
            "set CONNECTOR_PUBLIC_URL to the https address providers and CRM users reach, "
            "and route it (DNS, proxy, certificate) to this service"
        )
        if not url.startswith("https://"):
            self.add(failed(name, f"{url} is not https: providers refuse to call it", fix))
            return
        try:
            response = self.http(url + "/healthz")
        except httpx.HTTPError as exc:
            self.add(failed(name, f"{url}/healthz did not answer ({type(exc).__name__})", fix))
            return
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "ok":
            self.add(passed(name, f"{url}/healthz answers"))
        else:
            self.add(
                failed(
                    name, f"{url}/healthz answered {response.status_code}, not this service", fix
                )
            )

    def _unreadable_events(self) -> None:
        count = count_unreadable(self.connector)
        if count:
            self.add(
                failed(
                    "Unreadable events",
                    f"{count} provider event(s) claimed to be messages but could not be read "
                    "(kept in the events table, kind `unreadable`, with the reason)",
                    "check the provider's payload format against README (Group conversations); "
                    "report the stored payload if the connector should read it",
                )
            )
        else:
            self.add(passed("Unreadable events", "none"))

    def _pauses_and_dead_jobs(self, report: dict[str, Any]) -> None:
        paused = [
            f"{NAMES.get(name, name)} {state}"
            for group in ("crms", "providers")
            for name, state in report.get(group, {}).items()
            if str(state).startswith("paused")
        ]
        if paused:
            self.add(
                failed(
                    "Nothing paused",
                    "; ".join(paused),
                    "fix what the reason names (usually credentials): a CRM resumes by itself "
                    "once they work, or at once with `mms-connector crm resume NAME`; nothing "
                    "is lost",
                )
            )
        else:
            self.add(passed("Nothing paused", "no CRM or provider is paused"))
        dead = int(report.get("jobs", {}).get("dead", 0))
        if dead:
            self.add(
                failed(
                    "Dead jobs",
                    f"{dead} job(s) gave up",
                    "read their errors (`mms-connector jobs list --state dead` or /admin), fix "
                    "the cause, then `mms-connector jobs retry --all-dead`",
                )
            )
        else:
            self.add(passed("Dead jobs", "none"))
        self._unreadable_events()
        media = report.get("media_store")
        if isinstance(media, dict) and media.get("ok") is False:
            self.add(
                failed(
                    "Media store",
                    str(media.get("error") or "does not answer"),
                    "check CONNECTOR_MEDIA_STORE_URL and the bucket's credentials",
                )
            )


def count_unreadable(connector: Connector) -> int:
    with connector.database.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(events.c.kind == EventKind.UNREADABLE.value)
            ).scalar_one()
        )
