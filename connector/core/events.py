"""What a provider webhook means once parsed: the only shape the pipeline ingests."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from connector.core.model import Attachment, DeliveryStatus, Message, Provider

# Real MMS carry at most ten files; a webhook listing more than this is broken or hostile, and
# each medium kept costs a download job. The rest are recorded, unavailable, with the reason.
DEFAULT_MAX_MEDIA_PER_MESSAGE = 50


class EventKind(enum.StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    STATUS_UPDATED = "message.status_updated"
    IGNORED = "ignored"
    # Claims to be an event we take (a group message) but its shape cannot be read: kept as an
    # event for an admin to look at (the doctor counts them), answered 200, never a message.
    UNREADABLE = "unreadable"


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
    # A group conversation's participants (E.164), every one of whose contacts gets the record.
    participants: tuple[str, ...] = ()


def over_media_limit(limit: int) -> str:
    """Why a medium past the per-message limit was not kept (stored as its error)."""
    return f"not kept: a message keeps at most {limit} media (CONNECTOR_MAX_MEDIA_PER_MESSAGE)"


def limit_media(event: ProviderEvent, limit: int) -> ProviderEvent:
    """`event` with at most `limit` media to capture; the others listed without their URL, so
    they are unavailable from the start and no job is ever made for them."""
    message = event.message
    if message is None or len(message.attachments) <= limit:
        return event
    reason = over_media_limit(limit)
    left_out = tuple(
        Attachment(name=extra.name, declared_type=extra.declared_type, error=reason)
        for extra in message.attachments[limit:]
    )
    capped = message.model_copy(update={"attachments": message.attachments[:limit] + left_out})
    return event.model_copy(update={"message": capped})


class WebhookRejected(Exception):
    """Not authentic: answered 401, nothing stored."""


class MalformedEvent(ValueError):
    """Authentic but unusable: answered 400/422 with this reason, nothing stored."""
