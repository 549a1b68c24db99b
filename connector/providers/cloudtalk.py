"""CloudTalk webhooks: the JSON body an admin composes in a Workflow, read through a field map.

CloudTalk has no webhook API. An admin builds a Workflow Automation per event: trigger "Message:
Received" (or "Message: Sent"), action "API Request", `POST {PUBLIC_URL}/webhooks/cloudtalk`, a
static header `X-Connector-Secret: <CONNECTOR_CLOUDTALK_WEBHOOK_SECRET>`, and a JSON body whose
keys they type and whose values they fill by clicking the Message trigger's attribute tags in the
workflow editor. The bodies to build are `RECEIVED_BODY_TEMPLATE` and `SENT_BODY_TEMPLATE`; an
admin who chose other keys maps them with `CloudTalkFieldMap` instead of rebuilding workflows.

CloudTalk publishes the Message trigger's attribute names only as screenshots, so the templates
name each value by what it is (`<contact number>`), not by a tag name we could not confirm; nor is
it documented whether MMS media URLs or a delivery status are offered, so both keys are optional.
CloudTalk signs nothing, and workflow bodies seen in the wild carry numbers as JSON numbers
without `+` (`"external_number": 393936815798`); both are handled here.

Event id: `cloudtalk:{event}:{message_id}:{status}`, so a repeated run dedupes and a later
"message sent" run that reports another status does not. Without a `message_id` in the body the
id is derived from the message's content and date, which then must be present.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector.core.events import (
    DEFAULT_MAX_MEDIA_PER_MESSAGE,
    EventKind,
    MalformedEvent,
    ProviderEvent,
    WebhookRejected,
    limit_media,
)
from connector.core.field_maps import CloudTalkFieldMap
from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider
from connector.providers.payload import (
    MAX_EVENT,
    MAX_STATUS,
    attachment_name,
    content_digest,
    read_id,
    read_mapping,
    read_optional_instant,
    read_optional_str,
    read_phone,
    read_str,
    read_text,
    read_url,
    status_from_word,
)

AUTH_HEADER = "X-Connector-Secret"

_URL_SEPARATORS = re.compile(r"[\s,;]+")


DEFAULT_FIELD_MAP = CloudTalkFieldMap()

# What each value of a workflow body is, in the order the bodies list them: in the API Request
# action, put the cursor in the value and click the Message trigger's attribute tag that matches
# the text in <angle brackets>. `status` only exists on "Message sent".
_BODY_VALUES: tuple[tuple[str, str], ...] = (
    ("message_id", "<message id>"),
    ("line_number", "<CloudTalk number>"),
    ("other_party", "<contact number>"),
    ("text", "<message text>"),
    ("media_urls", "<media URLs, if listed>"),
    ("status", "<delivery status, if listed>"),
    ("created_at", "<message date>"),
)

# The body `mms-connector connect cloudtalk --check` posts: authenticated like a workflow's, then
# acknowledged and ignored (200), so the check proves the URL and the header and stores nothing.
TEST_EVENT = "connector.test"


def workflow_body(
    field_map: CloudTalkFieldMap = DEFAULT_FIELD_MAP, *, sent: bool
) -> dict[str, Any]:
    """The JSON body of the "Message received" (or, with `sent`, "Message sent") workflow, built
    from the field map the parser reads, so what an admin pastes is what the connector expects.
    A dotted key (`message.text`) becomes a nested object."""
    body: dict[str, Any] = {}
    _put(body, field_map.event, field_map.sent_event if sent else field_map.received_event)
    for name, placeholder in _BODY_VALUES:
        if name == "status" and not sent:
            continue
        _put(body, getattr(field_map, name), placeholder)
    return body


def test_body(field_map: CloudTalkFieldMap, check_id: str) -> dict[str, Any]:
    """A body that names the test event under the admin's event key."""
    body: dict[str, Any] = {"check_id": check_id}
    _put(body, field_map.event, TEST_EVENT)
    return body


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    node = body
    *parents, last = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


RECEIVED_BODY_TEMPLATE = json.dumps(workflow_body(sent=False), indent=2) + "\n"
SENT_BODY_TEMPLATE = json.dumps(workflow_body(sent=True), indent=2) + "\n"


def verify(headers: Mapping[str, str], expected_secret: str) -> None:
    """Raise `WebhookRejected` unless the `X-Connector-Secret` header is the configured secret.

    The workflow's API Request action can only send static headers, so a shared secret compared
    in constant time is the whole of CloudTalk's authentication. Header names are matched
    case-insensitively, whatever mapping the caller passes.
    """
    if not expected_secret:
        raise WebhookRejected("no CloudTalk webhook secret is configured")
    wanted = AUTH_HEADER.lower()
    secret = next((value for name, value in headers.items() if name.lower() == wanted), None)
    if not secret:
        raise WebhookRejected(f"{AUTH_HEADER} header is missing")
    if not hmac.compare_digest(secret.encode("utf-8"), expected_secret.encode("utf-8")):
        raise WebhookRejected(f"{AUTH_HEADER} header is wrong")


def parse_event(
    payload: Mapping[str, Any],
    field_map: CloudTalkFieldMap = DEFAULT_FIELD_MAP,
    *,
    max_media: int = DEFAULT_MAX_MEDIA_PER_MESSAGE,
) -> ProviderEvent:
    """The core event an (already verified) CloudTalk workflow body stands for; media past
    `max_media` are listed as not kept.

    Every body comes from a workflow built for the connector, so an event value it does not know
    is a configuration mistake and is refused with its reason rather than ignored.
    """
    return limit_media(_parse_event(payload, field_map), max_media)


def _parse_event(payload: Mapping[str, Any], field_map: CloudTalkFieldMap) -> ProviderEvent:
    body = read_mapping(payload, "payload")
    fields = _Fields(body)
    event = read_str(fields.get(field_map.event), field_map.event, MAX_EVENT)
    if event == TEST_EVENT:
        return ProviderEvent(
            provider=Provider.CLOUDTALK,
            event_id=f"cloudtalk:{TEST_EVENT}:{content_digest(dict(body))}",
            kind=EventKind.IGNORED,
            occurred_at=datetime.now(UTC),
            ignored_reason="a test event (`mms-connector connect cloudtalk --check`)",
        )
    if event == field_map.received_event:
        kind, direction = EventKind.MESSAGE_RECEIVED, Direction.INBOUND
    elif event == field_map.sent_event:
        kind, direction = EventKind.MESSAGE_SENT, Direction.OUTBOUND
    else:
        raise MalformedEvent(
            f"{field_map.event}: {event!r} is neither {field_map.received_event!r} "
            f"nor {field_map.sent_event!r}"
        )

    line_number = read_phone(fields.get(field_map.line_number), field_map.line_number)
    other_party = read_phone(fields.get(field_map.other_party), field_map.other_party)
    text = read_text(fields.get(field_map.text), field_map.text)
    created_at = read_optional_instant(fields.get(field_map.created_at), field_map.created_at)
    raw_status = read_optional_str(fields.get(field_map.status), field_map.status, MAX_STATUS)
    status = _status(direction, raw_status)
    message_id = _message_id(
        fields, field_map, direction, line_number, other_party, text, created_at
    )
    occurred_at = created_at or datetime.now(UTC)

    message = Message(
        provider=Provider.CLOUDTALK,
        provider_message_id=message_id,
        direction=direction,
        line_number=line_number,
        other_party=other_party,
        text=text,
        attachments=_attachments(fields.get(field_map.media_urls), field_map.media_urls),
        status=status,
        sent_at=occurred_at,
        status_at=occurred_at,
    )
    return ProviderEvent(
        provider=Provider.CLOUDTALK,
        event_id=f"cloudtalk:{event}:{message_id}:{(raw_status or '-').lower()}",
        kind=kind,
        occurred_at=occurred_at,
        message=message,
        provider_message_id=message_id,
        status=status,
    )


class _Fields:
    """Reads the admin's keys, literal first, then as a dotted path into nested objects."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = body

    def get(self, key: str) -> Any:
        if key in self._body or "." not in key:
            return self._body.get(key)
        node: Any = self._body
        walked: list[str] = []
        for part in key.split("."):
            if node is None:
                return None
            if not isinstance(node, Mapping):
                raise MalformedEvent(f"{'.'.join(walked)}: not an object")
            node = node.get(part)
            walked.append(part)
        return node


def _status(direction: Direction, raw_status: str | None) -> DeliveryStatus:
    """A received message is received; a sent one is `sent` until a status says more.

    A "message sent" run that carries `delivered` or `failed` is how a status reaches a message
    the connector sent: the event's `status` is applied to the message with that id.
    """
    if direction is Direction.INBOUND:
        return DeliveryStatus.RECEIVED
    if raw_status is None:
        return DeliveryStatus.SENT
    return status_from_word(raw_status)


def _message_id(
    fields: _Fields,
    field_map: CloudTalkFieldMap,
    direction: Direction,
    line_number: str,
    other_party: str,
    text: str,
    created_at: datetime | None,
) -> str:
    raw = fields.get(field_map.message_id)
    if raw is not None and raw != "":
        return read_id(raw, field_map.message_id)
    if created_at is None:
        raise MalformedEvent(
            f"{field_map.message_id} is required (or {field_map.created_at}, to derive one)"
        )
    content = [direction.value, line_number, other_party, text, created_at.isoformat()]
    return f"derived-{content_digest(content)}"


def _attachments(value: Any, path: str) -> tuple[Attachment, ...]:
    """Media URLs as a JSON list, a JSON list in a string, or URLs separated by commas/spaces."""
    return tuple(
        Attachment(name=attachment_name(url, index), source_url=url)
        for index, url in enumerate(_media_urls(value, path))
    )


def _media_urls(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise MalformedEvent(f"{path}: not a list of URLs") from None
        else:
            value = [url for url in _URL_SEPARATORS.split(text) if url]
    if not isinstance(value, list):
        raise MalformedEvent(f"{path}: not a list of URLs")
    return [read_url(url, f"{path}[{index}]") for index, url in enumerate(value)]
