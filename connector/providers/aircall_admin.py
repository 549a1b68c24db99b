"""Aircall's Public API for set-up: the connector's webhook, and the company's numbers.

Webhooks (`/v1/webhooks`): `POST` creates `{url, custom_name, events}` and answers 201 with
`{"webhook": {webhook_id, url, events, active, token, ...}}`; `GET` lists them
(`{"webhooks": [...], "meta": {next_page_link}}`); `GET/PUT /v1/webhooks/{webhook_id}` read and
change one. Two traps decide how `connect` works: a webhook created with no `events` (or a PUT that
leaves them out) subscribes to *every* event, so every write names the full list; and a webhook
made in the Dashboard does not show its token in the list, so the token is read from
`GET /v1/webhooks/{id}` when the list lacks it. At most 100 webhooks per company, https only.

Numbers (`GET /v1/numbers`, pages of at most 50, `meta.next_page_link`): `id` (what a native send
needs as `provider_line_id`), `name`, `digits` (formatted international text; `e164_digits` only
appears in webhook events, read when present).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from connector.core.errors import Permanent
from connector.core.events import MalformedEvent
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.providers import aircall
from connector.providers.admin_http import AdminApi, read_list, text_of
from connector.providers.payload import read_phone

# Exactly the events the webhook parser turns into messages: the same table, so a new message
# event the parser learns is subscribed by the next `connect aircall`.
WEBHOOK_EVENTS: tuple[str, ...] = tuple(aircall.WEBHOOK_EVENTS)
WEBHOOK_NAME = "MMS-CRM connector"
WEBHOOK_PATH = "/webhooks/aircall"
PER_PAGE = 50
MAX_PAGES = 200  # 10,000 items: far past any company's numbers or Aircall's 100 webhooks


@dataclass(frozen=True)
class Webhook:
    """One Aircall webhook as the API describes it (`token` may be absent from a list)."""

    webhook_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    token: str | None = None
    custom_name: str = ""

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> Webhook:
        webhook_id = text_of(item.get("webhook_id")) or text_of(item.get("id"))
        url = text_of(item.get("url"))
        if webhook_id is None or url is None:
            raise Permanent("Aircall described a webhook without webhook_id or url")
        events = item.get("events")
        names = tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) else ()
        return cls(
            webhook_id=webhook_id,
            url=url,
            events=names,
            active=item.get("active") is not False,
            token=text_of(item.get("token")),
            custom_name=text_of(item.get("custom_name")) or "",
        )

    def subscribes_exactly(self, events: Sequence[str]) -> bool:
        return set(self.events) == set(events) and len(self.events) == len(set(self.events))


@dataclass(frozen=True)
class ConnectResult:
    """What `connect` did: the webhook as it is now, and the others pointing at the same URL."""

    action: Literal["created", "updated", "unchanged"]
    webhook: Webhook
    changes: tuple[str, ...] = ()
    duplicates: tuple[Webhook, ...] = field(default_factory=tuple)

    @property
    def token(self) -> str:
        assert self.webhook.token is not None
        return self.webhook.token


class AircallAdmin(AdminApi):
    provider_name = "Aircall"
    credentials_hint = "CONNECTOR_AIRCALL_API_ID and CONNECTOR_AIRCALL_API_TOKEN"

    def webhooks(self) -> list[Webhook]:
        return [Webhook.read(item) for item in self._pages("/v1/webhooks", "webhooks")]

    def webhook(self, webhook_id: str) -> Webhook:
        body = self.call("GET", f"/v1/webhooks/{quote(webhook_id, safe='')}")
        return Webhook.read(_wrapped(body, "webhook"))

    def create_webhook(self, url: str, events: Sequence[str], name: str = WEBHOOK_NAME) -> Webhook:
        body = self.call(
            "POST", "/v1/webhooks", json={"url": url, "custom_name": name, "events": list(events)}
        )
        return Webhook.read(_wrapped(body, "webhook"))

    def update_webhook(self, webhook_id: str, url: str, events: Sequence[str]) -> Webhook:
        # `events` always travels: a PUT without it resets the webhook to every event.
        body = self.call(
            "PUT",
            f"/v1/webhooks/{quote(webhook_id, safe='')}",
            json={"url": url, "events": list(events), "active": True},
        )
        return Webhook.read(_wrapped(body, "webhook"))

    def numbers(self) -> list[ProviderNumber]:
        return [_number(item) for item in self._pages("/v1/numbers", "numbers")]

    def connect(self, url: str, events: Sequence[str] = WEBHOOK_EVENTS) -> ConnectResult:
        """Make exactly one active webhook to `url` with exactly `events`; a second run with
        nothing changed at Aircall makes no write at all."""
        same_url = [hook for hook in self.webhooks() if _same_url(hook.url, url)]
        if not same_url:
            created = self._with_token(self.create_webhook(url, events))
            return ConnectResult("created", created, ("created with " + ", ".join(events),))
        # Keep the one already right if there is one, else the first: the rest are reported.
        same_url.sort(key=lambda hook: not (hook.active and hook.subscribes_exactly(events)))
        kept, others = same_url[0], tuple(same_url[1:])
        changes = _differences(kept, events)
        if not changes:
            return ConnectResult("unchanged", self._with_token(kept), (), others)
        updated = self._with_token(self.update_webhook(kept.webhook_id, url, events))
        return ConnectResult("updated", updated, changes, others)

    def _with_token(self, hook: Webhook) -> Webhook:
        if hook.token:
            return hook
        fetched = self.webhook(hook.webhook_id)
        if not fetched.token:
            raise Permanent(f"Aircall did not show the token of webhook {hook.webhook_id}")
        return fetched

    def _pages(self, path: str, key: str) -> Iterator[Mapping[str, Any]]:
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            body = self.call("GET", url, params=params)
            yield from read_list(body, key, self.provider_name)
            meta = body.get("meta") if isinstance(body, Mapping) else None
            url = text_of(meta.get("next_page_link")) if isinstance(meta, Mapping) else None
            params = None  # the next link carries its own query
        raise Permanent(f"Aircall kept answering more pages of {path} after {MAX_PAGES}")


def webhook_url(public_url: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATH


def token_matches(hook: Webhook, configured: str | None) -> bool:
    """Whether the webhook's token is the configured one, compared in constant time."""
    if not hook.token or not configured:
        return False
    return hmac.compare_digest(hook.token.encode(), configured.encode())


def _differences(hook: Webhook, events: Sequence[str]) -> tuple[str, ...]:
    changes = []
    if not hook.active:
        changes.append("re-enabled")
    if not hook.subscribes_exactly(events):
        extra = sorted(set(hook.events) - set(events))
        missing = sorted(set(events) - set(hook.events))
        if not hook.events:
            changes.append("was subscribed to every event; now only the message events")
        else:
            changes += [f"unsubscribed {e}" for e in extra] + [f"subscribed {e}" for e in missing]
    return tuple(changes)


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def _wrapped(body: Any, key: str) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get(key, body)
        if isinstance(inner, Mapping):
            return inner
    raise Permanent(f"Aircall answered without a `{key}` object")


def _number(item: Mapping[str, Any]) -> ProviderNumber:
    line_id = text_of(item.get("id"))
    raw = item.get("e164_digits") or item.get("digits")
    try:
        number = read_phone(raw, "number.digits")
    except MalformedEvent as exc:
        raise Permanent(f"Aircall listed number {line_id}: {exc}") from None
    if line_id is None:
        raise Permanent("Aircall listed a number without an id")
    return ProviderNumber(Provider.AIRCALL, number, line_id, text_of(item.get("name")) or "")
