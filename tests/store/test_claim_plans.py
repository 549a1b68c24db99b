"""Claims read the first rows of small partial indexes: never the backlog, never a sort of it.

The plans are asked of the database itself (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN)
for the very statements a worker runs, over a queue with a backlog and a long history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event, text, update

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import JobState
from connector.store.tables import jobs

LEASE = timedelta(seconds=60)
BACKLOG = 3_000


def fill(database: Database) -> None:
    """History (done jobs) first, then a backlog of ten jobs per conversation."""
    rows = [
        {"kind": "sync_crm", "target": "hubspot", "subject": i, "ordering_key": f"t:{i % 300}"}
        for i in range(BACKLOG)
    ]
    with database.begin() as conn:
        queue.enqueue_many(conn, rows)
        conn.execute(update(jobs).values(state=JobState.DONE.value))
        queue.enqueue_many(conn, rows)
    if database.is_postgres:
        with database.begin() as conn:
            conn.execute(text("ANALYZE jobs"))


def claim_statements(database: Database) -> list[tuple[str, Any]]:
    """Every statement of one batch claim (`claim` + `claim_more`), with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.engine.connect() as conn:
            transaction = conn.begin()
            first = queue.claim(
                conn, "w1", LEASE, kinds=["sync_crm"], skip_locked=database.is_postgres
            )
            assert first is not None
            more = queue.claim_more(
                conn, first, "w1", LEASE, limit=99, skip_locked=database.is_postgres
            )
            assert len(more) == 99
            transaction.rollback()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    return [(sql, params) for sql, params in seen if sql.lstrip().startswith(("SELECT", "UPDATE"))]


def plan(conn: Connection, statement: str, parameters: Any) -> str:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(row[3] for row in rows)
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))


def plans(database: Database) -> dict[str, str]:
    statements = claim_statements(database)
    with database.engine.connect() as conn:
        return {sql: plan(conn, sql, params) for sql, params in statements}


def test_sqlite_claims_read_the_heads_and_leases_indexes_and_sort_nothing_of_the_backlog(
    sqlite_database: Database,
) -> None:
    fill(sqlite_database)

    found = plans(sqlite_database)

    every = "\n".join(found.values())
    assert "ix_jobs_heads" in every and "ix_jobs_leases" in every
    for sql, steps in found.items():
        lines = steps.splitlines()
        # No step reads the jobs table whole: every access to it goes through a key or index.
        assert not [line for line in lines if line.startswith("SCAN jobs") and "INDEX" not in line]
        if "jobs.head = 1" in sql:
            assert "SCAN jobs USING INDEX ix_jobs_heads" in lines, steps
            assert not any("TEMP B-TREE" in line for line in lines), steps


@pytest.mark.postgres
def test_postgresql_claims_read_the_heads_and_leases_indexes_and_sort_nothing_of_the_backlog(
    postgres_database: Database,
) -> None:
    fill(postgres_database)

    found = plans(postgres_database)

    every = "\n".join(found.values())
    assert "ix_jobs_heads" in every and "ix_jobs_leases" in every
    for sql, steps in found.items():
        assert "Seq Scan on jobs" not in steps, steps
        if "jobs.head = true" in sql:
            assert "Index Scan using ix_jobs_heads" in steps, steps
            assert "Sort" not in steps, steps


def test_readiness_counts_read_only_the_partial_indexes_of_live_jobs(
    sqlite_database: Database,
) -> None:
    fill(sqlite_database)
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(sqlite_database.engine, "before_cursor_execute", record)
    try:
        with sqlite_database.read() as conn:
            assert queue.live_counts(conn) == {"queued": BACKLOG}
    finally:
        event.remove(sqlite_database.engine, "before_cursor_execute", record)

    with sqlite_database.read() as conn:
        steps = [plan(conn, sql, params) for sql, params in seen if "FROM jobs" in sql]
    assert len(steps) == 3
    for index, found in zip(
        ["ix_jobs_queued", "ix_jobs_leases", "ix_jobs_dead"], steps, strict=True
    ):
        assert f"USING COVERING INDEX {index}" in found or f"USING INDEX {index}" in found, found
