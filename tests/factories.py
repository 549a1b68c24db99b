"""Core events and messages for the store and sync tests: defaults plus what a test changes.

Each builder gives a fresh provider message id unless told one, so tests never collide by accident.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.events import EventKind, ProviderEvent
from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider

LINE = "+13125550100"
OTHER_PARTY = "+15551234567"
SENT_AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)

_ids = itertools.count(1)


def new_message_id() -> str:
    return f"msg-{next(_ids):06d}"


def attachment(**overrides: Any) -> Attachment:
    values: dict[str, Any] = {
        "name": "IMG_0042.jpg",
        "declared_type": "image/jpeg",
        "source_url": "https://media.example.com/aircall/IMG_0042.jpg?X-Amz-Signature=abc",
    }
    values.update(overrides)
    return Attachment(**values)


def message(**overrides: Any) -> Message:
    """An inbound Aircall message with one picture, unless told otherwise."""
    values: dict[str, Any] = {
        "provider": Provider.AIRCALL,
        "provider_message_id": new_message_id(),
        "direction": Direction.INBOUND,
        "line_number": LINE,
        "other_party": OTHER_PARTY,
        "text": "Photo of the damage attached",
        "attachments": (attachment(),),
        "status": DeliveryStatus.RECEIVED,
        "sent_at": SENT_AT,
    }
    values.update(overrides)
    return Message(**values)


def outbound_message(**overrides: Any) -> Message:
    """A message our line sent, not yet confirmed delivered."""
    values: dict[str, Any] = {
        "direction": Direction.OUTBOUND,
        "status": DeliveryStatus.SENT,
        "text": "Your technician arrives at 3 pm",
        "attachments": (),
    }
    values.update(overrides)
    return message(**values)


def _event_id(kind: EventKind, message_id: str, status: DeliveryStatus | None) -> str:
    return f"aircall:{kind.value}:{message_id}:{status.value if status else '-'}"


def received_event(msg: Message | None = None, *, event_id: str | None = None) -> ProviderEvent:
    """A `message.received` event carrying `msg` (a fresh inbound message by default)."""
    msg = msg or message()
    return ProviderEvent(
        provider=msg.provider,
        event_id=event_id or _event_id(EventKind.MESSAGE_RECEIVED, msg.provider_message_id, None),
        kind=EventKind.MESSAGE_RECEIVED,
        occurred_at=msg.sent_at,
        message=msg,
        provider_message_id=msg.provider_message_id,
        status=msg.status,
    )


def sent_event(msg: Message | None = None, *, event_id: str | None = None) -> ProviderEvent:
    """A `message.sent` event carrying `msg` (a fresh outbound message by default)."""
    msg = msg or outbound_message()
    return ProviderEvent(
        provider=msg.provider,
        event_id=event_id or _event_id(EventKind.MESSAGE_SENT, msg.provider_message_id, None),
        kind=EventKind.MESSAGE_SENT,
        occurred_at=msg.sent_at,
        message=msg,
        provider_message_id=msg.provider_message_id,
        status=msg.status,
    )


def status_event(
    provider_message_id: str,
    status: DeliveryStatus,
    *,
    provider: Provider = Provider.AIRCALL,
    after: timedelta = timedelta(seconds=5),
    event_id: str | None = None,
) -> ProviderEvent:
    """A `message.status_updated` event that names its message only by id, as Aircall's do."""
    return ProviderEvent(
        provider=provider,
        event_id=event_id or _event_id(EventKind.STATUS_UPDATED, provider_message_id, status),
        kind=EventKind.STATUS_UPDATED,
        occurred_at=SENT_AT + after,
        provider_message_id=provider_message_id,
        status=status,
    )


def webhook_body(event: ProviderEvent, **extra: Any) -> dict[str, Any]:
    """A raw body to store beside `event`, with the authentication `token` a provider sends."""
    body: dict[str, Any] = {
        "resource": "message",
        "event": event.kind.value,
        "timestamp": int(event.occurred_at.timestamp()),
        "token": "aircall-webhook-token-0123456789",
        "data": {"id": event.provider_message_id},
    }
    body.update(extra)
    return body
