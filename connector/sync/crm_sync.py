"""The CRM sync: pending messages of one CRM rendered through the mapping and written in batches.

One call of `CrmSync` takes a batch of `sync_crm` jobs of one CRM. A message whose media are
still being captured waits (its record is written once, with its final links). Jobs whose
messages land in one record (a status update queued twice, a conversation day) are written once.
The CRM's ids are kept per message, so a retry updates; each job is settled by its own record's
outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import structlog
from sqlalchemy import Connection

from connector.core.errors import ConnectorError, Permanent
from connector.core.keys import KeyRing
from connector.core.model import Direction
from connector.crm.base import Associations, ContactRule, CrmAdapter, Origin, RecordWrite
from connector.mapping import (
    CapturedMessage,
    CrmMapping,
    CrmRecord,
    MappingSet,
    build_context,
    render_record,
    thread_key,
)
from connector.mapping.registry import MappingRegistry
from connector.mapping.schema import Granularity
from connector.media import links
from connector.media.status import MediaLink, attachment_links_of, media_alert
from connector.store import crm_records, participants, queue
from connector.store import messages as stored_messages
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.messages import StoredMessage
from connector.store.queue import Job
from connector.sync.worker import Defer

log = structlog.get_logger(__name__)

CAPTURE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class _Pending:
    """One record to write and the jobs (and messages) it settles."""

    record: CrmRecord
    jobs: list[Job]
    message_ids: list[int]
    origin: Origin | None


class CrmSync:
    """The batch handler of `sync_crm` jobs for one CRM."""

    def __init__(
        self,
        crm: str,
        *,
        database: Database,
        registry: MappingRegistry,
        adapter: Callable[[], CrmAdapter],
        public_url: str,
        secret: KeyRing,
    ) -> None:
        self.crm = crm
        self.database = database
        self.registry = registry
        self.adapter = adapter
        self.public_url = public_url
        self.secret = secret

    def __call__(self, jobs: list[Job]) -> dict[int, BaseException | None]:
        outcomes: dict[int, BaseException | None] = {}
        mappings = self.registry.current()
        mapping = mappings.get(self.crm)
        if mapping is None:
            reason = f"no mapping for {self.crm}: add mappings/{self.crm}.yaml"
            return {job.id: Permanent(reason) for job in jobs}
        with self.database.read() as conn:
            pending = self._render(conn, jobs, mappings, mapping, outcomes)
            known = crm_records.known_records(conn, self.crm, pending)
        if not pending:
            return outcomes
        writes = [self._write_of(item, known.get(key)) for key, item in pending.items()]
        try:
            results = self.adapter().write(writes)
        except ConnectorError as exc:
            for item in pending.values():
                outcomes.update({job.id: exc for job in item.jobs})
            return outcomes
        # A group message's job settles several records: it fails if any of them failed.
        settled: dict[int, BaseException | None] = {}
        by_key = {result.key: result for result in results}
        with self.database.begin() as conn:
            # Only for jobs this worker still holds: a job taken over by another worker (its
            # lease ran out) is that worker's to record; this one writes nothing more for it.
            held = queue.still_held(conn, [job for item in pending.values() for job in item.jobs])
            for key, item in pending.items():
                result = by_key.get(key)
                error: BaseException | None
                if result is None:
                    error = Permanent(f"{self.crm} gave no result for record {key}")
                elif result.error is not None:
                    error = result.error
                else:
                    error = None
                    if result.skipped:
                        log.info("crm.record_skipped", crm=self.crm, reason=result.skipped)
                    for job, message_id in zip(item.jobs, item.message_ids, strict=True):
                        if job.id not in held:
                            log.warning("crm.result_dropped", crm=self.crm, job_id=job.id)
                            continue
                        crm_records.remember(
                            conn,
                            self.crm,
                            message_id,
                            record_key=key,
                            crm_object=result.crm_object,
                            crm_id=result.crm_id,
                            contact_id=result.contact_id,
                        )
                for job in item.jobs:
                    if settled.get(job.id) is None:
                        settled[job.id] = error
        outcomes.update(settled)
        return outcomes

    # -- rendering -------------------------------------------------------------------------

    def _render(
        self,
        conn: Connection,
        jobs: Sequence[Job],
        mappings: MappingSet,
        mapping: CrmMapping,
        outcomes: dict[int, BaseException | None],
    ) -> dict[str, _Pending]:
        loaded = stored_messages.load_many(conn, [int(job.subject) for job in jobs])
        groups = participants.of_threads(conn, (stored.thread_id for stored in loaded.values()))
        batch = _BatchReads(conn, self.public_url, self.secret)
        batch.links_of(loaded)
        pending: dict[str, _Pending] = {}
        for job in jobs:
            stored = loaded.get(int(job.subject))
            if stored is None:
                outcomes[job.id] = Permanent(f"message {job.subject} no longer exists")
                continue
            media = batch.links[stored.id]
            if any(link.state is AttachmentState.PENDING for link in media):
                outcomes[job.id] = Defer(CAPTURE_WAIT_SECONDS, "waiting for media capture")
                continue
            try:
                records = [
                    self._record(batch, stored, media, mappings, mapping, participant)
                    for participant in groups.get(stored.thread_id, [None])
                ]
            except ConnectorError as exc:
                outcomes[job.id] = exc
                continue
            for record in records:
                item = pending.get(record.key)
                if item is None:
                    item = _Pending(record, [], [], _origin(stored.origin, self.crm))
                # A later job's render wins: it saw the newest status of the record's messages.
                pending[record.key] = _Pending(
                    record, [*item.jobs, job], [*item.message_ids, stored.id], item.origin
                )
        return pending

    def _record(
        self,
        batch: _BatchReads,
        stored: StoredMessage,
        media: list[MediaLink],
        mappings: MappingSet,
        mapping: CrmMapping,
        participant: str | None = None,
    ) -> CrmRecord:
        """The record of `stored`; in a group conversation, the one logged on `participant`'s
        contact: rendered as if the participant were the other party, keyed by the group's
        record key and the participant, so each contact gets its own record, once."""
        group_message = stored.message
        message = stored.message
        if participant is not None:
            message = message.model_copy(update={"other_party": participant})
        day: list[CapturedMessage] | None = None
        if mapping.granularity is Granularity.CONVERSATION_DAY:
            day = [
                _captured(other, media if other.id == stored.id else batch.links[other.id])
                for other in batch.day(
                    stored.thread_id, mapping.day_of(group_message.sent_at), mapping
                )
            ]
        captured = _captured(stored, media)
        context = build_context(
            message,
            line=mappings.lines.get(message.line_number),
            attachment_links=captured.attachment_links,
            conversation_url=links.conversation_url(self.public_url, self.secret, stored.thread_id),
            alert=captured.alert,
            messages=day,
        )
        record = render_record(mapping, context)
        if participant is None:
            return record
        return replace(
            record,
            key=f"{mapping.record_key(group_message)}:{participant}",
            thread_key=thread_key(group_message),
        )

    def _write_of(self, item: _Pending, existing_id: str | None) -> RecordWrite:
        record = item.record
        rule = record.contact_rule
        plan = record.associations
        return RecordWrite(
            key=record.key,
            thread_key=record.thread_key,
            object_name=record.object_name,
            fields=dict(record.fields),
            contact_phone=record.contact_phone,
            contact_rule=ContactRule(
                objects=rule.objects,
                phone_fields=dict(rule.phone_fields),
                on_no_match=rule.on_no_match,
                create_object=rule.create_object,
                create_fields=dict(rule.create_fields),
            ),
            key_field=record.key_field,
            thread_field=record.thread_field,
            associations=Associations(
                company=plan.company, open_deals=plan.open_deals, what_id=plan.what_id
            ),
            owner_id=record.owner_id,
            existing_id=existing_id,
            origin=item.origin,
            message_ids=tuple(item.message_ids),
            create_only=record.create_only,
        )


def _captured(stored: StoredMessage, media: list[MediaLink]) -> CapturedMessage:
    """A message with its links and, when received, the unsupported-media alert."""
    alert = media_alert(media) if stored.message.direction is Direction.INBOUND else None
    return CapturedMessage(stored.message, tuple(link.url for link in media), alert)


def _origin(origin: Mapping[str, Any] | None, crm: str) -> Origin | None:
    """The record a send was made from, when it belongs to this CRM."""
    if not origin or origin.get("system") != crm:
        return None
    try:
        return Origin(
            system=str(origin["system"]),
            object=str(origin["object"]),
            record_id=str(origin["record_id"]),
        )
    except KeyError:
        return None


class _BatchReads:
    """What one batch reads once, however many of its records need it: the media of its
    messages and of their threads' days (a conversation-day record renders the whole day, and
    every message of that day in the batch renders it again)."""

    def __init__(self, conn: Connection, public_url: str, secret: KeyRing) -> None:
        self.conn = conn
        self.public_url = public_url
        self.secret = secret
        self.links: defaultdict[int, list[MediaLink]] = defaultdict(list)
        self._days: dict[tuple[int, date], list[StoredMessage]] = {}

    def links_of(self, messages: Mapping[int, StoredMessage]) -> None:
        wanted = [message_id for message_id in messages if message_id not in self.links]
        self.links.update(attachment_links_of(self.conn, wanted, self.public_url, self.secret))

    def day(self, thread_id: int, day: date, mapping: CrmMapping) -> list[StoredMessage]:
        if (thread_id, day) not in self._days:
            start, end = mapping.day_window(day)
            messages = stored_messages.in_thread(self.conn, thread_id, since=start, until=end)
            self.links_of({message.id: message for message in messages})
            self._days[(thread_id, day)] = messages
        return self._days[(thread_id, day)]
