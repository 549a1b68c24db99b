"""The CRM contact cache every process shares: entries expire, a batch is one query, and exactly
one worker, whichever process it runs in, may create the contact of a number."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from connector.core.model import CrmContact, CrmLinks
from connector.store.crm_cache import RESERVATION_TIMEOUT, SqlContactCache
from connector.store.db import Database
from tests.clocks import WallClock

TTL = timedelta(hours=3)
ADA = CrmContact(crm_object="contacts", crm_id="501")
BOB = CrmContact(crm_object="contacts", crm_id="502")


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def cache(database: Database, clock: WallClock) -> SqlContactCache:
    return SqlContactCache(database, ttl=TTL, clock=clock)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements run on the database inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_a_contact_is_served_until_the_expiry_then_read_from_the_crm_again(
    cache: SqlContactCache, clock: WallClock
) -> None:
    cache.put("hubspot", "+14155550100", ADA)

    clock.now += TTL - timedelta(seconds=1)
    assert cache.get_many("hubspot", ["+14155550100"]) == {"+14155550100": ADA}
    clock.now += timedelta(seconds=2)
    assert cache.get_many("hubspot", ["+14155550100"]) == {}


def test_the_contacts_of_a_whole_batch_are_read_in_one_query_and_written_in_one_transaction(
    cache: SqlContactCache, database: Database
) -> None:
    phones = [f"+1415555{i:04d}" for i in range(150)]
    with statements(database) as written:
        cache.put_many("hubspot", {p: ADA for p in phones})
    with statements(database) as read:
        found = cache.get_many("hubspot", [*phones, "+14155559999"])

    assert found == {p: ADA for p in phones}
    assert [s for s in read if s.lstrip().upper().startswith("SELECT")] == [read[-1]]
    assert sum(s.lstrip().upper().startswith("INSERT") for s in written) == 1


def test_a_refreshed_contact_replaces_the_old_one_and_counts_from_now(
    cache: SqlContactCache, clock: WallClock
) -> None:
    cache.put("hubspot", "+14155550100", ADA)
    clock.now += TTL - timedelta(minutes=1)
    cache.put_many("hubspot", {"+14155550100": BOB})
    clock.now += timedelta(minutes=30)

    assert cache.get_many("hubspot", ["+14155550100"]) == {"+14155550100": BOB}


def test_each_crm_keeps_its_own_contacts(cache: SqlContactCache) -> None:
    cache.put("hubspot", "+14155550100", ADA)

    assert cache.get_many("salesforce", ["+14155550100"]) == {}


def test_a_reserved_number_is_not_a_contact_and_cannot_be_reserved_twice(
    cache: SqlContactCache,
) -> None:
    assert cache.reserve("hubspot", "+14155550100") is True

    assert cache.reserve("hubspot", "+14155550100") is False
    assert cache.get_many("hubspot", ["+14155550100"]) == {}
    cache.put("hubspot", "+14155550100", ADA)  # the creator stores what it created
    assert cache.get_many("hubspot", ["+14155550100"]) == {"+14155550100": ADA}


def test_a_dead_workers_reservation_is_free_after_its_timeout(
    cache: SqlContactCache, clock: WallClock
) -> None:
    assert cache.reserve("hubspot", "+14155550100")
    clock.now += RESERVATION_TIMEOUT + timedelta(seconds=1)

    assert cache.reserve("hubspot", "+14155550100") is True


def test_an_expired_contact_does_not_stand_in_the_way_of_creating_it_again(
    cache: SqlContactCache, clock: WallClock
) -> None:
    cache.put("hubspot", "+14155550100", ADA)
    assert cache.reserve("hubspot", "+14155550100") is False  # fresh: it exists
    clock.now += TTL + timedelta(seconds=1)

    assert cache.reserve("hubspot", "+14155550100") is True


@pytest.mark.postgres
def test_of_many_processes_racing_for_a_number_exactly_one_reserves_it(
    postgres_database: Database,
) -> None:
    """Each racer has its own cache object and connections, as separate processes would."""
    racers = 8
    barrier = threading.Barrier(racers)
    won: list[bool] = []
    lock = threading.Lock()

    def race() -> None:
        mine = SqlContactCache(postgres_database)
        barrier.wait()
        result = mine.reserve("hubspot", "+14155550100")
        with lock:
            won.append(result)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(won) == [False] * (racers - 1) + [True]


def test_a_contacts_links_expire_and_can_be_forgotten(
    cache: SqlContactCache, clock: WallClock
) -> None:
    links = {
        "501": CrmLinks(company_id="9001", deal_ids=("7001", "7002")),
        "502": CrmLinks(),
    }
    cache.put_links("hubspot", links)

    assert cache.get_links("hubspot", ["501", "502", "503"]) == links
    cache.forget_links("hubspot", ["501"])
    assert cache.get_links("hubspot", ["501", "502"]) == {"502": CrmLinks()}
    clock.now += TTL + timedelta(seconds=1)
    assert cache.get_links("hubspot", ["502"]) == {}


def test_links_read_again_replace_the_old_ones(cache: SqlContactCache, clock: WallClock) -> None:
    cache.put_links("salesforce", {"003A": CrmLinks(company_id="001A")})
    clock.now += TTL - timedelta(minutes=1)
    cache.put_links("salesforce", {"003A": CrmLinks(company_id="001B")})
    clock.now += timedelta(minutes=30)

    assert cache.get_links("salesforce", ["003A"]) == {"003A": CrmLinks(company_id="001B")}


def test_an_expiry_of_zero_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="expiry"):
        SqlContactCache(database, ttl=timedelta(0))
