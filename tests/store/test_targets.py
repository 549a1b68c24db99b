"""Pauses: one upsert per target, so workers pausing the same target at once never collide."""

from __future__ import annotations

import threading

import pytest

from connector.store import queue
from connector.store.db import Database
from connector.store.queue import PauseCause
from connector.store.targets import paused_by


def test_a_pause_replaces_the_previous_one_of_its_target(database: Database) -> None:
    with database.begin() as conn:
        queue.pause_target(conn, "hubspot", until=None, reason="401", cause=PauseCause.CREDENTIALS)
        queue.pause_target(conn, "hubspot", until=None, reason="limit", cause=PauseCause.THROTTLED)

    with database.read() as conn:
        assert queue.paused_targets(conn) == {"hubspot": "limit"}
        assert paused_by(conn, PauseCause.CREDENTIALS) == []
        assert paused_by(conn, PauseCause.THROTTLED) == ["hubspot"]


def test_resuming_by_cause_leaves_a_pause_of_another_cause(database: Database) -> None:
    with database.begin() as conn:
        queue.pause_target(conn, "hubspot", until=None, reason="limit", cause=PauseCause.THROTTLED)

    with database.begin() as conn:
        assert queue.resume_target(conn, "hubspot", cause=PauseCause.CREDENTIALS) is False
        assert queue.paused_targets(conn) == {"hubspot": "limit"}
        assert queue.resume_target(conn, "hubspot") is True
        assert queue.paused_targets(conn) == {}
        assert queue.resume_target(conn, "hubspot") is False


@pytest.mark.postgres
def test_two_workers_pausing_the_same_target_at_once_both_succeed(
    postgres_database: Database,
) -> None:
    errors: list[BaseException] = []
    both_inside = threading.Barrier(2)

    def pause(reason: str) -> None:
        try:
            with postgres_database.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                both_inside.wait(5)  # both transactions are open before either writes
                queue.pause_target(conn, "salesforce", until=None, reason=reason)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pause, args=(reason,)) for reason in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    with postgres_database.read() as conn:
        assert queue.paused_targets(conn)["salesforce"] in {"a", "b"}
