"""What the CRM sync needs to know of a message's media: are they settled, and what to link.

The sync writes a record once, with its final links: it reads `attachment_links` once, defers
while any of them is still pending, then builds the record from them. `captures_settled` asks
only the first question, for callers that need no links.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, select

from connector.core import catalogue
from connector.core.keys import KeyRing
from connector.media.links import attachment_url
from connector.store.conversations import AttachmentState
from connector.store.tables import attachments

# Ids in one `IN (...)`: well inside every database's limit on bound parameters.
_IDS_PER_QUERY = 500


@dataclass(frozen=True)
class MediaLink:
    """One attachment as a CRM record shows it: its stable URL only when it can be served."""

    attachment_id: int
    position: int
    name: str
    content_type: str | None
    size: int | None
    state: AttachmentState
    url: str | None

    @property
    def notice(self) -> str | None:
        """The rule's text for a medium that has no link, or None when it has one."""
        if self.state is AttachmentState.UNSUPPORTED:
            return catalogue.INBOUND_UNSUPPORTED_TEXT
        if self.state is AttachmentState.PENDING:
            return catalogue.MEDIA_LOADING_TEXT
        if self.url is None:
            return catalogue.MEDIA_UNAVAILABLE_TEXT
        return None


def captures_settled(conn: Connection, message_id: int) -> bool:
    """True once no attachment of the message is still waiting for its capture."""
    pending = conn.execute(
        select(
            exists().where(
                and_(
                    attachments.c.message_id == message_id,
                    attachments.c.state == AttachmentState.PENDING.value,
                )
            )
        )
    ).scalar()
    return not pending


def attachment_links(
    conn: Connection, message_id: int, public_url: str, secret: KeyRing
) -> list[MediaLink]:
    """The message's attachments in order, each with the connector's link when it is kept."""
    return attachment_links_of(conn, [message_id], public_url, secret).get(message_id, [])


def attachment_links_of(
    conn: Connection, message_ids: Iterable[int], public_url: str, secret: KeyRing
) -> dict[int, list[MediaLink]]:
    """`attachment_links` of many messages in a query per 500, for a batch or a page: by
    message id, messages without attachments left out."""
    wanted = sorted(set(message_ids))
    found: dict[int, list[MediaLink]] = {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        rows = conn.execute(
            select(
                attachments.c.message_id,
                attachments.c.id,
                attachments.c.position,
                attachments.c.name,
                attachments.c.declared_type,
                attachments.c.sniffed_type,
                attachments.c.size,
                attachments.c.state,
            )
            .where(attachments.c.message_id.in_(wanted[start : start + _IDS_PER_QUERY]))
            .order_by(attachments.c.message_id, attachments.c.position)
        )
        for row in rows:
            state = AttachmentState(row.state)
            found.setdefault(row.message_id, []).append(
                MediaLink(
                    attachment_id=row.id,
                    position=row.position,
                    name=row.name,
                    content_type=row.sniffed_type or row.declared_type,
                    size=row.size,
                    state=state,
                    url=(
                        attachment_url(public_url, secret, row.id)
                        if state is AttachmentState.STORED
                        else None
                    ),
                )
            )
    return found


def media_alert(links: list[MediaLink]) -> str | None:
    """The alert a received message's record carries when some medium is unsupported."""
    if any(link.state is AttachmentState.UNSUPPORTED for link in links):
        return catalogue.INBOUND_UNSUPPORTED_TEXT
    return None


def conversation_alerts(links: list[MediaLink]) -> list[str]:
    """The alerts a message shows where a conversation is read (page, CRM cards): unsupported
    media, and media that failed or expired; a medium still being captured is loading, not an
    error, and raises none."""
    alerts = []
    if any(link.state is AttachmentState.UNSUPPORTED for link in links):
        alerts.append(catalogue.INBOUND_UNSUPPORTED_TEXT)
    if any(link.notice == catalogue.MEDIA_UNAVAILABLE_TEXT for link in links):
        alerts.append(catalogue.MEDIA_UNAVAILABLE_TEXT)
    return alerts
