"""The send job: each provider's payload, at-most-once whatever the provider does, and the
status events that come back, on both databases."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import func, select, update

from connector import bootstrap
from connector.bootstrap import Connector
from connector.config import AircallSettings, CloudTalkSettings
from connector.core.model import DeliveryStatus, Provider
from connector.media.links import attachment_url
from connector.store import conversations, queue
from connector.store.queue import JobState, utcnow
from connector.store.tables import jobs, messages
from connector.sync import outbound
from connector.sync.inbound import authenticate
from connector.sync.outbound import SendRequest
from tests.conftest import make_settings
from tests.factories import status_event, webhook_body
from tests.media.factories import jpeg, png
from tests.providers.factories import cloudtalk_body, cloudtalk_headers
from tests.sync.test_outbound_kit import (
    AIRCALL_LINE,
    AIRCALL_SEND_URL,
    CLOUDTALK_LINE,
    CLOUDTALK_SEND_URL,
    DATABASES,
    PUBLIC_URL,
    US_MOBILE,
    aircall_receipt,
    cloudtalk_ok,
    cloudtalk_refused,
    keep_upload,
    message_row,
    run_send_jobs,
    send_settings,
    sending_connector,
)

TEXT = "Here is the quote you asked for"


@pytest.fixture(params=DATABASES)
def connector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connector]:
    with sending_connector(request, tmp_path) as built:
        yield built


def send(connector: Connector, line: str = AIRCALL_LINE, **fields: Any) -> int:
    values: dict[str, Any] = {"from": line, "to": US_MOBILE, "text": TEXT, **fields}
    return outbound.submit(connector, SendRequest.model_validate(values)).message_id


def status_of(connector: Connector, message_id: int) -> DeliveryStatus:
    return DeliveryStatus(message_row(connector, message_id).status)


def send_job(connector: Connector) -> Any:
    with connector.database.read() as conn:
        return conn.execute(select(jobs).where(jobs.c.kind == "send_message")).one()


def crm_syncs(connector: Connector) -> list[str]:
    with connector.database.read() as conn:
        rows = conn.execute(select(jobs.c.subject).where(jobs.c.kind == "sync_crm"))
        return [row.subject for row in rows]


def due_now(connector: Connector) -> None:
    with connector.database.begin() as conn:
        conn.execute(update(jobs).values(run_after=utcnow() - timedelta(seconds=1)))


# -- payloads ---------------------------------------------------------------------------------


def test_aircall_gets_the_text_and_the_connectors_signed_links(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    uploads = [keep_upload(connector, png()), keep_upload(connector, jpeg(), "plan.jpg")]
    route = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt("ac-1"))
    message_id = send(connector, media=[{"upload_id": u} for u in uploads])

    run_send_jobs(connector)

    request = route.calls.last.request
    assert json.loads(request.content) == {
        "to": US_MOBILE,
        "body": TEXT,
        "mediaUrl": [
            attachment_url(PUBLIC_URL, connector.secret, 1),
            attachment_url(PUBLIC_URL, connector.secret, 2),
        ],
    }
    credentials = base64.b64encode(b"aircall-id:aircall-token").decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    row = message_row(connector, message_id)
    assert (row.status, row.provider_message_id, row.send_error) == ("sent", "ac-1", None)
    assert crm_syncs(connector) == [str(message_id)]
    assert send_job(connector).state == JobState.DONE.value


def test_cloudtalk_gets_images_by_url_and_keeps_no_id(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    upload = keep_upload(connector, png())
    route = respx_mock.post(CLOUDTALK_SEND_URL).respond(200, json=cloudtalk_ok())
    message_id = send(connector, CLOUDTALK_LINE, media=[{"upload_id": upload}])

    run_send_jobs(connector)

    assert json.loads(route.calls.last.request.content) == {
        "sender": CLOUDTALK_LINE,
        "recipient": US_MOBILE,
        "message": TEXT,
        "images_by_url": [attachment_url(PUBLIC_URL, connector.secret, 1)],
    }
    row = message_row(connector, message_id)
    assert (row.status, row.provider_message_id) == ("sent", None)


def test_a_text_only_send_carries_no_media_key(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt())
    send(connector)

    run_send_jobs(connector)

    assert json.loads(route.calls.last.request.content) == {"to": US_MOBILE, "body": TEXT}


def test_senders_pace_themselves_at_the_configured_rate(connector: Connector) -> None:
    assert connector.sender("aircall").limiter.per_minute == 60_000  # type: ignore[attr-defined]
    assert connector.sender("cloudtalk").limiter.per_minute == 60_000  # type: ignore[attr-defined]
    assert AircallSettings.model_fields["requests_per_minute"].default == 120
    assert CloudTalkSettings.model_fields["requests_per_minute"].default == 60


# -- failures, at most once --------------------------------------------------------------------


def test_cloudtalks_200_with_success_false_is_not_sent_with_its_reason(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(CLOUDTALK_SEND_URL).respond(
        200, json=cloudtalk_refused("Not allowed country.")
    )
    message_id = send(connector, CLOUDTALK_LINE)

    run_send_jobs(connector)
    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert row.status == "not_sent"
    assert row.send_error == "CloudTalk refused the message: Not allowed country."
    assert route.call_count == 1
    assert send_job(connector).state == JobState.DONE.value
    assert crm_syncs(connector) == [str(message_id)]


def test_a_timeout_after_the_request_left_is_unknown_and_never_sent_again(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL).mock(side_effect=httpx.ReadTimeout("no answer"))
    message_id = send(connector)

    run_send_jobs(connector)
    due_now(connector)
    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert row.status == "unknown"
    assert "check Aircall before resending" in row.send_error
    assert route.call_count == 1
    assert send_job(connector).state == JobState.DONE.value
    assert crm_syncs(connector) == [str(message_id)]
    [shown] = outbound.sends_to_check(connector, [DeliveryStatus.UNKNOWN])
    assert shown.id == message_id and shown.retryable


def test_an_admin_retry_sends_an_unknown_message_once_more(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL)
    route.side_effect = [
        httpx.ReadTimeout("no answer"),
        httpx.Response(200, json=aircall_receipt("ac-2")),
    ]
    message_id = send(connector)
    run_send_jobs(connector)

    retried = outbound.retry_send(connector, message_id)
    run_send_jobs(connector)

    assert retried.status is DeliveryStatus.QUEUED
    row = message_row(connector, message_id)
    assert (row.status, row.provider_message_id, row.send_error) == ("sent", "ac-2", None)
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.Response(429, headers={"Retry-After": "0.01"}),
        httpx.Response(503),
    ],
    ids=["connection refused", "429", "503"],
)
def test_a_request_that_never_reached_the_provider_is_queued_again_and_retried(
    connector: Connector, respx_mock: respx.MockRouter, failure: Any
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL)
    first = (
        {"side_effect": failure} if isinstance(failure, Exception) else {"return_value": failure}
    )
    route.mock(**first)
    message_id = send(connector)

    run_send_jobs(connector, once=True)

    assert status_of(connector, message_id) is DeliveryStatus.QUEUED
    job = send_job(connector)
    assert (job.state, job.attempts) == (JobState.QUEUED.value, 1)
    assert message_row(connector, message_id).send_error == job.last_error
    assert crm_syncs(connector) == []

    route.mock(side_effect=None, return_value=httpx.Response(200, json=aircall_receipt("ac-3")))
    due_now(connector)
    run_send_jobs(connector)

    assert status_of(connector, message_id) is DeliveryStatus.SENT
    assert route.call_count == 2


def test_a_429_waits_as_long_as_the_provider_asks(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(429, headers={"Retry-After": "30"})
    send(connector)

    run_send_jobs(connector)

    job = send_job(connector)
    run_after = queue.Job.from_row(job).run_after
    assert run_after >= utcnow() + timedelta(seconds=25)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_server_error_may_have_sent_so_it_is_unknown(
    connector: Connector, respx_mock: respx.MockRouter, status: int
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(status)
    message_id = send(connector)

    run_send_jobs(connector)

    assert status_of(connector, message_id) is DeliveryStatus.UNKNOWN


def test_a_refused_request_is_not_sent_with_the_providers_reason(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(422, json={"message": "Invalid number"})
    message_id = send(connector)

    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert row.status == "not_sent"
    assert row.send_error == "Aircall answered 422: Invalid number"


def test_refused_credentials_pause_the_provider_and_keep_the_message_queued(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(401, json={"message": "Unauthorized"})
    message_id = send(connector)

    run_send_jobs(connector)

    assert status_of(connector, message_id) is DeliveryStatus.QUEUED
    with connector.database.read() as conn:
        assert "aircall" in queue.paused_targets(conn)


def test_a_provider_without_credentials_pauses_and_sends_nothing(
    tmp_path: Path, respx_mock: respx.MockRouter
) -> None:
    connector = bootstrap.build(
        make_settings(tmp_path, **send_settings(tmp_path, aircall_api_token=None))
    )
    route = respx_mock.post(AIRCALL_SEND_URL)
    message_id = send(connector)

    run_send_jobs(connector)

    assert route.call_count == 0
    assert status_of(connector, message_id) is DeliveryStatus.QUEUED
    with connector.database.read() as conn:
        assert "CONNECTOR_AIRCALL_API_TOKEN" in queue.paused_targets(conn)["aircall"]
    connector.close()


def test_a_send_found_sending_means_a_worker_died_mid_send_so_it_is_unknown(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL)
    message_id = send(connector)
    with connector.database.begin() as conn:  # the state a worker killed mid-request leaves
        conn.execute(update(messages).values(status=DeliveryStatus.SENDING.value))

    run_send_jobs(connector)

    assert route.call_count == 0
    row = message_row(connector, message_id)
    assert row.status == "unknown"
    assert "stopped before the provider answered" in row.send_error
    assert crm_syncs(connector) == [str(message_id)]


def test_a_worker_that_lost_its_jobs_lease_never_sends(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL)
    message_id = send(connector)
    with connector.database.begin() as conn:
        job = queue.claim(conn, "worker-a", timedelta(seconds=60))
        assert job is not None
        conn.execute(update(jobs).values(worker="worker-b"))  # another worker took it over

    connector.handlers["send_message"](job)

    assert route.call_count == 0
    assert status_of(connector, message_id) is DeliveryStatus.QUEUED


def test_a_line_removed_from_lines_yaml_is_not_sent(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(AIRCALL_SEND_URL)
    message_id = send(connector)
    lines = connector.settings.mappings_dir / "lines.yaml"
    lines.write_text(lines.read_text().replace(AIRCALL_LINE, "+13125550177"))
    connector.registry.reload(force=True)

    run_send_jobs(connector)

    assert route.call_count == 0
    row = message_row(connector, message_id)
    assert row.status == "not_sent"
    assert "no longer one of this connector's lines" in row.send_error


def test_a_job_that_keeps_failing_past_the_jobs_age_is_not_sent(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).mock(side_effect=httpx.ConnectError("refused"))
    message_id = send(connector)
    with connector.database.begin() as conn:
        conn.execute(update(jobs).values(created_at=utcnow() - timedelta(days=10)))

    run_send_jobs(connector)

    row = message_row(connector, message_id)
    assert row.status == "not_sent"
    assert row.send_error.startswith("gave up after 1 attempts")
    assert send_job(connector).state == JobState.DONE.value


def test_retry_is_refused_for_a_send_that_went_out(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt())
    message_id = send(connector)
    run_send_jobs(connector)

    with pytest.raises(outbound.NotRetryable):
        outbound.retry_send(connector, message_id)


# -- statuses coming back ----------------------------------------------------------------------


def test_aircalls_status_event_moves_the_send_to_delivered_and_queues_the_crm(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt("ac-9"))
    message_id = send(connector)
    run_send_jobs(connector)

    event = status_event("ac-9", DeliveryStatus.DELIVERED)
    with connector.database.begin() as conn:
        conversations.record_event(conn, event, webhook_body(event), crms=connector.crms)

    assert status_of(connector, message_id) is DeliveryStatus.DELIVERED
    assert crm_syncs(connector) == [str(message_id), str(message_id)]


def test_a_status_that_outran_the_providers_answer_is_applied_with_it(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt("ac-early"))
    message_id = send(connector)
    event = status_event("ac-early", DeliveryStatus.DELIVERED)
    with connector.database.begin() as conn:
        conversations.record_event(conn, event, webhook_body(event), crms=connector.crms)

    run_send_jobs(connector)

    assert status_of(connector, message_id) is DeliveryStatus.DELIVERED


def _cloudtalk_sent(connector: Connector, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "message_id": "884422",
        "internal_number": CLOUDTALK_LINE,
        "external_number": US_MOBILE,
        "text": TEXT,
        "media_urls": [],
        "status": "delivered",
        **fields,
    }
    body = cloudtalk_body("message.sent", **values)
    event = authenticate(connector.settings, Provider.CLOUDTALK, cloudtalk_headers(), body)
    with connector.database.begin() as conn:
        return conversations.record_event(conn, event, body, crms=connector.crms)


def message_count(connector: Connector) -> int:
    with connector.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def test_cloudtalks_message_sent_event_is_matched_to_our_send_and_delivers_it(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CLOUDTALK_SEND_URL).respond(200, json=cloudtalk_ok())
    message_id = send(connector, CLOUDTALK_LINE)
    run_send_jobs(connector)

    result = _cloudtalk_sent(connector)

    assert result.message_id == message_id
    assert message_count(connector) == 1
    row = message_row(connector, message_id)
    assert (row.provider_message_id, row.status) == ("884422", "delivered")
    assert crm_syncs(connector) == [str(message_id), str(message_id)]


def test_a_cloudtalk_message_with_other_text_is_not_taken_for_ours(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CLOUDTALK_SEND_URL).respond(200, json=cloudtalk_ok())
    message_id = send(connector, CLOUDTALK_LINE)
    run_send_jobs(connector)

    result = _cloudtalk_sent(connector, text="Sent by an agent from the CloudTalk app")

    assert result.message_id != message_id
    assert message_row(connector, message_id).provider_message_id is None


def test_a_send_older_than_the_window_is_not_adopted(
    connector: Connector, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(CLOUDTALK_SEND_URL).respond(200, json=cloudtalk_ok())
    message_id = send(connector, CLOUDTALK_LINE)
    run_send_jobs(connector)
    with connector.database.begin() as conn:
        conn.execute(update(messages).values(created_at=utcnow() - timedelta(minutes=16)))

    result = _cloudtalk_sent(connector)

    assert result.message_id != message_id
    assert message_count(connector) == 2
