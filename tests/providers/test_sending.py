"""What every provider's sender does alike (`providers/sending.py`), for Aircall and CloudTalk:
at-most-once failure classes, Retry-After honoured, credentials never shown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from connector.core.errors import OutcomeUnknown, Transient
from connector.providers.aircall_send import AircallSender
from connector.providers.cloudtalk_send import CloudTalkSender
from connector.providers.sending import HttpSender, Sender
from tests.providers.factories import AIRCALL_NUMBER_ID, FakeClock, outbound_message

AIRCALL_BASE = "https://aircall.example.test"
CLOUDTALK_BASE = "https://cloudtalk.example.test"


@dataclass
class Provider:
    name: str
    sender: HttpSender
    send_url: str
    credentials: tuple[str, str]


@pytest.fixture(params=["Aircall", "CloudTalk"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    clock = FakeClock()
    timing: dict[str, Any] = {"clock": clock.monotonic, "sleep": clock.sleep}
    if request.param == "Aircall":
        credentials = ("aircall-api-id", "aircall-api-token-s3cret")
        sender: HttpSender = AircallSender(*credentials, AIRCALL_BASE, **timing)
        url = f"{AIRCALL_BASE}/v1/numbers/{AIRCALL_NUMBER_ID}/messages/native/send"
    else:
        credentials = ("cloudtalk-key-id", "cloudtalk-key-s3cret")
        sender = CloudTalkSender(*credentials, CLOUDTALK_BASE, **timing)
        url = f"{CLOUDTALK_BASE}/api/sms/send.json"
    yield Provider(request.param, sender, url, credentials)
    sender.close()


def test_a_429_with_retry_after_is_transient_with_that_delay(
    provider: Provider, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(provider.send_url).respond(
        429, headers={"Retry-After": "17"}, json={"message": "Too many requests"}
    )

    with pytest.raises(Transient) as caught:
        provider.sender.send(outbound_message())

    assert caught.value.retry_after == 17


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("no connection free"),
    ],
    ids=["connection refused", "dns failure", "connect timeout", "pool timeout"],
)
def test_a_request_that_never_left_is_transient(
    provider: Provider, respx_mock: respx.MockRouter, failure: httpx.TransportError
) -> None:
    respx_mock.post(provider.send_url).mock(side_effect=failure)

    with pytest.raises(Transient) as caught:
        provider.sender.send(outbound_message())

    assert f"could not reach {provider.name}" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteTimeout("timed out"),
        httpx.WriteError("broken pipe"),
    ],
    ids=["read timeout", "read error", "connection dropped", "write timeout", "write error"],
)
def test_a_request_lost_after_it_was_sent_is_an_unknown_outcome_never_retried(
    provider: Provider, respx_mock: respx.MockRouter, failure: httpx.TransportError
) -> None:
    route = respx_mock.post(provider.send_url).mock(side_effect=failure)

    with pytest.raises(OutcomeUnknown) as caught:
        provider.sender.send(outbound_message())

    assert f"may have been sent, check {provider.name} before resending" in str(caught.value)
    assert route.call_count == 1


def test_a_sender_is_a_sender_and_its_repr_never_shows_the_credentials(
    provider: Provider,
) -> None:
    assert isinstance(provider.sender, Sender)
    for credential in provider.credentials:
        assert credential not in repr(provider.sender)


@pytest.mark.parametrize("missing", [0, 1], ids=["no id", "no secret"])
@pytest.mark.parametrize("kind", [AircallSender, CloudTalkSender])
def test_missing_credentials_are_refused_at_construction(
    kind: type[HttpSender], missing: int
) -> None:
    credentials = ["an-id", "a-secret"]
    credentials[missing] = ""

    with pytest.raises(ValueError, match="credentials are required"):
        kind(*credentials, "https://provider.example.test")
