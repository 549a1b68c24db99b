"""Aircall webhooks: authenticate a delivery and read its SMS/MMS message events into core events.

Aircall posts `{resource, event, timestamp, token, data}` for every event the webhook subscribes to
(all events when an admin leaves the list empty), delivers at least once and out of order, and
disables a webhook that keeps failing. So anything that is not an SMS/MMS message event is
acknowledged as IGNORED with its reason rather than refused, and only a payload that claims to be
a message event yet cannot be read is `MalformedEvent`.

Numbers. Aircall never says "from" and "to": `data.number` is always the company's Aircall line
(`e164_digits` when present, else `digits`) and `data.external_number` (else `data.raw_digits`)
is always the other party, whichever way the message went. Direction is `data.direction`
(`inbound`/`outbound`), or when absent what the event implies: `message.received` is inbound,
`message.sent` and `message.status_updated` (outbound messages only) are outbound.

Event id. Aircall gives no delivery id, so the id is `aircall:{event}:{data.id}:{data.status}`.
A redelivery of an event carries the same message in the same status and dedupes; a later status
update of the same message has another status and does not. The envelope `timestamp` is left out
on purpose: it is when Aircall built the payload, and nothing says a retry is not rebuilt. The
cost is that a second report of a status the message already has is dropped, which the
forward-only `DeliveryStatus.advance` would ignore anyway.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.core.events import (
    DEFAULT_MAX_MEDIA_PER_MESSAGE,
    EventKind,
    MalformedEvent,
    ProviderEvent,
    WebhookRejected,
    limit_media,
)
from connector.core.groups import group_party
from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider
from connector.providers.payload import (
    MAX_EVENT,
    MAX_STATUS,
    attachment_name,
    content_digest,
    read_id,
    read_instant,
    read_mapping,
    read_optional_instant,
    read_optional_str,
    read_phone,
    read_str,
    read_text,
    read_url,
    status_from_word,
)

MESSAGE_EVENTS: Mapping[str, EventKind] = {
    "message.received": EventKind.MESSAGE_RECEIVED,
    "message.sent": EventKind.MESSAGE_SENT,
    "message.status_updated": EventKind.STATUS_UPDATED,
}

# Group conversations: `data` is a message plus `group_conversation_id` and `participants`.
GROUP_EVENTS: Mapping[str, EventKind] = {
    "group_message.received": EventKind.MESSAGE_RECEIVED,
    "group_message.sent": EventKind.MESSAGE_SENT,
    "group_message.status_updated": EventKind.STATUS_UPDATED,
}

# What the connector's webhook subscribes to (`mms-connector connect aircall`): every event this
# module reads as a message, and nothing else.
WEBHOOK_EVENTS: tuple[str, ...] = (*MESSAGE_EVENTS, *GROUP_EVENTS)

# Where a participant's number may sit when `participants` lists objects rather than numbers
# (the list's item shape is not documented).
_PARTICIPANT_KEYS = ("phone_number", "e164_digits", "number", "digits", "external_number", "value")

# `channel` is null for SMS/MMS and "whatsapp" for WhatsApp; the explicit names are accepted too.
_SMS_CHANNELS = frozenset({"sms", "mms"})

_IMPLIED_DIRECTION: Mapping[EventKind, Direction] = {
    EventKind.MESSAGE_RECEIVED: Direction.INBOUND,
    EventKind.MESSAGE_SENT: Direction.OUTBOUND,
    EventKind.STATUS_UPDATED: Direction.OUTBOUND,
}


def verify(payload: Mapping[str, Any], expected_token: str) -> None:
    """Raise `WebhookRejected` unless the body's `token` is the webhook's token.

    Aircall signs nothing: the token Aircall returned when the webhook was created travels in the
    body and is the only proof of origin, compared here in constant time.
    """
    if not expected_token:
        raise WebhookRejected("no Aircall webhook token is configured")
    token = payload.get("token") if isinstance(payload, Mapping) else None
    if not isinstance(token, str) or not token:
        raise WebhookRejected("token is missing")
    if not hmac.compare_digest(token.encode("utf-8"), expected_token.encode("utf-8")):
        raise WebhookRejected("token is wrong")


def parse_event(
    payload: Mapping[str, Any], *, max_media: int = DEFAULT_MAX_MEDIA_PER_MESSAGE
) -> ProviderEvent:
    """The core event an (already verified) Aircall webhook body stands for; media past
    `max_media` are listed as not kept."""
    return limit_media(_parse_event(payload), max_media)


def _parse_event(payload: Mapping[str, Any]) -> ProviderEvent:
    envelope = read_mapping(payload, "payload")
    event = read_str(envelope.get("event"), "event", MAX_EVENT)
    occurred_at = read_instant(envelope.get("timestamp"), "timestamp")
    resource = read_optional_str(envelope.get("resource"), "resource")

    group_kind = GROUP_EVENTS.get(event)
    if group_kind is not None:
        try:
            return _group_event(envelope, event, group_kind, occurred_at)
        except MalformedEvent as exc:
            return _unreadable(envelope, event, occurred_at, str(exc))
    kind = MESSAGE_EVENTS.get(event)
    if kind is None:
        return _ignored(envelope, event, occurred_at, f"event {event!r} is not a message event")
    if resource is not None and resource != "message":
        return _ignored(envelope, event, occurred_at, f"resource {resource!r} is not a message")

    head = _head(envelope, event, kind, occurred_at)
    if isinstance(head, ProviderEvent):
        return head
    data, message_id, status = head.data, head.message_id, head.status

    message: Message | None
    if kind is EventKind.STATUS_UPDATED and not _carries_numbers(data):
        message = None
    else:
        message = _message(data, message_id, head.direction, status, occurred_at)

    return ProviderEvent(
        provider=Provider.AIRCALL,
        event_id=head.event_id(event),
        kind=kind,
        occurred_at=occurred_at,
        message=message,
        provider_message_id=message_id,
        status=status,
    )


def _group_event(
    envelope: Mapping[str, Any], event: str, kind: EventKind, occurred_at: datetime
) -> ProviderEvent:
    """A group message: its thread is the group's (`core.groups`), its participants every
    number whose contact gets the record. The provider's `resource` is not relied on."""
    head = _head(envelope, event, kind, occurred_at)
    if isinstance(head, ProviderEvent):
        return head
    data, message_id, status = head.data, head.message_id, head.status
    group = data.get("group_conversation_id")
    message: Message | None = None
    participants: tuple[str, ...] = ()
    if kind is not EventKind.STATUS_UPDATED or (group is not None and data.get("number")):
        group_id = read_id(group, "data.group_conversation_id")
        participants = _participants(data.get("participants"))
        line = _line_number(data)
        participants = tuple(p for p in participants if p != line)
        if not participants:
            raise MalformedEvent("data.participants: no number besides the line's own")
        message = _message(
            data, message_id, head.direction, status, occurred_at, group_party(group_id)
        )
    return ProviderEvent(
        provider=Provider.AIRCALL,
        event_id=head.event_id(event),
        kind=kind,
        occurred_at=occurred_at,
        message=message,
        provider_message_id=message_id,
        status=status,
        participants=participants,
    )


@dataclass(frozen=True)
class _Head:
    """What every message event carries, one-to-one or group: its data, id and status."""

    data: Mapping[str, Any]
    message_id: str
    raw_status: str | None
    direction: Direction
    status: DeliveryStatus

    def event_id(self, event: str) -> str:
        return f"aircall:{event}:{self.message_id}:{(self.raw_status or '-').lower()}"


def _head(
    envelope: Mapping[str, Any], event: str, kind: EventKind, occurred_at: datetime
) -> _Head | ProviderEvent:
    """The head of a message event, or the acknowledged-and-ignored event of another channel."""
    data = read_mapping(envelope.get("data"), "data")
    message_id = read_id(data.get("id"), "data.id")
    channel = read_optional_str(data.get("channel"), "data.channel")
    if channel is not None and channel.lower() not in _SMS_CHANNELS:
        return _ignored(
            envelope, event, occurred_at, f"channel {channel!r} is not SMS/MMS", message_id
        )
    raw_status = read_optional_str(data.get("status"), "data.status", MAX_STATUS)
    if kind is EventKind.STATUS_UPDATED and raw_status is None:
        raise MalformedEvent("data.status is required")
    direction = _direction(data, kind)
    return _Head(data, message_id, raw_status, direction, _status(raw_status, direction, kind))


def _participants(value: Any) -> tuple[str, ...]:
    """The participants' numbers: a list of numbers, or of objects holding one."""
    if not isinstance(value, list) or not value:
        raise MalformedEvent("data.participants: not a list of numbers")
    numbers: list[str] = []
    for index, item in enumerate(value):
        path = f"data.participants[{index}]"
        if isinstance(item, Mapping):
            key = next((k for k in _PARTICIPANT_KEYS if item.get(k) is not None), None)
            if key is None:
                raise MalformedEvent(f"{path}: no phone number in it")
            item, path = item[key], f"{path}.{key}"
        numbers.append(read_phone(item, path))
    return tuple(dict.fromkeys(numbers))


def _status(raw_status: str | None, direction: Direction, kind: EventKind) -> DeliveryStatus:
    if direction is Direction.INBOUND:
        return DeliveryStatus.RECEIVED
    if raw_status is None:
        return DeliveryStatus.SENT if kind is EventKind.MESSAGE_SENT else DeliveryStatus.UNKNOWN
    return status_from_word(raw_status)


def _direction(data: Mapping[str, Any], kind: EventKind) -> Direction:
    raw = read_optional_str(data.get("direction"), "data.direction")
    if raw is None:
        return _IMPLIED_DIRECTION[kind]
    try:
        return Direction(raw.lower())
    except ValueError:
        raise MalformedEvent("data.direction: not inbound or outbound") from None


def _carries_numbers(data: Mapping[str, Any]) -> bool:
    has_other_party = any(data.get(key) is not None for key in ("external_number", "raw_digits"))
    return data.get("number") is not None and has_other_party


def _message(
    data: Mapping[str, Any],
    message_id: str,
    direction: Direction,
    status: DeliveryStatus,
    occurred_at: datetime,
    other_party: str | None = None,
) -> Message:
    sent_at = (
        read_optional_instant(data.get("sent_at"), "data.sent_at")
        or read_optional_instant(data.get("created_at"), "data.created_at")
        or occurred_at
    )
    status_at = read_optional_instant(data.get("updated_at"), "data.updated_at") or occurred_at
    return Message(
        provider=Provider.AIRCALL,
        provider_message_id=message_id,
        direction=direction,
        line_number=_line_number(data),
        other_party=other_party or _other_party(data),
        text=read_text(data.get("body"), "data.body"),
        attachments=_attachments(data),
        status=status,
        sent_at=sent_at,
        status_at=status_at,
    )


def _line_number(data: Mapping[str, Any]) -> str:
    number = read_mapping(data.get("number"), "data.number")
    if number.get("e164_digits") is not None:
        return read_phone(number.get("e164_digits"), "data.number.e164_digits")
    return read_phone(number.get("digits"), "data.number.digits")


def _other_party(data: Mapping[str, Any]) -> str:
    if data.get("external_number") is not None:
        return read_phone(data.get("external_number"), "data.external_number")
    if data.get("raw_digits") is not None:
        return read_phone(data.get("raw_digits"), "data.raw_digits")
    raise MalformedEvent("data.external_number is required (or data.raw_digits)")


def _attachments(data: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """`media_details[] {file_name, file_type, presigned_url}`; plain `media_url[]` as a fallback.

    The presigned URLs expire (how soon is not documented), so they are only where the worker
    fetches each medium once; the connector's own stable link replaces them in the CRM.
    """
    details = data.get("media_details")
    if details is not None:
        return tuple(
            _attachment(item, f"data.media_details[{index}]", index)
            for index, item in enumerate(_read_list(details, "data.media_details"))
        )
    urls = data.get("media_url")
    if urls is not None:
        return tuple(
            _attachment_from_url(read_url(url, f"data.media_url[{index}]"), index)
            for index, url in enumerate(_read_list(urls, "data.media_url"))
        )
    return ()


def _attachment(item: Any, path: str, index: int) -> Attachment:
    detail = read_mapping(item, path)
    url = read_url(detail.get("presigned_url"), f"{path}.presigned_url")
    return Attachment(
        name=read_optional_str(detail.get("file_name"), f"{path}.file_name")
        or attachment_name(url, index),
        declared_type=read_optional_str(detail.get("file_type"), f"{path}.file_type"),
        source_url=url,
    )


def _attachment_from_url(url: str, index: int) -> Attachment:
    return Attachment(name=attachment_name(url, index), source_url=url)


def _read_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedEvent(f"{path}: not a list")
    return value


def _ignored(
    envelope: Mapping[str, Any],
    event: str,
    occurred_at: datetime,
    reason: str,
    message_id: str | None = None,
) -> ProviderEvent:
    """Acknowledge without keeping: the id digests the body (minus the token) so it is stable."""
    body = {key: value for key, value in envelope.items() if key != "token"}
    return ProviderEvent(
        provider=Provider.AIRCALL,
        event_id=f"aircall:{event}:{content_digest(body)}",
        kind=EventKind.IGNORED,
        occurred_at=occurred_at,
        provider_message_id=message_id,
        ignored_reason=reason,
    )


def _unreadable(
    envelope: Mapping[str, Any], event: str, occurred_at: datetime, reason: str
) -> ProviderEvent:
    """A group event whose shape we cannot read: kept (not a message) and reported, so Aircall
    gets its 200 and an admin sees what arrived."""
    body = {key: value for key, value in envelope.items() if key != "token"}
    data = envelope.get("data")
    raw_id = data.get("id") if isinstance(data, Mapping) else None
    return ProviderEvent(
        provider=Provider.AIRCALL,
        event_id=f"aircall:{event}:{content_digest(body)}",
        kind=EventKind.UNREADABLE,
        occurred_at=occurred_at,
        provider_message_id=str(raw_id)[:128] if isinstance(raw_id, str | int) else None,
        ignored_reason=f"unreadable {event}: {reason}",
    )
