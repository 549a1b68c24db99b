"""The providers' admin APIs read the shapes the providers document, and fail with their words."""

from __future__ import annotations

import httpx
import pytest
import respx

from connector.core.errors import CredentialsError, Permanent, Transient
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.providers.aircall_admin import AircallAdmin, Webhook
from connector.providers.cloudtalk_admin import CloudTalkAdmin

AIRCALL = "https://api.aircall.io"
CLOUDTALK = "https://my.cloudtalk.io"


@respx.mock
def test_cloudtalk_numbers_read_either_wrapper_and_numbers_without_plus() -> None:
    respx.get(f"{CLOUDTALK}/api/numbers/index.json").respond(
        json={
            "responseData": {
                "itemsCount": 2,
                "pageCount": 1,
                "pageNumber": 1,
                "limit": 1000,
                "data": [
                    {
                        "CallNumber": {
                            "id": "123",
                            "internal_name": "Sales",
                            "caller_id_e164": 442012345678,
                        }
                    },
                    {
                        "Number": {
                            "id": 7,
                            "internal_name": "Support",
                            "caller_id_e164": "+13125550100",
                        }
                    },
                ],
            }
        }
    )

    with CloudTalkAdmin("id", "secret", CLOUDTALK) as api:
        numbers = api.numbers()

    assert numbers == [
        ProviderNumber(Provider.CLOUDTALK, "+442012345678", "123", "Sales"),
        ProviderNumber(Provider.CLOUDTALK, "+13125550100", "7", "Support"),
    ]


@respx.mock
def test_aircall_numbers_prefer_e164_digits_and_follow_next_page_links() -> None:
    respx.get(f"{AIRCALL}/v1/numbers", params={"page": "2"}).respond(
        json={
            "numbers": [
                {"id": 2, "name": "AU", "digits": "0491 570 156", "e164_digits": "+61491570156"}
            ],
            "meta": {"next_page_link": None},
        }
    )
    respx.get(f"{AIRCALL}/v1/numbers", params={"per_page": "50"}).respond(
        json={
            "numbers": [{"id": 1, "name": "US", "digits": "+1 312-555-0100"}],
            "meta": {"next_page_link": f"{AIRCALL}/v1/numbers?page=2&per_page=50"},
        }
    )

    with AircallAdmin("id", "token", AIRCALL) as api:
        numbers = api.numbers()

    assert [(n.number, n.line_id) for n in numbers] == [
        ("+13125550100", "1"),
        ("+61491570156", "2"),
    ]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CredentialsError),
        (403, CredentialsError),
        (429, Transient),
        (503, Transient),
        (400, Permanent),
    ],
)
@respx.mock
def test_aircall_answers_are_classified(status: int, error: type[Exception]) -> None:
    respx.get(f"{AIRCALL}/v1/webhooks").respond(status, json={"message": "Nope"})

    with AircallAdmin("id", "token", AIRCALL) as api, pytest.raises(error, match="Nope"):
        api.webhooks()


@respx.mock
def test_an_unreachable_provider_is_transient() -> None:
    respx.get(f"{AIRCALL}/v1/webhooks").mock(side_effect=httpx.ConnectError("refused"))

    with (
        AircallAdmin("id", "token", AIRCALL) as api,
        pytest.raises(Transient, match="could not reach"),
    ):
        api.webhooks()


def test_a_webhook_with_its_events_in_another_order_subscribes_exactly() -> None:
    hook = Webhook("w", "https://x", ("message.sent", "message.received"), True)

    assert hook.subscribes_exactly(["message.received", "message.sent"])
    assert not hook.subscribes_exactly(["message.received"])
