"""A contact's company and open deals: read in association batches, kept in the database for
every process until the expiry, and read again when HubSpot says one of them is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.errors import Transient
from connector.crm.base import Associations, RecordWrite
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.clocks import WallClock
from tests.crm.factories import NUMBER
from tests.crm.hubspot_kit import make_adapter, sms
from tests.fakes.hubspot import FakeHubSpot

TTL = timedelta(hours=3)
COMPANIES = "/crm/v4/associations/contacts/companies/batch/read"
DEALS = "/crm/v4/associations/contacts/deals/batch/read"


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def cache(database: Database, clock: WallClock) -> SqlContactCache:
    return SqlContactCache(database, ttl=TTL, clock=clock)


@pytest.fixture
def ada(hs: FakeHubSpot) -> tuple[str, str, str]:
    """A contact with a primary company and one open deal: (contact, company, deal)."""
    contact = hs.add_contact({"phone": NUMBER})
    company = hs.add_company({"name": "Acme"})
    deal = hs.add_deal({"dealname": "Renewal", "dealstage": "contractsent"})
    hs.associate("contacts", contact, "companies", company, type_id=1)
    hs.associate("contacts", contact, "deals", deal)
    return contact, company, deal


def linked() -> RecordWrite:
    return sms(associations=Associations(company=True, open_deals=True))


def link_reads(hs: FakeHubSpot) -> int:
    return hs.count("POST", COMPANIES) + hs.count("POST", DEALS)


def test_every_process_uses_the_links_one_of_them_read_until_they_expire(
    hs: FakeHubSpot, cache: SqlContactCache, clock: WallClock, ada: tuple[str, str, str]
) -> None:
    make_adapter(hs, cache).write([linked()])
    assert link_reads(hs) == 2

    second = make_adapter(hs, cache)  # another process: it shares only the database
    clock.now += TTL - timedelta(minutes=1)
    [still] = second.write([linked()])
    assert link_reads(hs) == 2
    clock.now += timedelta(minutes=2)
    [expired] = second.write([linked()])

    assert link_reads(hs) == 4
    for result in (still, expired):
        assert result.crm_id is not None
        assert {t for t, _, _ in hs.associations("communications", result.crm_id)} == {
            "contacts",
            "companies",
            "deals",
        }


def test_a_deal_deleted_since_it_was_cached_is_dropped_after_one_retry(
    hs: FakeHubSpot, cache: SqlContactCache, ada: tuple[str, str, str]
) -> None:
    contact, company, deal = ada
    adapter = make_adapter(hs, cache)
    adapter.write([linked()])
    hs.client().crm.deals.basic_api.archive(deal)

    refused, other = adapter.write([linked(), sms()])
    [retried] = adapter.write([linked()])

    assert isinstance(refused.error, Transient)
    assert "read again" in refused.error.reason
    assert other.error is None  # the record without the deal was not held back
    assert retried.crm_id is not None
    assert hs.associations("communications", retried.crm_id) == sorted(
        [("contacts", contact, 81), ("companies", company, 87)]
    )


def test_closed_deals_are_not_linked(
    hs: FakeHubSpot, cache: SqlContactCache, ada: tuple[str, str, str]
) -> None:
    contact, company, deal = ada
    won = hs.add_deal({"dealname": "Won", "dealstage": "closedwon"})
    hs.associate("contacts", contact, "deals", won)

    [result] = make_adapter(hs, cache).write([linked()])

    assert result.crm_id is not None
    assert hs.associated_ids("communications", result.crm_id, "companies") == [company]
    assert hs.associated_ids("communications", result.crm_id, "deals") == [deal]
