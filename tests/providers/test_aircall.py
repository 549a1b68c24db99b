"""Aircall webhooks: authentication, message events, timestamps, media, dedupe ids, bad payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.core.events import EventKind, MalformedEvent, ProviderEvent, WebhookRejected
from connector.core.model import Attachment, DeliveryStatus, Direction
from connector.providers import aircall
from tests.providers.factories import (
    AIRCALL_TOKEN,
    LINE,
    MESSAGE_ID,
    MISSING,
    OTHER_PARTY,
    aircall_event,
    aircall_media,
    aircall_number,
)

MAY_1_10AM = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
MESSAGE_EVENTS = ["message.received", "message.sent", "message.status_updated"]


def parse(payload: dict[str, Any]) -> ProviderEvent:
    return aircall.parse_event(payload)


def malformed_reason(payload: Any) -> str:
    with pytest.raises(MalformedEvent) as caught:
        aircall.parse_event(payload)
    return str(caught.value)


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, 12345, ["x"]])  # missing and "": test_parsing.py
def test_a_non_text_token_is_rejected_as_missing(token: Any) -> None:
    with pytest.raises(WebhookRejected, match="token is missing"):
        aircall.verify(aircall_event(token=token), AIRCALL_TOKEN)


def test_a_body_that_is_not_an_object_is_rejected_as_unauthenticated() -> None:
    with pytest.raises(WebhookRejected):
        aircall.verify(["token", AIRCALL_TOKEN], AIRCALL_TOKEN)  # type: ignore[arg-type]


def test_token_with_non_ascii_characters_is_compared_without_error() -> None:
    with pytest.raises(WebhookRejected, match="token is wrong"):
        aircall.verify(aircall_event(token="tökén"), AIRCALL_TOKEN)


# --- message events -------------------------------------------------------------------------


def test_sent_message_without_a_status_is_sent() -> None:
    event = parse(aircall_event("message.sent", data={"status": MISSING}))
    assert event.status is DeliveryStatus.SENT


def test_sent_message_still_pending_is_queued() -> None:
    event = parse(aircall_event("message.sent", data={"status": "pending"}))
    assert event.status is DeliveryStatus.QUEUED


def test_direction_falls_back_to_what_the_event_implies() -> None:
    received = parse(aircall_event("message.received", data={"direction": MISSING}))
    sent = parse(aircall_event("message.sent", data={"direction": MISSING}))
    assert received.message is not None and received.message.direction is Direction.INBOUND
    assert sent.message is not None and sent.message.direction is Direction.OUTBOUND


def test_inbound_message_is_received_whatever_status_word_it_carries() -> None:
    event = parse(aircall_event("message.received", data={"status": "delivered"}))
    assert event.status is DeliveryStatus.RECEIVED


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("delivered", DeliveryStatus.DELIVERED),
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("failed", DeliveryStatus.NOT_SENT),
        ("undelivered", DeliveryStatus.NOT_SENT),
        ("sent", DeliveryStatus.SENT),
        ("pending", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.SENDING),
        ("teleported", DeliveryStatus.UNKNOWN),
    ],
)
def test_status_update_maps_aircall_status_to_delivery_status(
    word: str, status: DeliveryStatus
) -> None:
    event = parse(aircall_event("message.status_updated", data={"status": word}))

    assert event.kind is EventKind.STATUS_UPDATED
    assert event.provider_message_id == MESSAGE_ID
    assert event.status is status


def test_status_update_carries_the_message_when_the_payload_has_its_numbers() -> None:
    event = parse(aircall_event("message.status_updated", data={"updated_at": 1_777_629_660}))

    assert event.message is not None
    assert event.message.status is DeliveryStatus.DELIVERED
    assert event.message.status_at == datetime(2026, 5, 1, 10, 1, tzinfo=UTC)


def test_status_update_without_numbers_still_updates_the_status() -> None:
    payload = aircall_event(
        "message.status_updated",
        data={"number": MISSING, "external_number": MISSING, "raw_digits": MISSING},
    )
    event = parse(payload)

    assert event.message is None
    assert event.provider_message_id == MESSAGE_ID
    assert event.status is DeliveryStatus.DELIVERED


def test_status_update_without_a_status_is_malformed() -> None:
    payload = aircall_event("message.status_updated", data={"status": MISSING})
    assert malformed_reason(payload) == "data.status is required"


def test_message_with_media_only_has_empty_text() -> None:
    event = parse(aircall_event(data={"body": None}))
    assert event.message is not None and event.message.text == ""


# --- numbers ------------------------------------------------------------------------------


def test_line_is_read_from_formatted_digits_when_e164_digits_are_absent() -> None:
    payload = aircall_event(data={"number": aircall_number(e164_digits=MISSING)})
    event = parse(payload)
    assert event.message is not None and event.message.line_number == LINE


def test_other_party_falls_back_to_raw_digits_without_a_plus() -> None:
    payload = aircall_event(
        "message.sent", data={"external_number": MISSING, "raw_digits": "13023063029"}
    )
    event = parse(payload)
    assert event.message is not None and event.message.other_party == "+13023063029"


def test_external_number_wins_over_raw_digits() -> None:
    payload = aircall_event(data={"raw_digits": "+44 20 7946 0958"})
    event = parse(payload)
    assert event.message is not None and event.message.other_party == OTHER_PARTY


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        1_777_629_600,
        1_777_629_600_000,
        1_777_629_600.0,
        "1777629600",
        "1777629600000",
        "2026-05-01T10:00:00Z",
        "2026-05-01T10:00:00.000+00:00",
        "2026-05-01T12:00:00+02:00",
        "2026-05-01 10:00:00",
    ],
)
def test_envelope_timestamp_in_any_format_is_a_utc_instant(timestamp: Any) -> None:
    event = parse(aircall_event(timestamp=timestamp))
    assert event.occurred_at == MAY_1_10AM
    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    "created_at",
    [1_777_629_600, 1_777_629_600_000, "2026-05-01T10:00:00Z", "2026-05-01T06:00:00-04:00"],
)
def test_message_timestamps_in_any_format_are_utc_instants(created_at: Any) -> None:
    event = parse(aircall_event(data={"created_at": created_at, "updated_at": created_at}))
    assert event.message is not None
    assert event.message.sent_at == MAY_1_10AM
    assert event.message.status_at == MAY_1_10AM


def test_epoch_milliseconds_keep_their_milliseconds() -> None:
    event = parse(aircall_event("message.sent", data={"sent_at": 1_722_758_201_825}))
    assert event.message is not None
    assert event.message.sent_at == datetime(2024, 8, 4, 7, 56, 41, 825_000, tzinfo=UTC)


def test_sent_at_wins_over_created_at_and_the_envelope_is_the_last_resort() -> None:
    with_sent_at = parse(aircall_event(data={"sent_at": "2026-05-01T09:00:00Z"}))
    bare = parse(aircall_event(data={"created_at": MISSING, "updated_at": MISSING}))

    assert with_sent_at.message is not None
    assert with_sent_at.message.sent_at == datetime(2026, 5, 1, 9, tzinfo=UTC)
    assert bare.message is not None
    assert bare.message.sent_at == MAY_1_10AM
    assert bare.message.status_at == MAY_1_10AM


# --- media --------------------------------------------------------------------------------


def test_media_details_become_attachments_with_their_presigned_urls() -> None:
    second = aircall_media("scan.pdf", "application/pdf", "https://media.example.com/scan.pdf?s=1")
    event = parse(aircall_event(data={"media_details": [aircall_media(), second]}))

    assert event.message is not None
    assert event.message.attachments == (
        Attachment(
            name="IMG_0042.jpg",
            declared_type="image/jpeg",
            source_url="https://media.example.com/aircall/IMG_0042.jpg?X-Amz-Signature=abc",
        ),
        Attachment(
            name="scan.pdf",
            declared_type="application/pdf",
            source_url="https://media.example.com/scan.pdf?s=1",
        ),
    )


def test_attachment_without_a_file_name_is_named_after_its_url() -> None:
    media = aircall_media(file_name=MISSING, file_type=None)
    event = parse(aircall_event(data={"media_details": [media]}))

    assert event.message is not None
    (attachment,) = event.message.attachments
    assert attachment.name == "IMG_0042.jpg"
    assert attachment.declared_type is None


def test_plain_media_urls_are_attachments_when_media_details_are_absent() -> None:
    urls = ["https://media.example.com/a.png", "https://media.example.com/"]
    event = parse(aircall_event(data={"media_details": MISSING, "media_url": urls}))

    assert event.message is not None
    assert [a.name for a in event.message.attachments] == ["a.png", "attachment-2"]
    assert [a.source_url for a in event.message.attachments] == urls


# --- what is acknowledged but not kept ---------------------------------------------------


@pytest.mark.parametrize("event_name", MESSAGE_EVENTS)
def test_whatsapp_message_events_are_ignored(event_name: str) -> None:
    event = parse(aircall_event(event_name, data={"channel": "whatsapp"}))

    assert event.kind is EventKind.IGNORED
    assert event.ignored_reason == "channel 'whatsapp' is not SMS/MMS"
    assert event.message is None
    assert event.provider_message_id == MESSAGE_ID


def test_status_update_for_whatsapp_is_ignored() -> None:
    payload = aircall_event("message.status_updated", data={"channel": "whatsapp"})
    assert parse(payload).kind is EventKind.IGNORED


@pytest.mark.parametrize("channel", [MISSING, None, "", "sms", "MMS"])
def test_null_absent_or_sms_channel_is_an_sms_mms_message(channel: Any) -> None:
    event = parse(aircall_event(data={"channel": channel}))
    assert event.kind is EventKind.MESSAGE_RECEIVED


@pytest.mark.parametrize(
    "event_name", ["call.created", "group_message.deleted", "contact.updated", "message.deleted"]
)
def test_events_other_than_the_message_events_are_ignored(event_name: str) -> None:
    payload = aircall_event(event_name, resource="call", data={"id": 123})
    event = parse(payload)

    assert event.kind is EventKind.IGNORED
    assert event.ignored_reason == f"event {event_name!r} is not a message event"
    assert event.occurred_at == MAY_1_10AM


def test_unknown_event_is_ignored_even_with_a_data_shape_we_cannot_read() -> None:
    event = parse(aircall_event("number.closed", data={"id": {"odd": True}, "number": []}))
    assert event.kind is EventKind.IGNORED


def test_message_event_on_another_resource_is_ignored() -> None:
    event = parse(aircall_event("message.received", resource="conversation"))

    assert event.kind is EventKind.IGNORED
    assert event.ignored_reason == "resource 'conversation' is not a message"


def test_message_event_without_a_resource_is_still_read() -> None:
    assert parse(aircall_event(resource=MISSING)).kind is EventKind.MESSAGE_RECEIVED


# --- dedupe ids ---------------------------------------------------------------------------


def test_redelivery_rebuilt_later_with_fresh_media_links_has_the_same_id() -> None:
    first = aircall_event("message.received")
    rebuilt = aircall_event(
        "message.received",
        timestamp=1_777_629_900,
        data={"media_details": [aircall_media(presigned_url="https://media.example.com/new")]},
    )
    assert parse(first).event_id == parse(rebuilt).event_id


def test_later_status_update_of_the_same_message_has_another_id() -> None:
    delivered = parse(aircall_event("message.status_updated", data={"status": "delivered"}))
    failed = parse(aircall_event("message.status_updated", data={"status": "failed"}))
    sending = parse(aircall_event("message.status_updated", data={"status": "sending"}))

    assert len({delivered.event_id, failed.event_id, sending.event_id}) == 3


def test_sent_and_status_updated_events_of_one_message_have_different_ids() -> None:
    sent = parse(aircall_event("message.sent", data={"status": "sent"}))
    updated = parse(aircall_event("message.status_updated", data={"status": "sent"}))
    assert sent.event_id != updated.event_id


def test_different_messages_have_different_ids() -> None:
    first = parse(aircall_event(data={"id": "a1"}))
    second = parse(aircall_event(data={"id": "a2"}))
    assert first.event_id != second.event_id


def test_event_id_is_readable_and_names_event_message_and_status() -> None:
    event = parse(aircall_event("message.status_updated", data={"status": "Delivered"}))
    assert event.event_id == f"aircall:message.status_updated:{MESSAGE_ID}:delivered"


def test_ignored_event_id_is_stable_and_does_not_depend_on_the_token() -> None:
    first = parse(aircall_event("call.created", token="one"))
    again = parse(aircall_event("call.created", token="two"))
    other_time = parse(aircall_event("call.created", timestamp=1_777_629_601))

    assert first.event_id == again.event_id
    assert first.event_id != other_time.event_id


# --- bad payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (aircall_event(event=MISSING), "event is required"),
        (aircall_event(event=""), "event is required"),
        (aircall_event(timestamp=MISSING), "timestamp is required"),
        (aircall_event(data=MISSING), "data is required"),
        (aircall_event(data=None), "data is required"),
        (aircall_event(data={"id": MISSING}), "data.id is required"),
        (aircall_event(data={"id": ""}), "data.id is required"),
        (aircall_event(data={"number": MISSING}), "data.number is required"),
        (
            aircall_event(data={"number": aircall_number(digits=MISSING, e164_digits=MISSING)}),
            "data.number.digits is required",
        ),
        (
            aircall_event(data={"external_number": MISSING, "raw_digits": MISSING}),
            "data.external_number is required (or data.raw_digits)",
        ),
        (
            aircall_event(data={"media_details": [aircall_media(presigned_url=MISSING)]}),
            "data.media_details[0].presigned_url is required",
        ),
    ],
)
def test_missing_field_is_malformed_and_named(payload: dict[str, Any], reason: str) -> None:
    assert malformed_reason(payload) == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (aircall_event(event=42), "event: not a string"),
        (aircall_event(resource=["message"]), "resource: not a string"),
        (aircall_event(timestamp="yesterday"), "timestamp: not a date"),
        (aircall_event(timestamp=True), "timestamp: not a date"),
        (aircall_event(timestamp=-5), "timestamp: not a date"),
        (aircall_event(timestamp=10**30), "timestamp: not a date"),
        (aircall_event(timestamp=float("nan")), "timestamp: not a date"),
        (aircall_event(timestamp={"seconds": 1}), "timestamp: not a date"),
        (aircall_event(data=["not", "an", "object"]), "data: not an object"),
        (aircall_event(data={"id": ["x"]}), "data.id: not a string"),
        (aircall_event(data={"id": True}), "data.id: not a string"),
        (aircall_event(data={"channel": 7}), "data.channel: not a string"),
        (aircall_event(data={"body": 12}), "data.body: not a string"),
        (aircall_event(data={"status": 200}), "data.status: not a string"),
        (aircall_event(data={"direction": "sideways"}), "data.direction: not inbound or outbound"),
        (aircall_event(data={"number": "+13125550100"}), "data.number: not an object"),
        (
            aircall_event(data={"number": aircall_number(e164_digits=["+1"])}),
            "data.number.e164_digits: not a phone number",
        ),
        (
            aircall_event(data={"external_number": "555-0199"}),
            "data.external_number: not a phone number",
        ),
        (
            aircall_event(data={"external_number": "call me"}),
            "data.external_number: not a phone number",
        ),
        (aircall_event(data={"created_at": "soon"}), "data.created_at: not a date"),
        (aircall_event(data={"sent_at": "2026-13-45"}), "data.sent_at: not a date"),
        (aircall_event(data={"updated_at": [2026]}), "data.updated_at: not a date"),
        (
            aircall_event(data={"media_details": {"file_name": "a"}}),
            "data.media_details: not a list",
        ),
        (
            aircall_event(data={"media_details": ["https://x"]}),
            "data.media_details[0]: not an object",
        ),
        (
            aircall_event(data={"media_details": [aircall_media(file_name=3)]}),
            "data.media_details[0].file_name: not a string",
        ),
        (
            aircall_event(data={"media_details": MISSING, "media_url": "https://x"}),
            "data.media_url: not a list",
        ),
        (
            aircall_event(data={"media_details": [aircall_media(presigned_url="IMG_0042.jpg")]}),
            "data.media_details[0].presigned_url: not a URL",
        ),
        (
            aircall_event(data={"media_details": MISSING, "media_url": ["ftp://m.example.com/a"]}),
            "data.media_url[0]: not a URL",
        ),
    ],
)
def test_wrong_type_is_malformed_and_named(payload: dict[str, Any], reason: str) -> None:
    assert malformed_reason(payload) == reason


def test_malformed_number_message_does_not_echo_the_number() -> None:
    reason = malformed_reason(aircall_event(data={"external_number": "+1 555 01"}))
    assert "555" not in reason
