"""The CRM cards' read model over HTTP: a compose token (Salesforce Apex) or HubSpot's signature
v3 (a HubSpot app card's `hubspot.fetch()`) reads one record's recent messages, their media,
alerts, conversation links, a composer link and the reason a send would be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.api.record_view import NO_NUMBER_TEXT
from connector.bootstrap import Connector
from connector.config import Settings
from connector.core import catalogue
from connector.core.model import CrmContact
from connector.media.page_links import verify_compose
from connector.store import conversations
from connector.store.conversations import AttachmentState
from connector.store.crm_cache import SqlContactCache
from connector.store.tables import attachments
from tests.conftest import make_settings
from tests.factories import (
    SENT_AT,
    attachment,
    message,
    outbound_message,
    received_event,
    webhook_body,
)
from tests.media.factories import png, settle, stored

PUBLIC = "https://connector.example.test"
APP_SECRET = "3a9e5c1f-7b2d-4e8a-9c6f-0d1b2e3f4a5b"
COMPOSE = "crm-card-5d2b8e1f7a4c9e3b0d6f2a8c4e1b7d9f"
READ = "scripts-1c7e4a9f2b6d8e3a0f5c1b9d4e7a2f6c"
ALICE = "+14155552671"
US_SALES = "+14155550100"  # Aircall, SMS MMS (mappings/lines.yaml)
PATH = "/v1/records/hubspot/contact/901/conversation"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        api_tokens=[f"crm-card:compose:{COMPOSE}", f"scripts:read:{READ}"],
        hubspot_app_client_secret=APP_SECRET,
        aircall_api_id="aircall-id",
        aircall_api_token="aircall-token",
    )


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def bearer(token: str = COMPOSE) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def record(connector: Connector, msg: Any) -> tuple[int, list[int]]:
    event = received_event(msg)
    with connector.database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event), crms=())
    assert result.message_id is not None
    with connector.database.read() as conn:
        ids = list(
            conn.execute(
                select(attachments.c.id)
                .where(attachments.c.message_id == result.message_id)
                .order_by(attachments.c.position)
            ).scalars()
        )
    return result.message_id, ids


def alice_with_messages(connector: Connector) -> dict[str, int]:
    """Alice (HubSpot contact 901) sent six pictures (one still loading, one unsupported, one
    failed) and got an answer; Bob, another contact, wrote too."""
    files = tuple(attachment(name=f"IMG_{n}.png", declared_type=None) for n in range(6))
    received, ids = record(
        connector, message(line_number=US_SALES, other_party=ALICE, attachments=files)
    )
    for attachment_id in ids[:3]:
        stored(connector.database, connector.media_store, attachment_id, png(), "image/png")
    settle(connector.database, ids[3], AttachmentState.UNSUPPORTED)
    settle(connector.database, ids[4], AttachmentState.UNAVAILABLE)  # ids[5] stays pending
    answer, _ = record(
        connector,
        outbound_message(
            line_number=US_SALES, other_party=ALICE, sent_at=SENT_AT + timedelta(minutes=3)
        ),
    )
    record(connector, message(line_number=US_SALES, other_party="+14155553000"))
    cache = SqlContactCache(connector.database)
    cache.put("hubspot", ALICE, CrmContact(crm_object="contacts", crm_id="901"))
    cache.put("hubspot", "+14155553000", CrmContact(crm_object="contacts", crm_id="902"))
    return {"received": received, "answer": answer}


def test_a_compose_token_reads_the_records_latest_messages_with_media_and_alerts(
    client: TestClient, connector: Connector
) -> None:
    ids = alice_with_messages(connector)

    response = client.get(PATH, headers=bearer())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"] == {"crm": "hubspot", "object": "contact", "id": "901"}
    assert body["numbers"] == [ALICE]
    assert [m["id"] for m in body["messages"]] == [ids["answer"], ids["received"]]
    assert body["next_before"] is None
    assert body["preview_count"] == 4
    answer, received = body["messages"]
    assert (answer["direction"], answer["status_label"], answer["media"]) == (
        "outbound",
        "Sent",
        [],
    )
    assert received["line_label"] == "US Sales"
    media = received["media"]
    assert [m["state"] for m in media] == [
        "stored",
        "stored",
        "stored",
        "unsupported",
        "unavailable",
        "pending",
    ]
    assert all(m["url"].startswith(f"{PUBLIC}/media/") for m in media[:3])
    assert [m["thumbnail_url"] for m in media[:3]] == [m["url"] for m in media[:3]]
    assert [m["notice"] for m in media[3:]] == [
        catalogue.INBOUND_UNSUPPORTED_TEXT,
        catalogue.MEDIA_UNAVAILABLE_TEXT,
        "Loading…",
    ]
    assert (received["previews"], received["more"], received["loading"]) == (3, 0, 1)
    assert received["alerts"] == [
        catalogue.INBOUND_UNSUPPORTED_TEXT,
        catalogue.MEDIA_UNAVAILABLE_TEXT,
    ]
    thumbnail = client.get(media[0]["url"].removeprefix(PUBLIC))
    assert (thumbnail.status_code, thumbnail.content) == (200, png())


def test_a_medium_still_being_captured_is_loading_not_an_error(
    client: TestClient, connector: Connector
) -> None:
    record(connector, message(other_party=ALICE, attachments=(attachment(),)))
    SqlContactCache(connector.database).put(
        "hubspot", ALICE, CrmContact(crm_object="contacts", crm_id="901")
    )

    (only,) = client.get(PATH, headers=bearer()).json()["messages"]

    assert only["media"][0]["notice"] == "Loading…"
    assert only["alerts"] == []


def test_the_composer_link_opens_the_composer_for_this_record_and_the_contacts_number(
    client: TestClient, connector: Connector
) -> None:
    alice_with_messages(connector)

    body = client.get(PATH, headers=bearer()).json()

    composer = body["composer"]
    assert composer["url"].startswith(f"{PUBLIC}/compose?token=")
    grant = verify_compose(connector.secret, composer["url"].split("token=")[1])
    assert (grant.record.system, grant.record.object, grant.record.record_id) == (
        "hubspot",
        "contact",
        "901",
    )
    assert grant.to == composer["to"] == ALICE
    assert body["send_refusal"] is None
    (conversation,) = body["conversations"]
    assert conversation["other_party"] == ALICE
    page = client.get(conversation["url"].removeprefix(PUBLIC))
    assert page.status_code == 200 and "IMG_0.png" in page.text


def test_to_chooses_the_composers_recipient_but_never_whose_messages_are_shown(
    client: TestClient, connector: Connector
) -> None:
    alice_with_messages(connector)

    body = client.get(
        "/v1/records/hubspot/contact/903/conversation",
        params={"to": "(415) 555-3000"},
        headers=bearer(),
    ).json()

    assert body["messages"] == [] and body["numbers"] == []  # Bob's thread is record 902's
    assert body["composer"]["to"] == "+14155553000"


def test_a_record_without_a_number_has_no_composer_and_says_why(
    client: TestClient, connector: Connector
) -> None:
    body = client.get("/v1/records/salesforce/Lead/00Q1/conversation", headers=bearer()).json()

    assert (body["messages"], body["composer"]) == ([], None)
    assert body["send_refusal"] == NO_NUMBER_TEXT


def test_send_refusal_is_the_rules_reason_when_no_line_can_send(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        api_tokens=[f"crm-card:compose:{COMPOSE}"],
        aircall_api_id="aircall-id",
        aircall_api_token="aircall-token",
        aircall_account_state="trial",  # Aircall's policy keeps trials sending; CloudTalk's not
        cloudtalk_account_state="no_credit",
        aircall_policy={"disabled_account_states": ["trial"]},
    )
    built = bootstrap.build(settings)
    try:
        with TestClient(create_app(built)) as client:
            body = client.get(PATH, params={"to": ALICE}, headers=bearer()).json()
    finally:
        built.close()

    assert body["send_refusal"] == catalogue.account_disabled("trial").message


def test_pages_go_back_in_time_with_next_before(client: TestClient, connector: Connector) -> None:
    ids = [
        record(
            connector,
            message(other_party=ALICE, attachments=(), sent_at=SENT_AT + timedelta(minutes=n)),
        )[0]
        for n in range(5)
    ]
    SqlContactCache(connector.database).put(
        "hubspot", ALICE, CrmContact(crm_object="contacts", crm_id="901")
    )

    first = client.get(PATH, params={"limit": 3}, headers=bearer()).json()
    second = client.get(
        PATH, params={"limit": 3, "before": first["next_before"]}, headers=bearer()
    ).json()

    assert [m["id"] for m in first["messages"]] == ids[:1:-1]
    assert [m["id"] for m in second["messages"]] == [ids[1], ids[0]]
    assert second["next_before"] is None


def test_a_to_that_is_no_number_is_left_out_and_a_token_without_compose_is_403(
    client: TestClient, connector: Connector
) -> None:
    alice_with_messages(connector)

    body = client.get(PATH, params={"to": "ask the front desk"}, headers=bearer()).json()

    assert body["composer"]["to"] == ALICE
    refused = client.get(PATH, headers=bearer(READ))
    assert refused.status_code == 403
    assert "compose" in refused.json()["detail"]


# -- HubSpot signature v3 ------------------------------------------------------------------------

HUBSPOT_QUERY = {
    "userId": "77",
    "userEmail": "rep@example.com",
    "appId": "1234",
    "portalId": "62515",
}


def signed(
    path: str = PATH,
    query: dict[str, str] | None = None,
    *,
    secret: str = APP_SECRET,
    age: float = 0.0,
    method: str = "GET",
) -> tuple[str, dict[str, str]]:
    """The path+query HubSpot calls and the headers it signs them with."""
    target = f"{path}?{urlencode({**(query or {}), **HUBSPOT_QUERY})}"
    timestamp = str(int((time.time() - age) * 1000))
    uri = (PUBLIC + target).replace("%40", "@")
    digest = hmac.new(
        secret.encode(), f"{method}{uri}{timestamp}".encode(), hashlib.sha256
    ).digest()
    return target, {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def test_a_request_hubspot_signed_reads_the_record_without_a_token(
    client: TestClient, connector: Connector
) -> None:
    ids = alice_with_messages(connector)
    target, headers = signed(query={"limit": "1"})

    response = client.get(target, headers=headers)

    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["messages"]] == [ids["answer"]]


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "stale", "altered record", "altered query", "wrong secret", "no timestamp"],
)
def test_unsigned_stale_or_altered_hubspot_requests_are_401(
    client: TestClient, tamper: str
) -> None:
    target, headers = signed(age=301 if tamper == "stale" else 0)
    if tamper == "unsigned":
        headers = {}
    elif tamper == "altered record":
        target = target.replace("/contact/901/", "/contact/902/")
    elif tamper == "altered query":
        target = target.replace("portalId=62515", "portalId=1")
    elif tamper == "wrong secret":
        target, headers = signed(secret="9f8e7d6c-5b4a-4321-8fed-cba987654321")
    elif tamper == "no timestamp":
        del headers["X-HubSpot-Request-Timestamp"]

    response = client.get(target, headers=headers)

    assert response.status_code == 401
    assert "messages" not in response.json()


def test_a_hubspot_signature_reads_no_salesforce_record(client: TestClient) -> None:
    target, headers = signed("/v1/records/salesforce/Contact/003A/conversation")
    assert client.get(target, headers=headers).status_code == 403


def test_signed_requests_from_another_portal_are_403_when_the_portal_is_set(
    tmp_path: Path,
) -> None:
    built = bootstrap.build(
        make_settings(tmp_path, hubspot_app_client_secret=APP_SECRET, hubspot_portal_id=999)
    )
    try:
        with TestClient(create_app(built)) as client:
            target, headers = signed()
            response = client.get(target, headers=headers)
    finally:
        built.close()
    assert response.status_code == 403
    assert "CONNECTOR_HUBSPOT_PORTAL_ID" in response.json()["detail"]


def test_without_the_app_secret_signed_requests_are_401(tmp_path: Path) -> None:
    built = bootstrap.build(make_settings(tmp_path))
    try:
        with TestClient(create_app(built)) as client:
            target, headers = signed()
            response = client.get(target, headers=headers)
    finally:
        built.close()
    assert response.status_code == 401
    assert "CONNECTOR_HUBSPOT_APP_CLIENT_SECRET" in response.json()["detail"]
