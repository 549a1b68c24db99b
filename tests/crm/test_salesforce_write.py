"""What `SalesforceAdapter.write` does with the sync's records: who each Task belongs to, what it
holds, how retries stay idempotent, how records are batched and how one record's failure is
reported without failing the others. Real simple-salesforce against `FakeSalesforce`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.core.errors import Permanent, Transient
from connector.core.model import CrmContact
from connector.core.phone import mask
from connector.crm.base import Associations
from connector.crm.salesforce import SalesforceAdapter
from connector.crm.salesforce.matching import MAX_FIND_CHARS, escape_sosl, pick
from connector.store.crm_records import SqlContactCache
from tests.crm.salesforce_kit import (
    CONTACT_THEN_LEAD,
    KEY,
    NUMBER,
    add_contact,
    add_lead,
    api_calls,
    day_task,
    make_adapter,
    origin,
    related_to_account,
    rule,
    task,
    task_by_key,
    tasks,
)
from tests.fakes.salesforce import ERR_UNABLE_TO_LOCK_ROW, FakeSalesforce, to_18

UPSERT = rf"/composite/sobjects/Task/{KEY}$"
SEARCH = r"/search/$"


def search_texts(fake: FakeSalesforce) -> list[str]:
    return [r.query["q"] for r in fake.requests if r.path.endswith("/search/")]


# --- who: phone matching -------------------------------------------------------------------------


def test_numbers_stored_in_any_format_match_their_e164_form(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    parenthesised = add_contact(fake, "(415) 555-0100")
    dotted_mobile = add_contact(fake, "555", MobilePhone="+1 415.555.0101")
    dashed = add_contact(fake, "415-555-0102")
    records = [task("+14155550100"), task("+14155550101"), task("+14155550102")]

    results = salesforce.write(records)

    assert [r.contact_id for r in results] == [parenthesised, dotted_mobile, dashed]
    assert [task_by_key(fake, r.key)["WhoId"] for r in records] == [
        parenthesised,
        dotted_mobile,
        dashed,
    ]
    (sosl,) = search_texts(fake)  # one search for the three numbers
    assert "\\+14155550100" in sosl  # '+' is reserved in SOSL: escaped
    assert " 4155550100 " in sosl  # the national digits find '(415) 555-0100'
    assert "IN PHONE FIELDS" in sosl


def test_a_search_hit_whose_number_differs_is_not_taken(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "+44 20 4155 550100")  # ends with the same digits, another number
    (result,) = salesforce.write([task(NUMBER, contact_rule=rule(on_no_match="unassociated"))])
    assert result.contact_id is None
    assert (
        "WhoId" not in task_by_key(fake, result.key) or not task_by_key(fake, result.key)["WhoId"]
    )


def test_a_contact_is_chosen_before_a_lead_with_the_same_number(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_lead(fake, "4155550100")
    contact = add_contact(fake, "+1 (415) 555-0100")
    (result,) = salesforce.write([task()])
    assert result.contact_id == contact


def test_among_several_matches_the_most_recently_modified_wins_then_the_smallest_id() -> None:
    def row(sobject: str, rid: str, modified: str) -> dict[str, object]:
        return {
            "attributes": {"type": sobject},
            "Id": rid,
            "LastModifiedDate": modified,
            "Phone": "(415) 555-0100",
        }

    rows = [
        row("Lead", "00Q000000000001AAA", "2025-06-01T00:00:00.000+0000"),
        row("Contact", "003000000000002AAA", "2024-01-01T00:00:00.000+0000"),
        row("Contact", "003000000000003AAA", "2025-01-01T00:00:00.000+0000"),
        row("Contact", "003000000000001AAA", "2025-01-01T00:00:00.000+0000"),
    ]
    assert pick(NUMBER, CONTACT_THEN_LEAD, rows) == CrmContact(
        crm_object="Contact", crm_id="003000000000001AAA"
    )
    leads_first = rule(objects=("Lead", "Contact"))
    assert pick(NUMBER, leads_first, rows) == CrmContact(
        crm_object="Lead", crm_id="00Q000000000001AAA"
    )


def test_a_known_number_costs_no_search_even_in_a_new_process(
    fake: FakeSalesforce, cache: SqlContactCache, salesforce: SalesforceAdapter
) -> None:
    contact = add_contact(fake, "(415) 555-0100")
    salesforce.write([task()])
    salesforce.write([task()])
    restarted = make_adapter(fake, cache)  # same database, new salesforce
    (result,) = restarted.write([task()])
    assert result.contact_id == contact
    assert api_calls(fake, "GET", SEARCH) == 1


def test_the_unknown_numbers_of_a_batch_share_one_search(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(50)]
    for number in numbers:
        add_contact(fake, f"(415) 555-{number[-4:]}")
    results = salesforce.write([task(number) for number in numbers])
    assert all(r.contact_id for r in results)
    assert api_calls(fake, "GET", SEARCH) == 1


def test_a_search_never_exceeds_the_length_at_which_salesforce_drops_or(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(200)]
    salesforce.write([task(n, contact_rule=rule(on_no_match="unassociated")) for n in numbers])
    texts = search_texts(fake)
    assert len(texts) > 1
    for text in texts:
        find = text[text.index("{") + 1 : text.index("}")]
        assert len(find) <= MAX_FIND_CHARS


def test_sosl_reserved_characters_are_escaped() -> None:
    assert escape_sosl("+1-415 (555) {x}") == "\\+1\\-415 \\(555\\) \\{x\\}"


# --- who: no match -------------------------------------------------------------------------------


def test_an_unknown_number_becomes_a_lead_once(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    (first,) = salesforce.write([task(owner_id=fake.user_id)])
    (lead_id,) = fake.records("Lead")
    lead = fake.record("Lead", lead_id)
    assert lead is not None
    assert (lead["Phone"], lead["Company"], lead["OwnerId"]) == (NUMBER, "From MMS", fake.user_id)
    assert lead["LastName"] == "+1 415-555-0100"
    assert first.contact_id == lead_id
    assert task_by_key(fake, first.key)["WhoId"] == lead_id

    (second,) = salesforce.write([task()])
    assert second.contact_id == lead_id
    assert len(fake.records("Lead")) == 1
    assert api_calls(fake, "GET", SEARCH) == 1


def test_a_contact_can_be_created_instead_of_a_lead(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    contacts = rule(create_object="Contact", create_fields={"LastName": "MMS"})
    (result,) = salesforce.write([task(contact_rule=contacts)])
    (contact_id,) = fake.records("Contact")
    assert result.contact_id == contact_id
    assert fake.record("Contact", contact_id)["Phone"] == NUMBER  # type: ignore[index]


def test_a_number_another_worker_is_creating_waits_and_creates_nothing(
    fake: FakeSalesforce, cache: SqlContactCache, salesforce: SalesforceAdapter
) -> None:
    assert cache.reserve("salesforce", NUMBER)  # the other worker
    (result,) = salesforce.write([task()])
    assert isinstance(result.error, Transient)
    assert "another worker" in result.error.reason
    assert fake.records("Lead") == {}
    assert tasks(fake) == []


def test_two_workers_meeting_the_same_new_number_create_one_lead(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    fake.latency = 0.05  # so the two writes overlap
    workers = [make_adapter(fake, cache), make_adapter(fake, cache)]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda adapter: adapter.write([task()])[0], workers))
    assert len(fake.records("Lead")) == 1
    assert all(o.crm_id or isinstance(o.error, Transient) for o in outcomes)
    later = workers[1].write([task()])[0]  # the waiting one finds it cached on its retry
    assert later.contact_id == next(iter(fake.records("Lead")))


def test_a_lead_whose_creation_answer_was_lost_is_found_not_created_again(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache, timeout=(5, 0.3))
    fake.inject_delay("POST", r"/composite/sobjects$", seconds=1.0)  # created, answer withheld
    with pytest.raises(Transient):
        adapter.write([task()])
    assert len(fake.records("Lead")) == 1
    # The search index may lag behind a new record: the exact SOQL lookup finds it.
    fake.inject("GET", SEARCH, 200, {"searchRecords": []})
    (result,) = adapter.write([task()])
    assert result.crm_id
    assert len(fake.records("Lead")) == 1
    assert result.contact_id == next(iter(fake.records("Lead")))


def test_skip_rule_writes_nothing_and_says_why(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    (result,) = salesforce.write([task(contact_rule=rule(on_no_match="skip"))])
    assert result.skipped and mask(NUMBER) in result.skipped and NUMBER not in result.skipped
    assert (result.crm_id, result.error, tasks(fake)) == (None, None, [])


def test_unassociated_rule_writes_the_task_alone_and_remembers_the_miss_for_a_while(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    alone = rule(on_no_match="unassociated")
    (result,) = salesforce.write([task(contact_rule=alone)])
    assert result.crm_id and result.contact_id is None
    assert task_by_key(fake, result.key).get("WhoId") is None
    salesforce.write([task(contact_rule=alone)])
    assert api_calls(fake, "GET", SEARCH) == 1
    assert fake.records("Lead") == {}


def test_a_contact_deleted_since_it_was_cached_is_looked_up_again(
    fake: FakeSalesforce, cache: SqlContactCache, salesforce: SalesforceAdapter
) -> None:
    gone = to_18("003000000000009")
    cache.put("salesforce", NUMBER, CrmContact(crm_object="Contact", crm_id=gone))
    contact = add_contact(fake, "(415) 555-0100")
    (first,) = salesforce.write([task()])
    assert isinstance(first.error, Transient)
    (second,) = salesforce.write([task()])
    assert (second.error, second.contact_id) == (None, contact)


# --- what: the Task ------------------------------------------------------------------------------


def test_each_message_is_a_completed_task_on_its_contact_in_one_call(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    contact = add_contact(fake, "(415) 555-0100")
    records = [task(owner_id=fake.user_id) for _ in range(3)]
    results = salesforce.write(records)
    assert [r.key for r in results] == [r.key for r in records]
    assert all(r.crm_object == "Task" and r.contact_id == contact for r in results)
    stored = task_by_key(fake, records[0].key)
    assert stored["Id"] == results[0].crm_id
    assert (stored["Status"], stored["TaskSubtype"], stored["WhoId"]) == (
        "Completed",
        "Task",
        contact,
    )
    assert (stored["Subject"], stored["ActivityDate"]) == ("MMS received", "2025-05-01")
    assert stored["MMS_Thread_Key__c"] == records[0].thread_key
    assert stored["OwnerId"] == fake.user_id
    assert len(tasks(fake)) == 3
    assert api_calls(fake, "PATCH", UPSERT) == 1


def test_conversation_day_records_update_one_task_per_thread_and_day(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    (first,) = salesforce.write([day_task(fields={"Subject": "MMS", "Description": "one"})])
    (second,) = salesforce.write(
        [
            day_task(
                fields={"Subject": "MMS", "Description": "one\ntwo", "TaskSubtype": "Task"},
                existing_id=first.crm_id,
            )
        ]
    )
    (other_day,) = salesforce.write([day_task(day="2025-05-02")])
    assert second.crm_id == first.crm_id != other_day.crm_id
    assert len(tasks(fake)) == 2
    assert fake.record("Task", first.crm_id)["Description"] == "one\ntwo"  # type: ignore[arg-type,index]


def test_an_outbound_status_update_rewrites_the_same_task_without_create_only_fields(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    sent = task(owner_id=fake.user_id, fields={"Subject": "MMS sent", "Description": "Sent"})
    (created,) = salesforce.write([sent])
    delivered = task(
        key=sent.key,
        owner_id=fake.user_id,
        existing_id=created.crm_id,
        fields={"Subject": "MMS sent", "Description": "Delivered", "TaskSubtype": "Task"},
    )
    (updated,) = salesforce.write([delivered])
    assert updated.crm_id == created.crm_id
    assert task_by_key(fake, sent.key)["Description"] == "Delivered"
    last_upsert = [r for r in fake.requests if r.method == "PATCH"][-1]
    (body,) = last_upsert.json["records"]
    assert "TaskSubtype" not in body and "OwnerId" not in body
    assert len(tasks(fake)) == 1


def test_related_to_the_contacts_account_with_one_query_and_never_beside_a_lead(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    account = fake.add_record("Account", {"Name": "Acme"})
    add_contact(fake, "(415) 555-0100", AccountId=account)
    add_contact(fake, "(415) 555-0101")  # no account
    add_lead(fake, "(415) 555-0102")
    records = [
        task(n, associations=related_to_account())
        for n in ("+14155550100", "+14155550101", "+14155550102")
    ]
    salesforce.write(records)
    salesforce.write([task("+14155550100", associations=related_to_account())])
    assert [task_by_key(fake, r.key).get("WhatId") for r in records] == [account, None, None]
    assert api_calls(fake, "GET", r"/query/$") == 1


def test_a_fixed_related_record_is_set_as_what_id(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    deal = fake.add_record("Opportunity", {"Name": "Big deal"})
    (result,) = salesforce.write([task(associations=Associations(what_id=deal))])
    assert task_by_key(fake, result.key)["WhatId"] == deal


def test_a_message_sent_from_a_record_is_logged_on_that_record(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    lead = add_lead(fake, "somewhere else")
    deal = fake.add_record("Opportunity", {"Name": "Big deal"})
    contact = add_contact(fake, "(415) 555-0100")
    from_lead, from_deal = salesforce.write(
        [task(origin=origin("Lead", lead)), task(origin=origin("Opportunity", deal))]
    )
    assert (from_lead.contact_id, task_by_key(fake, from_lead.key).get("WhatId")) == (lead, None)
    on_deal = task_by_key(fake, from_deal.key)
    assert (on_deal["WhoId"], on_deal["WhatId"]) == (contact, deal)


def test_a_long_description_is_cut_to_what_salesforce_holds(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    long_text = "x" * 40_000
    (result,) = salesforce.write(
        [task(contact_rule=rule(on_no_match="unassociated"), fields={"Description": long_text})]
    )
    assert result.error is None
    assert len(task_by_key(fake, result.key)["Description"]) == 32_000


# --- batching and idempotency --------------------------------------------------------------------


def test_records_go_out_in_collections_of_at_most_200(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    results = salesforce.write([task() for _ in range(450)])
    assert all(r.crm_id for r in results)
    upserts = [r for r in fake.requests if r.method == "PATCH"]
    assert [len(r.json["records"]) for r in upserts] == [200, 200, 50]
    assert all(r.json["allOrNone"] is False for r in upserts)
    assert api_calls(fake) == 4  # one search, three upserts: < 0.01 call per message


def test_a_key_repeated_in_one_call_is_written_once_with_its_last_rendering(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    first = day_task(fields={"Subject": "MMS", "Description": "one"})
    latest = day_task(fields={"Subject": "MMS", "Description": "one\ntwo"})
    results = salesforce.write([first, latest])
    assert results[0].crm_id == results[1].crm_id
    assert [t["Description"] for t in tasks(fake)] == ["one\ntwo"]


def test_a_crash_between_the_call_and_the_local_commit_duplicates_nothing(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    record = task()
    (written,) = salesforce.write([record])
    # The worker died before storing the id: the job runs again with the same record, so the
    # upsert finds the Task and refuses the create-only TaskSubtype; it is sent again without.
    (again,) = salesforce.write([record])
    assert again.crm_id == written.crm_id
    assert again.error is None
    assert len(tasks(fake)) == 1
    assert task_by_key(fake, record.key)["TaskSubtype"] == "Task"
    assert api_calls(fake, "PATCH", UPSERT) == 3


def test_an_upsert_whose_answer_is_lost_is_retried_without_duplicating(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    add_contact(fake, "(415) 555-0100")
    adapter = make_adapter(fake, cache, timeout=(5, 0.3))
    record = task()
    fake.inject_delay("PATCH", UPSERT, seconds=1.0)
    with pytest.raises(Transient) as lost:
        adapter.write([record])
    assert "outcome unknown" in lost.value.reason
    (retried,) = adapter.write([record])
    assert retried.error is None
    assert [t["Id"] for t in tasks(fake)] == [retried.crm_id]


# --- per-record failures -------------------------------------------------------------------------


def test_one_invalid_record_fails_alone_with_salesforces_message(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    fake.fail_records(
        "Task",
        {"Subject": "bad"},
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Subject may not be bad",
        ["Subject"],
    )
    good, bad, also_good = salesforce.write([task(), task(fields={"Subject": "bad"}), task()])
    assert good.crm_id and also_good.crm_id and bad.crm_id is None
    assert isinstance(bad.error, Permanent)
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject may not be bad [Subject]" in bad.error.reason
    assert len(tasks(fake)) == 2


def test_a_locked_row_inside_a_collection_is_retried_later_for_that_record_only(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    add_contact(fake, "(415) 555-0100")
    lock = ERR_UNABLE_TO_LOCK_ROW[0]
    fake.fail_records("Task", {"Subject": "locked"}, lock["errorCode"], lock["message"], times=1)
    ok, locked = salesforce.write([task(), task(fields={"Subject": "locked"})])
    assert ok.error is None
    assert isinstance(locked.error, Transient) and locked.error.retry_after
    assert "UNABLE_TO_LOCK_ROW" in locked.error.reason


def test_a_duplicate_key_already_in_salesforce_is_a_permanent_data_problem(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    fake.reset()
    fake.add_field("Activity", KEY, external_id=True)  # an admin forgot "Unique"
    fake.add_field("Activity", "MMS_Thread_Key__c", external_id=True)
    adapter = make_adapter(fake, cache)
    record = task(contact_rule=rule(on_no_match="unassociated"))
    fake.add_record("Task", {"Subject": "a", KEY: record.key})
    fake.add_record("Task", {"Subject": "b", KEY: record.key})
    (result,) = adapter.write([record])
    assert isinstance(result.error, Permanent)
    assert "DUPLICATE_EXTERNAL_ID" in result.error.reason
