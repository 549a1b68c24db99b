"""The doctor's provider checks: API credentials, the Aircall webhook, the lines at each provider.

The numbers each provider lists are read once and serve both the credentials check and the lines
check (`lines import`'s comparison, so the doctor and the import agree on what "missing" means).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connector.api.doctor_report import NAMES, Check, failed, passed, skipped
from connector.bootstrap import aircall_admin, cloudtalk_admin
from connector.config import Settings
from connector.core.errors import ConnectorError
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.mapping import LINES_FILE, MappingError
from connector.mapping.lines_import import missing_at_provider
from connector.mapping.loader import load_lines
from connector.providers.aircall_admin import (
    WEBHOOK_EVENTS,
    AircallAdmin,
    token_matches,
    webhook_url,
)


class ProviderChecks:
    """The provider part of one doctor run; `add` is the run's checklist."""

    def __init__(self, settings: Settings, add: Callable[[Check], None]) -> None:
        self.settings = settings
        self.add = add
        self.numbers: dict[Provider, list[ProviderNumber]] = {}

    def providers(self) -> None:
        settings = self.settings
        receiving = settings.aircall.webhook_token or settings.cloudtalk.webhook_secret
        if not receiving and not (settings.aircall.send_enabled or settings.cloudtalk.send_enabled):
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
        if not settings.aircall.send_enabled:
            state = "off" if settings.aircall.webhook_token is None else "receive-only"
            self.add(skipped("Aircall API credentials", f"{state} (no API credentials)"))
            if settings.aircall.webhook_token is not None:
                self.add(skipped("Aircall webhook", "cannot be read without API credentials"))
            return
        with aircall_admin(settings) as api:
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
        configured = self.settings.aircall.webhook_token
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
        if not settings.cloudtalk.send_enabled:
            state = "off" if settings.cloudtalk.webhook_secret is None else "receive-only"
            self.add(skipped("CloudTalk API credentials", f"{state} (no API credentials)"))
            return
        with cloudtalk_admin(settings) as api:
            try:
                self.numbers[Provider.CLOUDTALK] = api.numbers()
            except ConnectorError as exc:
                self.add(
                    failed("CloudTalk API credentials", exc.reason, _api_fix(exc, "CLOUDTALK"))
                )
                return
        count = len(self.numbers[Provider.CLOUDTALK])
        self.add(passed("CloudTalk API credentials", f"accepted; {count} number(s)"))

    def lines(self) -> None:
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


def _api_fix(exc: ConnectorError, provider: str) -> str:
    if "answered 401" in exc.reason or "answered 403" in exc.reason:
        if provider == "AIRCALL":
            return "set CONNECTOR_AIRCALL_API_ID/…_API_TOKEN to a key from Aircall's Dashboard"
        return "set CONNECTOR_CLOUDTALK_API_KEY_ID/…_SECRET to a key from CloudTalk (API keys)"
    return f"check CONNECTOR_{provider}_BASE_URL and the provider's status; then run again"
