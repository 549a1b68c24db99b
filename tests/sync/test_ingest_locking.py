"""Group commits under contention: batches touching the same threads in opposite orders.

Two writer transactions that upsert the same `threads` rows in different orders wait on each
other; PostgreSQL breaks the cycle by failing one of them. Neither may cost a webhook its 2xx:
each batch takes its locks in one order, and a batch that still loses a deadlock (or a
serialization failure, or SQLite's "database is locked") is written again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from connector.providers import aircall
from connector.store import conversations
from connector.store.conversations import IngestResult, Outcome
from connector.store.db import Database
from connector.store.tables import events, jobs, messages, threads
from connector.sync.ingest_writer import MAX_BATCH, IngestWriter
from tests.aio import run_async
from tests.providers.factories import aircall_event

THREADS = 12
ROUNDS = 2
WRITERS = 4


def event_touching(thread: int, message_id: str) -> tuple[Any, dict[str, Any]]:
    body = aircall_event(
        data={"id": message_id, "media_details": [], "external_number": f"+1415555{thread:04d}"}
    )
    return aircall.parse_event(body), body


def crossing_batches(round_: int) -> list[tuple[Any, dict[str, Any]]]:
    """WRITERS batches of MAX_BATCH events; odd batches walk the threads backwards."""
    events_: list[tuple[Any, dict[str, Any]]] = []
    for batch in range(WRITERS):
        for index in range(MAX_BATCH):
            thread = index % THREADS
            if batch % 2:
                thread = THREADS - 1 - thread
            events_.append(event_touching(thread, f"r{round_}-b{batch}-{index}"))
    return events_


async def post_rounds(writer: IngestWriter) -> list[Any]:
    results: list[Any] = []
    for round_ in range(ROUNDS):
        pending = [
            writer.write(event, body, ["hubspot"]) for event, body in crossing_batches(round_)
        ]
        results += await asyncio.gather(*pending, return_exceptions=True)
    return results


def count(database: Database, table: Any) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def quick_deadlocks(postgres_database: Database) -> Iterator[Database]:
    """The same schema, on connections that detect a deadlock in 50 ms instead of 1 s."""
    database = Database(
        postgres_database.url.replace("options=", "options=-cdeadlock_timeout%3D50%20")
    )
    yield database
    database.dispose()


@pytest.mark.postgres
def test_batches_crossing_the_same_threads_never_fail_a_webhook(
    postgres_database: Database, quick_deadlocks: Database
) -> None:
    writer = IngestWriter(quick_deadlocks, threads=WRITERS)

    results = run_async(post_rounds(writer))
    writer.stop()

    failures = [r for r in results if not isinstance(r, IngestResult)]
    assert failures == []
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    total = ROUNDS * WRITERS * MAX_BATCH
    assert count(postgres_database, events) == total
    assert count(postgres_database, messages) == total
    assert count(postgres_database, jobs) == total
    assert count(postgres_database, threads) == THREADS


class _LostRace(Exception):
    """What psycopg raises for a deadlock victim: only its SQLSTATE matters here."""

    sqlstate = "40P01"


@pytest.mark.parametrize(
    "lost_race",
    [
        OperationalError("INSERT INTO threads ...", {}, _LostRace("deadlock detected")),
        OperationalError(
            "INSERT INTO threads ...", {}, sqlite3.OperationalError("database is locked")
        ),
    ],
    ids=["deadlock", "database-is-locked"],
)
def test_a_batch_that_loses_a_race_is_written_again_without_failing_a_webhook(
    database: Database, monkeypatch: pytest.MonkeyPatch, lost_race: OperationalError
) -> None:
    real = conversations.record_events
    calls = 0

    def loses_once(conn: Any, batch: Any) -> Any:
        nonlocal calls
        calls += 1
        results = real(conn, batch)  # written, then rolled back by the failure below
        if calls == 1:
            raise lost_race
        return results

    monkeypatch.setattr(conversations, "record_events", loses_once)
    writer = IngestWriter(database, threads=1)

    async def post() -> list[IngestResult]:
        pending = [writer.write(*event_touching(i % 3, f"m{i}"), ["hubspot"]) for i in range(10)]
        return await asyncio.gather(*pending)

    results = run_async(post())
    writer.stop()

    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    assert calls == 2  # lost once, then written again whole (not event by event)
    assert count(database, messages) == 10
    assert count(database, jobs) == 10


def test_a_real_error_is_not_retried_as_a_lost_race(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    def broken(conn: Any, batch: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("no such table: threads"))

    monkeypatch.setattr(conversations, "record_events", broken)
    writer = IngestWriter(database, threads=1)

    results = run_async(writer.write(*event_touching(1, "m1"), ["hubspot"]))
    writer.stop()

    assert calls == 1
    assert results.outcome is Outcome.ACCEPTED  # written apart, event by event
