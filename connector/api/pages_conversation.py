"""`/conversations/{token}`: the "whole conversation" link that CRM records carry.

The token is the thread's stable signed link (`connector.media.links`, kind THREAD): the page
shows the thread's messages in order, each message's text above its media (4 previews and a
`+N` counter, every medium in a viewer), the rule's alerts where media cannot be shown, and a
"Download all" that streams the conversation's zip (`connector.media.archive`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from sqlalchemy import select

from connector.api.deps import ConnectorDep
from connector.api.pages_render import link_problem, page
from connector.bootstrap import Connector
from connector.core import catalogue
from connector.core.model import Direction
from connector.core.policy import PREVIEW_COUNT
from connector.media import archive
from connector.media.links import LinkKind, verify
from connector.media.status import MediaLink, attachment_links, conversation_alerts
from connector.store import messages as stored_messages
from connector.store import participants
from connector.store.conversations import AttachmentState
from connector.store.tables import threads

router = APIRouter(prefix="/conversations", tags=["conversations"])

PREVIEWS = PREVIEW_COUNT  # previews per message; the rest is a "+N" counter (README, The MMS rules)
NOT_FOUND_TITLE = "This conversation link is not valid"
NOT_FOUND_DETAIL = "Open the conversation again from the link in the CRM record."


@dataclass(frozen=True)
class MediumView:
    """One attachment on the page: a link when it can be shown, else only its place."""

    name: str
    content_type: str
    size: int | None
    url: str | None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def size_label(self) -> str:
        return human_size(self.size) if self.size is not None else ""

    def public(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "name": self.name,
            "type": self.content_type,
            "image": self.is_image,
            "size": self.size_label,
        }


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: Direction
    text: str
    sent_at: datetime
    status_label: str
    media: list[MediumView]
    pending: int
    attachments: int
    alerts: list[str] = field(default_factory=list)

    @property
    def previews(self) -> list[MediumView]:
        return self.media[:PREVIEWS]

    @property
    def more(self) -> int:
        return max(0, len(self.media) - PREVIEWS)

    @property
    def outbound(self) -> bool:
        return self.direction is Direction.OUTBOUND


@dataclass(frozen=True)
class ConversationView:
    thread_id: int
    line_number: str
    line_label: str
    other_party: str
    messages: list[MessageView]
    participants: tuple[str, ...] = ()  # a group conversation's numbers; empty otherwise

    @property
    def media_count(self) -> int:
        return sum(len(m.media) for m in self.messages)

    @property
    def has_attachments(self) -> bool:
        """Whether "Download all" applies (it answers the rule's text when none is kept)."""
        return any(m.attachments for m in self.messages)

    @property
    def media_bytes(self) -> int:
        return sum(medium.size or 0 for m in self.messages for medium in m.media)

    def viewer_data(self) -> dict[str, Any]:
        """Every medium of every message, for the viewer to step through."""
        return {
            str(m.id): {"text": m.text, "items": [medium.public() for medium in m.media]}
            for m in self.messages
            if m.media
        }


def human_size(size: int) -> str:
    """`12 KB`, `1.4 MB`: sizes as a person reads them (1 MB = 1,048,576 bytes)."""
    if size < catalogue.KB:
        return f"{size} bytes"
    if size < catalogue.MB:
        return f"{size / catalogue.KB:.0f} KB"
    return f"{size / catalogue.MB:.1f} MB".replace(".0 MB", " MB")


def _pending(link: MediaLink) -> bool:
    return link.state is AttachmentState.PENDING


def load_conversation(connector: Connector, thread_id: int) -> ConversationView | None:
    """The thread as the page shows it, or None when there is no such thread."""
    with connector.database.read() as conn:
        thread = conn.execute(
            select(threads.c.line_number, threads.c.other_party).where(threads.c.id == thread_id)
        ).first()
        if thread is None:
            return None
        group = tuple(participants.of_threads(conn, [thread_id]).get(thread_id, ()))
        views = []
        for stored in stored_messages.in_thread(conn, thread_id):
            # An empty public URL makes every link relative: the page and its media share an
            # origin, whatever address the deployment is reached by.
            links = attachment_links(conn, stored.id, "", connector.secret)
            message = stored.message
            views.append(
                MessageView(
                    id=stored.id,
                    direction=message.direction,
                    text=message.text,
                    sent_at=message.sent_at,
                    status_label=message.status.label,
                    media=[
                        MediumView(
                            name=link.name,
                            content_type=link.content_type or "application/octet-stream",
                            size=link.size,
                            url=link.url,
                        )
                        for link in links
                        if link.url is not None
                    ],
                    pending=sum(1 for link in links if _pending(link)),
                    attachments=len(links),
                    alerts=conversation_alerts(links),
                )
            )
    entry = connector.registry.current().lines.get(thread.line_number)
    return ConversationView(
        thread_id=thread_id,
        line_number=thread.line_number,
        line_label=entry.label if entry is not None and entry.label else "",
        other_party=thread.other_party,
        messages=views,
        participants=group,
    )


def _thread_id(connector: Connector, token: str) -> int | None:
    target = verify(connector.secret, token)
    if target is None or target.kind is not LinkKind.THREAD:
        return None
    return target.id


@router.get("/{token}", response_class=HTMLResponse, summary="A whole conversation (signed link)")
async def conversation_page(token: str, connector: ConnectorDep) -> HTMLResponse:
    thread_id = _thread_id(connector, token)
    view = None
    if thread_id is not None:
        view = await anyio.to_thread.run_sync(load_conversation, connector, thread_id)
    if view is None:
        return link_problem(
            connector.settings,
            status_code=status.HTTP_404_NOT_FOUND,
            title=NOT_FOUND_TITLE,
            detail=NOT_FOUND_DETAIL,
        )
    return page(
        connector.settings,
        "conversation.html",
        conversation=view,
        zip_url=f"/conversations/{token}/media.zip",
        unsupported=catalogue.INBOUND_UNSUPPORTED_TEXT,
        unavailable=catalogue.MEDIA_UNAVAILABLE_TEXT,
    )


# -- Download all ------------------------------------------------------------------------------


@router.get(
    "/{token}/media.zip",
    summary="Every medium of a conversation in one zip (signed link)",
    response_class=StreamingResponse,
    responses={410: {"description": catalogue.MEDIA_UNAVAILABLE_TEXT}},
)
async def conversation_zip(token: str, connector: ConnectorDep) -> Response:
    thread_id = _thread_id(connector, token)
    found = None
    if thread_id is not None:
        found = await anyio.to_thread.run_sync(
            partial(
                archive.thread_archive,
                connector.database,
                thread_id,
                max_bytes=connector.settings.media.max_zip_bytes,
            )
        )
    if found is None:
        return PlainTextResponse("no such conversation", status_code=status.HTTP_404_NOT_FOUND)
    if not any(entry.content_hash for entry in found.entries):
        return PlainTextResponse(
            catalogue.MEDIA_UNAVAILABLE_TEXT,
            status_code=status.HTTP_410_GONE,
            headers={"Cache-Control": "no-store"},
        )
    # The length is known before the first byte (stored entries, sizes from the store), so
    # the browser shows progress and time remaining.
    chunks, length = await anyio.to_thread.run_sync(
        archive.sized_zip, connector.media_store, found.entries
    )
    headers = {
        "Content-Disposition": f'attachment; filename="{found.filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if length is not None:
        headers["Content-Length"] = str(length)
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)
