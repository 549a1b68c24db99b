"""No duplicate HubSpot records, ever, and no failed job for a record the connector wrote
itself: after a crash between the HubSpot call and the local commit, after an answer lost on
the way back, with and without a unique key property, and when another worker writes the same
records at the same time (HubSpot's 409)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connector.core.errors import Permanent, Transient
from connector.crm.base import WriteResult
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.hubspot.records import CONFLICT_ROUNDS, SEARCH_LAG_SECONDS
from connector.store.crm_records import SqlContactCache
from tests.clocks import Monotonic
from tests.crm.factories import NUMBER
from tests.crm.hubspot_kit import (
    BATCH_CREATE,
    COMMS,
    fresh,
    make_adapter,
    record_by_key,
    sms,
    writes,
)
from tests.fakes.hubspot import FakeHubSpot

CREATE = f"POST {COMMS}/batch/create"
UPDATE = f"POST {COMMS}/batch/update"


@pytest.fixture(params=["unique key", "plain key"])
def hs(hubspot_server: FakeHubSpot, request: pytest.FixtureRequest) -> FakeHubSpot:
    """Every test runs twice: the portal allows a unique key property, or it does not."""
    hs = fresh(hubspot_server, unique_key=request.param == "unique key")
    hs.add_contact({"phone": NUMBER})
    return hs


def is_unique(hs: FakeHubSpot) -> bool:
    definition = hs.property_definition("communications", "mms_message_key")
    return bool(definition and definition["hasUniqueValue"])


def test_a_crash_between_the_hubspot_call_and_the_local_commit_duplicates_nothing(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    records = [sms(f"message {i}") for i in range(5)]
    before_crash = make_adapter(hs, cache)
    written = before_crash.write(records)  # ... and the worker dies before storing the ids
    before_crash.close()
    hs.reset_calls()

    after_restart = make_adapter(hs, cache)  # knows nothing: no existing_id, empty memory
    again = after_restart.write(records)

    assert [r.crm_id for r in again] == [r.crm_id for r in written]
    assert all(len(record_by_key(hs, r.key)) == 1 for r in records)
    assert len(hs.communications) == 5
    if is_unique(hs):  # HubSpot refused the duplicate, the records were read by key
        assert writes(hs) == [CREATE, UPDATE]
    else:  # the records were found by searching their keys
        assert writes(hs) == [UPDATE]
        assert hs.count("POST", f"{COMMS}/search") == 1


def test_a_lost_answer_is_retried_without_creating_twice(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    records = [sms("one"), sms("two")]
    hs.inject_disconnect("POST", BATCH_CREATE)  # HubSpot created them, the answer never came

    lost = hubspot.write(records)
    retried = hubspot.write(records)

    assert all(isinstance(r.error, Transient) for r in lost)
    assert all("may have been applied" in r.error.reason for r in lost if r.error)
    assert all(r.error is None for r in retried)
    assert len(hs.communications) == 2
    assert all(len(record_by_key(hs, r.key)) == 1 for r in records)


def test_a_timeout_is_retried_without_creating_twice(
    hs: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = make_adapter(hs, cache, timeout=(2.0, 0.3))
    hs.inject_slow_response("POST", BATCH_CREATE, delay=1.0)

    [lost] = adapter.write([record := sms()])
    [retried] = adapter.write([record])

    assert isinstance(lost.error, Transient)
    assert retried.error is None
    assert len(record_by_key(hs, record.key)) == 1


def test_without_a_unique_key_a_lost_create_waits_for_search_to_catch_up(
    hubspot_server: FakeHubSpot, cache: SqlContactCache
) -> None:
    hs = fresh(hubspot_server, unique_key=False)
    hs.add_contact({"phone": NUMBER})
    hs.search_lag_seconds = 0.3  # what HubSpot just created is not searchable yet
    clock = Monotonic()
    adapter = make_adapter(hs, cache, clock=clock)
    hs.inject_disconnect("POST", BATCH_CREATE)

    [lost] = adapter.write([record := sms()])
    [too_soon] = adapter.write([record])
    clock.now += SEARCH_LAG_SECONDS  # the adapter's guard has passed ...
    time.sleep(0.35)  # ... and so has the fake's lag
    [later] = adapter.write([record])

    assert isinstance(lost.error, Transient)
    assert lost.error.retry_after is not None
    assert lost.error.retry_after >= SEARCH_LAG_SECONDS  # whichever worker retries, waits
    assert isinstance(too_soon.error, Transient)
    assert too_soon.error.retry_after is not None
    assert later.error is None
    assert len(record_by_key(hs, record.key)) == 1


def test_a_lost_update_is_simply_sent_again(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    [sent] = hubspot.write([record := sms("Outbound - Sent")])
    update = sms("Outbound - Delivered", key=record.key, existing_id=sent.crm_id)
    hs.inject_disconnect("POST", rf"{COMMS}/batch/update$")

    [lost] = hubspot.write([update])
    [retried] = hubspot.write([update])

    assert isinstance(lost.error, Transient)
    assert retried.crm_id == sent.crm_id
    [(_, stored)] = record_by_key(hs, record.key)
    assert stored["hs_communication_body"] == "Outbound - Delivered"


def test_a_record_written_moments_ago_by_this_worker_is_updated_not_searched(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.search_lag_seconds = 10.0  # search could not help
    [first] = hubspot.write([record := sms("v1")])  # the sync's commit of the id fails
    hs.reset_calls()

    [second] = hubspot.write([sms("v2", key=record.key)])

    assert second.crm_id == first.crm_id
    assert writes(hs) == [UPDATE]
    assert len(hs.communications) == 1


# ---- 409 on records the connector wrote itself -------------------------------------------------


@pytest.fixture
def unique(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    hs = fresh(hubspot_server, unique_key=True)
    hs.add_contact({"phone": NUMBER})
    return hs


def test_records_another_worker_creates_while_this_one_writes_them_are_updated_not_failed(
    unique: FakeHubSpot, cache: SqlContactCache
) -> None:
    """Two workers running the same jobs (a lease lost under load): whatever the other created
    before or during this write is HubSpot's 409, read by key and updated."""
    records = [sms(f"message {i}") for i in range(10)]
    other, this = make_adapter(unique, cache), make_adapter(unique, cache)
    before = other.write(records[:5])
    read_by_key = this.api.batch_read
    raced: list[WriteResult] = []

    def read_then_race(*args: Any, **kwargs: Any) -> Any:
        answer = read_by_key(*args, **kwargs)
        if not raced:  # the other worker gets three more in before this one creates them
            raced.extend(other.write(records[5:8]))
        return answer

    this.api.batch_read = read_then_race  # type: ignore[method-assign]
    results = this.write(records)

    assert all(r.error is None for r in results), [r.error for r in results]
    assert [r.crm_id for r in results[:8]] == [r.crm_id for r in [*before, *raced]]
    assert all(len(record_by_key(unique, r.key)) == 1 for r in records)
    assert writes(unique).count(CREATE) == 2 + 3  # the other's two, this one's three rounds


def test_a_conflict_reported_for_one_record_of_a_batch_is_success(
    unique: FakeHubSpot, cache: SqlContactCache
) -> None:
    [earlier] = make_adapter(unique, cache).write([record := sms("v1")])
    unique.reject_value(  # HubSpot may also report the conflict per input, in a 207
        "mms_message_key",
        record.key,
        status=409,
        category="CONFLICT",
        message="Communication already exists",
        times=1,
    )

    again, other = make_adapter(unique, cache).write([sms("v2", key=record.key), sms("new")])

    assert again.error is None and again.crm_id == earlier.crm_id
    assert other.error is None
    [(_, stored)] = record_by_key(unique, record.key)
    assert stored["hs_communication_body"] == "v2"


def test_a_conflict_that_cannot_be_read_by_key_is_tried_again_later_never_failed(
    unique: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = make_adapter(unique, cache)
    record = sms()
    unique.reject_value("mms_message_key", record.key, status=409, category="CONFLICT")

    [result] = adapter.write([record])

    assert isinstance(result.error, Transient)
    assert result.error.retry_after is not None
    assert writes(unique) == [CREATE] * CONFLICT_ROUNDS


def test_a_409_on_another_unique_property_fails_only_the_record_that_carries_it(
    unique: FakeHubSpot, cache: SqlContactCache
) -> None:
    adapter = make_adapter(unique, cache)
    unique.define_property("communications", "ticket_ref", has_unique_value=True)
    [taken] = adapter.write([sms(fields={**sms().fields, "ticket_ref": "T-1"})])
    clash = sms(fields={**sms().fields, "ticket_ref": "T-1"})

    ok, refused = adapter.write([sms(), clash])

    assert taken.error is None and ok.error is None
    assert isinstance(refused.error, Permanent)
    assert "ticket_ref" in refused.error.reason
