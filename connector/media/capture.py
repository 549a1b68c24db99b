"""The capture job: take each received medium once, before the provider's link expires.

The bytes are downloaded (guarded, capped), their real type sniffed, and the inbound rules of
the provider's policy applied to that one file. A compliant medium goes to the media store and
gets the connector's own link; a non-compliant one is recorded as unsupported, with no link.
Every capture ends settled (stored, unsupported or unavailable), never as a dead job: the CRM
sync waits for captures to settle, so a capture that gave up must still say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import and_, select, update

from connector.core import catalogue
from connector.core.errors import Permanent, Transient
from connector.core.model import Direction, Line, Provider
from connector.core.policy import MmsPolicy
from connector.core.rules import AttachmentVerdict, Candidate, validate
from connector.media.fetch import MediaFetcher, MediaNotFound
from connector.media.staging import CAP_MARGIN_BYTES, Spool, SpoolOverflow
from connector.media.store import MediaStore
from connector.store import queue
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.queue import Job, utcnow
from connector.store.tables import attachments, messages, threads

log = structlog.get_logger(__name__)

# Media can appear seconds after the webhook: a 403/404 this soon means "not yet".
NOT_FOUND_GRACE = timedelta(minutes=10)
# Provider links expire within hours; after this, a failing capture is recorded as unavailable.
GIVE_UP_AFTER = timedelta(hours=2)
NOT_FOUND_RETRY_SECONDS = 15.0


@dataclass(frozen=True)
class PendingCapture:
    attachment_id: int
    name: str
    declared_type: str | None
    source_url: str
    provider: Provider
    line_number: str
    other_party: str
    received_at: datetime


def capture_deadline(download_timeout_seconds: float, lease_seconds: float) -> float:
    """Seconds one capture may spend downloading, connect to last byte: the operator's setting,
    but always well inside the job's lease, or another worker would take the job (and start
    the same stuck download) while this one still waits."""
    return min(download_timeout_seconds, lease_seconds * 0.75)


def download_cap(policy: MmsPolicy) -> int:
    """The most bytes read of one medium: the policy's largest file plus the margin."""
    return policy.largest_file_bytes + CAP_MARGIN_BYTES


@dataclass(frozen=True)
class CaptureLimits:
    """What a capture may do, decided by the composition root: each provider's rules, how
    long one download may take, where bytes wait, and whether private addresses are allowed
    (tests and demos only)."""

    policies: Mapping[Provider, MmsPolicy]
    deadline_seconds: float
    spool_dir: Path
    allow_private_urls: bool = False


class MediaCapture:
    """The `capture_media` job handler: `job.subject` is the attachment id."""

    def __init__(
        self,
        database: Database,
        store: MediaStore,
        limits: CaptureLimits,
        fetcher: MediaFetcher | None = None,
        *,
        not_found_grace: timedelta = NOT_FOUND_GRACE,
        give_up_after: timedelta = GIVE_UP_AFTER,
    ) -> None:
        self.database = database
        self.store = store
        self.limits = limits
        self.fetcher = fetcher or MediaFetcher(
            allow_private=limits.allow_private_urls, deadline_seconds=limits.deadline_seconds
        )
        self.spool_dir: Path = limits.spool_dir
        self.not_found_grace = not_found_grace
        self.give_up_after = give_up_after

    def __call__(self, job: Job) -> None:
        pending = self._pending(job)
        if pending is None:
            return  # already settled (a redelivered job) or gone: nothing to do
        age = utcnow() - pending.received_at
        try:
            self._capture(job, pending)
        except MediaNotFound as exc:
            if exc.may_appear and age < self.not_found_grace:
                raise Transient(exc.reason, retry_after=NOT_FOUND_RETRY_SECONDS) from None
            self._settle_unavailable(job, pending, exc.reason)
        except Transient as exc:
            if age < self.give_up_after:
                raise
            self._settle_unavailable(job, pending, f"gave up: {exc.reason}")
        except Permanent as exc:
            self._settle_unavailable(job, pending, exc.reason)

    def _pending(self, job: Job) -> PendingCapture | None:
        attachment_id = int(job.subject)
        with self.database.read() as conn:
            row = conn.execute(
                select(
                    attachments.c.id,
                    attachments.c.name,
                    attachments.c.declared_type,
                    attachments.c.source_url,
                    messages.c.provider,
                    messages.c.created_at,
                    threads.c.line_number,
                    threads.c.other_party,
                )
                .join(messages, messages.c.id == attachments.c.message_id)
                .join(threads, threads.c.id == messages.c.thread_id)
                .where(
                    and_(
                        attachments.c.id == attachment_id,
                        attachments.c.state == AttachmentState.PENDING.value,
                    )
                )
            ).first()
        if row is None:
            return None
        if not row.source_url:
            self._settle(
                job, attachment_id, state=AttachmentState.UNAVAILABLE, error="no media URL"
            )
            return None
        return PendingCapture(
            attachment_id=row.id,
            name=row.name,
            declared_type=row.declared_type,
            source_url=row.source_url,
            provider=Provider(row.provider),
            line_number=row.line_number,
            other_party=row.other_party,
            received_at=row.created_at,
        )

    def _capture(self, job: Job, pending: PendingCapture) -> None:
        policy = self.limits.policies[pending.provider]
        with Spool(self.spool_dir, download_cap(policy)) as spool:
            size = spool.size
            try:
                downloaded = self.fetcher.download(pending.source_url, spool)
                size = spool.size
            except SpoolOverflow as overflow:
                downloaded = None
                size = overflow.size
            candidate = Candidate(
                name=pending.name, declared_type=pending.declared_type, size=size, head=spool.head
            )
            verdict = validate(
                policy,
                line=Line(number=pending.line_number, provider=pending.provider),
                other_party=pending.other_party,
                attachments=[candidate],
                direction=Direction.INBOUND,
            ).attachments[0]
            host = downloaded.host if downloaded else None
            if verdict.ok:
                self._keep(job, pending, spool, verdict, host)
            else:
                self._refuse(job, pending, verdict, host)

    def _keep(
        self,
        job: Job,
        pending: PendingCapture,
        spool: Spool,
        verdict: AttachmentVerdict,
        host: str | None,
    ) -> None:
        try:
            blob = self.store.put(spool.chunks())
        except OSError as exc:
            raise Transient(
                f"the media store could not keep the file: {type(exc).__name__}"
            ) from exc
        self._settle(
            job,
            pending.attachment_id,
            state=AttachmentState.STORED,
            sniffed_type=verdict.sniffed_type,
            size=blob.size,
            content_hash=blob.content_hash,
        )
        log.info(
            "media.captured",
            attachment_id=pending.attachment_id,
            host=host,
            type=verdict.sniffed_type,
            size=blob.size,
        )

    def _refuse(
        self, job: Job, pending: PendingCapture, verdict: AttachmentVerdict, host: str | None
    ) -> None:
        refusal = verdict.errors[0]
        if refusal.code is catalogue.Code.UNKNOWN_ERROR:  # an empty body: nothing to judge
            self._settle_unavailable(job, pending, "the media host sent an empty file")
            return
        self._settle(
            job,
            pending.attachment_id,
            state=AttachmentState.UNSUPPORTED,
            sniffed_type=verdict.sniffed_type or None,
            size=verdict.size,
            error=f"{refusal.code.value}: {refusal.message}",
        )
        log.info(
            "media.unsupported",
            attachment_id=pending.attachment_id,
            host=host,
            type=verdict.sniffed_type,
            size=verdict.size,
            code=refusal.code.value,
        )

    def _settle_unavailable(self, job: Job, pending: PendingCapture, reason: str) -> None:
        self._settle(job, pending.attachment_id, state=AttachmentState.UNAVAILABLE, error=reason)
        log.warning("media.unavailable", attachment_id=pending.attachment_id, reason=reason)

    def _settle(
        self,
        job: Job,
        attachment_id: int,
        *,
        state: AttachmentState,
        sniffed_type: str | None = None,
        size: int | None = None,
        content_hash: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome, once, and only while this worker still holds the job: a capture
        whose job was taken over by another worker (its lease ran out) writes nothing; the
        other worker records it (both download the same bytes into the same content-addressed
        blob)."""
        values: dict[str, object] = {
            "state": state.value,
            "content_hash": content_hash,
            "error": error,
            "captured_at": utcnow(),
        }
        if sniffed_type is not None:
            values["sniffed_type"] = sniffed_type
        if size is not None:
            values["size"] = size
        with self.database.begin() as conn:
            if job.id not in queue.still_held(conn, [job]):
                log.warning("media.result_dropped", attachment_id=attachment_id, job_id=job.id)
                return
            conn.execute(
                update(attachments)
                .where(
                    and_(
                        attachments.c.id == attachment_id,
                        attachments.c.state == AttachmentState.PENDING.value,
                    )
                )
                .values(**values)
            )
