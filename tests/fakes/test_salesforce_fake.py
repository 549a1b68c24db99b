"""Drive ``FakeSalesforce`` through the real simple-salesforce client.

These tests pin down two things at once: that the fake answers the way Salesforce does, and
which exception simple-salesforce raises for each answer (the adapter's error handling relies
on both). One server serves the module; every test starts from ``reset()``.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import zeep.exceptions
from simple_salesforce import Salesforce, format_external_id, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.fakes.salesforce import (
    ERR_CONCURRENT_REQUESTS,
    ERR_INVALID_SESSION,
    ERR_SERVER_UNAVAILABLE,
    ERR_TOTAL_REQUESTS,
    ERR_UNABLE_TO_LOCK_ROW,
    FakeSalesforce,
    generate_rsa_keypair,
    is_salesforce_id,
    to_18,
    validation_error,
)

KEY = "MMS_Message_Key__c"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSalesforce) -> FakeSalesforce:
    server.reset()
    return server


@pytest.fixture
def sf(fake: FakeSalesforce) -> Salesforce:
    return Salesforce(
        instance_url=fake.instance_url, session_id=fake.session_id, session=fake.session()
    )


@pytest.fixture
def with_key(fake: FakeSalesforce) -> None:
    fake.add_field("Activity", KEY, external_id=True, unique=True)


def error_code(exc: SalesforceError) -> str:
    """simple-salesforce puts the parsed JSON error list in ``.content``."""
    return exc.content[0]["errorCode"]  # type: ignore[index]


# --- server basics -------------------------------------------------------------------------


def test_starts_fast_serves_tls_only_to_trusting_clients_and_stops_cleanly() -> None:
    started = time.monotonic()
    fake = FakeSalesforce().start()
    try:
        assert time.monotonic() - started < 2
        assert fake.instance_url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(fake.base_url() + "limits/", timeout=5)  # system CAs only
        answer = fake.session().get(fake.base_url() + "limits/")
        assert (answer.status_code, answer.json()) == (401, ERR_INVALID_SESSION)
        # ca_bundle_path = system CAs + the fake's CA, for clients that read REQUESTS_CA_BUNDLE
        assert (
            requests.get(fake.base_url(), verify=fake.ca_bundle_path, timeout=5).status_code == 401
        )
        fake.inject_delay("GET", r"/limits/", seconds=30)  # a hanging handler must not block stop
        with pytest.raises(requests.exceptions.ReadTimeout):
            fake.session(timeout=0.2).get(fake.base_url() + "limits/")
    finally:
        stopping = time.monotonic()
        fake.stop()
    assert time.monotonic() - stopping < 1.5


def test_ids_are_18_chars_with_key_prefix_and_15_char_ids_work(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    lead = fake.add_record("Lead", {"LastName": "Roe", "Company": "Acme"})
    task = sf.Task.create({"Subject": "x", "WhoId": contact[:15]})["id"]
    assert [i[:3] for i in (contact, lead, task)] == ["003", "00Q", "00T"]
    assert all(len(i) == 18 and is_salesforce_id(i) and to_18(i[:15]) == i for i in (contact, task))
    assert sf.Task.get(task[:15])["WhoId"] == contact


def test_limits_endpoint_and_header_and_daily_limit(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.daily_limit = (14998, 15000)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 1}
    assert tuple(sf.api_usage["api-usage"]) == (14999, 15000)
    raw = fake.session().get(
        fake.base_url() + "limits/", headers={"Authorization": f"Bearer {fake.session_id}"}
    )
    assert raw.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Task")
    assert refused.value.status == 403
    assert refused.value.content == ERR_TOTAL_REQUESTS


# --- sObject rows --------------------------------------------------------------------------


def test_create_get_update_delete_task_with_salesforce_validation(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    account = fake.add_record("Account", {"Name": "Acme"})
    created = sf.Task.create(
        {
            "Subject": "MMS in",
            "WhoId": contact,
            "TaskSubtype": "Task",
            "Status": "Completed",
            "ActivityDate": "2024-05-01",
            "Description": "x" * 32000,
        }
    )
    assert created == {"id": created["id"], "success": True, "errors": []}
    task = sf.Task.get(created["id"])
    assert task["attributes"]["type"] == "Task"
    assert (task["Priority"], task["IsClosed"], task["OwnerId"]) == ("Normal", True, fake.user_id)
    assert sf.Task.update(created["id"], {"Subject": "MMS in (2)"}) == 204

    cases = [
        ({"TaskSubtype": "Call"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),  # create-only field
        ({"Nope__c": 1}, "INVALID_FIELD"),
        ({"Subject": "s" * 256}, "STRING_TOO_LONG"),
        ({"WhoId": account}, "FIELD_INTEGRITY_EXCEPTION"),  # WhoId is Contact/Lead only
        ({"WhoId": "003000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"CallType": "Sideways"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"ActivityDate": "May 1"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
    ]
    for body, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as bad:
            sf.Task.update(created["id"], body)
        assert (bad.value.status, error_code(bad.value)) == (400, code), body
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Lead.create({"LastName": "Roe"})
    assert missing.value.content[0]["fields"] == ["Company"]

    assert sf.Task.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get(created["id"])


def test_describe_reports_field_properties_and_added_custom_fields(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    fields = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert (fields["Subject"]["length"], fields["Description"]["length"]) == (255, 32000)
    assert fields["Description"]["type"] == "textarea"
    assert fields["ActivityDate"]["type"] == "date"
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    subtype = fields["TaskSubtype"]
    assert (subtype["createable"], subtype["updateable"]) == (True, False)
    assert {"Status", "Priority", "OwnerId", "Type", "CallType", "WhatId"} <= set(fields)
    assert KEY not in fields

    fake.add_field("Activity", KEY, external_id=True, unique=True)
    key = next(f for f in sf.Task.describe()["fields"] if f["name"] == KEY)
    assert (key["externalId"], key["unique"], key["type"], key["length"]) == (
        True,
        True,
        "string",
        255,
    )
    assert any(f["name"] == KEY for f in sf.Event.describe()["fields"])  # Activity = Task+Event
    contact = {f["name"]: f["type"] for f in sf.Contact.describe()["fields"]}
    assert all(contact[p] == "phone" for p in ("Phone", "MobilePhone", "HomePhone", "OtherPhone"))
    lead = {f["name"] for f in sf.Lead.describe()["fields"]}
    assert {"Company", "Phone", "MobilePhone", "Email", "FirstName", "LastName"} <= lead


def test_upsert_by_external_id_creates_then_updates(fake: FakeSalesforce, sf: Salesforce) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    with pytest.raises(SalesforceResourceNotFound) as no_field:
        sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"})
    assert "Provided external ID field does not exist" in no_field.value.content[0]["message"]
    with pytest.raises(SalesforceResourceNotFound):  # a field that is not an External ID
        sf.Task.upsert(format_external_id("Subject", "SM1"), {"Subject": "x"})

    fake.add_field("Activity", KEY, external_id=True, unique=True)
    key = "SM+1/a b"  # format_external_id percent-encodes '+', '/' and ' '
    task_api = sf.Task
    assert task_api.upsert(format_external_id(KEY, key), {"Subject": "a", "WhoId": contact}) == 201
    assert task_api.api_usage["api-usage"].used >= 1
    assert task_api.upsert(format_external_id(KEY, key), {"Subject": "b"}) == 200
    ((rid, record),) = fake.records("Task").items()
    assert (record[KEY], record["Subject"], record["WhoId"]) == (key, "b", contact)
    updated = sf.Task.upsert(format_external_id(KEY, key), {"Subject": "c"}, raw_response=True)
    assert updated.json() == {"id": rid, "success": True, "errors": [], "created": False}

    old_api = Salesforce(
        instance_url=fake.instance_url,
        session_id=fake.session_id,
        session=fake.session(),
        version="45.0",
    )
    assert old_api.Task.upsert(format_external_id(KEY, key), {"Subject": "d"}) == 204

    fake.add_field("Lead", "Legacy_Key__c", external_id=True)  # External ID but not unique
    fake.add_record("Lead", {"LastName": "A", "Company": "C", "Legacy_Key__c": "dup"})
    fake.add_record("Lead", {"LastName": "B", "Company": "C", "Legacy_Key__c": "DUP"})
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Lead.upsert("Legacy_Key__c/dup", {"FirstName": "x"})
    assert several.value.status == 300 and len(several.value.content) == 2  # record URLs


# --- sObject Collections and composite -------------------------------------------------------


def _tasks(*keys: str, **fields: str) -> list[dict]:
    return [{"attributes": {"type": "Task"}, KEY: k, "Subject": f"MMS {k}", **fields} for k in keys]


@pytest.mark.usefixtures("with_key")
def test_collections_upsert_with_a_per_record_failure(fake: FakeSalesforce, sf: Salesforce) -> None:
    fake.fail_records(
        "Task",
        {KEY: "k2"},
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [WhoId]",
        ["WhoId"],
    )
    path = f"composite/sobjects/Task/{KEY}"
    results = sf.restful(
        path, method="PATCH", json={"allOrNone": False, "records": _tasks("k1", "k2", "k3")}
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[0]["created"] is True and is_salesforce_id(results[0]["id"])
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [WhoId]",
                "fields": ["WhoId"],
            }
        ],
    }
    assert sorted(r[KEY] for r in fake.records("Task").values()) == ["k1", "k3"]

    # allOrNone: one failure rolls everything back; k1 existed so its id is still reported
    fake.fail_records("Task", {KEY: "k4"}, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "nope")
    before = fake.records("Task")
    results = sf.restful(
        path, method="PATCH", json={"allOrNone": True, "records": _tasks("k1", "k4", "k5")}
    )
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert "id" in results[0] and "id" not in results[2]
    assert fake.records("Task") == before

    results = sf.restful(path, method="PATCH", json={"records": _tasks("k1", "k5") + _tasks("k5")})
    assert results[0]["created"] is False
    assert [r["errors"][0]["statusCode"] for r in results[1:]] == ["DUPLICATE_EXTERNAL_ID"] * 2

    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful(path, method="PATCH", json={"records": _tasks(*(f"k{i}" for i in range(201)))})
    assert error_code(too_many.value) == "EXCEEDED_ID_LIMIT"


def test_collections_create_update_delete(fake: FakeSalesforce, sf: Salesforce) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "Subject": "a", "WhoId": contact},
                {"attributes": {"type": "Task"}, "Subject": "b", "WhoId": "bogus"},
            ],
        },
    )
    assert created[0]["success"] is True
    assert created[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Task"}, "id": created[0]["id"], "Status": "Completed"}
            ]
        },
    )
    assert updated == [{"id": created[0]["id"], "success": True, "errors": []}]
    assert fake.record("Task", created[0]["id"])["Status"] == "Completed"
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": created[0]["id"], "allOrNone": "false"},
    )
    assert deleted[0]["success"] is True and fake.records("Task") == {}


@pytest.mark.usefixtures("with_key")
def test_composite_task_plus_file_with_reference(fake: FakeSalesforce, sf: Salesforce) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    v = "/services/data/v59.0"
    data = base64.b64encode(b"\x89PNG fake image").decode()
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"{v}/sobjects/Task/{KEY}/SM9",
                    "referenceId": "task",
                    "body": {"Subject": "MMS", "WhoId": contact},
                },
                {
                    "method": "POST",
                    "url": f"{v}/sobjects/ContentVersion",
                    "referenceId": "file",
                    "body": {
                        "Title": "pic",
                        "PathOnClient": "pic.png",
                        "VersionData": data,
                        "FirstPublishLocationId": "@{task.id}",
                    },
                },
            ],
        },
    )
    statuses = [r["httpStatusCode"] for r in answer["compositeResponse"]]
    assert statuses == [201, 201]
    task_id = answer["compositeResponse"][0]["body"]["id"]
    (link,) = fake.records("ContentDocumentLink").values()
    assert link["LinkedEntityId"] == task_id

    halted = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"{v}/sobjects/Task/{KEY}/SM10",
                    "referenceId": "t",
                    "body": {"Subject": "ok"},
                },
                {
                    "method": "POST",
                    "url": f"{v}/sobjects/Task",
                    "referenceId": "bad",
                    "body": {"Nope__c": 1},
                },
            ],
        },
    )["compositeResponse"]
    assert [r["body"][0]["errorCode"] for r in halted] == ["PROCESSING_HALTED", "INVALID_FIELD"]
    assert len(fake.records("Task")) == 1


# --- search and query ------------------------------------------------------------------------


def test_sosl_phone_search_ignores_formatting(fake: FakeSalesforce, sf: Salesforce) -> None:
    national = fake.add_record("Contact", {"LastName": "A", "Phone": "(415) 555-0100"})
    e164 = fake.add_record("Contact", {"LastName": "B", "MobilePhone": "+1 415-555-0101"})
    lead = fake.add_record("Lead", {"LastName": "C", "Company": "X", "Phone": "415.555.0102"})
    fake.add_record("Contact", {"LastName": "D", "HomePhone": "(212) 555-0100"})
    sosl = (
        r"FIND {4155550100 OR \+14155550101 OR 415\-555\-0102} IN PHONE FIELDS "
        "RETURNING Contact(Id, Phone, MobilePhone), Lead(Id, Phone)"
    )
    found = sf.search(sosl)["searchRecords"]
    assert [(r["attributes"]["type"], r["Id"]) for r in found] == [
        ("Contact", national),
        ("Contact", e164),
        ("Lead", lead),
    ]
    assert found[0] == {
        "attributes": {
            "type": "Contact",
            "url": f"/services/data/v59.0/sobjects/Contact/{national}",
        },
        "Id": national,
        "Phone": "(415) 555-0100",
        "MobilePhone": None,
    }
    # Digits of a field must equal or END WITH the term's digits: national digits find an
    # E.164-stored number, but an E.164 term does not find a nationally formatted one.
    assert [
        r["Id"]
        for r in sf.search(r"FIND {4155550101} IN PHONE FIELDS RETURNING Contact(Id)")[
            "searchRecords"
        ]
    ] == [e164]
    assert sf.search(r"FIND {\+14155550100} IN PHONE FIELDS RETURNING Contact(Id)") == {
        "searchRecords": []
    }
    with pytest.raises(SalesforceMalformedRequest) as unescaped:
        sf.search("FIND {+14155550101} IN PHONE FIELDS RETURNING Contact(Id)")
    assert error_code(unescaped.value) == "MALFORMED_SEARCH"


@pytest.mark.usefixtures("with_key")
def test_soql_by_external_ids_ids_and_who(fake: FakeSalesforce, sf: Salesforce) -> None:
    who = fake.add_record("Contact", {"LastName": "Doe"})
    ids = [
        fake.add_record("Task", {KEY: f"k{i}", "Subject": f"s{i}", "WhoId": who if i else None})
        for i in range(3)
    ]
    by_key = sf.query(format_soql(f"SELECT Id, {KEY} FROM Task WHERE {KEY} IN {{}}", ["k1", "K2"]))
    assert by_key["totalSize"] == 2 and by_key["done"] is True
    assert {r[KEY] for r in by_key["records"]} == {"k1", "k2"}  # External IDs: case-insensitive
    assert by_key["records"][0]["attributes"]["type"] == "Task"
    by_id = sf.query(format_soql("SELECT Id FROM Task WHERE Id IN {}", [ids[0][:15], ids[2]]))
    assert [r["Id"] for r in by_id["records"]] == [ids[0], ids[2]]
    by_who = sf.query(
        format_soql(
            "SELECT Id, Subject FROM Task WHERE WhoId = {} ORDER BY Subject DESC LIMIT 5", who
        )
    )
    assert [r["Subject"] for r in by_who["records"]] == ["s2", "s1"]
    assert sf.query("SELECT COUNT() FROM Task WHERE WhoId != null")["totalSize"] == 2
    assert (
        sf.query("SELECT Id FROM Task WHERE Subject LIKE 'S%' AND NOT (Subject = 's0')")[
            "totalSize"
        ]
        == 2
    )

    fake.query_batch_size = 2
    assert len(sf.query_all("SELECT Id FROM Task")["records"]) == 3  # follows nextRecordsUrl
    for soql, code in [
        ("SELECT Nope FROM Task", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE ActivityDate = '2024-05-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM Task WHERE", "MALFORMED_QUERY"),
    ]:
        with pytest.raises(SalesforceMalformedRequest) as bad:
            sf.query(soql)
        assert error_code(bad.value) == code, soql


def test_content_version_upload_creates_document_and_link(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    contact = fake.add_record("Contact", {"LastName": "Doe"})
    payload = b"GIF89a fake bytes"
    version_id = sf.ContentVersion.create(
        {
            "Title": "photo",
            "PathOnClient": "photo.gif",
            "VersionData": base64.b64encode(payload).decode(),
            "FirstPublishLocationId": contact,
        }
    )["id"]
    assert version_id.startswith("068")
    doc_id = sf.query(
        format_soql("SELECT ContentDocumentId FROM ContentVersion WHERE Id = {}", version_id)
    )["records"][0]["ContentDocumentId"]
    assert doc_id.startswith("069")
    ((link_id, link),) = fake.records("ContentDocumentLink").items()
    assert link_id.startswith("06A")
    assert (link["ContentDocumentId"], link["LinkedEntityId"]) == (doc_id, contact)
    assert fake.file_bytes(version_id) == payload
    version = sf.ContentVersion.get(version_id)
    assert (version["FileType"], version["ContentSize"]) == ("GIF", len(payload))
    blob = sf.session.get(fake.instance_url + version["VersionData"], headers=sf.headers)
    assert blob.content == payload  # GET returns the blob field as a URL, as Salesforce does

    multipart = sf.session.post(  # the multipart form Salesforce documents for big files
        sf.base_url + "sobjects/ContentVersion",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        files={
            "entity_content": (None, '{"PathOnClient": "v.mp4"}', "application/json"),
            "VersionData": ("v.mp4", b"\x00\x01video", "video/mp4"),
        },
    )
    assert multipart.status_code == 201
    assert fake.file_bytes(multipart.json()["id"]) == b"\x00\x01video"


# --- auth --------------------------------------------------------------------------------------


def test_expired_token_in_direct_mode_raises_expired_session(
    fake: FakeSalesforce, sf: Salesforce
) -> None:
    fake.expire_tokens()
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Task")
    assert (expired.value.status, expired.value.content) == (401, ERR_INVALID_SESSION)


def test_client_credentials_flow_refreshes_after_expiry(fake: FakeSalesforce) -> None:
    # simple-salesforce only allows client credentials with a My Domain (not login/test) and
    # posts to https://acme.my.salesforce.com/...: fake.session() reroutes that to the fake.
    sf = Salesforce(
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        domain="acme.my",
        session=fake.session(),
    )
    assert sf.sf_instance == f"127.0.0.1:{fake.port}"
    assert sf.query("SELECT Id FROM Task")["totalSize"] == 0
    fake.expire_tokens()
    assert sf.Task.create({"Subject": "after refresh"})["success"] is True  # SFType path
    fake.expire_tokens()
    assert sf.query("SELECT Id FROM Task")["totalSize"] == 1  # Salesforce._call_salesforce path
    assert fake.count("POST", r"/services/oauth2/token$", status=200) == 3
    token_request = next(r for r in fake.requests if r.path == "/services/oauth2/token")
    assert token_request.form == {"grant_type": "client_credentials"}
    assert token_request.headers["authorization"].startswith("Basic ")

    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        Salesforce(
            consumer_key=fake.consumer_key,
            consumer_secret="wrong",
            domain="acme.my",
            session=fake.session(),
        )
    assert failed.value.code == "invalid_client"


def test_jwt_bearer_flow_with_signature_check(fake: FakeSalesforce, tmp_path: Path) -> None:
    private_key, public_key = generate_rsa_keypair(tmp_path)
    fake.jwt_public_key = public_key
    sf = Salesforce(
        username=fake.username,
        consumer_key=fake.consumer_key,
        privatekey_file=str(private_key),
        session=fake.session(),
    )
    assert sf.query("SELECT Id FROM Contact")["done"] is True
    assertion = next(r for r in fake.requests if "oauth2" in r.path).form
    assert assertion["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"

    (tmp_path / "other").mkdir()
    other_key, _ = generate_rsa_keypair(tmp_path / "other")  # a key the fake does not know
    with pytest.raises(SalesforceAuthenticationFailed) as bad_signature:
        Salesforce(
            username=fake.username,
            consumer_key=fake.consumer_key,
            privatekey_file=str(other_key),
            session=fake.session(),
        )
    assert (bad_signature.value.code, bad_signature.value.auth_message) == (
        "invalid_grant",
        "invalid assertion",
    )
    with pytest.raises(SalesforceAuthenticationFailed) as bad_issuer:
        Salesforce(
            username=fake.username,
            consumer_key="someone-else",
            privatekey_file=str(private_key),
            session=fake.session(),
        )
    assert bad_issuer.value.code == "invalid_client_id"


def test_password_flow_and_raw_token_endpoint(fake: FakeSalesforce) -> None:
    sf = Salesforce(
        username=fake.username,
        password=fake.password,
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        session=fake.session(),
    )
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(
            username=fake.username,
            password="wrong",
            consumer_key=fake.consumer_key,
            consumer_secret=fake.consumer_secret,
            session=fake.session(),
        )

    token = (
        fake.session()
        .post(
            fake.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": fake.consumer_key,
                "client_secret": fake.consumer_secret,
            },
        )
        .json()
    )
    assert set(token) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert (token["instance_url"], token["token_type"]) == (fake.instance_url, "Bearer")


def test_oauth_without_rerouting_needs_a_domain_hack(fake: FakeSalesforce) -> None:
    """simple-salesforce builds https://{domain}.salesforce.com/services/oauth2/token; a domain
    ending in '?x=' turns the '.salesforce.com/...' tail into a query string."""
    sf = Salesforce(
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        domain=f"127.0.0.1:{fake.port}/services/oauth2/token?ignored=",
        session=fake.session(route_salesforce_hosts=False),
    )
    assert sf.query("SELECT Id FROM Task")["totalSize"] == 0


# --- injected failures, timing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "exception"),
    [
        (403, ERR_TOTAL_REQUESTS, SalesforceRefusedRequest),
        (403, ERR_CONCURRENT_REQUESTS, SalesforceRefusedRequest),
        (503, ERR_SERVER_UNAVAILABLE, SalesforceGeneralError),
        (400, validation_error("Subject is bad", ["Subject"]), SalesforceMalformedRequest),
        (400, ERR_UNABLE_TO_LOCK_ROW, SalesforceMalformedRequest),
        (401, ERR_INVALID_SESSION, SalesforceExpiredSession),
        (404, [{"errorCode": "NOT_FOUND", "message": "gone"}], SalesforceResourceNotFound),
    ],
)
def test_injected_errors_surface_as_simple_salesforce_exceptions(
    fake: FakeSalesforce, sf: Salesforce, status: int, body: list, exception: type
) -> None:
    fake.inject("POST", r"/sobjects/Task/?$", status, body, times=1)
    with pytest.raises(exception) as raised:
        sf.Task.create({"Subject": "x"})
    assert (raised.value.status, raised.value.content) == (status, body)
    assert sf.Task.create({"Subject": "x"})["success"] is True  # times=1: next call is normal
    assert len(fake.records("Task")) == 1  # the injected call changed nothing


def test_injected_401_is_refreshed_transparently_with_oauth(fake: FakeSalesforce) -> None:
    sf = Salesforce(
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        domain="acme.my",
        session=fake.session(),
    )
    fake.inject("GET", r"/query/", 401, ERR_INVALID_SESSION)
    assert sf.query("SELECT Id FROM Task")["totalSize"] == 0
    assert fake.count("POST", r"oauth2/token") == 2


@pytest.mark.usefixtures("with_key")
def test_processed_then_hung_request_leaves_an_unknown_outcome(
    fake: FakeSalesforce,
) -> None:
    sf = Salesforce(
        instance_url=fake.instance_url,
        session_id=fake.session_id,
        session=fake.session(timeout=0.3),
    )
    fake.inject_delay("PATCH", rf"/sobjects/Task/{KEY}/", seconds=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"})
    assert len(fake.records("Task")) == 1  # it was written although the client gave up
    assert sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"}) == 200  # safe retry
    assert len(fake.records("Task")) == 1


def test_latency_and_concurrency_limit(fake: FakeSalesforce) -> None:
    fake.latency = 0.15
    fake.concurrent_limit = 1
    clients = [
        Salesforce(
            instance_url=fake.instance_url, session_id=fake.session_id, session=fake.session()
        )
        for _ in range(2)
    ]
    outcomes: list[object] = []

    def call(client: Salesforce) -> None:
        try:
            outcomes.append(client.query("SELECT Id FROM Task")["totalSize"])
        except SalesforceRefusedRequest as refused:
            outcomes.append(refused.content)

    started = time.monotonic()
    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.15
    assert sorted(outcomes, key=str) == sorted([0, ERR_CONCURRENT_REQUESTS], key=str)


def test_requests_are_recorded(fake: FakeSalesforce, sf: Salesforce) -> None:
    sf.Task.create({"Subject": "hello"})
    sf.query("SELECT Id FROM Task")
    (create,) = [r for r in fake.requests if r.method == "POST"]
    assert (create.path, create.json, create.status) == (
        "/services/data/v59.0/sobjects/Task/",
        {"Subject": "hello"},
        201,
    )
    assert fake.count("GET", r"/query/") == 1
    assert fake.requests[-1].query == {"q": "SELECT Id FROM Task"}


# --- Metadata API -------------------------------------------------------------------------------


def _key_field(sf: Salesforce, full_name: str = f"Activity.{KEY}") -> object:
    return sf.mdapi.CustomField(
        fullName=full_name,
        label="MMS Message Key",
        type=sf.mdapi.FieldType("Text"),
        length=255,
        externalId=True,
        unique=True,
    )


def test_mdapi_creates_the_external_id_field(
    fake: FakeSalesforce, sf: Salesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sf.mdapi talks through zeep's own requests.Session (not the one given to Salesforce),
    # which honours REQUESTS_CA_BUNDLE.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
    assert sf.mdapi.CustomField.read([f"Activity.{KEY}"]).fullName is None  # not there yet
    sf.mdapi.CustomField.create([_key_field(sf)])
    read = sf.mdapi.CustomField.read([f"Activity.{KEY}"])
    assert (read.fullName, read.externalId, read.unique, read.length) == (
        f"Activity.{KEY}",
        True,
        True,
        255,
    )
    described = next(f for f in sf.Task.describe()["fields"] if f["name"] == KEY)
    assert (described["externalId"], described["unique"]) == (True, True)
    assert sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"}) == 201

    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        sf.mdapi.CustomField.create([_key_field(sf)])
    with pytest.raises(
        Exception, match="FIELD_INTEGRITY_EXCEPTION"
    ):  # Task fields live on Activity
        sf.mdapi.CustomField.create([_key_field(sf, "Task.Other_Key__c")])
    sf.mdapi.CustomField.upsert([_key_field(sf)])  # idempotent alternative to create


def test_mdapi_denied_and_field_level_security(
    fake: FakeSalesforce, sf: Salesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
    fake.deny_metadata = True
    with pytest.raises(zeep.exceptions.Fault) as denied:
        sf.mdapi.CustomField.create([_key_field(sf)])
    assert denied.value.code == "sf:INSUFFICIENT_ACCESS"

    fake.deny_metadata = False
    fake.require_fls_grant = True  # a new field is invisible until a permission set grants it
    sf.mdapi.CustomField.create([_key_field(sf)])
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"})
    mdapi = sf.mdapi
    grant = mdapi.PermissionSet(
        fullName="MMS_Connector",
        label="MMS Connector",
        fieldPermissions=[
            mdapi.PermissionSetFieldPermissions(
                field=f"Activity.{KEY}", readable=True, editable=True
            )
        ],
    )
    mdapi.PermissionSet.upsert([grant])
    assert sf.Task.upsert(format_external_id(KEY, "SM1"), {"Subject": "x"}) == 201
