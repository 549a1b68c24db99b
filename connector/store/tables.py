"""The connector's tables: one database holds the conversations, the CRM records and the jobs.

Plain SQLAlchemy Core tables: the same definitions serve SQLite (embedded) and PostgreSQL
(replicas), and Alembic migrations are generated from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
    literal_column,
    true,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and always read back timezone-aware.

    SQLite keeps no zone and hands back naive datetimes; converting here, once, means no reader
    of any table has to guess (and every comparison binds UTC on both databases).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, UtcDateTime(), nullable=nullable)


events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("provider_message_id", String(255), nullable=True),
    Column("status", String(16), nullable=True),
    _ts("received_at"),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("provider", "event_id"),
    Index("ix_events_provider_message", "provider", "provider_message_id"),
    Index("ix_events_received_at", "received_at"),
)

threads = Table(
    "threads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("line_number", String(32), nullable=False),
    Column("other_party", String(32), nullable=False),
    _ts("created_at"),
    _ts("last_message_at"),
    UniqueConstraint("provider", "line_number", "other_party"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", Id, ForeignKey("threads.id"), nullable=False, index=True),
    Column("provider", String(32), nullable=False),
    Column("provider_message_id", String(255), nullable=True),
    Column("direction", String(16), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    _ts("sent_at"),
    _ts("status_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Column("origin", JSON, nullable=True),
    # Sends only: why the last attempt failed (shown to admins), and the message's own key,
    # fixed before the provider names the message (CloudTalk never does).
    Column("send_error", Text, nullable=True),
    Column("connector_key", String(64), nullable=True),
    UniqueConstraint("provider", "provider_message_id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("declared_type", String(255), nullable=True),
    Column("sniffed_type", String(255), nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("source_url", Text, nullable=True),
    Column("state", String(16), nullable=False),
    Column("content_hash", String(64), nullable=True),
    Column("error", Text, nullable=True),
    _ts("captured_at", nullable=True),
    UniqueConstraint("message_id", "position"),
)

# A group conversation's participants (E.164), in the order the provider first listed them: the
# thread's other party is the group (`core.groups`), each participant's contact gets the record.
thread_participants = Table(
    "thread_participants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", Id, ForeignKey("threads.id"), nullable=False),
    Column("phone", String(32), nullable=False),
    _ts("added_at"),
    UniqueConstraint("thread_id", "phone"),
)

crm_records = Table(
    "crm_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("crm", String(32), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("record_key", String(255), nullable=False),
    Column("crm_object", String(64), nullable=True),
    Column("crm_id", String(64), nullable=True),
    Column("contact_id", String(64), nullable=True),
    _ts("synced_at", nullable=True),
    UniqueConstraint("crm", "message_id"),
    Index("ix_crm_records_crm_record_key", "crm", "record_key"),
)

crm_contacts = Table(
    "crm_contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("crm", String(32), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("crm_object", String(64), nullable=False),
    Column("crm_id", String(64), nullable=False),
    _ts("updated_at"),
    UniqueConstraint("crm", "phone"),
)

# A contact's primary company and open deals, as last read from the CRM (see store/crm_cache.py).
crm_contact_links = Table(
    "crm_contact_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("crm", String(32), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("company_id", String(64), nullable=True),
    Column("deal_ids", JSON, nullable=False),
    _ts("read_at"),
    UniqueConstraint("crm", "contact_id"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("target", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("ordering_key", String(96), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _ts("run_after"),
    _ts("lease_until", nullable=True),
    Column("worker", String(96), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("payload", JSON, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # True for the earliest unfinished job of its ordering key (and every job without one): only
    # a queued head may be claimed, so a claim reads one small index instead of every job.
    Column("head", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_jobs_ordering", "ordering_key", "state", "id"),
)


def _state_is(state: str) -> Any:
    # Literal, never a bound parameter, so that both databases match it to the partial indexes.
    return jobs.c.state == literal_column(f"'{state}'")


# Partial indexes, each over only the rows one query reads, in the order it reads them: the
# claim's two sources (queued heads by id, running jobs by lease), the bounded counts of
# `/readyz`, the dead-letter listing, and the retention of done jobs. None covers `state` for
# every row, so no plan can prefer reading all queued jobs over the few heads.
QUEUED = _state_is("queued")
QUEUED_HEAD = and_(QUEUED, jobs.c.head == true())
RUNNING = _state_is("running")
DEAD = _state_is("dead")
DONE = _state_is("done")
Index("ix_jobs_heads", jobs.c.id, sqlite_where=QUEUED_HEAD, postgresql_where=QUEUED_HEAD)
Index("ix_jobs_leases", jobs.c.lease_until, sqlite_where=RUNNING, postgresql_where=RUNNING)
Index("ix_jobs_queued", jobs.c.created_at, sqlite_where=QUEUED, postgresql_where=QUEUED)
Index("ix_jobs_dead", jobs.c.id, sqlite_where=DEAD, postgresql_where=DEAD)
Index("ix_jobs_done", jobs.c.updated_at, sqlite_where=DONE, postgresql_where=DONE)

targets = Table(
    "targets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    _ts("paused_until", nullable=True),
    Column("reason", Text, nullable=True),
    _ts("updated_at"),
    # Why it is paused: `credentials` pauses are re-checked with a cheap call and lifted early.
    Column("cause", String(16), nullable=True),
)

# -- rate budgets shared by every process (connector.store.budgets) ----------------------------

# One row per bucket (e.g. "hubspot", "aircall"); `state` is the budget's JSON, changed only
# under the row's lock.
rate_budgets = Table(
    "rate_budgets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("state", Text, nullable=False),
    _ts("updated_at"),
)

# -- consent (opt-out and opt-in) ---------------------------------------------------------------

# Every change of a number's consent, never updated or deleted: the history is the proof of
# consent, and a number's current state is its latest change (by `at`, then id).
consent_changes = Table(
    "consent_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False),
    Column("opted_out", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("actor", String(255), nullable=True),
    _ts("at"),
    _ts("created_at"),
    Index("ix_consent_changes_number_at", "number", "at", "id"),
)

# -- media (captures, retention, uploads) -------------------------------------------------------

# Files kept by `POST /v1/uploads` for a later send; their blobs share the media store with the
# captured attachments (content addressed), so a blob is deleted only when nothing refers to it.
uploads = Table(
    "uploads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("declared_type", String(255), nullable=True),
    Column("sniffed_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    _ts("created_at"),
    Index("ix_uploads_state_created_at", "state", "created_at"),
)

# The retention finds stored media by age, and checks a blob's other users by its hash.
Index("ix_attachments_state_captured_at", attachments.c.state, attachments.c.captured_at)
Index("ix_attachments_content_hash", attachments.c.content_hash)
