"""Messages and threads as the API shows them: status, media links, CRM records, send errors.

What a CRM user or admin looks at after a send: whether it went out, why not, where it was
logged, and whether it may be sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from connector.core.model import DeliveryStatus, Direction, Provider
from connector.core.rules import consent_refusal
from connector.media.status import attachment_links
from connector.store import consent as stored_consent
from connector.store import crm_records, sends
from connector.store import messages as stored_messages
from connector.store.messages import StoredMessage
from connector.store.sends import RETRYABLE, SendDetails
from connector.sync.ports import ViewParts


class AttachmentView(BaseModel):
    position: int
    name: str
    content_type: str | None
    size: int | None
    state: str
    url: str | None = Field(description="The connector's signed link, while the medium is kept.")
    notice: str | None = Field(description="The rule's text when the medium has no link.")


class MessageView(BaseModel):
    id: int
    thread_id: int
    provider: Provider
    provider_message_id: str | None
    direction: Direction
    line_number: str
    other_party: str
    text: str
    status: DeliveryStatus
    status_label: str
    sent_at: datetime
    status_at: datetime | None
    sent_by_connector: bool
    send_error: str | None = Field(description="Why the last send attempt failed, if it did.")
    retryable: bool = Field(description="An admin may send it again (POST …/retry).")
    origin: dict[str, Any] | None = Field(description="The CRM record it was sent from.")
    attachments: list[AttachmentView]
    crm_records: dict[str, str | None] = Field(description="CRM name → id of its record there.")


class ThreadView(BaseModel):
    id: int
    provider: Provider
    line_number: str
    other_party: str
    opted_out: bool = Field(description="The other party opted out of messages.")
    send_refusal: str | None = Field(
        description="What a send to the other party is refused with, while it is opted out."
    )
    messages: list[MessageView]


def message_view(connector: ViewParts, message_id: int) -> MessageView | None:
    with connector.database.read() as conn:
        stored = stored_messages.load(conn, message_id)
        if stored is None:
            return None
        details = sends.send_details(conn, [message_id])
        return _view(connector, conn, stored, details[message_id])


def thread_view(connector: ViewParts, thread_id: int) -> ThreadView | None:
    with connector.database.read() as conn:
        thread = sends.thread(conn, thread_id)
        if thread is None:
            return None
        found = stored_messages.in_thread(conn, thread_id)
        details = sends.send_details(conn, [stored.id for stored in found])
        views = [_view(connector, conn, stored, details[stored.id]) for stored in found]
        refusal = consent_refusal(stored_consent.current(conn, thread.other_party))
    return ThreadView(
        id=thread.id,
        provider=thread.provider,
        line_number=thread.line_number,
        other_party=thread.other_party,
        opted_out=refusal is not None,
        send_refusal=refusal.message if refusal else None,
        messages=views,
    )


def sends_to_check(
    connector: ViewParts, statuses: list[DeliveryStatus], limit: int = 100
) -> list[MessageView]:
    """The connector's own sends in these statuses, newest first: by default the `unknown` ones
    an admin should check and retry."""
    with connector.database.read() as conn:
        ids = sends.sends_in_status(conn, statuses, limit=limit)
        found = stored_messages.load_many(conn, ids)
        details = sends.send_details(conn, ids)
        return [_view(connector, conn, found[i], details[i]) for i in ids if i in found]


def _view(
    connector: ViewParts, conn: Connection, stored: StoredMessage, details: SendDetails
) -> MessageView:
    settings = connector.settings
    message = stored.message
    sent_by_connector = details.connector_key is not None
    return MessageView(
        id=stored.id,
        thread_id=stored.thread_id,
        provider=message.provider,
        provider_message_id=details.provider_message_id,
        direction=message.direction,
        line_number=message.line_number,
        other_party=message.other_party,
        text=message.text,
        status=message.status,
        status_label=message.status.label,
        sent_at=message.sent_at,
        status_at=message.status_at,
        sent_by_connector=sent_by_connector,
        send_error=details.send_error,
        retryable=sent_by_connector and message.status in RETRYABLE,
        origin=stored.origin,
        attachments=[
            AttachmentView(
                position=link.position,
                name=link.name,
                content_type=link.content_type,
                size=link.size,
                state=link.state.value,
                url=link.url,
                notice=link.notice,
            )
            for link in attachment_links(conn, stored.id, settings.public_url, connector.secret)
        ],
        crm_records=crm_records.records_of_message(conn, stored.id),
    )
