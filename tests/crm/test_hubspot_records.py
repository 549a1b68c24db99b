"""What a HubSpot record holds and how records are written: Communications on the contact's
timeline, both granularities, status updates, batches of 100 and their partial failures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.core.errors import Permanent
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.hubspot.client import BATCH_LIMIT
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.factories import NUMBER
from tests.crm.hubspot_kit import (
    COMMS,
    KEY_FIELD,
    THREAD_FIELD,
    make_adapter,
    record_by_key,
    sms,
    writes,
)
from tests.fakes.hubspot import FakeHubSpot

CREATE = f"POST {COMMS}/batch/create"
UPDATE = f"POST {COMMS}/batch/update"


@pytest.fixture
def ada(hs: FakeHubSpot) -> str:
    return hs.add_contact({"phone": NUMBER, "firstname": "Ada"})


# ---- what a record holds -----------------------------------------------------------------------


def test_an_mms_is_an_sms_communication_on_the_contacts_timeline(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    rita = hs.add_owner("rita@example.com", "Rita", "Rep")
    record = sms("Inbound MMS from +1 415 555 0100: see photo", owner_id=rita)

    [result] = hubspot.write([record])

    assert result.error is None
    assert (result.crm_object, result.contact_id) == ("communications", ada)
    assert result.crm_id is not None
    stored = hs.communications[result.crm_id]
    assert stored["hs_communication_channel_type"] == "SMS"
    assert stored["hs_communication_logged_from"] == "CRM"
    assert stored["hs_communication_body"] == "Inbound MMS from +1 415 555 0100: see photo"
    assert stored["hs_timestamp"] == "2026-05-01T10:00:00.000Z"
    assert stored["hubspot_owner_id"] == rita
    assert stored[KEY_FIELD] == record.key
    assert stored[THREAD_FIELD] == "thread-1"
    assert hs.associations("communications", result.crm_id) == [("contacts", ada, 81)]


def test_typed_values_are_sent_as_hubspot_strings(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    sent_at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    record = sms(fields={"hs_communication_body": "hi", "hs_timestamp": sent_at})

    [result] = hubspot.write([record])

    assert result.crm_id is not None
    assert hs.communications[result.crm_id]["hs_timestamp"] == "2026-05-01T12:30:00.000Z"


def test_a_status_change_updates_the_same_record(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    [sent] = hubspot.write([sms("Outbound MMS - Sent")])
    hs.reset_calls()

    [delivered] = hubspot.write(
        [sms("Outbound MMS - Delivered", key=sent.key, existing_id=sent.crm_id)]
    )

    assert delivered.crm_id == sent.crm_id
    assert writes(hs) == [UPDATE]
    [(_, stored)] = record_by_key(hs, sent.key)
    assert stored["hs_communication_body"] == "Outbound MMS - Delivered"
    assert sent.crm_id is not None
    assert hs.associations("communications", sent.crm_id) == [("contacts", ada, 81)]


def test_a_conversation_day_record_grows_as_messages_arrive(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    day = "aircall:thread-1:2026-05-01"
    [morning] = hubspot.write([sms("10:00 in: Hello", key=day)])
    [noon] = hubspot.write(
        [sms("10:00 in: Hello\n12:00 out: Hi!", key=day, existing_id=morning.crm_id)]
    )

    assert noon.crm_id == morning.crm_id
    [(_, stored)] = record_by_key(hs, day)
    assert stored["hs_communication_body"] == "10:00 in: Hello\n12:00 out: Hi!"


def test_create_only_fields_are_left_out_of_updates(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    [first] = hubspot.write([sms("v1", create_only=frozenset({"hs_timestamp"}))])
    hs.reset_calls()
    later = {"hs_communication_body": "v2", "hs_timestamp": "2030-01-01T00:00:00Z"}

    hubspot.write(
        [
            sms(
                key=first.key,
                existing_id=first.crm_id,
                fields=later,
                create_only=frozenset({"hs_timestamp"}),
            )
        ]
    )

    [(_, _, body)] = [r for r in hs.requests if r[1].endswith("/batch/update")]
    assert "hs_timestamp" not in body["inputs"][0]["properties"]
    assert first.crm_id is not None
    assert hs.communications[first.crm_id]["hs_timestamp"] == "2026-05-01T10:00:00.000Z"


def test_the_same_key_twice_in_one_call_is_written_once_with_the_last_fields(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    first = sms("Outbound MMS - Sent")
    again = sms("Outbound MMS - Delivered", key=first.key)

    results = hubspot.write([first, again])

    assert results[0].crm_id == results[1].crm_id is not None
    [(_, stored)] = record_by_key(hs, first.key)
    assert stored["hs_communication_body"] == "Outbound MMS - Delivered"


def test_a_record_deleted_in_hubspot_is_written_again(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    [result] = hubspot.write([sms(existing_id="987654")])

    assert result.error is None
    assert result.crm_id not in (None, "987654")
    assert result.crm_id is not None
    assert hs.associations("communications", result.crm_id) == [("contacts", ada, 81)]


def test_a_portal_without_the_key_property_is_told_to_run_setup(
    hubspot_server: FakeHubSpot, sqlite_database: Database
) -> None:
    hubspot_server.reset()  # no mms_message_key
    hubspot_server.add_contact({"phone": NUMBER})
    adapter = make_adapter(hubspot_server, SqlContactCache(sqlite_database))

    [result] = adapter.write([sms()])

    assert isinstance(result.error, Permanent)
    assert "mms-connector mappings setup --crm hubspot" in result.error.reason
    assert hubspot_server.communications == {}


# ---- batches -----------------------------------------------------------------------------------


def test_pending_messages_go_out_in_batches_of_100(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(200, 205)]
    for number in numbers:
        hs.add_contact({"phone": number})
    records = [sms(f"message {i}", contact_phone=numbers[i % 5]) for i in range(250)]

    results = hubspot.write(records)

    assert all(r.error is None for r in results)
    assert len({r.crm_id for r in results}) == 250
    assert len(hs.communications) == 250
    sizes = [len(body["inputs"]) for _, path, body in hs.requests if path.endswith("/create")]
    assert sorted(sizes) == [50, BATCH_LIMIT, BATCH_LIMIT]
    assert hubspot.stats.calls <= 6  # key property, search, three creates


def test_results_are_paired_with_records_by_key_not_by_position(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    hs.reverse_batch_results = True
    try:
        records = [sms(f"message {i}") for i in range(5)]
        results = hubspot.write(records)
    finally:
        hs.reverse_batch_results = False

    for record, result in zip(records, results, strict=True):
        assert result.key == record.key
        assert result.crm_id is not None
        assert hs.communications[result.crm_id][KEY_FIELD] == record.key


def test_a_207_keeps_the_successes_and_fails_only_the_refused_record(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    hs.reject_value("hs_communication_body", "poison", message="Property values were not valid")
    records = [sms("fine 1"), sms("poison"), sms("fine 2")]

    results = hubspot.write(records)

    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, Permanent)
    assert "VALIDATION_ERROR" in results[1].error.reason
    assert "Property values were not valid" in results[1].error.reason
    assert writes(hs).count(CREATE) == 1
    assert len(hs.communications) == 2


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_record_stands_alone(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    hs.add_owner("rita@example.com", id="501")
    records = [sms(f"message {i}", owner_id="501") for i in range(40)]
    records[23] = sms("bad owner", owner_id="999")  # HubSpot refuses the whole batch for it

    results = hubspot.write(records)

    failed = [i for i, r in enumerate(results) if r.error is not None]
    assert failed == [23]
    error = results[23].error
    assert isinstance(error, Permanent)
    assert "INVALID_OWNER_ID" in error.reason
    assert "correlationId" in error.reason
    assert len(hs.communications) == 39
    assert writes(hs).count(CREATE) <= 2 * 6 + 1  # halvings, not one call per record


def test_a_whole_batch_of_bad_records_costs_a_bounded_number_of_calls(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    hs.add_owner("rita@example.com", id="501")
    records = [sms(f"message {i}", owner_id="999") for i in range(100)]

    results = hubspot.write(records)

    assert all(r.error is not None for r in results)
    assert writes(hs).count(CREATE) <= 25
    assert hs.communications == {}


def test_a_failing_update_does_not_stop_the_creations(
    hs: FakeHubSpot, hubspot: HubSpotAdapter, ada: str
) -> None:
    [known] = hubspot.write([sms("v1")])
    hs.reject_value("hs_communication_body", "v2 poison")

    update, create = hubspot.write(
        [sms("v2 poison", key=known.key, existing_id=known.crm_id), sms("new")]
    )

    assert isinstance(update.error, Permanent)
    assert create.error is None
    assert known.crm_id is not None
    assert hs.communications[known.crm_id]["hs_communication_body"] == "v1"
