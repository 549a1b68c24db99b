"""Every way a HubSpot call fails becomes one of our error classes, with what an admin needs:
HubSpot's message and correlation id for refusals, the wait for rate limits, a pause of the
whole target for refused credentials or a spent daily allowance."""

from __future__ import annotations

import json
import socket
import time

import pytest
import urllib3
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects.communications.exceptions import ServiceException
from hubspot.crm.properties.exceptions import NotFoundException as PropertyNotFound

from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    Permanent,
    Throttled,
    Transient,
)
from connector.crm.hubspot import HubSpotAdapter, HubSpotError
from connector.store.crm_records import SqlContactCache
from tests.crm.factories import NUMBER
from tests.crm.hubspot_kit import BATCH_CREATE, CONTACTS, fresh, make_adapter, sms
from tests.fakes.hubspot import FakeHubSpot


@pytest.fixture
def hs(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    hs = fresh(hubspot_server)
    hs.add_contact({"phone": NUMBER})
    return hs


# ---- HubSpot's answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, Permanent),
        (401, CredentialsError),
        (403, CredentialsError),
        (404, Permanent),
        (423, Transient),
        (477, Throttled),
        (500, Transient),
        (502, Transient),
        (503, Transient),
        (504, Transient),
    ],
)
def test_each_status_becomes_one_of_our_error_classes(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, status: int, expected: type[ConnectorError]
) -> None:
    hs.inject("POST", BATCH_CREATE, status, times=None)

    [result] = hubspot.write([sms()])

    assert type(result.error) is expected
    assert f"answered {status}" in result.error.reason
    assert hs.communications == {}


def test_refused_credentials_stop_the_whole_call_at_the_first_request(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = HubSpotAdapter("expired-token", hs.url, cache, timeout=(2.0, 5.0))

    results = adapter.write([sms(), sms(contact_phone="+14155550111"), sms()])

    assert all(isinstance(r.error, CredentialsError) for r in results)
    assert len(hs.calls) == 1  # nothing else was tried


def test_a_validation_error_keeps_hubspots_message_and_correlation_id(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    body = {
        "status": "error",
        "message": "Property values were not valid: hs_timestamp",
        "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": "VALIDATION_ERROR",
    }
    hs.inject("POST", BATCH_CREATE, 400, body=body)

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Permanent)
    assert "VALIDATION_ERROR" in result.error.reason
    assert "Property values were not valid: hs_timestamp" in result.error.reason
    assert "aeb5f871-7f07-4993-9211-075dc63e7cbf" in result.error.reason


def test_an_html_gateway_error_is_transient(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    hs.inject("POST", BATCH_CREATE, 502, body="<html><body>502 Bad Gateway</body></html>")

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Transient)
    assert "answered 502" in result.error.reason


def test_locked_waits_at_least_two_seconds(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    hs.inject("POST", BATCH_CREATE, 423)

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Transient)
    assert result.error.retry_after is not None
    assert result.error.retry_after >= 2


def test_a_spent_daily_allowance_pauses_hubspot(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    daily = {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
        "correlationId": "c93e06a4-0000-0000-0000-000000000000",
    }
    hs.inject("POST", BATCH_CREATE, 429, body=daily)

    results = hubspot.write([sms(), sms()])

    assert all(isinstance(r.error, Throttled) for r in results)
    assert all(r.error is not None and r.error.retry_after >= 600 for r in results)
    assert hs.count("POST", "/crm/v3/objects/communications/batch/create") == 1


# ---- 429s --------------------------------------------------------------------------------------


def test_a_429_waits_for_retry_after_and_goes_on(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    hs.inject("POST", BATCH_CREATE, 429, headers={"Retry-After": "0.4"})

    started = time.monotonic()
    [result] = hubspot.write([sms()])
    elapsed = time.monotonic() - started

    assert result.error is None
    assert elapsed >= 0.4
    assert hubspot.stats.rate_limited == 1
    assert hs.count("POST", "/crm/v3/objects/communications/batch/create") == 2
    assert len(hs.communications) == 1


def test_a_429_without_retry_after_waits_for_the_rest_of_the_window(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = make_adapter(hs, cache, rate_limit=(100, 0.5))
    hs.inject("POST", BATCH_CREATE, 429)

    started = time.monotonic()
    [result] = adapter.write([sms()])
    elapsed = time.monotonic() - started

    assert result.error is None
    assert 0.1 <= elapsed < 1.5
    assert adapter.stats.rate_limited == 1


def test_429s_past_the_wait_budget_give_the_records_back_with_the_wait(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = make_adapter(hs, cache, max_rate_limit_wait=1.0)
    hs.inject("POST", BATCH_CREATE, 429, headers={"Retry-After": "7"}, times=None)

    [result] = adapter.write([sms()])

    assert isinstance(result.error, Transient)
    assert result.error.retry_after == 7
    assert hs.count("POST", "/crm/v3/objects/communications/batch/create") == 1


# ---- no answer ---------------------------------------------------------------------------------


def test_an_unreachable_hubspot_is_transient(cache: SqlContactCache) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    adapter = HubSpotAdapter("token", f"http://127.0.0.1:{closed_port}", cache, timeout=(1, 1))

    [result] = adapter.write([sms()])

    assert isinstance(result.error, Transient)
    assert "could not connect" in result.error.reason


def test_a_search_that_times_out_is_transient(hs: FakeHubSpot, cache: SqlContactCache) -> None:
    cache.forget("hubspot", NUMBER)
    adapter = make_adapter(hs, cache, timeout=(2.0, 0.3))
    hs.inject_slow_response("POST", rf"{CONTACTS}/search$", delay=1.0)

    [result] = adapter.write([sms()])

    assert isinstance(result.error, Transient)
    assert "timed out" in result.error.reason
    assert hs.communications == {}
    assert hs.count("POST", SEARCH) == 1  # a slow HubSpot is not asked again at once


# ---- brief failures, asked again within the call -----------------------------------------------

SEARCH = f"{CONTACTS}/search"


def test_a_gateway_hiccup_on_a_search_is_asked_again_at_once(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    cache.forget("hubspot", NUMBER)
    hs.inject("POST", rf"{SEARCH}$", 502, body="<html><body>502 Bad Gateway</body></html>")

    [result] = hubspot.write([sms()])

    assert result.error is None
    assert len(hs.communications) == 1
    assert hs.count("POST", SEARCH) == 2


def test_a_503_to_a_write_is_sent_again_since_hubspot_did_nothing(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.inject("POST", BATCH_CREATE, 503)

    [result] = hubspot.write([sms()])

    assert result.error is None
    assert len(hs.communications) == 1


def test_a_write_whose_5xx_may_have_landed_goes_back_to_the_queue_unrepeated(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.inject("POST", BATCH_CREATE, 502)

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Transient)
    assert hs.count("POST", "/crm/v3/objects/communications/batch/create") == 1


def test_a_failure_that_keeps_coming_is_asked_three_times_in_all(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, cache: SqlContactCache
) -> None:
    cache.forget("hubspot", NUMBER)
    hs.inject("POST", rf"{SEARCH}$", 503, times=None)

    [result] = hubspot.write([sms()])

    assert isinstance(result.error, Transient)
    assert "answered 503" in result.error.reason
    assert hs.count("POST", SEARCH) == 3
    assert hs.communications == {}


# ---- the one error type ------------------------------------------------------------------------


def api_exception(
    cls: type[Exception], status: int, body: dict[str, str], **headers: str
) -> Exception:
    error = cls(status=status, reason="reason")
    error.body = json.dumps(body)  # type: ignore[attr-defined]
    error.headers = headers  # type: ignore[attr-defined]
    return error


def test_every_sdk_packages_exception_becomes_a_hubspot_error() -> None:
    from_contacts = api_exception(
        ContactsApiException,
        429,
        {"message": "ten secondly", "policyName": "TEN_SECONDLY_ROLLING", "correlationId": "c1"},
        **{"Retry-After": "3"},
    )
    from_properties = api_exception(PropertyNotFound, 404, {"message": "no such property"})
    from_communications = api_exception(ServiceException, 503, {"message": "unavailable"})

    wrapped = [
        HubSpotError.from_exception(e, "op", writes=True)
        for e in (from_contacts, from_properties, from_communications)
    ]

    assert [w.status for w in wrapped] == [429, 404, 503]
    assert wrapped[0].retry_after == 3
    assert wrapped[0].correlation_id == "c1"
    assert wrapped[0].is_rate_limit
    assert not any(w.maybe_applied for w in wrapped)  # none of them did anything


REFUSED = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
READ_TIMEOUT = urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")  # type: ignore[arg-type]
RETRIES_SPENT = urllib3.exceptions.MaxRetryError(None, "/", REFUSED)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exception", "writes", "maybe_applied"),
    [
        (REFUSED, True, False),
        (RETRIES_SPENT, True, False),
        (urllib3.exceptions.ProtocolError("Connection aborted."), True, True),
        (READ_TIMEOUT, True, True),
        (READ_TIMEOUT, False, False),
    ],
)
def test_lost_answers_are_transient_and_say_whether_they_may_have_been_applied(
    exception: Exception, writes: bool, maybe_applied: bool
) -> None:
    wrapped = HubSpotError.from_exception(exception, "batch create communications", writes=writes)

    assert wrapped.status is None
    assert wrapped.maybe_applied is maybe_applied
    assert isinstance(wrapped.as_connector_error(), Transient)


@pytest.mark.parametrize(
    ("status", "policy", "expected"),
    [
        (409, None, Permanent),
        (413, None, Permanent),
        (429, "TEN_SECONDLY_ROLLING", Transient),
        (429, "SECONDLY", Transient),
        (429, "DAILY", Throttled),
        (521, None, Transient),
    ],
)
def test_the_mapping_of_statuses_to_our_errors(
    status: int, policy: str | None, expected: type[ConnectorError]
) -> None:
    error = HubSpotError("op", status, "message", policy=policy).as_connector_error()

    assert type(error) is expected


def test_a_bug_is_not_disguised_as_a_hubspot_error() -> None:
    with pytest.raises(KeyError):
        HubSpotError.from_exception(KeyError("oops"), "op", writes=False)
