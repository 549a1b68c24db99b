"""Receiving a provider webhook: authenticate and parse it, and count what became of it.

Keeping it is `ingest_writer`'s job: the route hands the parsed event over and waits for commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector import metrics
from connector.config import Settings
from connector.core.events import MalformedEvent, ProviderEvent, WebhookRejected
from connector.core.model import Provider
from connector.providers import aircall, cloudtalk
from connector.store.conversations import IngestResult


def check_headers(settings: Settings, provider: Provider, headers: Mapping[str, str]) -> None:
    """`WebhookRejected` for what the headers alone prove: the provider is not configured, or
    CloudTalk's secret header is wrong. Called before the body is read."""
    if provider is Provider.AIRCALL:
        if settings.aircall.webhook_token is None:
            raise WebhookRejected("Aircall webhooks are not configured on this connector")
        return
    if settings.cloudtalk.webhook_secret is None:
        raise WebhookRejected("CloudTalk webhooks are not configured on this connector")
    cloudtalk.verify(headers, settings.cloudtalk.webhook_secret.get_secret_value())


def count_refusal(provider: Provider, outcome: str) -> None:
    metrics.WEBHOOKS.labels(provider=provider.value, outcome=outcome).inc()


def authenticate_and_parse(
    settings: Settings, provider: Provider, headers: Mapping[str, str], payload: Any
) -> ProviderEvent:
    """The event a webhook carries, or `WebhookRejected` / `MalformedEvent` saying why not."""
    if not isinstance(payload, dict):
        raise MalformedEvent("the body must be a JSON object")
    if provider is Provider.AIRCALL:
        if settings.aircall.webhook_token is None:
            raise WebhookRejected("Aircall webhooks are not configured on this connector")
        aircall.verify(payload, settings.aircall.webhook_token.get_secret_value())
        return aircall.parse_event(payload, max_media=settings.media.max_per_message)
    if settings.cloudtalk.webhook_secret is None:
        raise WebhookRejected("CloudTalk webhooks are not configured on this connector")
    cloudtalk.verify(headers, settings.cloudtalk.webhook_secret.get_secret_value())
    return cloudtalk.parse_event(
        payload, settings.cloudtalk.field_map, max_media=settings.media.max_per_message
    )


def authenticate(
    settings: Settings, provider: Provider, headers: Mapping[str, str], payload: Any
) -> ProviderEvent:
    """`authenticate_and_parse`, counted in the webhook metrics when refused."""
    try:
        return authenticate_and_parse(settings, provider, headers, payload)
    except WebhookRejected:
        metrics.WEBHOOKS.labels(provider=provider.value, outcome="rejected").inc()
        raise
    except MalformedEvent:
        metrics.WEBHOOKS.labels(provider=provider.value, outcome="malformed").inc()
        raise


def counted(provider: Provider, result: IngestResult) -> IngestResult:
    metrics.WEBHOOKS.labels(provider=provider.value, outcome=result.outcome.value).inc()
    return result
