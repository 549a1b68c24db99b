"""Aircall native send: the exact request, the receipt, and at-most-once failure classification."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import respx

from connector.core.errors import CredentialsError, OutcomeUnknown, Permanent, Transient
from connector.core.model import DeliveryStatus
from connector.providers.aircall_send import AircallSender
from connector.providers.ratelimit import SendRate
from tests.providers.factories import (
    AIRCALL_NUMBER_ID,
    LINE,
    OTHER_PARTY,
    SEND_MEDIA,
    SEND_TEXT,
    FakeClock,
    outbound_message,
)

BASE_URL = "https://aircall.example.test"
SEND_URL = f"{BASE_URL}/v1/numbers/{AIRCALL_NUMBER_ID}/messages/native/send"
API_ID = "aircall-api-id"
API_TOKEN = "aircall-api-token-s3cret"
NOW = 1_777_629_600.0
MESSAGE_ID = "abcdSMc6Dc8ea2bc71ab19102c3de4f60ba18aa"
ACCEPTED = {
    "id": MESSAGE_ID,
    "status": "pending",
    "direction": "outbound",
    "created_at": 1722758201825,
    "number": {"id": int(AIRCALL_NUMBER_ID)},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(clock: FakeClock) -> Iterator[AircallSender]:
    with AircallSender(
        API_ID,
        API_TOKEN,
        BASE_URL,
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall_clock=lambda: NOW,
    ) as built:
        yield built


def sent_json(route: respx.Route) -> object:
    return json.loads(route.calls.last.request.content)


def test_sends_to_the_native_endpoint_of_the_line_with_basic_auth_and_exact_payload(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)

    sender.send(outbound_message())

    request = route.calls.last.request
    expected_auth = base64.b64encode(f"{API_ID}:{API_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"]
    assert sent_json(route) == {"to": OTHER_PARTY, "body": SEND_TEXT, "mediaUrl": SEND_MEDIA}


def test_media_urls_go_under_the_configured_field_name_when_aircall_wants_media_url(
    clock: FakeClock, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)
    with AircallSender(
        API_ID, API_TOKEN, BASE_URL, media_field="media_url", clock=clock.monotonic
    ) as sender:
        sender.send(outbound_message())

    assert sent_json(route) == {"to": OTHER_PARTY, "body": SEND_TEXT, "media_url": SEND_MEDIA}


def test_a_text_only_message_carries_no_media_field(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)

    sender.send(outbound_message(media_urls=[]))

    assert sent_json(route) == {"to": OTHER_PARTY, "body": SEND_TEXT}


def test_all_media_urls_are_passed_on_in_order_without_any_cap(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)
    urls = [f"https://connector.example.test/media/{i}.png" for i in range(12)]

    sender.send(outbound_message(media_urls=urls))

    assert sent_json(route) == {"to": OTHER_PARTY, "body": SEND_TEXT, "mediaUrl": urls}


def test_the_base_url_may_end_with_a_slash(clock: FakeClock, respx_mock: respx.MockRouter):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)
    with AircallSender(API_ID, API_TOKEN, BASE_URL + "/", clock=clock.monotonic) as sender:
        sender.send(outbound_message())

    assert route.call_count == 1


def test_the_receipt_carries_aircalls_message_id_and_pending_as_queued(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)

    receipt = sender.send(outbound_message())

    assert receipt.provider_message_id == MESSAGE_ID
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.raw_status == "pending"


def test_a_2xx_without_a_message_id_is_still_accepted_not_an_error(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(201)

    receipt = sender.send(outbound_message())

    assert receipt.provider_message_id is None
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.raw_status is None


def test_a_numeric_message_id_is_read_as_a_string(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(200, json={"id": 991, "status": "sent"})

    receipt = sender.send(outbound_message())

    assert receipt.provider_message_id == "991"
    assert receipt.status is DeliveryStatus.SENT


def test_a_line_without_an_aircall_number_id_is_permanent_and_nothing_is_sent(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)

    with pytest.raises(Permanent, match="no Aircall number id"):
        sender.send(outbound_message(provider_line_id=None))

    assert route.call_count == 0


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        pytest.param(400, {"message": "Invalid phone number"}, Permanent, "Invalid phone number",
                     id="400 is permanent with Aircall's message"),
        pytest.param(404, {"message": "Not Found"}, Permanent, "Not Found",
                     id="404 is permanent"),
        pytest.param(422, {"error": "Unprocessable", "troubleshoot": "body is too long"},
                     Permanent, "body is too long", id="422 is permanent with the troubleshoot"),
        pytest.param(401, {"message": "Unauthorized"}, CredentialsError, "Unauthorized",
                     id="401 is a credentials error"),
        pytest.param(403, {"message": "Forbidden"}, CredentialsError, "Forbidden",
                     id="403 is a credentials error"),
        pytest.param(500, {"message": "Internal error"}, OutcomeUnknown, "may have been sent",
                     id="500 after sending is an unknown outcome"),
        pytest.param(502, None, OutcomeUnknown, "Bad Gateway",
                     id="502 after sending is an unknown outcome"),
        pytest.param(504, None, OutcomeUnknown, "Gateway Timeout",
                     id="504 after sending is an unknown outcome"),
        pytest.param(503, None, Transient, "Service Unavailable",
                     id="503 never handled the request and is transient"),
        pytest.param(408, None, OutcomeUnknown, "Request Timeout",
                     id="408 is an unknown outcome"),
        pytest.param(409, {"message": "Conflict"}, Permanent, "Conflict",
                     id="409 is permanent"),
        pytest.param(302, None, Permanent, "Found",
                     id="a redirect is never followed and is permanent"),
    ],
)  # fmt: skip
def test_http_errors_are_classified_by_whether_aircall_can_have_sent(
    sender: AircallSender,
    respx_mock: respx.MockRouter,
    status: int,
    body: object,
    error: type[Exception],
    words: str,
):
    route = respx_mock.post(SEND_URL).respond(status, json=body)

    with pytest.raises(error) as caught:
        sender.send(outbound_message())

    assert type(caught.value) is error
    assert words in str(caught.value)
    assert f"answered {status}" in str(caught.value)
    assert route.call_count == 1, "a sender never retries by itself"


def test_429_without_retry_after_reads_the_aircall_reset_header_as_an_epoch(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(
        429, headers={"X-AircallApi-Limit": "120", "X-AircallApi-Reset": str(int(NOW) + 42)}
    )

    with pytest.raises(Transient) as caught:
        sender.send(outbound_message())

    assert caught.value.retry_after == 42


def test_a_429_pauses_the_next_send_until_aircalls_budget_is_back(
    sender: AircallSender, clock: FakeClock, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "20"}),
            httpx.Response(200, json=ACCEPTED),
        ]
    )
    with pytest.raises(Transient):
        sender.send(outbound_message())

    sender.send(outbound_message())

    assert clock.sleeps == [20]


def test_an_accepted_send_that_spent_the_last_request_pauses_the_next_until_the_reset(
    sender: AircallSender, clock: FakeClock, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(
        200,
        json=ACCEPTED,
        headers={"X-AircallApi-Remaining": "0", "X-AircallApi-Reset": str(int(NOW) + 25)},
    )
    sender.send(outbound_message())

    sender.send(outbound_message())

    assert clock.sleeps == [25]


def test_phone_numbers_in_aircalls_error_message_are_masked(
    sender: AircallSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(400, json={"message": f"{OTHER_PARTY} is not valid"})

    with pytest.raises(Permanent) as caught:
        sender.send(outbound_message())

    assert OTHER_PARTY not in str(caught.value)
    assert "+1********67 is not valid" in str(caught.value)


def test_logs_carry_masked_numbers_and_never_the_text_the_token_or_full_numbers(
    sender: AircallSender, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
):
    respx_mock.post(SEND_URL).mock(
        side_effect=[httpx.Response(200, json=ACCEPTED), httpx.ReadTimeout("timed out")]
    )
    caplog.set_level(logging.DEBUG)

    sender.send(outbound_message())
    with pytest.raises(OutcomeUnknown):
        sender.send(outbound_message())

    logged = caplog.text
    assert "+1********00" in logged
    for secret in (SEND_TEXT, API_TOKEN, LINE, OTHER_PARTY):
        assert secret not in logged


def test_an_injected_client_is_used_and_left_open(clock: FakeClock, respx_mock: respx.MockRouter):
    respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)
    client = httpx.Client()
    with AircallSender(API_ID, API_TOKEN, BASE_URL, client=client, clock=clock.monotonic) as s:
        s.send(outbound_message())

    assert not client.is_closed
    client.close()


def test_when_the_budget_is_spent_beyond_max_wait_nothing_is_sent_and_it_is_transient(
    clock: FakeClock, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=ACCEPTED)
    limiter = SendRate(1, clock=clock.monotonic, sleep=clock.sleep)  # one a minute
    with AircallSender(API_ID, API_TOKEN, BASE_URL, limiter=limiter, max_wait=10) as sender:
        sender.send(outbound_message())
        with pytest.raises(Transient) as caught:
            sender.send(outbound_message())

    assert caught.value.retry_after == 60
    assert route.call_count == 1
    assert clock.sleeps == []
