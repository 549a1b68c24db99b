"""Resolving a media link to the bytes it serves, or to nothing (the API then answers 410).

A tampered, expired, deleted or never-captured medium all look the same from outside: no
difference in the answer tells a caller which tokens were ever valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import and_, select

from connector.core.keys import KeyRing
from connector.media.links import LinkKind, verify
from connector.media.names import safe_filename
from connector.media.store import MediaStore
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.tables import attachments, uploads


@dataclass(frozen=True)
class Medium:
    """One servable blob and how to present it."""

    content_hash: str
    content_type: str
    filename: str
    size: int | None
    path: Path | None  # set when the store is local: served with ranges by the framework

    @property
    def etag(self) -> str:
        return f'"{self.content_hash}"'

    @property
    def content_disposition(self) -> str:
        """`inline` with the safe name, RFC 6266 encoded when it is not plain ASCII."""
        quoted = quote(self.filename)
        if quoted == self.filename:
            return f'inline; filename="{self.filename}"'
        return f"inline; filename*=utf-8''{quoted}"


def find_medium(
    database: Database, store: MediaStore, secret: KeyRing, token: str
) -> Medium | None:
    """The medium a link points at, if the link is genuine and the medium is still kept."""
    target = verify(secret, token)
    if target is None or target.kind is LinkKind.THREAD:
        return None
    table = attachments if target.kind is LinkKind.ATTACHMENT else uploads
    with database.read() as conn:
        row = conn.execute(
            select(table.c.name, table.c.sniffed_type, table.c.size, table.c.content_hash).where(
                and_(table.c.id == target.id, table.c.state == AttachmentState.STORED.value)
            )
        ).first()
    if row is None or not row.content_hash:
        return None
    path = store.local_path(row.content_hash)
    if path is not None and not path.is_file():
        return None
    if path is None and not store.exists(row.content_hash):
        return None
    content_type = row.sniffed_type or "application/octet-stream"
    return Medium(
        content_hash=row.content_hash,
        content_type=content_type,
        filename=safe_filename(row.name, content_type),
        size=row.size,
        path=path,
    )
