"""Media are kept for `CONNECTOR_MEDIA_RETENTION_DAYS` (6 months by default), then deleted.

The rows stay (marked `expired`) so a CRM record's link answers the rule's 410 text instead of
pointing at nothing. Blobs are content addressed and may be shared by several attachments and
uploads: a blob goes only once nothing that is still kept refers to it, and only if it was not
written again since the cut-off (a capture of the same bytes happening right now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection, and_, exists, select, update

from connector.media.store import FilesystemMediaStore, MediaStore
from connector.periodic import Periodic
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import attachments, uploads

log = structlog.get_logger(__name__)

BATCH = 500
RETENTION_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class RetentionReport:
    attachments_expired: int
    uploads_expired: int
    blobs_deleted: int


def expire_media(
    database: Database,
    store: MediaStore,
    retention: timedelta,
    *,
    now: datetime | None = None,
) -> RetentionReport:
    """Expire every medium kept longer than `retention` and delete the blobs nobody needs."""
    cutoff = (now or utcnow()) - retention
    expired_attachments = expired_uploads = deleted = 0
    while True:
        with database.begin() as conn:
            attachment_hashes = _expire_attachments(conn, cutoff)
            upload_hashes = _expire_uploads(conn, cutoff)
        expired_attachments += len(attachment_hashes)
        expired_uploads += len(upload_hashes)
        for content_hash in set(attachment_hashes) | set(upload_hashes):
            if _unreferenced(database, content_hash) and store.delete(
                content_hash, if_older_than=cutoff
            ):
                deleted += 1
        if len(attachment_hashes) < BATCH and len(upload_hashes) < BATCH:
            break
    if isinstance(store, FilesystemMediaStore):
        store.sweep_temporary()
    report = RetentionReport(expired_attachments, expired_uploads, deleted)
    if expired_attachments or expired_uploads:
        log.info(
            "media.retention",
            attachments=expired_attachments,
            uploads=expired_uploads,
            blobs_deleted=deleted,
        )
    return report


def _expire_attachments(conn: Connection, cutoff: datetime) -> list[str]:
    rows = conn.execute(
        select(attachments.c.id, attachments.c.content_hash)
        .where(
            and_(
                attachments.c.state == AttachmentState.STORED.value,
                attachments.c.captured_at < cutoff,
            )
        )
        .order_by(attachments.c.id)
        .limit(BATCH)
    ).all()
    if rows:
        conn.execute(
            update(attachments)
            .where(
                and_(
                    attachments.c.id.in_([row.id for row in rows]),
                    attachments.c.state == AttachmentState.STORED.value,
                )
            )
            .values(state=AttachmentState.EXPIRED.value)
        )
    return [row.content_hash for row in rows if row.content_hash]


def _expire_uploads(conn: Connection, cutoff: datetime) -> list[str]:
    rows = conn.execute(
        select(uploads.c.id, uploads.c.content_hash)
        .where(and_(uploads.c.state == AttachmentState.STORED.value, uploads.c.created_at < cutoff))
        .order_by(uploads.c.id)
        .limit(BATCH)
    ).all()
    if rows:
        conn.execute(
            update(uploads)
            .where(uploads.c.id.in_([row.id for row in rows]))
            .values(state=AttachmentState.EXPIRED.value)
        )
    return [row.content_hash for row in rows]


def _unreferenced(database: Database, content_hash: str) -> bool:
    """No attachment or upload that is still kept uses this blob."""
    stored = AttachmentState.STORED.value
    with database.read() as conn:
        used = conn.execute(
            select(
                exists().where(
                    and_(attachments.c.content_hash == content_hash, attachments.c.state == stored)
                )
                | exists().where(
                    and_(uploads.c.content_hash == content_hash, uploads.c.state == stored)
                )
            )
        ).scalar()
    return not used


def periodic(database: Database, store: MediaStore, retention: timedelta) -> Periodic:
    """The worker's hourly retention pass (each replica may run it: every step is idempotent)."""

    def run() -> None:
        expire_media(database, store, retention)

    return Periodic(name="media_retention", interval=RETENTION_INTERVAL_SECONDS, run=run)
