"""What a provider webhook means once parsed: the only shape the pipeline ingests."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from connector.core.model import DeliveryStatus, Message, Provider


class EventKind(enum.StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    STATUS_UPDATED = "message.status_updated"
    IGNORED = "ignored"


class ProviderEvent(BaseModel):
    """One provider event: a message to keep, a status to apply, or something acknowledged only.

    `event_id` deduplicates deliveries: providers deliver at least once. When a provider gives no
    id of its own, the parser derives a stable one from the event's content.
    """

    model_config = ConfigDict(frozen=True)

    provider: Provider
    event_id: str
    kind: EventKind
    occurred_at: datetime
    message: Message | None = None
    provider_message_id: str | None = None
    status: DeliveryStatus | None = None
    ignored_reason: str | None = None


class WebhookRejected(Exception):
    """Not authentic: answered 401, nothing stored."""


class MalformedEvent(ValueError):
    """Authentic but unusable: answered 400/422 with this reason, nothing stored."""
