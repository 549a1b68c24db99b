"""Provider webhook bodies as the providers send them, built from defaults plus what a test changes.

Pass a field's new value as a keyword; pass `MISSING` to leave the field out altogether.
The send side (outbound messages, a fake clock for rate limits) is at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.providers.sending import OutboundMessage

MISSING: Any = object()
_DEFAULT: Any = object()

AIRCALL_TOKEN = "aircall-webhook-token-0123456789"
CLOUDTALK_SECRET = "cloudtalk-shared-secret-0123456789"

LINE = "+13125550100"
OTHER_PARTY = "+15551234567"
MESSAGE_ID = "1779973182949pqnihpvazdyw6336"
ENVELOPE_TIMESTAMP = 1_777_629_600  # 2026-05-01T10:00:00Z in epoch seconds
CREATED_AT = "2026-05-01T09:59:58Z"

_AIRCALL_DEFAULTS_BY_EVENT: dict[str, dict[str, Any]] = {
    "message.received": {"direction": "inbound", "status": "received"},
    "message.sent": {"direction": "outbound", "status": "sent"},
    "message.status_updated": {"direction": "outbound", "status": "delivered"},
}


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {key: value for key, value in merged.items() if value is not MISSING}


def aircall_media(
    file_name: Any = "IMG_0042.jpg",
    file_type: Any = "image/jpeg",
    presigned_url: Any = "https://media.example.com/aircall/IMG_0042.jpg?X-Amz-Signature=abc",
) -> dict[str, Any]:
    return _apply(
        {}, {"file_name": file_name, "file_type": file_type, "presigned_url": presigned_url}
    )


def aircall_number(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": 1284757,
        "name": "Support Line",
        "digits": "+1 312-555-0100",
        "e164_digits": LINE,
        "country": "US",
        "time_zone": "America/Chicago",
    }
    return _apply(base, overrides)


def aircall_message(event: Any = "message.received", **overrides: Any) -> dict[str, Any]:
    """`data` of a message event, shaped as providers.md §1.7 reconstructs it."""
    base: dict[str, Any] = {
        "id": MESSAGE_ID,
        "direct_link": f"https://api.aircall.io/v1/numbers/1284757/messages/{MESSAGE_ID}",
        **_AIRCALL_DEFAULTS_BY_EVENT.get(event, {}),
        "channel": None,
        "origin": "native",
        "body": "Photo of the damage attached",
        "external_number": OTHER_PARTY,
        "raw_digits": "+1 555-123-4567",
        "media_details": [aircall_media()],
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "sent_at": None,
        "number": aircall_number(),
    }
    return _apply(base, overrides)


def aircall_event(
    event: Any = "message.received", *, data: Any = _DEFAULT, **envelope: Any
) -> dict[str, Any]:
    """An Aircall webhook body; `envelope` overrides its top-level fields.

    `data` as a dict overrides fields of the default message; `MISSING` leaves `data` out; any
    other value (None, a list) replaces `data` as it is.
    """
    if data is _DEFAULT:
        data = aircall_message(event)
    elif isinstance(data, dict):
        data = aircall_message(event, **data)
    base = {
        "resource": "message",
        "event": event,
        "timestamp": ENVELOPE_TIMESTAMP,
        "token": AIRCALL_TOKEN,
        "data": data,
    }
    return _apply(base, envelope)


def cloudtalk_body(event: str = "message.received", **overrides: Any) -> dict[str, Any]:
    """The body a CloudTalk workflow built from the module's templates sends."""
    base: dict[str, Any] = {
        "event": event,
        "message_id": "884422",
        "internal_number": LINE,
        "external_number": OTHER_PARTY,
        "text": "Here is the photo",
        "media_urls": ["https://media.example.com/cloudtalk/photo.png"],
        "created_at": "2026-05-01 09:59:58",
    }
    if event == "message.sent":
        base["status"] = "delivered"
    return _apply(base, overrides)


def cloudtalk_headers(secret: Any = CLOUDTALK_SECRET, **extra: str) -> dict[str, str]:
    base = {"Content-Type": "application/json", "X-Connector-Secret": secret, **extra}
    return {key: value for key, value in base.items() if value is not MISSING}


# --- Sending -----------------------------------------------------------------------------------

AIRCALL_NUMBER_ID = "1284757"
SEND_TEXT = "Here is the quote you asked for"
SEND_MEDIA = [
    "https://connector.example.test/media/tok-1/quote.png",
    "https://connector.example.test/media/tok-2/plan.jpg",
]


def outbound_message(**overrides: Any) -> OutboundMessage:
    """A message from the test line to the test contact, with two media unless overridden."""
    values: dict[str, Any] = {
        "line_number": LINE,
        "provider_line_id": AIRCALL_NUMBER_ID,
        "to": OTHER_PARTY,
        "text": SEND_TEXT,
        "media_urls": list(SEND_MEDIA),
    }
    values.update(overrides)
    return OutboundMessage(**values)


@dataclass
class FakeClock:
    """A monotonic clock that only moves when something sleeps on it; records every sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


GROUP_ID = "4f8a9c2e-1b7d-4e36-9a51-0c2d7e8f9b13"
PARTICIPANTS = ("+15551234567", "+15557654321", "+15559876543")


def aircall_group_event(
    event: str = "group_message.received",
    *,
    participants: Any = PARTICIPANTS,
    **data: Any,
) -> dict[str, Any]:
    """A group-conversation webhook: a message's `data` plus `group_conversation_id` and
    `participants` (documented only as those two names; the participants as numbers here)."""
    if isinstance(participants, tuple):
        participants = list(participants)
    plain = event.replace("group_message.", "message.")
    body = aircall_event(plain, data={"group_conversation_id": GROUP_ID, **data})
    body["event"] = event
    if participants is not MISSING:
        body["data"]["participants"] = participants
    return body
