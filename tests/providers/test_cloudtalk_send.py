"""CloudTalk sms/send.json: the exact request, 200-with-`success: false`, failure classification."""

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
from connector.providers.cloudtalk_send import CloudTalkSender
from tests.providers.factories import (
    LINE,
    OTHER_PARTY,
    SEND_MEDIA,
    SEND_TEXT,
    FakeClock,
    outbound_message,
)

BASE_URL = "https://cloudtalk.example.test"
SEND_URL = f"{BASE_URL}/api/sms/send.json"
KEY_ID = "cloudtalk-key-id"
KEY_SECRET = "cloudtalk-key-s3cret"
NOW = 1_777_629_600.0


def accepted(**data: str) -> dict[str, object]:
    """CloudTalk's success answer, echoing the message as its spec shows."""
    echo = {"recipient": OTHER_PARTY, "message": SEND_TEXT, "sender": LINE, "country_code": "US"}
    return {"responseData": {"success": True, "data": {**echo, **data}}}


def refused(reason: str) -> dict[str, object]:
    return {"responseData": {"success": False, "data": reason}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(clock: FakeClock) -> Iterator[CloudTalkSender]:
    with CloudTalkSender(
        KEY_ID,
        KEY_SECRET,
        BASE_URL,
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall_clock=lambda: NOW,
    ) as built:
        yield built


def sent_json(route: respx.Route) -> object:
    return json.loads(route.calls.last.request.content)


def test_sends_sender_recipient_message_and_images_with_basic_auth(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=accepted())

    sender.send(outbound_message())

    request = route.calls.last.request
    expected_auth = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"], "CloudTalk's edge refuses requests without one"
    assert sent_json(route) == {
        "sender": LINE,
        "recipient": OTHER_PARTY,
        "message": SEND_TEXT,
        "images_by_url": SEND_MEDIA,
    }


def test_a_text_only_message_carries_no_images_by_url(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=accepted())

    sender.send(outbound_message(media_urls=[]))

    assert sent_json(route) == {"sender": LINE, "recipient": OTHER_PARTY, "message": SEND_TEXT}


def test_cloudtalk_receives_exactly_the_urls_given_even_beyond_its_five_url_limit(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=accepted())
    urls = [f"https://connector.example.test/media/{i}.png" for i in range(7)]

    sender.send(outbound_message(media_urls=urls))

    assert sent_json(route)["images_by_url"] == urls  # type: ignore[index]


def test_a_media_only_message_sends_an_empty_message_text(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=accepted())

    sender.send(outbound_message(text=""))

    assert sent_json(route)["message"] == ""  # type: ignore[index]


def test_the_aircall_number_id_is_not_needed_for_cloudtalk(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(200, json=accepted())

    sender.send(outbound_message(provider_line_id=None))


def test_success_gives_a_sent_receipt_without_a_message_id(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(200, json=accepted())

    receipt = sender.send(outbound_message())

    assert receipt.provider_message_id is None
    assert receipt.status is DeliveryStatus.SENT
    assert receipt.raw_status is None


@pytest.mark.parametrize(
    "body",
    [
        {"success": True, "data": {}},
        {"responseData": {"success": "true", "data": {}}},
    ],
    ids=["unwrapped as the schema shows", "success as a string as the example shows"],
)
def test_success_is_read_wrapped_or_not_and_as_a_string(
    sender: CloudTalkSender, respx_mock: respx.MockRouter, body: dict[str, object]
):
    respx_mock.post(SEND_URL).respond(200, json=body)

    assert sender.send(outbound_message()).status is DeliveryStatus.SENT


@pytest.mark.parametrize(
    "reason",
    [
        "Insufficient Funds",
        "Not allowed country.",
        "Unknown number",
        "Bad number configuration",
        "SMS send failed",
        "Something CloudTalk has never documented",
    ],
)
def test_a_200_with_success_false_is_a_permanent_failure_with_cloudtalks_reason(
    sender: CloudTalkSender, respx_mock: respx.MockRouter, reason: str
):
    route = respx_mock.post(SEND_URL).respond(200, json=refused(reason))

    with pytest.raises(Permanent) as caught:
        sender.send(outbound_message())

    assert reason in str(caught.value)
    assert route.call_count == 1


@pytest.mark.parametrize("reason", ["Limit exceeded", "limit exceeded."])
def test_a_200_with_success_false_and_limit_exceeded_is_transient(
    sender: CloudTalkSender, respx_mock: respx.MockRouter, reason: str
):
    respx_mock.post(SEND_URL).respond(200, json=refused(reason))

    with pytest.raises(Transient, match=r"(?i)limit exceeded"):
        sender.send(outbound_message())


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>OK</html>"),
        httpx.Response(200),
        httpx.Response(200, json={"responseData": {"data": {}}}),
        httpx.Response(200, json={"responseData": {"success": "maybe"}}),
    ],
    ids=["html", "empty", "no success flag", "unreadable success flag"],
)
def test_a_200_whose_success_cannot_be_read_is_an_unknown_outcome(
    sender: CloudTalkSender, respx_mock: respx.MockRouter, response: httpx.Response
):
    respx_mock.post(SEND_URL).mock(return_value=response)

    with pytest.raises(OutcomeUnknown, match="may have been sent"):
        sender.send(outbound_message())


def test_403_insufficient_funds_is_permanent_with_that_text(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(
        403, json={"responseData": {"status": 403, "message": "Insufficient Funds"}}
    )

    with pytest.raises(Permanent) as caught:
        sender.send(outbound_message())

    assert type(caught.value) is Permanent
    assert "Insufficient Funds" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "response", "error", "words"),
    [
        pytest.param(400, {"responseData": {"status": 400, "message": "Bad request"}},
                     Permanent, "Bad request", id="400 is permanent with CloudTalk's message"),
        pytest.param(404, {"responseData": {"status": 404, "message": "Not Found"}},
                     Permanent, "Not Found", id="404 is permanent"),
        pytest.param(422, {"responseData": {"status": 422, "message": "Invalid recipient"}},
                     Permanent, "Invalid recipient", id="422 is permanent"),
        pytest.param(401, {"responseData": {"status": 401, "message": "Unauthorized action"}},
                     CredentialsError, "Unauthorized action", id="401 is a credentials error"),
        pytest.param(403, "<html>Forbidden</html>", CredentialsError, "Forbidden",
                     id="403 from the edge is a credentials error"),
        pytest.param(500, {"responseData": {"status": 500, "message": "Something went wrong."}},
                     OutcomeUnknown, "Something went wrong", id="500 is an unknown outcome"),
        pytest.param(502, None, OutcomeUnknown, "Bad Gateway", id="502 is an unknown outcome"),
        pytest.param(504, None, OutcomeUnknown, "Gateway Timeout",
                     id="504 is an unknown outcome"),
        pytest.param(503, None, Transient, "Service Unavailable", id="503 is transient"),
    ],
)  # fmt: skip
def test_http_errors_are_classified_by_whether_cloudtalk_can_have_sent(
    sender: CloudTalkSender,
    respx_mock: respx.MockRouter,
    status: int,
    response: object,
    error: type[Exception],
    words: str,
):
    if isinstance(response, str):
        route = respx_mock.post(SEND_URL).respond(status, html=response)
    else:
        route = respx_mock.post(SEND_URL).respond(status, json=response)

    with pytest.raises(error) as caught:
        sender.send(outbound_message())

    assert type(caught.value) is error
    assert words in str(caught.value)
    assert route.call_count == 1, "a sender never retries by itself"


def test_429_without_retry_after_waits_until_cloudtalks_reset_time(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(
        429,
        headers={
            "X-CloudTalkAPI-Limit": "60",
            "X-CloudTalkAPI-Remaining": "0",
            "X-CloudTalkAPI-ResetTime": str(int(NOW) + 35),
        },
    )

    with pytest.raises(Transient) as caught:
        sender.send(outbound_message())

    assert caught.value.retry_after == 35


def test_429_without_any_reset_header_is_transient_without_a_delay(
    sender: CloudTalkSender, respx_mock: respx.MockRouter
):
    respx_mock.post(SEND_URL).respond(429)

    with pytest.raises(Transient) as caught:
        sender.send(outbound_message())

    assert caught.value.retry_after is None


def test_sends_are_spaced_one_second_apart_at_sixty_a_minute(
    sender: CloudTalkSender, clock: FakeClock, respx_mock: respx.MockRouter
):
    route = respx_mock.post(SEND_URL).respond(200, json=accepted())

    for _ in range(3):
        sender.send(outbound_message())

    assert route.call_count == 3
    assert clock.sleeps == [1.0, 1.0]


def test_logs_never_carry_the_text_the_secret_or_full_numbers(
    sender: CloudTalkSender, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
):
    respx_mock.post(SEND_URL).mock(
        side_effect=[
            httpx.Response(200, json=accepted()),
            httpx.Response(200, json=refused("Unknown number")),
        ]
    )
    caplog.set_level(logging.DEBUG)

    sender.send(outbound_message())
    with pytest.raises(Permanent):
        sender.send(outbound_message())

    logged = caplog.text
    assert "Unknown number" in logged
    for secret in (SEND_TEXT, KEY_SECRET, LINE, OTHER_PARTY, *SEND_MEDIA):
        assert secret not in logged
