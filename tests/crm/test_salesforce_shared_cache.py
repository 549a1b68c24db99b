"""Salesforce under load: what one process read is not read again by another (the contact of a
number, a Contact's AccountId, from the shared database cache), and a duplicate refusal of a
record the connector made is never a failed job. Real simple-salesforce against the fake."""

from __future__ import annotations

from connector.core.errors import Transient
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.salesforce_kit import (
    KEY,
    NUMBER,
    add_contact,
    add_lead,
    api_calls,
    make_adapter,
    related_to_account,
    task,
    task_by_key,
    tasks,
)
from tests.fakes.salesforce import FakeSalesforce

QUERY = r"/query/$"
SEARCH = r"/search/$"
CREATE = r"/composite/sobjects$"


def test_another_process_reads_neither_the_contact_nor_its_account_again(
    fake: FakeSalesforce, database: Database
) -> None:
    account = fake.add_record("Account", {"Name": "Acme"})
    numbers = [f"+1415555010{i}" for i in range(5)]
    for n in numbers:
        add_contact(fake, f"({n[2:5]}) {n[5:8]}-{n[8:]}", AccountId=account)
    first = make_adapter(fake, SqlContactCache(database))
    first.write([task(n, associations=related_to_account()) for n in numbers])
    first.close()
    assert (api_calls(fake, "GET", SEARCH), api_calls(fake, "GET", QUERY)) == (1, 1)
    fake.clear_requests()

    second = make_adapter(fake, SqlContactCache(database))  # a process of its own
    records = [task(n, associations=related_to_account()) for n in numbers]
    results = second.write(records)
    second.close()

    assert all(r.error is None for r in results)
    assert [task_by_key(fake, r.key)["WhatId"] for r in records] == [account] * 5
    assert api_calls(fake) == 1  # the one collections upsert: no search, no query


def test_a_lead_refused_as_a_duplicate_is_the_record_salesforce_names(
    fake: FakeSalesforce, database: Database
) -> None:
    existing = add_lead(fake, "+1 650 555 0199")  # its number is not the one searched
    fake.fail_records(
        "Lead",
        {"Phone": NUMBER},
        "DUPLICATE_VALUE",
        f"duplicate value found: Mobile_E164__c duplicates value on record with id: {existing}",
        fields=["Mobile_E164__c"],
    )
    adapter = make_adapter(fake, SqlContactCache(database))

    [result] = adapter.write([task()])
    [again] = adapter.write([task()])

    assert result.error is None
    assert result.contact_id == existing
    assert task_by_key(fake, result.key)["WhoId"] == existing
    assert list(fake.records("Lead")) == [existing]  # nothing created
    assert again.contact_id == existing
    assert api_calls(fake, "POST", CREATE) == 1  # remembered: not refused a second time


def test_a_duplicate_refusal_that_names_no_record_is_retried_never_failed(
    fake: FakeSalesforce, database: Database
) -> None:
    fake.fail_records(
        "Lead", {"Phone": NUMBER}, "DUPLICATES_DETECTED", "Use one of these records?", times=1
    )
    adapter = make_adapter(fake, SqlContactCache(database))

    [refused] = adapter.write([task()])
    [later] = adapter.write([task()])

    assert isinstance(refused.error, Transient)
    assert "DUPLICATES_DETECTED" in refused.error.reason
    assert tasks(fake) != [] and later.error is None
    assert len(fake.records("Lead")) == 1


def test_an_upsert_colliding_with_another_upsert_of_the_same_key_updates_the_record(
    fake: FakeSalesforce, database: Database
) -> None:
    add_contact(fake, "(415) 555-0100")
    adapter = make_adapter(fake, SqlContactCache(database))
    record = task()
    # Two workers upserting a new key at once: Salesforce inserts for one, refuses the other.
    fake.fail_records(
        "Task",
        {KEY: record.key},
        "DUPLICATE_VALUE",
        f"duplicate value found: {KEY} duplicates value on record with id: 00T000000000001AAA",
        fields=[KEY],
        times=1,
    )

    [result] = adapter.write([record])

    assert result.error is None and result.crm_id
    assert len(tasks(fake)) == 1
    assert api_calls(fake, "PATCH") == 2  # the refused upsert, then the update
