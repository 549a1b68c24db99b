"""Salesforce's failures as the connector's error classes, and the API allocation: every whole-call
answer maps to Transient, Permanent, CredentialsError or Throttled; the daily limit pauses
instead of retrying; the adapter slows down before the allocation runs out; no call waits
forever."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from connector.core.errors import ConnectorError, CredentialsError, Permanent, Throttled, Transient
from connector.core.model import CrmContact
from connector.crm.salesforce import ApiBudget
from connector.crm.salesforce.client import IN_CALL_TRIES, TimeoutSession
from connector.crm.salesforce.limits import DAILY_LIMIT_PAUSE_SECONDS, parse_limit_info
from connector.store.crm_records import SqlContactCache
from tests.crm.salesforce_kit import (
    KEY,
    NUMBER,
    add_contact,
    api_calls,
    make_adapter,
    task,
    tasks,
)
from tests.fakes.salesforce import (
    ERR_CONCURRENT_REQUESTS,
    ERR_INVALID_SESSION,
    ERR_SERVER_UNAVAILABLE,
    ERR_TOTAL_REQUESTS,
    ERR_UNABLE_TO_LOCK_ROW,
    FakeSalesforce,
    sf_error,
    validation_error,
)

UPSERT = rf"/composite/sobjects/Task/{KEY}$"


@pytest.fixture
def known_contact(fake: FakeSalesforce, cache: SqlContactCache) -> str:
    """A cached contact, so each write below is exactly one upsert call."""
    contact = add_contact(fake, "(415) 555-0100")
    cache.put("salesforce", NUMBER, CrmContact(crm_object="Contact", crm_id=contact))
    return contact


@pytest.mark.usefixtures("known_contact")
@pytest.mark.parametrize(
    ("status", "body", "expected", "words"),
    [
        (403, ERR_TOTAL_REQUESTS, Throttled, "TotalRequests Limit exceeded"),
        (403, ERR_CONCURRENT_REQUESTS, Transient, "ConcurrentRequests"),
        (
            403,
            sf_error("INSUFFICIENT_ACCESS", "insufficient access rights on object id"),
            CredentialsError,
            "lacks a permission",
        ),
        (400, ERR_UNABLE_TO_LOCK_ROW, Transient, "UNABLE_TO_LOCK_ROW"),
        (400, validation_error("Subject is bad", ["Subject"]), Permanent, "Subject is bad"),
        (400, sf_error("INVALID_FIELD", "No such column 'Colour__c'"), Permanent, "Colour__c"),
        (503, ERR_SERVER_UNAVAILABLE, Transient, "SERVER_UNAVAILABLE"),
        (500, sf_error("UNKNOWN_EXCEPTION", "An unexpected error occurred"), Transient, "UNKNOWN"),
        (
            404,
            sf_error("NOT_FOUND", "The requested resource does not exist"),
            CredentialsError,
            "mappings setup",
        ),
        (401, ERR_INVALID_SESSION, CredentialsError, "INVALID_SESSION_ID"),
        (415, sf_error("UNSUPPORTED_MEDIA_TYPE", "no"), Permanent, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_a_whole_call_failure_is_raised_as_the_connectors_class(
    fake: FakeSalesforce,
    cache: SqlContactCache,
    status: int,
    body: list[dict[str, Any]],
    expected: type[ConnectorError],
    words: str,
) -> None:
    fake.inject("PATCH", UPSERT, status, body, times=None)
    with pytest.raises(ConnectorError) as raised:
        make_adapter(fake, cache).write([task()])
    assert type(raised.value) is expected
    assert words in raised.value.reason
    if isinstance(raised.value, Transient):
        assert raised.value.retry_after and raised.value.retry_after > 0


@pytest.mark.usefixtures("known_contact")
def test_the_daily_limit_pauses_salesforce_without_a_retry_storm(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache)
    fake.daily_limit = (15_000, 15_000)
    with pytest.raises(Throttled) as spent:
        adapter.write([task()])
    assert spent.value.retry_after == DAILY_LIMIT_PAUSE_SECONDS
    calls = api_calls(fake)
    with pytest.raises(Throttled):  # the next job does not even knock
        adapter.write([task()])
    assert api_calls(fake) == calls


@pytest.mark.usefixtures("known_contact")
def test_past_the_soft_share_calls_are_spaced_and_past_the_hard_share_they_stop(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    waits: list[float] = []
    budget = ApiBudget(soft=0.8, hard=0.95, min_interval=0.5, sleep=waits.append)
    adapter = make_adapter(fake, cache, budget=budget)
    fake.daily_limit = (12_000, 15_000)  # 80 %: slow down
    for _ in range(3):
        assert adapter.write([task()])[0].crm_id
    assert waits and all(0 < w <= 0.5 for w in waits)
    fake.daily_limit = (14_300, 15_000)  # 95 %: leave the rest to the org's other users
    adapter.write([task()])  # brings the new reading
    with pytest.raises(Throttled, match="14301/15000"):
        adapter.write([task()])


def test_usage_is_read_from_the_sforce_limit_info_header() -> None:
    usage = parse_limit_info("api-usage=18/5000; per-app-api-usage=17/250(appName=sample)")
    assert usage is not None and (usage.used, usage.limit) == (18, 5000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None


@pytest.mark.usefixtures("known_contact")
def test_a_failure_after_some_collections_keeps_what_was_written(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache)
    fake.daily_limit = (14_000, 14_001)  # room for exactly one more call
    records = [task() for _ in range(250)]
    results = adapter.write(records)
    assert sum(1 for r in results if r.crm_id) == 200
    assert all(isinstance(r.error, Throttled) for r in results[200:])
    assert len(tasks(fake)) == 200


def test_a_search_failure_fails_the_whole_call(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    fake.inject("GET", r"/search/$", 503, ERR_SERVER_UNAVAILABLE)
    with pytest.raises(Transient):
        make_adapter(fake, cache).write([task()])
    assert tasks(fake) == []


@pytest.mark.usefixtures("known_contact")
def test_every_call_has_a_timeout(fake: FakeSalesforce, cache: SqlContactCache) -> None:
    adapter = make_adapter(fake, cache, timeout=(2, 0.3))
    fake.inject_delay("PATCH", UPSERT, seconds=3.0, after_processing=False)
    started = time.monotonic()
    with pytest.raises(Transient, match="no answer within the timeout"):
        adapter.write([task()])
    assert time.monotonic() - started < 2.0
    assert api_calls(fake, "PATCH", UPSERT) == 1  # a slow org is not asked again at once


class DroppingSession(TimeoutSession):
    """Loses the connection of the first `drops` upserts before they leave (None: every one)."""

    def __init__(self, drops: int | None) -> None:
        super().__init__((2, 5))
        self.drops = drops
        self.dropped = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if "/composite/sobjects/Task/" in str(url) and (
            self.drops is None or self.dropped < self.drops
        ):
            self.dropped += 1
            raise requests.ConnectionError("Connection aborted: RemoteDisconnected")
        return super().request(method, url, *args, **kwargs)


@pytest.mark.usefixtures("known_contact")
def test_a_dropped_connection_is_tried_again_within_the_call(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    session = DroppingSession(drops=1)

    [result] = make_adapter(fake, cache, session=session).write([task()])

    assert result.error is None
    assert session.dropped == 1
    assert len(tasks(fake)) == 1


@pytest.mark.usefixtures("known_contact")
def test_a_connection_that_keeps_dropping_goes_back_to_the_queue(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    session = DroppingSession(drops=None)

    with pytest.raises(Transient, match="ConnectionError"):
        make_adapter(fake, cache, session=session).write([task()])

    assert session.dropped == IN_CALL_TRIES
    assert tasks(fake) == []
