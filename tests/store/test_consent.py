"""Consent changes kept as history, the state as the latest change, and keywords in the webhook
path written in the transaction that keeps their message, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from connector.core.consent import ConsentChange, ConsentSource, Keywords
from connector.core.model import Provider
from connector.providers import aircall
from connector.store import consent, conversations
from connector.store.conversations import IngestResult, Outcome
from connector.store.db import Database
from connector.store.tables import consent_changes, jobs
from connector.sync.ingest_writer import IngestWriter
from tests.aio import run_async
from tests.factories import message, received_event, sent_event, webhook_body
from tests.providers.factories import aircall_event

NUMBER = "+14155550123"
OTHER = "+14155550188"
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def change(opted_out: bool = True, at: datetime = T0, number: str = NUMBER, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "number": number,
        "opted_out": opted_out,
        "source": ConsentSource.ADMIN,
        "reason": "asked by phone",
        "at": at,
    }
    values.update(kw)
    return ConsentChange.model_validate(values)


def keep(database: Database, *changes: ConsentChange, crms: tuple[str, ...] = ()) -> None:
    with database.begin() as conn:
        for item in changes:
            consent.record(conn, item, crms=crms)


def state(database: Database, number: str = NUMBER) -> ConsentChange | None:
    with database.read() as conn:
        return consent.current(conn, number)


def test_a_number_never_changed_has_no_state(database: Database) -> None:
    assert state(database) is None


def test_the_state_is_the_latest_change_and_the_history_keeps_every_one(
    database: Database,
) -> None:
    keep(
        database,
        change(True, T0),
        change(False, T0 + timedelta(days=1), reason="asked to resume"),
        change(True, T0 + timedelta(days=2), reason="asked again"),
    )

    current = state(database)
    assert current is not None and current.opted_out and current.reason == "asked again"
    with database.read() as conn:
        history = consent.history(conn, NUMBER)
    assert [(c.opted_out, c.reason) for c in history] == [
        (True, "asked again"),
        (False, "asked to resume"),
        (True, "asked by phone"),
    ]


def test_an_imported_older_change_does_not_override_a_newer_one(database: Database) -> None:
    keep(database, change(False, T0 + timedelta(days=5), reason="START"))
    keep(database, change(True, T0, reason="imported from an old list"))

    current = state(database)
    assert current is not None and not current.opted_out


def test_two_changes_in_the_same_instant_the_later_recorded_wins(database: Database) -> None:
    keep(database, change(True, T0), change(False, T0, reason="undo"))
    current = state(database)
    assert current is not None and not current.opted_out


def test_the_opted_out_list_holds_only_numbers_opted_out_now(database: Database) -> None:
    keep(
        database,
        change(True, T0, number=NUMBER),
        change(True, T0, number=OTHER),
        change(False, T0 + timedelta(hours=1), number=OTHER),
        change(True, T0 + timedelta(hours=2), number="+14155550199"),
    )

    with database.read() as conn:
        listed = [c.number for c in consent.opted_out(conn)]
        total = consent.count_opted_out(conn)
    assert listed == ["+14155550199", NUMBER]
    assert total == 2


def test_each_change_queues_one_crm_write_per_crm(database: Database) -> None:
    keep(database, change(), crms=("hubspot", "salesforce"))

    with database.read() as conn:
        rows = conn.execute(select(jobs.c.kind, jobs.c.target, jobs.c.ordering_key)).all()
    assert sorted(rows) == [
        ("sync_consent", "hubspot", f"hubspot:consent:{NUMBER}"),
        ("sync_consent", "salesforce", f"salesforce:consent:{NUMBER}"),
    ]


# -- keywords in the webhook path ----------------------------------------------------------------


def receive(database: Database, text: str, number: str = NUMBER, **kw: Any) -> IngestResult:
    event = received_event(message(text=text, other_party=number, attachments=(), **kw))
    with database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event), crms=("hubspot",))
        consent.record_keywords(conn, [(event, result.message_id, result.thread_id, ["hubspot"])])
    return result


def test_a_received_stop_opts_the_sender_out_citing_its_message(database: Database) -> None:
    result = receive(database, "Stop")

    current = state(database)
    assert current is not None
    assert current.opted_out and current.source is ConsentSource.KEYWORD
    assert current.reason == "replied STOP"
    assert current.message_id == result.message_id
    with database.read() as conn:
        kinds = [r.kind for r in conn.execute(select(jobs.c.kind).order_by(jobs.c.id))]
    assert kinds == ["sync_crm", "sync_consent"]  # the STOP itself is logged like any message


def test_the_crm_write_waits_behind_the_stop_messages_own_sync(database: Database) -> None:
    result = receive(database, "STOP")

    with database.read() as conn:
        keys = {r.kind: r.ordering_key for r in conn.execute(select(jobs))}
    assert keys["sync_consent"] == keys["sync_crm"] == f"hubspot:thread:{result.thread_id}"


def test_an_ordinary_message_changes_nothing(database: Database) -> None:
    receive(database, "STOP 12345")
    receive(database, "Stop by at 5")
    assert state(database) is None


def test_start_opts_back_in_and_both_changes_stay_in_the_history(database: Database) -> None:
    receive(database, "STOP")
    receive(database, "start")

    current = state(database)
    assert current is not None and not current.opted_out
    assert current.reason == "replied START"
    with database.read() as conn:
        assert [c.opted_out for c in consent.history(conn, NUMBER)] == [False, True]


def test_yes_in_an_ordinary_conversation_is_not_a_consent_event(database: Database) -> None:
    receive(database, "Yes")
    assert state(database) is None


def test_our_own_sent_stop_is_not_an_opt_out(database: Database) -> None:
    event = sent_event(message(text="STOP", other_party=NUMBER, attachments=()))
    with database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event))
        consent.record_keywords(conn, [(event, result.message_id, result.thread_id, [])])
    assert state(database) is None


def test_a_redelivered_stop_is_recorded_once(database: Database) -> None:
    msg = message(text="STOP", other_party=NUMBER, attachments=())
    for event_id in ("first-delivery", "second-delivery"):
        event = received_event(msg, event_id=event_id)
        with database.begin() as conn:
            result = conversations.record_event(conn, event, webhook_body(event))
            consent.record_keywords(conn, [(event, result.message_id, result.thread_id, [])])
    with database.read() as conn:
        assert len(consent.history(conn, NUMBER)) == 1


def test_the_providers_policy_keywords_are_the_ones_applied(database: Database) -> None:
    event = received_event(message(text="ALTO", other_party=NUMBER, attachments=()))
    keywords = {Provider.AIRCALL: Keywords(opt_out=frozenset({"ALTO"}), opt_in=frozenset())}
    with database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event))
        consent.record_keywords(conn, [(event, result.message_id, result.thread_id, [])], keywords)
    current = state(database)
    assert current is not None and current.reason == "replied ALTO"


def test_the_webhook_writer_keeps_the_stop_and_its_opt_out_together(database: Database) -> None:
    writer = IngestWriter(database)
    bodies = [
        aircall_event(data={"id": "m-1", "body": "Hello", "media_details": []}),
        aircall_event(
            data={"id": "m-2", "body": "STOP", "external_number": NUMBER, "media_details": []}
        ),
    ]

    async def write_all() -> list[IngestResult]:
        return await asyncio.gather(
            *(writer.write(aircall.parse_event(b), b, ["hubspot"]) for b in bodies)
        )

    results = run_async(write_all())
    writer.stop()

    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    current = state(database)
    assert current is not None and current.opted_out
    assert current.message_id == results[1].message_id


def test_a_failing_event_in_a_batch_keeps_the_others_opt_outs(
    database: Database, monkeypatch: Any
) -> None:
    real = conversations.record_event

    def flaky(conn: Any, event: Any, payload: Any, *, crms: Any = ()) -> Any:
        if event.message.provider_message_id == "bad":
            raise RuntimeError("disk on fire")
        return real(conn, event, payload, crms=crms)

    monkeypatch.setattr(conversations, "record_event", flaky)
    writer = IngestWriter(database)
    bodies = [
        aircall_event(data={"id": i, "body": "STOP", "external_number": n, "media_details": []})
        for i, n in (("good", NUMBER), ("bad", OTHER))
    ]

    async def write_all() -> list[Any]:
        return await asyncio.gather(
            *(writer.write(aircall.parse_event(b), b, []) for b in bodies),
            return_exceptions=True,
        )

    results = run_async(write_all())
    writer.stop()

    assert [type(r).__name__ for r in results] == ["IngestResult", "RuntimeError"]
    assert state(database, NUMBER) is not None
    assert state(database, OTHER) is None
    with database.read() as conn:
        assert len(conn.execute(select(consent_changes)).all()) == 1
