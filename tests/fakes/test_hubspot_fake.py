"""The HubSpot fake, driven through the real ``hubspot-api-client`` SDK.

These tests double as executable documentation of how the SDK behaves against HubSpot-shaped
answers: which exception class a status raises, how a 207 surfaces, where the headers are.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.contacts.exceptions import UnauthorizedException
from hubspot.crm.objects.communications import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.communications import Filter as CommsFilter
from hubspot.crm.objects.communications import FilterGroup as CommsFilterGroup
from hubspot.crm.objects.communications import (
    PublicObjectSearchRequest as CommsSearchRequest,
)
from hubspot.crm.objects.communications.exceptions import ApiException as CommsApiException
from hubspot.crm.objects.communications.exceptions import ServiceException
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.properties.exceptions import NotFoundException as PropertyNotFound
from urllib3.util.retry import Retry

from tests.fakes.hubspot import FakeHubSpot

PHONE = "+15551234567"
KEY_PROPERTY = "mms_message_key"


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(token="test-token") as hs:
        yield hs


@pytest.fixture
def hs(_server: FakeHubSpot) -> FakeHubSpot:
    """One server per module (starting one costs ~0.2 s); state wiped before each test."""
    _server.reset()
    return _server


@pytest.fixture
def client(hs: FakeHubSpot) -> HubSpot:
    return hs.client()


def sms(body: str, **extra: str) -> dict[str, str]:
    return {
        "hs_communication_channel_type": "SMS",
        "hs_communication_logged_from": "CRM",
        "hs_communication_body": body,
        "hs_timestamp": "2024-01-01T00:00:00Z",
        **extra,
    }


def to_contact(contact_id: str) -> list[PublicAssociationsForObject]:
    spec = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=81)
    return [PublicAssociationsForObject(to=PublicObjectId(id=contact_id), types=[spec])]


def phone_search(phone: str) -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="phone", operator="EQ", value=phone)]),
            FilterGroup(filters=[Filter(property_name="mobilephone", operator="EQ", value=phone)]),
        ],
        properties=["firstname", "phone", "mobilephone"],
        limit=10,
    )


def define_key_property(client: HubSpot) -> None:
    client.crm.properties.core_api.create(
        object_type="communications",
        property_create=PropertyCreate(
            name=KEY_PROPERTY,
            label="MMS message key",
            type="string",
            field_type="text",
            group_name="communication",
            has_unique_value=True,
        ),
    )


# ---- auth and errors -------------------------------------------------------------------------


def test_wrong_token_gets_401_with_hubspot_error_body(hs: FakeHubSpot) -> None:
    client = HubSpot(access_token="wrong", host=hs.url, base_url=hs.url)

    with pytest.raises(UnauthorizedException) as caught:
        client.crm.contacts.search_api.do_search(public_object_search_request=phone_search(PHONE))

    assert caught.value.status == 401
    body = json.loads(caught.value.body)
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    uuid.UUID(body["correlationId"])
    assert hs.count("POST", "/crm/v3/objects/contacts/search", status=401) == 1


def test_unknown_property_and_bad_timestamp_are_validation_errors(client: HubSpot) -> None:
    comms = client.crm.objects.communications.basic_api

    with pytest.raises(CommsApiException) as unknown:
        comms.create(SimplePublicObjectInputForCreate(properties=sms("hi", nope="x")))
    with pytest.raises(CommsApiException) as bad_time:
        comms.create(SimplePublicObjectInputForCreate(properties=sms("hi", hs_timestamp="soon")))

    for caught in (unknown, bad_time):
        assert caught.value.status == 400
        body = json.loads(caught.value.body)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["message"].startswith("Property values were not valid: ")
        assert body["correlationId"]
    assert "PROPERTY_DOESNT_EXIST" in json.loads(unknown.value.body)["message"]
    assert "hs_timestamp" in json.loads(bad_time.value.body)["message"]


def test_injected_5xx_is_answered_once_without_processing(hs: FakeHubSpot, client: HubSpot) -> None:
    comms = client.crm.objects.communications.basic_api
    injection = hs.inject("POST", r"/communications$", 503)
    hs.inject("POST", r"/communications$", 502, body="<html>502 Bad Gateway</html>")

    with pytest.raises(ServiceException) as first:
        comms.create(SimplePublicObjectInputForCreate(properties=sms("a")))
    with pytest.raises(ServiceException) as second:
        comms.create(SimplePublicObjectInputForCreate(properties=sms("a")))
    created = comms.create(SimplePublicObjectInputForCreate(properties=sms("a")))

    assert first.value.status == 503
    assert json.loads(first.value.body)["category"] == "SERVICE_UNAVAILABLE"
    assert second.value.status == 502
    assert "Bad Gateway" in second.value.body
    assert injection.hits == 1
    assert injection.remaining == 0
    assert list(hs.communications) == [created.id]


# ---- contacts --------------------------------------------------------------------------------


def test_search_finds_contacts_by_phone_or_mobile(hs: FakeHubSpot, client: HubSpot) -> None:
    by_phone = hs.add_contact({"phone": PHONE, "firstname": "Ada"})
    by_mobile = hs.add_contact({"mobilephone": PHONE, "firstname": "Bob"})
    hs.add_contact({"phone": "+15550000000"})

    found = client.crm.contacts.search_api.do_search(
        public_object_search_request=phone_search(PHONE)
    )

    assert found.total == 2
    assert sorted(r.id for r in found.results) == sorted([by_phone, by_mobile])
    ada = next(r for r in found.results if r.id == by_phone)
    assert ada.properties["firstname"] == "Ada"
    assert ada.properties["mobilephone"] is None  # asked for, not set


def test_search_in_operator_and_paging(hs: FakeHubSpot, client: HubSpot) -> None:
    ids = [hs.add_contact({"phone": f"+1555000000{i}"}) for i in range(3)]
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[
                    Filter(
                        property_name="phone",
                        operator="IN",
                        values=["+15550000000", "+15550000001", "+15550000002"],
                    )
                ]
            )
        ],
        limit=2,
    )
    search = client.crm.contacts.search_api.do_search

    first = search(public_object_search_request=request)
    request.after = first.paging.next.after
    second = search(public_object_search_request=request)

    assert first.total == 3
    assert [r.id for r in first.results + second.results] == ids
    assert second.paging is None


def test_search_lag_hides_new_contacts_for_a_while() -> None:
    with FakeHubSpot(search_lag_seconds=0.3) as hs:
        client = hs.client()
        client.crm.contacts.basic_api.create(ContactCreate(properties={"phone": PHONE}))
        search = client.crm.contacts.search_api.do_search

        assert search(public_object_search_request=phone_search(PHONE)).total == 0
        time.sleep(0.35)
        assert search(public_object_search_request=phone_search(PHONE)).total == 1


def test_a_unique_value_conflict_in_a_batch_refuses_the_whole_batch_with_409(
    hs: FakeHubSpot, client: HubSpot
) -> None:
    """As HubSpot does (hubspot-api-python issue #51): one 409 CONFLICT for the whole batch,
    naming only the first existing record, and nothing of the batch created."""
    define_key_property(client)
    comms = client.crm.objects.communications
    first = comms.basic_api.create(
        SimplePublicObjectInputForCreate(properties=sms("a", **{KEY_PROPERTY: "k1"}))
    )

    with pytest.raises(CommsApiException) as caught:
        comms.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    SimplePublicObjectBatchInputForCreate(
                        properties=sms(key, **{KEY_PROPERTY: key})
                    )
                    for key in ("k0", "k1", "k2")
                ]
            )
        )

    assert caught.value.status == 409
    body = json.loads(caught.value.body)
    assert (body["status"], body["category"]) == ("error", "CONFLICT")
    assert f"Existing ID: {first.id}" in body["message"] and body["correlationId"]
    assert list(hs.communications) == [first.id]


def test_v4_association_batch_read_lists_each_contacts_companies_in_one_call(
    hs: FakeHubSpot, client: HubSpot
) -> None:
    from hubspot.crm.associations.v4 import (
        BatchInputPublicFetchAssociationsBatchRequest,
        PublicFetchAssociationsBatchRequest,
    )

    ada, bob = hs.add_contact({"phone": PHONE}), hs.add_contact({"firstname": "Bob"})
    acme, other = hs.add_company({"name": "Acme"}), hs.add_company({"name": "Other"})
    hs.associate("contacts", ada, "companies", other)
    hs.associate("contacts", ada, "companies", acme, type_id=1)  # primary
    hs.reset_calls()

    answer = client.crm.associations.v4.batch_api.get_page(
        "contacts",
        "companies",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in (ada, bob)]
        ),
    )

    [row] = answer.results  # Bob has none: HubSpot reports him among the errors (a 207)
    assert row._from.id == ada
    assert {(t.to_object_id, tuple(a.type_id for a in t.association_types)) for t in row.to} == {
        (acme, (1,)),
        (other, (279,)),
    }
    [none] = answer.errors
    assert none.context == {"fromObjectId": [bob]}
    assert "NO_ASSOCIATIONS_FOUND" in str(none.sub_category)
    assert hs.count("POST", "/crm/v4/associations/contacts/companies/batch/read") == 1


def test_contact_read_with_company_and_deal_associations(hs: FakeHubSpot, client: HubSpot) -> None:
    contact = hs.add_contact({"phone": PHONE})
    company = hs.add_company({"name": "Acme"})
    open_deal = hs.add_deal({"dealname": "Renewal", "dealstage": "contractsent"})
    hs.associate("contacts", contact, "companies", company)
    hs.associate("contacts", contact, "deals", open_deal)

    read = client.crm.contacts.basic_api.get_by_id(contact, associations=["companies", "deals"])
    v4 = client.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")

    assert [a.id for a in read.associations["companies"].results] == [company]
    assert [a.id for a in read.associations["deals"].results] == [open_deal]
    assert [r.to_object_id for r in v4.results] == [company]
    assert hs.objects("deals")[open_deal]["hs_is_closed"] == "false"


# ---- communications --------------------------------------------------------------------------


def test_create_communication_associated_to_contact(hs: FakeHubSpot, client: HubSpot) -> None:
    contact = hs.add_contact({"phone": PHONE})
    comms = client.crm.objects.communications.basic_api

    created, status, _ = comms.create_with_http_info(
        SimplePublicObjectInputForCreate(properties=sms("hello"), associations=to_contact(contact))
    )
    updated = comms.update(
        created.id, SimplePublicObjectInput(properties={"hs_communication_body": "edited"})
    )

    assert status == 201
    assert created.properties["hs_timestamp"] == "2024-01-01T00:00:00.000Z"
    assert updated.properties["hs_communication_body"] == "edited"
    assert hs.associated_ids("contacts", contact, "communications") == [created.id]
    assert hs.associations("communications", created.id) == [("contacts", contact, 81)]


def test_batch_create_answers_201(hs: FakeHubSpot, client: HubSpot) -> None:
    contact = hs.add_contact({"phone": PHONE})
    inputs = [
        SimplePublicObjectBatchInputForCreate(
            properties=sms(f"m{i}"), associations=to_contact(contact), object_write_trace_id=f"t{i}"
        )
        for i in range(3)
    ]

    result, status, _ = client.crm.objects.communications.batch_api.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )

    assert status == 201
    assert result.status == "COMPLETE"
    assert [r.object_write_trace_id for r in result.results] == ["t0", "t1", "t2"]
    assert not hasattr(result, "errors")  # the 201 model has no errors field
    assert len(hs.associated_ids("contacts", contact, "communications")) == 3


def test_batch_create_partial_failure_is_a_207_not_an_exception(
    hs: FakeHubSpot, client: HubSpot
) -> None:
    hs.reject_value("hs_communication_body", "poison", message="body rejected")
    inputs = [
        SimplePublicObjectBatchInputForCreate(properties=sms(body), object_write_trace_id=body)
        for body in ("ok-1", "poison", "ok-2")
    ]

    result, status, _ = client.crm.objects.communications.batch_api.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )

    assert status == 207
    assert type(result).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert result.num_errors == 1
    error = result.errors[0]
    assert (error.status, error.category) == ("error", "VALIDATION_ERROR")
    assert error.message == "body rejected"
    assert error.context["objectWriteTraceId"] == ["poison"]
    assert sorted(r.object_write_trace_id for r in result.results) == ["ok-1", "ok-2"]
    assert len(hs.communications) == 2


def test_batch_over_100_inputs_is_rejected(client: HubSpot) -> None:
    inputs = [SimplePublicObjectBatchInputForCreate(properties=sms(str(i))) for i in range(101)]

    with pytest.raises(CommsApiException) as caught:
        client.crm.objects.communications.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        )

    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_property_setup_then_upsert_by_unique_key(hs: FakeHubSpot, client: HubSpot) -> None:
    define_key_property(client)
    with pytest.raises(PropertiesApiException) as again:
        define_key_property(client)
    batch = client.crm.objects.communications.batch_api

    def upsert(*pairs: tuple[str, str]) -> list[tuple[str, str, bool]]:
        result = batch.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id=key, id_property=KEY_PROPERTY, properties=sms(body)
                    )
                    for key, body in pairs
                ]
            )
        )
        return sorted((r.properties[KEY_PROPERTY], r.id, r.new) for r in result.results)

    first = upsert(("k1", "one"), ("k2", "two"))
    second = upsert(("k1", "one, retried"), ("k3", "three"))

    assert again.value.status == 409
    assert [new for _, _, new in first] == [True, True]
    assert second[0] == ("k1", first[0][1], False)  # same object, updated
    assert second[1][2] is True
    assert len(hs.communications) == 3
    assert hs.communications[first[0][1]]["hs_communication_body"] == "one, retried"


def test_upsert_by_a_non_unique_property_is_refused(client: HubSpot) -> None:
    with pytest.raises(CommsApiException) as caught:
        client.crm.objects.communications.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id="x", id_property="hs_communication_body", properties=sms("x")
                    )
                ]
            )
        )

    assert caught.value.status == 400
    assert "non-unique" in json.loads(caught.value.body)["message"]


def test_unique_value_conflict_on_create_is_409(hs: FakeHubSpot, client: HubSpot) -> None:
    define_key_property(client)
    comms = client.crm.objects.communications.basic_api
    first = comms.create(
        SimplePublicObjectInputForCreate(properties=sms("a", **{KEY_PROPERTY: "k"}))
    )

    with pytest.raises(CommsApiException) as caught:
        comms.create(SimplePublicObjectInputForCreate(properties=sms("b", **{KEY_PROPERTY: "k"})))

    assert caught.value.status == 409
    body = json.loads(caught.value.body)
    assert body["category"] == "CONFLICT"
    assert f"Existing ID: {first.id}" in body["message"]


def test_batch_read_by_id_property_update_and_search_by_key(
    hs: FakeHubSpot, client: HubSpot
) -> None:
    define_key_property(client)
    stored = hs.add_object("communications", sms("x", **{KEY_PROPERTY: "k1"}))
    batch = client.crm.objects.communications.batch_api

    read = batch.read(
        BatchReadInputSimplePublicObjectId(
            id_property=KEY_PROPERTY,
            inputs=[SimplePublicObjectId(id="k1"), SimplePublicObjectId(id="missing")],
            properties=["hs_communication_body"],
            properties_with_history=[],
        )
    )
    updated = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=stored, properties={"hs_communication_body": "y"})
            ]
        )
    )
    found = client.crm.objects.communications.search_api.do_search(
        CommsSearchRequest(
            filter_groups=[
                CommsFilterGroup(
                    filters=[CommsFilter(property_name=KEY_PROPERTY, operator="EQ", value="k1")]
                )
            ]
        )
    )

    assert [r.id for r in read.results] == [stored]
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    assert read.errors[0].context["ids"] == ["missing"]
    assert updated.results[0].properties["hs_communication_body"] == "y"
    assert [r.id for r in found.results] == [stored]


def test_properties_are_seeded_with_types_and_read_only_flags(client: HubSpot) -> None:
    core = client.crm.properties.core_api

    names = {p.name: p for p in core.get_all("communications").results}
    with pytest.raises(PropertyNotFound):
        core.get_by_name("communications", "no_such_property")

    assert names["hs_timestamp"].type == "datetime"
    assert names["hs_timestamp"].modification_metadata.read_only_value is False
    assert names["hs_object_id"].modification_metadata.read_only_value is True
    channel = core.get_by_name("communications", "hs_communication_channel_type")
    assert {o.value for o in channel.options} == {"SMS", "WHATS_APP", "LINKEDIN_MESSAGE"}
    assert {"phone", "mobilephone", "email"} <= {p.name for p in core.get_all("contacts").results}


def test_owners_listing(hs: FakeHubSpot, client: HubSpot) -> None:
    owner_id = hs.add_owner("rep@example.com", "Rita", "Rep")

    owners = client.crm.owners.owners_api.get_page(email="rep@example.com")

    assert [(o.id, o.email) for o in owners.results] == [(owner_id, "rep@example.com")]


# ---- "it worked on the server, the client never heard" --------------------------------------


def test_disconnect_after_processing(hs: FakeHubSpot, client: HubSpot) -> None:
    hs.inject_disconnect("POST", r"/communications$")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.crm.objects.communications.basic_api.create(
            SimplePublicObjectInputForCreate(properties=sms("lost answer"))
        )

    assert len(hs.communications) == 1
    assert hs.calls[-1].delivered is False


def test_slow_answer_past_the_client_timeout(hs: FakeHubSpot, client: HubSpot) -> None:
    hs.inject_slow_response("POST", r"/communications$", delay=1.0)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.crm.objects.communications.basic_api.create(
            SimplePublicObjectInputForCreate(properties=sms("slow")), _request_timeout=0.2
        )

    assert len(hs.communications) == 1


# ---- knobs: rate limit and latency -----------------------------------------------------------


def test_rate_window_answers_429_with_hubspot_headers() -> None:
    with FakeHubSpot(rate_limit=(5, 0.5), retry_after="auto") as hs:
        search = hs.client().crm.contacts.search_api.do_search_with_http_info
        request = phone_search(PHONE)

        remaining = [
            search(public_object_search_request=request)[2]["X-HubSpot-RateLimit-Remaining"]
            for _ in range(5)
        ]
        with pytest.raises(ContactsApiException) as caught:
            search(public_object_search_request=request)
        time.sleep(0.55)
        _, status, _ = search(public_object_search_request=request)

    assert remaining == ["4", "3", "2", "1", "0"]
    error = caught.value
    assert error.status == 429
    assert error.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert error.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert error.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "500"
    assert error.headers["Retry-After"] == "1"
    body = json.loads(error.body)
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["correlationId"]
    assert hs.rate_limited == 1
    assert status == 200


def test_the_busiest_window_counts_refused_requests_too() -> None:
    with FakeHubSpot(rate_limit=(3, 60.0)) as hs:
        search = hs.client().crm.contacts.search_api.do_search
        for _ in range(5):
            with contextlib.suppress(ContactsApiException):
                search(public_object_search_request=phone_search(PHONE))

        assert hs.busiest_window(60.0) == 5
        assert hs.busiest_window(60.0, searches_only=True) == 5
        assert hs.busiest_window(1e-9) == 1
        assert hs.rate_limited == 2


def test_sdk_retry_with_allowed_methods_none_rides_out_a_429(hs: FakeHubSpot) -> None:
    hs.inject("POST", r"/search$", 429, headers={"Retry-After": "0"})
    retry = Retry(total=3, status_forcelist=(429,), allowed_methods=None, raise_on_status=False)

    found = hs.client(retry=retry).crm.contacts.search_api.do_search(
        public_object_search_request=phone_search(PHONE)
    )

    assert found.total == 0
    assert hs.count("POST", "/crm/v3/objects/contacts/search") == 2
    assert hs.rate_limited == 1


def test_latency_is_added_to_every_request() -> None:
    with FakeHubSpot(latency=0.2) as hs:
        search = hs.client().crm.contacts.search_api.do_search
        started = time.monotonic()
        search(public_object_search_request=phone_search(PHONE))
        elapsed = time.monotonic() - started

    assert 0.2 <= elapsed < 1.0
