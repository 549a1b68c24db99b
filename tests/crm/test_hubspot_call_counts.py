"""What a sync under load costs in HubSpot calls: 300 messages over 30 contacts (10 of them
unknown, so created), company and open-deal associations on, written in batches of 100 the
way the sync hands them over, by one worker process and then by a second one that shares
only the database.

The figures are the ones the README's performance section quotes; a change that makes the
adapter read contacts or associations one by one again fails here.
"""

from __future__ import annotations

from collections import Counter

import pytest

from connector.crm.base import Associations, RecordWrite
from connector.crm.hubspot import HubSpotAdapter
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.hubspot_kit import COMMS, CONTACTS, KEY_FIELD, fresh, make_adapter, sms
from tests.fakes.hubspot import FakeHubSpot

NUMBERS = 30
UNKNOWN = 10
MESSAGES = 300
BATCH = 100
LINKED = Associations(company=True, open_deals=True)
SEARCH = f"{CONTACTS}/search"
KEY_PROPERTY = f"/crm/v3/properties/communications/{KEY_FIELD}"


def number(i: int) -> str:
    return f"+1415555{i:04d}"


@pytest.fixture
def hs(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    """30 numbers: the first 20 are contacts, each with a company and an open deal."""
    hs = fresh(hubspot_server)
    for i in range(NUMBERS - UNKNOWN):
        contact = hs.add_contact({"phone": f"({number(i)[2:5]}) {number(i)[5:8]}-{number(i)[8:]}"})
        company = hs.add_company({"name": f"Company {i}"})
        deal = hs.add_deal({"dealname": f"Deal {i}", "dealstage": "contractsent"})
        hs.associate("contacts", contact, "companies", company, type_id=1)
        hs.associate("contacts", contact, "deals", deal)
    return hs


def traffic(start: int) -> list[RecordWrite]:
    """300 messages, each contact's ten spread over the three batches."""
    return [
        sms(f"message {start + i}", contact_phone=number(i % NUMBERS), associations=LINKED)
        for i in range(MESSAGES)
    ]


def endpoints(hs: FakeHubSpot) -> Counter[str]:
    """`METHOD path` of every request, ids folded, so a per-contact read shows as a count."""
    seen: Counter[str] = Counter()
    for call in hs.calls:
        parts = ["{id}" if p.isdigit() else p for p in call.path.split("/")]
        seen[f"{call.method} {'/'.join(parts)}"] += 1
    return seen


def sync(adapter: HubSpotAdapter, records: list[RecordWrite]) -> None:
    for start in range(0, len(records), BATCH):
        results = adapter.write(records[start : start + BATCH])
        assert all(r.error is None and r.crm_id for r in results), [
            r.error for r in results if r.error
        ]


def test_a_sync_under_load_costs_a_few_batch_calls_per_hundred_messages(
    hs: FakeHubSpot, sqlite_database: Database
) -> None:
    first = make_adapter(hs, SqlContactCache(sqlite_database))
    sync(first, traffic(0))
    first.close()
    by_first = endpoints(hs)
    hs.reset_calls()

    second = make_adapter(hs, SqlContactCache(sqlite_database))  # another process
    sync(second, traffic(MESSAGES))
    second.close()
    by_second = endpoints(hs)

    assert len(hs.communications) == 2 * MESSAGES
    assert len(hs.contacts) == NUMBERS  # the 10 unknown numbers were created once
    assert by_first == {
        f"POST {SEARCH}": 2,  # 30 numbers in all their spellings: two searches
        f"POST {CONTACTS}/batch/create": 1,  # the 10 unknown numbers
        "POST /crm/v4/associations/contacts/companies/batch/read": 1,
        "POST /crm/v4/associations/contacts/deals/batch/read": 1,
        "POST /crm/v3/objects/deals/batch/read": 1,  # which of their deals are open
        f"GET {KEY_PROPERTY}": 1,  # is the key property unique? (asked once per process)
        f"POST {COMMS}/batch/create": 3,  # one per 100 messages
    }
    assert by_second == {f"GET {KEY_PROPERTY}": 1, f"POST {COMMS}/batch/create": 3}


def test_every_record_is_linked_to_its_contacts_primary_company_and_open_deal(
    hs: FakeHubSpot, sqlite_database: Database
) -> None:
    adapter = make_adapter(hs, SqlContactCache(sqlite_database))
    records = traffic(0)[:BATCH]
    results = adapter.write(records)
    adapter.close()

    for record, result in zip(records, results, strict=True):
        assert result.crm_id is not None and result.contact_id is not None
        linked = {t for t, _, _ in hs.associations("communications", result.crm_id)}
        known = int(record.contact_phone[-4:]) < NUMBERS - UNKNOWN
        assert linked == ({"contacts", "companies", "deals"} if known else {"contacts"})
