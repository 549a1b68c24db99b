"""Consent at send time: a STOP that arrives while a send is queued stops it, and a provider that
says the recipient unsubscribed marks the number opted out; on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from sqlalchemy import select

from connector.bootstrap import Connector
from connector.core.consent import ConsentSource
from connector.core.model import DeliveryStatus
from connector.store import consent, conversations
from connector.store.tables import jobs
from connector.sync import outbound
from connector.sync.outbound import SendRequest
from tests.factories import message, received_event, webhook_body
from tests.sync.test_outbound_kit import (
    AIRCALL_LINE,
    AIRCALL_SEND_URL,
    CLOUDTALK_LINE,
    CLOUDTALK_SEND_URL,
    DATABASES,
    US_MOBILE,
    aircall_receipt,
    cloudtalk_refused,
    message_row,
    run_send_jobs,
    sending_connector,
)


@pytest.fixture(params=DATABASES)
def connector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connector]:
    with sending_connector(request, tmp_path) as built:
        yield built


def send(connector: Connector, line: str = AIRCALL_LINE) -> int:
    request = SendRequest.model_validate({"from": line, "to": US_MOBILE, "text": "Your quote"})
    return outbound.submit(connector, request).message_id


def recipient_replies(connector: Connector, text: str) -> None:
    event = received_event(message(text=text, other_party=US_MOBILE, attachments=()))
    with connector.database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event), crms=connector.crms)
        consent.record_keywords(
            conn, [(event, result.message_id, result.thread_id, connector.crms)]
        )


def test_a_stop_that_arrives_while_the_send_is_queued_stops_it(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt())
    message_id = send(connector)

    recipient_replies(connector, "STOP")
    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert not route.called
    assert row.status == DeliveryStatus.NOT_SENT.value
    assert row.send_error == (
        "+1 202-555-0167 opted out of messages on May 1, 2026 (replied STOP)."
    )
    view = outbound.message_view(connector, message_id)
    assert view is not None and view.status_label == "Not sent"


def test_a_stop_then_start_before_the_job_runs_lets_it_go(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt())
    message_id = send(connector)

    recipient_replies(connector, "STOP")
    recipient_replies(connector, "START")
    run_send_jobs(connector)

    assert route.called
    assert message_row(connector, message_id).status == DeliveryStatus.SENT.value


def test_an_admin_retry_of_the_stopped_send_is_stopped_again(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt())
    message_id = send(connector)
    recipient_replies(connector, "STOP")
    run_send_jobs(connector)

    outbound.retry_send(connector, message_id)
    run_send_jobs(connector)

    assert not route.called
    assert message_row(connector, message_id).status == DeliveryStatus.NOT_SENT.value


def test_cloudtalk_saying_the_recipient_opted_out_marks_the_number(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CLOUDTALK_SEND_URL).respond(
        200, json=cloudtalk_refused("Recipient has opted out")
    )
    message_id = send(connector, CLOUDTALK_LINE)

    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert row.status == DeliveryStatus.NOT_SENT.value
    assert row.send_error == "CloudTalk refused the message: Recipient has opted out"
    with connector.database.read() as conn:
        state = consent.current(conn, US_MOBILE)
        queued = conn.execute(select(jobs.c.kind).where(jobs.c.kind == "sync_consent")).all()
    assert state is not None and state.opted_out
    assert state.source is ConsentSource.PROVIDER_ERROR
    assert state.message_id == message_id and state.actor == "cloudtalk"
    assert len(queued) == 1
    with pytest.raises(outbound.SendRefused, match="the provider refused a send: CloudTalk"):
        send(connector)


def test_aircall_refusing_an_unsubscribed_recipient_marks_the_number(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(
        400, json={"message": "Attempt to send to unsubscribed recipient"}
    )
    message_id = send(connector)

    run_send_jobs(connector)

    assert message_row(connector, message_id).status == DeliveryStatus.NOT_SENT.value
    with connector.database.read() as conn:
        state = consent.current(conn, US_MOBILE)
    assert state is not None and state.opted_out
    assert state.reason == "Aircall answered 400: Attempt to send to unsubscribed recipient"


def test_any_other_refusal_leaves_consent_alone(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CLOUDTALK_SEND_URL).respond(
        200, json=cloudtalk_refused("Bad number configuration")
    )
    message_id = send(connector, CLOUDTALK_LINE)

    run_send_jobs(connector)

    assert message_row(connector, message_id).status == DeliveryStatus.NOT_SENT.value
    with connector.database.read() as conn:
        assert consent.current(conn, US_MOBILE) is None
