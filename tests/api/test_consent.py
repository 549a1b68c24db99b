"""Opt-out over HTTP: a STOP webhook followed at once by a send is refused by `/validate`, by
`POST /v1/messages` and by the composer, with the same words; START re-enables; `/v1/consent`
shows the state and history and records an admin's change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.media.page_links import CrmRecord, sign_compose
from connector.store.tables import jobs, messages
from tests.conftest import API_TOKEN
from tests.providers.factories import aircall_event
from tests.sync.test_outbound_kit import AIRCALL_LINE, CLOUDTALK_LINE, US_MOBILE, build_connector

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
REFUSAL = "+1 202-555-0167 opted out of messages on May 1, 2026 (replied STOP)."


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Connector]:
    built = build_connector(tmp_path, hubspot_access_token="hubspot-token")
    yield built
    built.close()


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def reply(client: TestClient, text: str, message_id: str) -> None:
    """The recipient texts our Aircall line (the webhook Aircall sends)."""
    body = aircall_event(
        data={"id": message_id, "body": text, "external_number": US_MOBILE, "media_details": []}
    )
    assert client.post("/webhooks/aircall", json=body).status_code == 202


def draft(**overrides: Any) -> dict[str, Any]:
    return {"from": AIRCALL_LINE, "to": US_MOBILE, "text": "Your quote", **overrides}


def composer(connector: Connector) -> dict[str, str]:
    token, _ = sign_compose(connector.secret, CrmRecord("hubspot", "contact", "901"), US_MOBILE)
    return {"X-Compose-Token": token}


def count(connector: Connector, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with connector.database.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_stop_refuses_the_very_next_send_in_validate_the_api_and_the_composer(
    client: TestClient, connector: Connector
) -> None:
    reply(client, "STOP", "ac-stop-1")

    checked = client.post("/v1/messages/validate", json=draft(), headers=AUTH).json()
    sent = client.post("/v1/messages", json=draft(), headers=AUTH)
    page = composer(connector)
    lines = client.get("/compose/api/lines", headers=page).json()["lines"]
    page_check = client.post(
        "/compose/api/validate", json={"from": AIRCALL_LINE, "text": "Hi"}, headers=page
    )
    page_send = client.post(
        "/compose/api/messages", json={"from": AIRCALL_LINE, "text": "Hi"}, headers=page
    )

    assert checked["sendable"] is False
    assert checked["errors"][0] == {
        "code": "recipient_opted_out",
        "message": REFUSAL,
        "index": None,
    }
    assert sent.status_code == 422
    assert sent.json()["errors"][0]["message"] == REFUSAL
    assert all(not line["canSend"] and REFUSAL in line["sendReasons"] for line in lines)
    assert page_check.json()["sendable"] is False
    assert page_check.json()["errors"][0]["message"] == REFUSAL
    assert page_send.status_code == 422
    assert page_send.json()["errors"][0]["message"] == REFUSAL
    assert count(connector, messages) == 1  # the STOP itself; nothing was queued to send
    assert count(connector, jobs, kind="send_message") == 0


def test_the_composer_page_opens_with_send_disabled_and_the_reason(
    client: TestClient, connector: Connector
) -> None:
    reply(client, "stop", "ac-stop-2")
    token = composer(connector)["X-Compose-Token"]

    page = client.get("/compose", params={"token": token})

    assert page.status_code == 200
    assert '"canSend": false' in page.text
    assert "opted out of messages on May 1, 2026 (replied STOP)." in page.text


def test_start_re_enables_sending_and_the_history_keeps_both(
    client: TestClient, connector: Connector
) -> None:
    reply(client, "STOP", "ac-stop-3")
    reply(client, "Start", "ac-start-3")

    checked = client.post("/v1/messages/validate", json=draft(), headers=AUTH).json()
    shown = client.get(f"/v1/consent/{US_MOBILE}", headers=AUTH).json()

    assert checked["sendable"] is True
    assert shown["opted_out"] is False and shown["refusal"] is None
    assert [(c["opted_out"], c["source"], c["reason"]) for c in shown["history"]] == [
        (False, "keyword", "replied START"),
        (True, "keyword", "replied STOP"),
    ]
    assert all(c["message_id"] for c in shown["history"])
    assert client.post("/v1/messages", json=draft(), headers=AUTH).status_code == 202


def test_the_thread_view_says_the_other_party_opted_out(
    client: TestClient, connector: Connector
) -> None:
    reply(client, "STOP", "ac-stop-4")
    with connector.database.read() as conn:
        thread_id = conn.execute(select(messages.c.thread_id)).scalar_one()

    thread = client.get(f"/v1/threads/{thread_id}", headers=AUTH).json()

    assert thread["opted_out"] is True
    assert thread["send_refusal"] == REFUSAL
    assert thread["messages"][0]["text"] == "STOP"


def test_an_admin_opts_a_number_out_with_a_reason_and_every_line_refuses_it(
    client: TestClient,
) -> None:
    changed = client.post(
        "/v1/consent",
        json={
            "number": "+1 (202) 555-0167",
            "opted_out": True,
            "reason": "asked by phone",
            "source": "admin",
            "actor": "ops@example.com",
        },
        headers=AUTH,
    )
    cloudtalk = client.post(
        "/v1/messages/validate", json=draft(**{"from": CLOUDTALK_LINE}), headers=AUTH
    ).json()
    listed = client.get("/v1/consent", headers=AUTH).json()

    assert changed.status_code == 201
    assert changed.json()["source"] == "admin" and changed.json()["actor"] == "ops@example.com"
    assert cloudtalk["errors"][0]["code"] == "recipient_opted_out"
    assert cloudtalk["errors"][0]["message"].endswith("(marked by an admin: asked by phone).")
    assert listed["count"] == 1
    assert listed["numbers"][0]["number"] == US_MOBILE


def test_an_admin_opts_a_number_back_in(client: TestClient) -> None:
    reply(client, "STOP", "ac-stop-5")
    back = client.post(
        "/v1/consent",
        json={"number": US_MOBILE, "opted_out": False, "reason": "signed consent form"},
        headers=AUTH,
    )

    assert back.status_code == 201 and back.json()["source"] == "api"
    assert client.post("/v1/messages/validate", json=draft(), headers=AUTH).json()["sendable"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"number": "not a number", "opted_out": True, "reason": "x"}, "number:"),
        ({"number": US_MOBILE, "opted_out": True, "reason": "   "}, "reason:"),
        (
            {"number": US_MOBILE, "opted_out": False, "reason": "unticked", "source": "crm"},
            "a CRM cannot re-subscribe anyone",
        ),
        (
            {"number": US_MOBILE, "opted_out": True, "reason": "x", "at": "2026-05-01T10:00:00"},
            "at: give a time zone",
        ),
    ],
)
def test_a_change_that_cannot_be_made_is_422_and_keeps_nothing(
    client: TestClient, connector: Connector, body: dict[str, Any], detail: str
) -> None:
    response = client.post("/v1/consent", json=body, headers=AUTH)

    assert response.status_code == 422
    assert detail in response.text
    assert client.get("/v1/consent", headers=AUTH).json()["count"] == 0


def test_a_crm_may_report_an_opt_out(client: TestClient) -> None:
    response = client.post(
        "/v1/consent",
        json={"number": US_MOBILE, "opted_out": True, "reason": "DNC", "source": "crm"},
        headers=AUTH,
    )
    assert response.status_code == 201


def test_an_unreadable_number_is_422_and_the_routes_need_a_token(client: TestClient) -> None:
    assert client.get("/v1/consent/12", headers=AUTH).status_code == 422
    assert client.get(f"/v1/consent/{US_MOBILE}").status_code == 401
    assert client.get("/v1/consent").status_code == 401
    assert client.post("/v1/consent", json={}).status_code == 401


def test_an_admin_change_queues_the_crm_write(client: TestClient, connector: Connector) -> None:
    client.post(
        "/v1/consent",
        json={"number": US_MOBILE, "opted_out": True, "reason": "asked by e-mail"},
        headers=AUTH,
    )
    assert count(connector, jobs, kind="sync_consent", target="hubspot") == 1
