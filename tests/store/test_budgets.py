"""The stores that keep rate budgets shared by every process: SQLite, PostgreSQL and Redis.

Each test builds two stores on one backend, as two processes would, and checks that a budget's
step sees one state, changed atomically. The algorithms themselves are tested over the
in-memory store (tests/crm/test_hubspot_ratelimit.py, tests/providers/test_rate_limited_send.py).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.core.errors import Throttled
from connector.crm.ratelimit import RollingWindowBudget
from connector.crm.salesforce.limits import ApiBudget
from connector.providers.ratelimit import SendRate
from connector.store.budgets import BucketStore, BudgetExhausted, SqlBuckets, State
from connector.store.db import Database
from connector.store.redis_buckets import RedisBuckets
from connector.store.tables import rate_budgets
from tests.conftest import make_database

REDIS_URL = "redis://127.0.0.1:6379/0"

# Two stores on one backend: what two worker processes hold.
StorePair = tuple[BucketStore, BucketStore]


def _redis_pair() -> Iterator[StorePair]:
    """Two Redis stores under a key prefix of this test's own, deleted afterwards."""
    prefix = f"test-budgets:{uuid.uuid4().hex}:"
    first = RedisBuckets.from_url(REDIS_URL, prefix)
    second = RedisBuckets.from_url(REDIS_URL, prefix)
    try:
        first.client.ping()
    except Exception as exc:  # any failure to reach Redis means it is not here
        if os.environ.get("CI"):
            pytest.fail(f"CI must run Redis at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    yield first, second
    keys = list(first.client.scan_iter(match=f"{prefix}*"))
    if keys:
        first.client.delete(*keys)
    first.close()
    second.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def stores(request: pytest.FixtureRequest) -> Iterator[StorePair]:
    """Two stores sharing one backend (two `Database`s on one database for SQL)."""
    if request.param == "redis":
        yield from _redis_pair()
        return
    database: Database = request.getfixturevalue(f"{request.param}_database")
    other = Database(database.url)
    yield SqlBuckets(database), SqlBuckets(other)
    other.dispose()


def counter(state: State | None, _now: float) -> tuple[State, int]:
    count = (state or {}).get("count", 0) + 1
    return {"count": count}, count


def test_a_new_bucket_starts_empty_and_keeps_what_a_step_returns(stores: StorePair) -> None:
    first, second = stores

    assert first.read("fresh")[0] is None
    assert first.update("fresh", counter) == 1
    assert second.update("fresh", counter) == 2
    assert second.read("fresh")[0] == {"count": 2}


def test_buckets_are_kept_apart_by_name(stores: StorePair) -> None:
    first, _ = stores
    first.update("a", counter)

    assert first.update("b", counter) == 1


def test_concurrent_steps_from_two_stores_never_lose_an_update(stores: StorePair) -> None:
    threads = [
        threading.Thread(target=lambda s=store: [s.update("shared", counter) for _ in range(25)])
        for store in stores
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stores[0].read("shared")[0] == {"count": 150}


def test_the_clock_is_the_stores_and_moves_forward(stores: StorePair) -> None:
    first, second = stores

    _, before = first.read("clock")
    _, after = second.read("clock")

    assert before > 1_700_000_000  # epoch seconds: every process and host reads the same clock
    assert after >= before - 0.5


def test_a_step_that_changes_nothing_writes_nothing(sqlite_database: Database) -> None:
    store = SqlBuckets(sqlite_database, clock=lambda: 5.0)
    store.update("quiet", counter)
    with sqlite_database.read() as conn:
        written = conn.execute(select(rate_budgets.c.updated_at)).scalar_one()

    assert store.update("quiet", lambda state, _now: (state, None)) is None
    with sqlite_database.read() as conn:
        assert conn.execute(select(rate_budgets.c.updated_at)).scalar_one() == written


# ---- budgets over shared stores: what one process spends, the other cannot ------------------


def test_a_hubspot_window_spent_by_one_process_refuses_the_other(stores: StorePair) -> None:
    first, second = (RollingWindowBudget(3, 60.0, store=s, name="hubspot") for s in stores)
    for _ in range(3):
        with first.slot():
            pass

    with pytest.raises(BudgetExhausted) as refused:
        second.acquire(max_wait=0)

    assert refused.value.wait_seconds > 50
    assert second.remaining() == 0


def test_hubspot_headers_seen_by_one_process_slow_down_the_other(stores: StorePair) -> None:
    first, second = (RollingWindowBudget(100, 60.0, store=s, name="hubspot") for s in stores)
    with first.slot():
        first.observe({"X-HubSpot-RateLimit-Remaining": "2", "X-HubSpot-RateLimit-Max": "100"})

    assert second.remaining() == 2
    assert first.limit == second.limit == 100


def test_a_429_pause_in_one_process_holds_the_other(stores: StorePair) -> None:
    first, second = (RollingWindowBudget(100, 10.0, store=s, name="hubspot") for s in stores)

    first.pause_for(30)

    with pytest.raises(BudgetExhausted) as refused:
        second.acquire(max_wait=0)
    assert refused.value.wait_seconds > 25


def test_a_send_rate_is_one_queue_for_every_process(stores: StorePair) -> None:
    first, second = (SendRate(1, store=s, key="aircall") for s in stores)  # one a minute
    first.acquire()

    with pytest.raises(BudgetExhausted) as refused:
        second.acquire(max_wait=1)

    assert refused.value.wait_seconds > 55
    with pytest.raises(BudgetExhausted):
        first.acquire(max_wait=1)  # the refusal reserved nothing, the first slot still holds


def test_a_provider_429_in_one_process_pauses_sends_in_the_other(stores: StorePair) -> None:
    first, second = (SendRate(6000, store=s, key="cloudtalk") for s in stores)

    first.pause_for(120)

    with pytest.raises(BudgetExhausted) as refused:
        second.acquire(max_wait=5)
    assert refused.value.wait_seconds > 100


def test_salesforce_usage_seen_by_one_process_pauses_the_other(stores: StorePair) -> None:
    first, second = (ApiBudget(store=s, sleep=lambda _s: None) for s in stores)

    first.observe("api-usage=4800/5000")

    with pytest.raises(Throttled):
        second.before_call()
    assert second.usage is not None and second.usage.used == 4800


# ---- SQLite across real processes --------------------------------------------------------------


def _count_in_process(url: str, times: int) -> None:
    database = Database(url)
    store = SqlBuckets(database)
    for _ in range(times):
        store.update("processes", counter)
    database.dispose()


def test_sqlite_processes_share_one_bucket(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    make_database(url).dispose()
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_count_in_process, args=(url, 40)) for _ in range(2)]
    for child in children:
        child.start()
    _count_in_process(url, 40)
    for child in children:
        child.join(60)

    assert [child.exitcode for child in children] == [0, 0]
    database = Database(url)
    assert SqlBuckets(database).read("processes")[0] == {"count": 120}
    database.dispose()


@pytest.fixture
def redis_stores() -> Iterator[StorePair]:
    yield from _redis_pair()


def test_a_redis_step_runs_again_when_another_client_wrote_meanwhile(
    redis_stores: StorePair,
) -> None:
    first, second = redis_stores
    calls: list[int] = []

    def meddling(state: State | None, now: float) -> tuple[State, int]:
        calls.append(1)
        if len(calls) == 1:  # another client writes between our read and our write
            second.update("contested", counter)
        return counter(state, now)

    assert first.update("contested", meddling) == 2
    assert len(calls) == 2
    assert first.read("contested")[0] == {"count": 2}
