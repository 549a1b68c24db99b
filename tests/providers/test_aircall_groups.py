"""Aircall group conversations (`group_message.*`): one thread per group, its participants kept,
and a shape the parser cannot read kept as an event, never refused."""

from __future__ import annotations

from typing import Any

import pytest

from connector.core.events import EventKind
from connector.core.groups import group_party, is_group
from connector.core.model import DeliveryStatus, Direction
from connector.providers import aircall
from connector.providers.aircall_admin import WEBHOOK_EVENTS
from tests.providers.factories import (
    GROUP_ID,
    LINE,
    MISSING,
    PARTICIPANTS,
    aircall_group_event,
)


def test_a_received_group_message_belongs_to_the_groups_thread_with_every_participant() -> None:
    event = aircall.parse_event(aircall_group_event())

    assert event.kind is EventKind.MESSAGE_RECEIVED
    assert event.message is not None
    assert event.message.other_party == group_party(GROUP_ID)
    assert is_group(event.message.other_party) and len(event.message.other_party) <= 32
    assert event.message.line_number == LINE
    assert event.message.direction is Direction.INBOUND
    assert event.participants == PARTICIPANTS


def test_participants_listed_as_objects_are_read_and_the_line_itself_left_out() -> None:
    listed: list[Any] = [
        {"phone_number": "+1 555-123-4567", "name": "Ana"},
        {"e164_digits": "+15557654321"},
        {"number": "15559876543"},
        {"phone_number": LINE},
        "+15551234567",  # listed twice: kept once
    ]

    event = aircall.parse_event(aircall_group_event(participants=listed))

    assert event.participants == PARTICIPANTS


def test_a_sent_group_message_is_outbound_and_a_status_update_applies_by_id() -> None:
    sent = aircall.parse_event(aircall_group_event("group_message.sent"))
    status = aircall.parse_event(
        aircall_group_event("group_message.status_updated", status="delivered")
    )

    assert sent.kind is EventKind.MESSAGE_SENT and sent.message is not None
    assert sent.message.direction is Direction.OUTBOUND
    assert status.kind is EventKind.STATUS_UPDATED
    assert status.status is DeliveryStatus.DELIVERED
    assert status.provider_message_id == sent.provider_message_id


@pytest.mark.parametrize(
    "participants",
    [MISSING, [], "everyone", [{"name": "Ana"}], ["not a number"], [LINE]],
    ids=["missing", "empty", "text", "no-number", "bad-number", "only-the-line"],
)
def test_a_group_message_whose_shape_cannot_be_read_is_kept_as_unreadable(
    participants: Any,
) -> None:
    event = aircall.parse_event(aircall_group_event(participants=participants))

    assert event.kind is EventKind.UNREADABLE
    assert event.message is None
    assert event.ignored_reason and "participants" in event.ignored_reason


def test_the_webhook_subscribes_to_the_group_events_too() -> None:
    assert set(WEBHOOK_EVENTS) == {
        "message.received",
        "message.sent",
        "message.status_updated",
        "group_message.received",
        "group_message.sent",
        "group_message.status_updated",
    }
