"""The CRM cards' read model: a record's recent messages, their media, and a composer link.

One answer holds everything a card on a HubSpot contact or a Salesforce Contact/Lead shows, so
the card costs one round trip: the latest messages of the record's conversations (newest first,
paged), each with its status, its media behind the connector's signed links (absolute: the card
runs on the CRM's origin), the rule's alerts, the "whole conversation" links, a fresh composer
link and `send_refusal`, the rule engine's reason why nothing can be sent to the contact now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from connector.api.pages_lines import line_views
from connector.bootstrap import Connector
from connector.core.keys import KeyRing
from connector.core.model import DeliveryStatus, Direction
from connector.core.policy import PREVIEW_COUNT
from connector.mapping.errors import MappingError
from connector.media.links import conversation_url
from connector.media.page_links import ComposeGrant, CrmRecord, compose_url, sign_compose
from connector.media.status import MediaLink, attachment_links_of, conversation_alerts
from connector.store import messages as stored_messages
from connector.store.conversations import AttachmentState
from connector.store.record_threads import RecordThread, recent_messages, record_threads

COMPOSER_TTL = timedelta(hours=1)
NO_NUMBER_TEXT = "This record has no phone number to send an MMS to."
NO_LINE_TEXT = "No line is set up for sending on this connector. Ask your administrator."


class MediumOut(BaseModel):
    name: str
    content_type: str | None
    size: int | None
    state: str = Field(description="pending, stored, unsupported, unavailable or expired.")
    url: str | None = Field(description="The connector's signed link, while the medium is kept.")
    thumbnail_url: str | None = Field(
        description="What a card shows small: the image's own link; None for other files."
    )
    notice: str | None = Field(
        description="Why there is no link: `Loading…` while captured, else the rule's text."
    )


class MessageOut(BaseModel):
    id: int
    thread_id: int
    direction: Direction
    text: str
    sent_at: datetime
    status: DeliveryStatus
    status_label: str
    line_number: str
    line_label: str
    other_party: str
    media: list[MediumOut] = Field(description="Every attachment, in order.")
    previews: int = Field(description="How many of the kept media a card shows.")
    more: int = Field(description="Kept media beyond the previews: the `+N` counter.")
    loading: int = Field(description="Media still being captured.")
    alerts: list[str] = Field(description="The rules' alerts for this message's media.")


class ConversationOut(BaseModel):
    thread_id: int
    line_number: str
    line_label: str
    other_party: str
    url: str = Field(description="The whole conversation (signed, does not expire).")


class ComposerOut(BaseModel):
    url: str = Field(description="Opens the composer for this record and recipient.")
    to: str
    expires_at: str


class RecordOut(BaseModel):
    crm: str
    object: str
    id: str


class RecordConversationOut(BaseModel):
    record: RecordOut
    numbers: list[str] = Field(description="The record's numbers the connector knows.")
    messages: list[MessageOut] = Field(description="Newest first.")
    next_before: int | None = Field(
        description="Pass as `before` for older messages; None on the last page."
    )
    conversations: list[ConversationOut]
    composer: ComposerOut | None = Field(description="None when no number is known.")
    send_refusal: str | None = Field(
        description="Why nothing can be sent to this contact now (the rules' words), or None."
    )
    preview_count: int = Field(description="Media previewed per message (README, The MMS rules).")


def _medium(link: MediaLink) -> MediumOut:
    image = bool(link.content_type and link.content_type.startswith("image/"))
    return MediumOut(
        name=link.name,
        content_type=link.content_type,
        size=link.size,
        state=link.state.value,
        url=link.url,
        thumbnail_url=link.url if image else None,
        notice=link.notice,
    )


def _label(connector: Connector, number: str) -> str:
    try:
        entry = connector.registry.current().lines.get(number)
    except MappingError:  # no valid mapping loaded yet: the number alone is shown
        return ""
    return entry.label if entry is not None and entry.label else ""


def send_refusal(connector: Connector, record: CrmRecord, to: str | None) -> str | None:
    """The rules' reason why no offered line can send to `to` now, or None when one can.

    It is the composer's own line verdict (`line_views`: the rule engine for a message to this
    recipient, and whether the provider's sending is set up), so the card and the composer
    refuse with the same words.
    """
    if to is None:
        return NO_NUMBER_TEXT
    views = line_views(connector, ComposeGrant(record=record, to=to, expires_at=datetime.now(UTC)))
    if not views:
        return NO_LINE_TEXT
    if any(view.can_send for view in views):
        return None
    return views[0].send_reasons[0]


def build(
    connector: Connector,
    record: CrmRecord,
    *,
    to: str | None,
    limit: int,
    before: int | None,
) -> RecordConversationOut:
    """The read model of one record; `to` (a number the CRM holds for it) picks the composer's
    recipient, else the number of the record's latest conversation."""
    public_url = connector.settings.public_url
    secret = connector.secret
    with connector.database.read() as conn:
        threads = record_threads(conn, record.system, record.record_id)
        by_id = {thread.id: thread for thread in threads}
        refs, next_before = recent_messages(conn, list(by_id), limit=limit, before=before)
        stored = stored_messages.load_many(conn, [ref.id for ref in refs])
        found = attachment_links_of(conn, [ref.id for ref in refs], public_url, secret)
        links = {ref.id: found.get(ref.id, []) for ref in refs}
    labels = {thread.line_number: _label(connector, thread.line_number) for thread in threads}
    out = []
    for ref in refs:
        message = stored[ref.id].message
        media = links[ref.id]
        kept = sum(1 for link in media if link.url is not None)
        out.append(
            MessageOut(
                id=ref.id,
                thread_id=ref.thread_id,
                direction=message.direction,
                text=message.text,
                sent_at=message.sent_at,
                status=message.status,
                status_label=message.status.label,
                line_number=message.line_number,
                line_label=labels.get(message.line_number, ""),
                other_party=message.other_party,
                media=[_medium(link) for link in media],
                previews=min(kept, PREVIEW_COUNT),
                more=max(0, kept - PREVIEW_COUNT),
                loading=sum(1 for link in media if link.state is AttachmentState.PENDING),
                alerts=conversation_alerts(media),
            )
        )
    numbers = list(dict.fromkeys(thread.other_party for thread in threads))
    recipient = to or (numbers[0] if numbers else None)
    return RecordConversationOut(
        record=RecordOut(crm=record.system, object=record.object, id=record.record_id),
        numbers=numbers,
        messages=out,
        next_before=next_before,
        conversations=[_conversation(public_url, secret, t, labels) for t in threads],
        composer=_composer(connector, record, recipient),
        send_refusal=send_refusal(connector, record, recipient),
        preview_count=PREVIEW_COUNT,
    )


def _conversation(
    public_url: str, secret: KeyRing, thread: RecordThread, labels: dict[str, str]
) -> ConversationOut:
    return ConversationOut(
        thread_id=thread.id,
        line_number=thread.line_number,
        line_label=labels.get(thread.line_number, ""),
        other_party=thread.other_party,
        url=conversation_url(public_url, secret, thread.id),
    )


def _composer(connector: Connector, record: CrmRecord, to: str | None) -> ComposerOut | None:
    if to is None:
        return None
    token, grant = sign_compose(connector.secret, record, to, ttl=COMPOSER_TTL)
    return ComposerOut(
        url=compose_url(connector.settings.public_url, token),
        to=to,
        expires_at=grant.expires_at.isoformat().replace("+00:00", "Z"),
    )


__all__ = ["NO_LINE_TEXT", "NO_NUMBER_TEXT", "RecordConversationOut", "build", "send_refusal"]
