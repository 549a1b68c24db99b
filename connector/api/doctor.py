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

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import func, select, text

from connector.api.health import readiness
from connector.bootstrap import Connector
from connector.core.errors import ConnectorError
from connector.core.events import EventKind
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.mapping import (
    LINES_FILE,
    Crm,
    CrmMapping,
    MappingError,
    check_mappings,
    load_mappings,
)
from connector.mapping.lines_import import missing_at_provider
from connector.mapping.loader import load_lines
from connector.providers.aircall_admin import (
    WEBHOOK_EVENTS,
    AircallAdmin,
    token_matches,
    webhook_url,
)
from connector.providers.cloudtalk_admin import CloudTalkAdmin
from connector.store import migrate
from connector.store.tables import events

log = structlog.get_logger(__name__)

HEALTH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
NAMES = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "aircall": "Aircall",
    "cloudtalk": "CloudTalk",
}

State = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the checklist; `fix` says what to do when it fails."""

    name: str
    state: State
    detail: str
    fix: str = ""

    @property
    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "skip": "-"}[self.state]

    def lines(self) -> list[str]:
        shown = [f"{self.mark} {self.name}: {self.detail}"]
        if self.state == "fail" and self.fix:
            shown.append(f"    fix: {self.fix}")
        return shown


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.state != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks]}

    def lines(self) -> list[str]:
        shown = [line for check in self.checks for line in check.lines()]
        failures = sum(check.state == "fail" for check in self.checks)
        shown.append("all checks pass" if self.ok else f"{failures} check(s) fail")
        return shown


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
        self.numbers: dict[Provider, list[ProviderNumber]] = {}

    def run(self) -> Report:
        ready = self._database()
        for name, step in (
            ("Secret key", self._secret_key),
            ("CRMs", self._crms),
            ("Providers", self._providers),
            ("Public URL", self._public_url),
            ("Lines at their providers", self._lines),
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
        if self.settings.secret_key is not None:
            self.add(passed(name, "CONNECTOR_SECRET_KEY is set"))
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

    def _providers(self) -> None:
        settings = self.settings
        receiving = settings.aircall_webhook_token or settings.cloudtalk_webhook_secret
        if not receiving and not (settings.aircall_send_enabled or settings.cloudtalk_send_enabled):
            self.add(
                failed(
                    "Providers",
                    "neither Aircall nor CloudTalk is configured: no message can arrive",
                    "run `mms-connector connect aircall` or `connect cloudtalk` (README: Set-up)",
                )
            )
        self._aircall()
        self._cloudtalk()

    def _aircall(self) -> None:
        settings = self.settings
        if not settings.aircall_send_enabled:
            state = "off" if settings.aircall_webhook_token is None else "receive-only"
            self.add(skipped("Aircall API credentials", f"{state} (no API credentials)"))
            if settings.aircall_webhook_token is not None:
                self.add(skipped("Aircall webhook", "cannot be read without API credentials"))
            return
        assert settings.aircall_api_id is not None and settings.aircall_api_token is not None
        with AircallAdmin(
            settings.aircall_api_id,
            settings.aircall_api_token.get_secret_value(),
            settings.aircall_base_url,
        ) as api:
            try:
                self.numbers[Provider.AIRCALL] = api.numbers()
                hooks = api.webhooks()
            except ConnectorError as exc:
                self.add(failed("Aircall API credentials", exc.reason, _api_fix(exc, "AIRCALL")))
                return
            count = len(self.numbers[Provider.AIRCALL])
            self.add(passed("Aircall API credentials", f"accepted; {count} number(s)"))
            self._aircall_webhook(api, hooks)

    def _aircall_webhook(self, api: AircallAdmin, hooks: Sequence[Any]) -> None:
        name, fix = "Aircall webhook", "run `mms-connector connect aircall --write-env FILE`"
        url = webhook_url(self.settings.public_url)
        ours = [h for h in hooks if h.url.rstrip("/").lower() == url.lower()]
        if not ours:
            self.add(failed(name, f"no webhook posts to {url}", fix))
            return
        problems = []
        hook = next((h for h in ours if h.active and h.subscribes_exactly(WEBHOOK_EVENTS)), ours[0])
        if not hook.active:
            problems.append("it is disabled")
        if not hook.subscribes_exactly(WEBHOOK_EVENTS):
            problems.append(
                "its events are "
                + (", ".join(sorted(hook.events)) or "all events")
                + ", not exactly "
                + ", ".join(WEBHOOK_EVENTS)
            )
        if len(ours) > 1:
            problems.append(f"{len(ours)} webhooks post to it (each event arrives more than once)")
        configured = self.settings.aircall_webhook_token
        try:
            token_ok = token_matches(
                hook if hook.token else api.webhook(hook.webhook_id),
                configured.get_secret_value() if configured else None,
            )
        except ConnectorError as exc:
            problems.append(f"its token cannot be read ({exc.reason})")
        else:
            if not token_ok:
                problems.append("its token is not CONNECTOR_AIRCALL_WEBHOOK_TOKEN")
        if problems:
            self.add(failed(name, "; ".join(problems), fix))
        else:
            self.add(passed(name, f"{url}, active, the message events, the configured token"))

    def _cloudtalk(self) -> None:
        settings = self.settings
        if not settings.cloudtalk_send_enabled:
            state = "off" if settings.cloudtalk_webhook_secret is None else "receive-only"
            self.add(skipped("CloudTalk API credentials", f"{state} (no API credentials)"))
            return
        assert settings.cloudtalk_api_key_id is not None
        assert settings.cloudtalk_api_key_secret is not None
        with CloudTalkAdmin(
            settings.cloudtalk_api_key_id,
            settings.cloudtalk_api_key_secret.get_secret_value(),
            settings.cloudtalk_base_url,
        ) as api:
            try:
                self.numbers[Provider.CLOUDTALK] = api.numbers()
            except ConnectorError as exc:
                self.add(
                    failed("CloudTalk API credentials", exc.reason, _api_fix(exc, "CLOUDTALK"))
                )
                return
        count = len(self.numbers[Provider.CLOUDTALK])
        self.add(passed("CloudTalk API credentials", f"accepted; {count} number(s)"))

    # -- public URL, lines, jobs -----------------------------------------------------------------

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

    def _lines(self) -> None:
        name = "Lines at their providers"
        path = self.settings.mappings_dir / LINES_FILE
        try:
            book, _ = load_lines(path)
        except (MappingError, OSError) as exc:
            self.add(failed(name, f"{LINES_FILE}: {exc}", "run `mms-connector mappings check`"))
            return
        problems: list[str] = []
        unchecked: list[str] = []
        for provider in Provider:
            if not any(entry.provider is provider for entry in book.entries):
                continue
            numbers = self.numbers.get(provider)
            if numbers is None:
                unchecked.append(NAMES[provider.value])
                continue
            problems += missing_at_provider(book.entries, provider, numbers)
        note = f" ({', '.join(unchecked)} lines not checked: no API access)" if unchecked else ""
        if problems:
            provider_names = " or ".join(
                f"`mms-connector lines import {p.value}`" for p in self.numbers
            )
            self.add(
                failed(
                    name,
                    "; ".join(problems) + note,
                    f"run {provider_names}, or remove lines that are gone from {LINES_FILE}",
                )
            )
        elif len(unchecked) == len({e.provider for e in book.entries}):
            self.add(skipped(name, f"{len(book.entries)} line(s), none checked{note}"))
        else:
            self.add(passed(name, f"every line exists at its provider{note}"))

    def _unreadable_events(self) -> None:
        count = _count_unreadable(self.connector)
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


def _count_unreadable(connector: Connector) -> int:
    with connector.database.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(events.c.kind == EventKind.UNREADABLE.value)
            ).scalar_one()
        )


def _api_fix(exc: ConnectorError, provider: str) -> str:
    if "answered 401" in exc.reason or "answered 403" in exc.reason:
        if provider == "AIRCALL":
            return "set CONNECTOR_AIRCALL_API_ID/…_API_TOKEN to a key from Aircall's Dashboard"
        return "set CONNECTOR_CLOUDTALK_API_KEY_ID/…_SECRET to a key from CloudTalk (API keys)"
    return f"check CONNECTOR_{provider}_BASE_URL and the provider's status; then run again"
