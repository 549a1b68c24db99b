"""Group commit of webhooks: many events per transaction, each answered by its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.providers import aircall
from connector.store import conversations
from connector.store.conversations import Outcome
from connector.store.db import Database
from connector.store.tables import events, messages
from connector.sync.ingest_writer import IngestWriter
from tests.aio import run_async
from tests.providers.factories import aircall_event


def event_of(message_id: str) -> tuple[Any, dict[str, Any]]:
    body = aircall_event(data={"id": message_id, "media_details": []})
    return aircall.parse_event(body), body


def count(database: Database, table: Any) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def write_all(writer: IngestWriter, ids: list[str]) -> list[Any]:
    pending = [writer.write(*event_of(message_id), ["hubspot"]) for message_id in ids]
    return await asyncio.gather(*pending, return_exceptions=True)


def test_concurrent_webhooks_are_each_kept_once(database: Database) -> None:
    writer = IngestWriter(database)

    results = run_async(write_all(writer, [f"m{i}" for i in range(50)] + ["m0"]))
    writer.stop()

    outcomes = [result.outcome for result in results]
    assert outcomes.count(Outcome.ACCEPTED) == 50
    assert outcomes.count(Outcome.DUPLICATE) == 1
    assert count(database, messages) == 50


def test_an_event_that_fails_to_write_does_not_sink_the_others(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = conversations.record_event

    def flaky(conn: Any, event: Any, payload: Any, *, crms: Any = ()) -> Any:
        if event.message.provider_message_id == "bad":
            raise RuntimeError("disk on fire")
        return real(conn, event, payload, crms=crms)

    monkeypatch.setattr(conversations, "record_event", flaky)
    writer = IngestWriter(database)

    results = run_async(write_all(writer, ["a", "bad", "b"]))
    writer.stop()

    assert [type(r).__name__ for r in results] == ["IngestResult", "RuntimeError", "IngestResult"]
    assert count(database, messages) == 2
    assert count(database, events) == 2
