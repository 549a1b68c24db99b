"""Which contact a HubSpot record lands on: phone numbers in any format, the documented pick
when several contacts match, the cache, creation without racing a parallel sync."""

from __future__ import annotations

import threading

import pytest

from connector.core.errors import Transient
from connector.core.model import CrmContact
from connector.core.phone import mask
from connector.crm.base import Associations, Origin, WriteResult
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.hubspot.answers import CrmObject
from connector.crm.hubspot.matching import pick_contacts, same_number
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.factories import NUMBER, contact_rule
from tests.crm.hubspot_kit import CONTACTS, make_adapter, rule, sms
from tests.fakes.hubspot import FakeHubSpot

SEARCH = f"{CONTACTS}/search"


def contact_of(hs: FakeHubSpot, crm_id: str | None) -> list[str]:
    assert crm_id is not None
    return hs.associated_ids("communications", crm_id, "contacts")


# ---- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        "(415) 555-0100",
        "415-555-0100",
        "415.555.0100",
        "+1 415 555 0100",
        "1-415-555-0100",
        "4155550100",
        "+1 (415) 555-0100 ext. 12",
    ],
)
def test_a_number_typed_in_any_format_matches_its_e164_form(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, stored: str
) -> None:
    ada = hs.add_contact({"phone": stored, "firstname": "Ada"})

    [result] = hubspot.write([sms()])

    assert result.error is None
    assert result.contact_id == ada
    assert contact_of(hs, result.crm_id) == [ada]
    assert hs.contacts.keys() == {ada}  # nobody was created


def test_a_mobile_number_matches_too(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    bob = hs.add_contact({"mobilephone": "+1 415.555.0100"})

    [result] = hubspot.write([sms()])

    assert result.contact_id == bob


def test_a_similar_number_of_another_country_is_not_a_match(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    # Same national digits, other country: the search may return it, the check must not take it.
    stranger = hs.add_contact({"phone": "+44 4155550100"})

    [result] = hubspot.write([sms()])

    assert result.error is None
    assert result.contact_id != stranger
    assert len(hs.contacts) == 2


def test_several_matches_pick_phone_over_mobile_then_the_oldest(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    by_mobile = hs.add_contact({"mobilephone": NUMBER})
    oldest_by_phone = hs.add_contact({"phone": "(415) 555-0100"})
    newer_by_phone = hs.add_contact({"phone": NUMBER})

    [result] = hubspot.write([sms()])

    assert result.contact_id == oldest_by_phone
    assert {by_mobile, newer_by_phone}.isdisjoint({result.contact_id})


def test_the_pick_rule_follows_the_mappings_order_of_properties() -> None:
    candidates = [
        CrmObject("7", {"phone": None, "mobilephone": NUMBER}),
        CrmObject("3", {"phone": "415 555 0100", "mobilephone": None}),
        CrmObject("5", {"phone": None, "mobilephone": "(415) 555-0100"}),
    ]

    assert pick_contacts(candidates, ["phone", "mobilephone"], [NUMBER]) == {NUMBER: "3"}
    assert pick_contacts(candidates, ["mobilephone", "phone"], [NUMBER]) == {NUMBER: "5"}


def test_notes_and_garbage_in_a_phone_field_never_match() -> None:
    assert not same_number("call after 5pm", NUMBER)
    assert not same_number("415-555-0199", NUMBER)
    assert not same_number("", NUMBER)
    assert same_number("+1 415 555 0100", NUMBER)


def test_one_search_resolves_the_numbers_of_a_whole_batch(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(100, 130)]
    ids = {n: hs.add_contact({"phone": f"(415) 555-{n[-4:]}"}) for n in numbers}

    results = hubspot.write([sms(contact_phone=n) for n in numbers for _ in range(2)])

    assert [r.contact_id for r in results] == [ids[n] for n in numbers for _ in range(2)]
    searches = hs.count("POST", SEARCH)
    assert 1 <= searches <= 4  # chunks keep each IN filter at 100 values at most
    for _, _, body in (r for r in hs.requests if r[1] == SEARCH):
        assert len(body["filterGroups"]) <= 5
        assert all(len(f["values"]) <= 100 for g in body["filterGroups"] for f in g["filters"])


def test_a_known_number_is_not_searched_again(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    ada = hs.add_contact({"phone": NUMBER})
    hubspot.write([sms()])
    hs.reset_calls()

    [result] = hubspot.write([sms()])

    assert result.contact_id == ada
    assert hs.count("POST", SEARCH) == 0
    assert cache.get_many("hubspot", [NUMBER]) == {
        NUMBER: CrmContact(crm_object="contacts", crm_id=ada)
    }


def test_a_contact_deleted_in_hubspot_is_looked_up_again(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    cache.put("hubspot", NUMBER, CrmContact(crm_object="contacts", crm_id="999999"))
    other = sms(contact_phone="+14155550111")
    hs.add_contact({"phone": "+14155550111"})

    first = hubspot.write([sms(), other])
    ada = hs.add_contact({"phone": NUMBER})
    [second] = hubspot.write([sms()])

    assert isinstance(first[0].error, Transient)
    assert first[1].error is None  # the other record of the batch went through
    assert second.error is None
    assert second.contact_id == ada


# ---- no match ----------------------------------------------------------------------------------


def test_no_match_creates_the_contact_with_the_mappings_fields(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    create = rule(create_fields={"firstname": "MMS", "lastname": "+1 415 555 0100"})

    results = hubspot.write([sms(contact_rule=create), sms(contact_rule=create)])

    [(created, properties)] = hs.contacts.items()
    assert properties["phone"] == NUMBER
    assert (properties["firstname"], properties["lastname"]) == ("MMS", "+1 415 555 0100")
    assert [r.contact_id for r in results] == [created, created]
    assert cache.get_many("hubspot", [NUMBER])[NUMBER].crm_id == created


def test_no_match_can_skip_the_record(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    [result] = hubspot.write([sms(contact_rule=rule(on_no_match="skip"))])

    assert result.skipped is not None
    assert mask(NUMBER) in result.skipped
    assert NUMBER not in result.skipped
    assert result.crm_id is None
    assert hs.communications == {}
    assert hs.contacts == {}


def test_no_match_can_log_the_record_unassociated(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    [result] = hubspot.write([sms(contact_rule=rule(on_no_match="unassociated"))])

    assert result.error is None
    assert result.contact_id is None
    assert result.crm_id is not None
    assert hs.associations("communications", result.crm_id) == []
    assert hs.contacts == {}


def test_a_parallel_sync_creating_the_same_contact_makes_this_one_wait(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    assert cache.reserve("hubspot", NUMBER)  # another worker is creating it right now

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Transient)
    assert result.error.retry_after
    assert hs.contacts == {}
    assert hs.communications == {}


def test_the_parallel_syncs_contact_is_used_once_it_is_known(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    assert cache.reserve("hubspot", NUMBER)
    theirs = hs.add_object("contacts", {"phone": NUMBER}, searchable=False)  # not searchable yet
    cache.put("hubspot", NUMBER, CrmContact(crm_object="contacts", crm_id=theirs))

    [result] = hubspot.write([sms()])

    assert result.contact_id == theirs
    assert list(hs.contacts) == [theirs]


def test_threads_sharing_an_adapter_search_and_create_each_contact_once(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(300, 320)]
    for number in numbers[:10]:
        hs.add_contact({"phone": number})
    hs.latency = 0.05  # so that the threads overlap
    results: list[list[WriteResult]] = []

    def sync() -> None:
        results.append(hubspot.write([sms(contact_phone=n) for n in numbers]))

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(r.error is None for batch in results for r in batch)
    assert hs.count("POST", SEARCH) == 1
    assert hs.count("POST", f"{CONTACTS}/batch/create") == 1
    assert len(hs.contacts) == 20
    assert len({tuple(r.contact_id for r in batch) for batch in results}) == 1


def test_two_adapters_sharing_one_database_create_one_contact(
    hs: FakeHubSpot, database: Database
) -> None:
    hs.search_lag_seconds = 5.0  # neither sees the other's contact by searching
    first = make_adapter(hs, SqlContactCache(database))
    second = make_adapter(hs, SqlContactCache(database))

    [a] = first.write([sms()])
    [b] = second.write([sms()])

    assert len(hs.contacts) == 1
    assert a.contact_id == b.contact_id == next(iter(hs.contacts))


def test_a_lost_answer_to_a_contact_creation_keeps_others_from_creating_it(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    hs.search_lag_seconds = 5.0  # the created contact cannot be found by searching yet
    hs.inject_disconnect("POST", rf"{CONTACTS}/batch/create$")

    [lost] = hubspot.write([sms()])
    [later] = hubspot.write([sms()])

    assert isinstance(lost.error, Transient)
    assert isinstance(later.error, Transient)  # the reservation holds until it expires
    assert len(hs.contacts) == 1
    assert cache.reserve("hubspot", NUMBER) is False


def test_a_contact_creation_refused_as_existing_uses_the_contact_hubspot_names(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.search_lag_seconds = 5.0
    existing = hs.add_object("contacts", {"phone": NUMBER}, searchable=False)  # search lags
    hs.reject_value(
        "phone",
        NUMBER,
        object_type="contacts",
        status=409,
        category="CONFLICT",
        message=f"Contact already exists. Existing ID: {existing}",
    )

    [result] = hubspot.write([sms()])

    assert result.error is None
    assert result.contact_id == existing
    assert list(hs.contacts) == [existing]


# ---- what else a record is linked to -----------------------------------------------------------


def test_records_can_be_linked_to_the_contacts_company_and_open_deals(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    ada = hs.add_contact({"phone": NUMBER})
    acme = hs.add_company({"name": "Acme"})
    other = hs.add_company({"name": "Other"})
    renewal = hs.add_deal({"dealname": "Renewal", "dealstage": "contractsent"})
    won = hs.add_deal({"dealname": "Won", "dealstage": "closedwon"})
    hs.associate("contacts", ada, "companies", other)
    hs.associate("contacts", ada, "companies", acme, type_id=1)  # primary
    hs.associate("contacts", ada, "deals", renewal)
    hs.associate("contacts", ada, "deals", won)

    linked, plain = hubspot.write(
        [sms(associations=Associations(company=True, open_deals=True)), sms()]
    )

    assert linked.crm_id is not None and plain.crm_id is not None
    assert hs.associations("communications", linked.crm_id) == sorted(
        [("contacts", ada, 81), ("companies", acme, 87), ("deals", renewal, 85)]
    )
    assert hs.associations("communications", plain.crm_id) == [("contacts", ada, 81)]


def test_a_sent_message_is_also_linked_to_the_record_it_was_sent_from(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    ada = hs.add_contact({"phone": NUMBER})
    deal = hs.add_deal({"dealname": "Renewal", "dealstage": "contractsent"})

    [result] = hubspot.write([sms(origin=Origin(system="hubspot", object="deal", record_id=deal))])

    assert result.crm_id is not None
    assert hs.associations("communications", result.crm_id) == sorted(
        [("contacts", ada, 81), ("deals", deal, 85)]
    )


def test_a_rule_may_look_for_a_company_first(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    acme = hs.add_company({"name": "Acme", "phone": "(415) 555-0100"})
    hs.add_contact({"phone": NUMBER})
    companies_first = contact_rule(
        ("companies", "contacts"), {"companies": ("phone",), "contacts": ("phone",)}
    )

    [result] = hubspot.write([sms(contact_rule=companies_first)])

    assert result.contact_id == acme
    assert result.crm_id is not None
    assert hs.associations("communications", result.crm_id) == [("companies", acme, 87)]
