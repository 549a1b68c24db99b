"""Provider events become events, threads, messages, attachments and jobs in one transaction.

Providers deliver at least once and out of order: a redelivery changes nothing, a status only
moves forward, and a status that overtakes its message is applied when the message arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from connector.core.events import EventKind, ProviderEvent
from connector.core.model import DeliveryStatus, Provider
from connector.store import conversations, queue
from connector.store.conversations import (
    CAPTURE_MEDIA,
    MEDIA_TARGET,
    SYNC_CRM,
    AttachmentState,
    IngestResult,
    Outcome,
)
from connector.store.db import Database
from connector.store.queue import Job
from connector.store.tables import attachments, events, messages, threads
from tests import factories
from tests.factories import (
    attachment,
    message,
    outbound_message,
    received_event,
    sent_event,
    status_event,
    webhook_body,
)

CRMS = ("hubspot", "salesforce")


def record(
    database: Database,
    event: ProviderEvent,
    payload: Mapping[str, Any] | None = None,
    crms: Sequence[str] = CRMS,
) -> IngestResult:
    with database.begin() as conn:
        return conversations.record_event(
            conn, event, payload if payload is not None else webhook_body(event), crms=crms
        )


def count(database: Database, table: Table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def all_jobs(database: Database) -> list[Job]:
    with database.read() as conn:
        return sorted(queue.list_jobs(conn, limit=1000), key=lambda job: job.id)


def sync_jobs(database: Database) -> list[Job]:
    return [job for job in all_jobs(database) if job.kind == SYNC_CRM]


def message_row(database: Database, message_id: int) -> Any:
    with database.read() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


# -- a new message ---------------------------------------------------------------------------


def test_a_received_message_is_kept_with_its_thread_attachments_and_jobs(
    database: Database,
) -> None:
    msg = message(
        attachments=(
            attachment(name="a.jpg"),
            attachment(name="b.png", declared_type="image/png"),
        )
    )

    result = record(database, received_event(msg))

    assert result.outcome is Outcome.ACCEPTED
    assert result.message_id is not None and result.thread_id is not None
    row = message_row(database, result.message_id)
    assert row.thread_id == result.thread_id
    assert row.provider_message_id == msg.provider_message_id
    assert row.direction == "inbound"
    assert row.text == msg.text
    assert row.status == DeliveryStatus.RECEIVED.value
    with database.read() as conn:
        kept = conn.execute(
            select(attachments.c.position, attachments.c.name, attachments.c.state)
            .where(attachments.c.message_id == result.message_id)
            .order_by(attachments.c.position)
        ).all()
    assert [tuple(r) for r in kept] == [
        (0, "a.jpg", AttachmentState.PENDING.value),
        (1, "b.png", AttachmentState.PENDING.value),
    ]
    jobs = all_jobs(database)
    assert [(j.kind, j.target) for j in jobs if j.kind == CAPTURE_MEDIA] == [
        (CAPTURE_MEDIA, MEDIA_TARGET),
        (CAPTURE_MEDIA, MEDIA_TARGET),
    ]
    assert {(j.target, j.subject, j.ordering_key) for j in sync_jobs(database)} == {
        (crm, str(result.message_id), f"{crm}:thread:{result.thread_id}") for crm in CRMS
    }
    assert count(database, events) == 1


def test_an_attachment_without_a_link_is_unavailable_and_not_captured(database: Database) -> None:
    msg = message(attachments=(attachment(source_url=None),))

    result = record(database, received_event(msg))

    with database.read() as conn:
        state = conn.execute(
            select(attachments.c.state).where(attachments.c.message_id == result.message_id)
        ).scalar_one()
    assert state == AttachmentState.UNAVAILABLE.value
    assert [job.kind for job in all_jobs(database)] == [SYNC_CRM, SYNC_CRM]


def test_messages_between_the_same_two_numbers_share_one_thread(database: Database) -> None:
    first = record(database, received_event(message()))
    later = record(database, received_event(message(sent_at=factories.SENT_AT + timedelta(1))))
    other = record(database, received_event(message(other_party="+15557654321")))

    assert first.thread_id == later.thread_id
    assert other.thread_id != first.thread_id
    assert count(database, threads) == 2


def test_an_older_message_never_moves_a_thread_back_in_time(database: Database) -> None:
    newest = factories.SENT_AT + timedelta(hours=2)
    result = record(database, received_event(message(sent_at=newest)))
    record(database, received_event(message(sent_at=factories.SENT_AT)))

    with database.read() as conn:
        last = conn.execute(
            select(threads.c.last_message_at).where(threads.c.id == result.thread_id)
        ).scalar_one()
    assert last.replace(tzinfo=None) == newest.replace(tzinfo=None)


def test_an_event_of_no_interest_is_ignored_and_nothing_is_stored(database: Database) -> None:
    event = ProviderEvent(
        provider=Provider.AIRCALL,
        event_id="aircall:call.created:1",
        kind=EventKind.IGNORED,
        occurred_at=factories.SENT_AT,
        ignored_reason="event 'call.created' is not a message event",
    )

    assert record(database, event).outcome is Outcome.IGNORED
    assert count(database, events) == 0
    assert all_jobs(database) == []


# -- duplicates ------------------------------------------------------------------------------


def test_a_redelivered_event_is_a_duplicate_and_stores_no_second_row(database: Database) -> None:
    event = received_event(message())
    first = record(database, event)

    again = record(database, event)

    assert first.outcome is Outcome.ACCEPTED
    assert again.outcome is Outcome.DUPLICATE
    assert (count(database, events), count(database, messages)) == (1, 1)
    assert count(database, attachments) == 1
    assert len(all_jobs(database)) == 1 + len(CRMS)


def test_one_message_under_two_event_ids_is_kept_once(database: Database) -> None:
    msg = message()
    first = record(database, received_event(msg))

    again = record(database, received_event(msg, event_id="aircall:redelivered:with-new-id"))

    assert again.outcome is Outcome.ACCEPTED
    assert again.message_id == first.message_id
    assert count(database, messages) == 1
    assert count(database, attachments) == 1
    assert len(all_jobs(database)) == 1 + len(CRMS)


@pytest.mark.postgres
def test_two_replicas_receiving_one_event_at_once_keep_it_once(
    postgres_database: Database,
) -> None:
    event = received_event(message())
    outcomes: list[Outcome] = []

    with postgres_database.begin() as conn:
        outcomes.append(conversations.record_event(conn, event, webhook_body(event)).outcome)
        # The other replica's insert waits on this one's unique key, then finds it taken.
        other = threading.Thread(
            target=lambda: outcomes.append(record(postgres_database, event).outcome)
        )
        other.start()
        other.join(0.5)
        assert other.is_alive()
    other.join(10)

    assert outcomes == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert count(postgres_database, messages) == 1


# -- status, forward only --------------------------------------------------------------------


def test_a_delivered_status_moves_the_message_forward_and_queues_a_sync(
    database: Database,
) -> None:
    msg = outbound_message()
    sent = record(database, sent_event(msg))
    assert sent.message_id is not None
    syncs_before = len(sync_jobs(database))

    result = record(database, status_event(msg.provider_message_id, DeliveryStatus.DELIVERED))

    assert result.outcome is Outcome.ACCEPTED
    assert result.message_id == sent.message_id
    row = message_row(database, sent.message_id)
    assert row.status == DeliveryStatus.DELIVERED.value
    assert row.status_at is not None
    assert len(sync_jobs(database)) == syncs_before + len(CRMS)


def test_late_sent_status_never_overwrites_delivered(database: Database) -> None:
    msg = outbound_message(status=DeliveryStatus.SENDING)
    sent = record(database, sent_event(msg))
    assert sent.message_id is not None
    record(database, status_event(msg.provider_message_id, DeliveryStatus.DELIVERED))
    syncs_before = len(sync_jobs(database))

    late = record(
        database,
        status_event(msg.provider_message_id, DeliveryStatus.SENT, after=timedelta(seconds=1)),
    )

    assert late.outcome is Outcome.ACCEPTED
    assert message_row(database, sent.message_id).status == DeliveryStatus.DELIVERED.value
    assert len(sync_jobs(database)) == syncs_before


def test_a_status_reported_again_queues_no_second_sync(database: Database) -> None:
    msg = outbound_message(status=DeliveryStatus.SENT)
    record(database, sent_event(msg))
    syncs_before = len(sync_jobs(database))

    record(database, status_event(msg.provider_message_id, DeliveryStatus.SENT))

    assert len(sync_jobs(database)) == syncs_before


def test_a_final_status_is_never_left(database: Database) -> None:
    msg = outbound_message()
    sent = record(database, sent_event(msg))
    assert sent.message_id is not None
    record(database, status_event(msg.provider_message_id, DeliveryStatus.NOT_SENT))

    record(database, status_event(msg.provider_message_id, DeliveryStatus.DELIVERED))

    assert message_row(database, sent.message_id).status == DeliveryStatus.NOT_SENT.value


def test_a_status_that_arrives_before_its_message_is_applied_when_the_message_arrives(
    database: Database,
) -> None:
    msg = outbound_message(status=DeliveryStatus.SENT)
    early = record(database, status_event(msg.provider_message_id, DeliveryStatus.DELIVERED))
    assert early.outcome is Outcome.ACCEPTED
    assert early.message_id is None
    assert count(database, messages) == 0
    assert sync_jobs(database) == []

    result = record(database, sent_event(msg))

    assert result.message_id is not None
    assert message_row(database, result.message_id).status == DeliveryStatus.DELIVERED.value
    assert len(sync_jobs(database)) == len(CRMS)


def test_a_status_of_another_message_is_not_applied_to_this_one(database: Database) -> None:
    msg = outbound_message(status=DeliveryStatus.SENT)
    record(database, status_event("someone-else", DeliveryStatus.NOT_SENT))

    result = record(database, sent_event(msg))

    assert result.message_id is not None
    assert message_row(database, result.message_id).status == DeliveryStatus.SENT.value


def test_a_known_message_confirmed_again_only_moves_its_status(database: Database) -> None:
    msg = outbound_message(status=DeliveryStatus.SENDING)
    first = record(database, sent_event(msg))
    assert first.message_id is not None
    syncs_before = len(sync_jobs(database))

    # Aircall's status_updated may carry the whole message again.
    confirmed = msg.model_copy(update={"status": DeliveryStatus.DELIVERED})
    again = record(
        database,
        received_event(confirmed, event_id="aircall:message.status_updated:x:delivered"),
    )

    assert again.message_id == first.message_id
    assert count(database, messages) == 1
    assert message_row(database, first.message_id).status == DeliveryStatus.DELIVERED.value
    assert len(sync_jobs(database)) == syncs_before + len(CRMS)


def test_set_status_moves_forward_only_and_syncs_on_change(database: Database) -> None:
    sent = record(database, sent_event(outbound_message(status=DeliveryStatus.SENDING)))
    assert sent.message_id is not None
    syncs_before = len(sync_jobs(database))

    with database.begin() as conn:
        moved = conversations.set_status(
            conn, sent.message_id, DeliveryStatus.DELIVERED, crms=["hubspot"]
        )
        kept = conversations.set_status(
            conn, sent.message_id, DeliveryStatus.SENT, crms=["hubspot"]
        )
        unknown = conversations.set_status(conn, 999_999, DeliveryStatus.SENT)

    assert (moved, kept, unknown) == (DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED, None)
    assert len(sync_jobs(database)) == syncs_before + 1


# -- what is stored --------------------------------------------------------------------------


def test_the_stored_payload_never_holds_the_webhook_token(database: Database) -> None:
    event = received_event(message())
    body = webhook_body(event, Secret="hunter2")

    record(database, event, payload=body)

    with database.read() as conn:
        stored = conn.execute(select(events.c.payload)).scalar_one()
    assert "token" not in stored
    assert "Secret" not in stored
    assert stored["event"] == body["event"]
    assert stored["data"] == body["data"]
    assert body["token"]  # the caller's copy is left alone


def test_a_failure_mid_way_stores_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise RuntimeError("the database went away after the message insert")

    monkeypatch.setattr(conversations, "_queue_sync", fail)
    event = received_event(message())

    with pytest.raises(RuntimeError):
        record(database, event)

    for table in (events, threads, messages, attachments):
        assert count(database, table) == 0, table.name
    assert all_jobs(database) == []

    monkeypatch.undo()
    assert record(database, event).outcome is Outcome.ACCEPTED
