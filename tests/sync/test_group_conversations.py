"""Group MMS (Aircall `group_message.*`) from the webhook to both CRMs: one thread per group, the
record on every participant's contact, once each, however often Aircall delivers it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.api.doctor import count_unreadable
from connector.api.pages_conversation import load_conversation
from connector.bootstrap import Connector
from connector.core.groups import SEND_REFUSAL
from connector.store.tables import events, messages, threads
from tests.conftest import API_TOKEN
from tests.fakes.salesforce import FakeSalesforce
from tests.providers.factories import LINE, PARTICIPANTS, aircall_group_event
from tests.sync import test_crm_sync as kit
from tests.sync.test_crm_sync import build, build_hubspot

# The end-to-end kit's fixtures (fakes on loopback, the webhook poster), under this module's names.
salesforce_server = kit.salesforce_server
salesforce = kit.salesforce
hubspot = kit.hubspot
post = kit.post

NATIONAL = ("(555) 123-4567", "(555) 765-4321", "(555) 987-6543")


def _deliver_twice_then_status(connector: Connector, post: Any) -> None:
    body = aircall_group_event(media_details=[])
    assert post(connector, body) == 202
    connector.worker().drain()
    assert post(connector, body) == 200  # Aircall's redelivery
    status = aircall_group_event("group_message.status_updated", status="delivered")
    post(connector, status)
    connector.worker().drain()


def test_a_group_mms_lands_once_on_each_participants_hubspot_contact(
    tmp_path: Path, hubspot: Any, post: Any
) -> None:
    contacts = {hubspot.add_contact({"phone": number}): number for number in NATIONAL}
    connector = build_hubspot(tmp_path, hubspot)

    _deliver_twice_then_status(connector, post)
    connector.worker().drain()

    assert len(hubspot.communications) == 3
    linked = {
        contact
        for record_id in hubspot.communications
        for contact in hubspot.associated_ids("communications", record_id, "contacts")
    }
    assert linked == set(contacts)
    for record_id in hubspot.communications:
        assert len(hubspot.associated_ids("communications", record_id, "contacts")) == 1
    keys = {record["mms_message_key"] for record in hubspot.communications.values()}
    assert len(keys) == 3
    threads_keys = {record["mms_thread_key"] for record in hubspot.communications.values()}
    assert len(threads_keys) == 1 and "group:" in threads_keys.pop()
    connector.close()


def test_a_group_mms_lands_once_on_each_participants_salesforce_contact(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    contacts = {
        salesforce.add_record("Contact", {"LastName": f"P{i}", "Phone": number}): number
        for i, number in enumerate(NATIONAL)
    }
    connector = build(tmp_path, salesforce)

    _deliver_twice_then_status(connector, post)

    tasks = list(salesforce.records("Task").values())
    assert len(tasks) == 3
    assert {task["WhoId"] for task in tasks} == set(contacts)
    assert len({task["MMS_Message_Key__c"] for task in tasks}) == 3
    with connector.database.read() as conn:
        assert conn.execute(select(func.count()).select_from(threads)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1
    connector.close()


def test_the_conversation_page_lists_the_participants_and_sends_are_refused(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    connector = build(tmp_path, salesforce)
    post(connector, aircall_group_event(media_details=[]))
    with connector.database.read() as conn:
        thread_id, party = conn.execute(select(threads.c.id, threads.c.other_party)).one()

    view = load_conversation(connector, thread_id)
    with TestClient(create_app(connector)) as client:
        answer = client.post(
            "/v1/messages",
            json={"from": LINE, "to": party, "text": "Hello all"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )

    assert view is not None and view.participants == PARTICIPANTS
    assert answer.status_code == 422
    assert SEND_REFUSAL in [error["message"] for error in answer.json()["errors"]]
    connector.close()


def test_a_group_event_of_an_unknown_shape_is_kept_and_answered_200(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    connector = build(tmp_path, salesforce)
    body = aircall_group_event(participants={"count": 3})

    assert post(connector, body) == 200
    assert post(connector, body) == 200

    with connector.database.read() as conn:
        kinds = conn.execute(select(events.c.kind)).scalars().all()
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
    assert kinds == ["unreadable"]
    assert count_unreadable(connector) == 1
    connector.close()
