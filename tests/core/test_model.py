"""The canonical model: delivery status only moves forward, messages carry a stable key."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import permutations

import pytest
from pydantic import ValidationError

from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider, Thread
from tests.core.factories import US_MOBILE, US_OTHER

S = DeliveryStatus


def test_late_sent_status_never_overwrites_delivered():
    assert S.DELIVERED.advance(S.SENT) is S.DELIVERED


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        pytest.param(S.QUEUED, S.SENDING, S.SENDING, id="queued then sending moves on"),
        pytest.param(S.QUEUED, S.SENT, S.SENT, id="queued then sent moves on"),
        pytest.param(S.SENDING, S.SENT, S.SENT, id="sending then sent moves on"),
        pytest.param(S.SENT, S.DELIVERED, S.DELIVERED, id="sent then delivered moves on"),
        pytest.param(S.SENT, S.NOT_SENT, S.NOT_SENT, id="sent then not sent moves on"),
        pytest.param(S.QUEUED, S.NOT_SENT, S.NOT_SENT, id="a failure can come at any time"),
        pytest.param(S.UNKNOWN, S.DELIVERED, S.DELIVERED, id="unknown then delivered moves on"),
        pytest.param(S.SENT, S.SENDING, S.SENT, id="late sending never overwrites sent"),
        pytest.param(S.SENT, S.QUEUED, S.SENT, id="late queued never overwrites sent"),
        pytest.param(S.SENT, S.UNKNOWN, S.SENT, id="unknown never overwrites sent"),
        pytest.param(S.DELIVERED, S.SENT, S.DELIVERED, id="late sent never overwrites delivered"),
        pytest.param(S.DELIVERED, S.NOT_SENT, S.DELIVERED, id="delivered is final"),
        pytest.param(S.NOT_SENT, S.DELIVERED, S.NOT_SENT, id="not sent is final"),
        pytest.param(S.NOT_SENT, S.SENT, S.NOT_SENT, id="late sent never revives not sent"),
        pytest.param(S.SENT, S.SENT, S.SENT, id="a repeated status changes nothing"),
    ],
)
def test_status_advances_forward_only(current: S, reported: S, expected: S):
    assert current.advance(reported) is expected


@pytest.mark.parametrize("final", [S.DELIVERED, S.NOT_SENT])
@pytest.mark.parametrize("reported", list(S))
def test_a_final_status_never_changes(final: S, reported: S):
    assert final.is_final
    assert final.advance(reported) is final


@pytest.mark.parametrize("status", [S.QUEUED, S.SENDING, S.UNKNOWN, S.SENT])
def test_statuses_on_the_way_are_not_final(status: S):
    assert not status.is_final


@pytest.mark.parametrize("order", list(permutations([S.SENDING, S.SENT, S.DELIVERED])))
def test_events_in_any_order_end_delivered(order: tuple[S, ...]):
    status = S.QUEUED
    for reported in order:
        status = status.advance(reported)
    assert status is S.DELIVERED


@pytest.mark.parametrize(
    ("status", "label"),
    [
        pytest.param(S.DELIVERED, "Delivered", id="Delivered as the guides write it"),
        pytest.param(S.NOT_SENT, "Not sent", id="Not sent as the guides write it"),
        pytest.param(S.SENT, "Sent", id="sent"),
    ],
)
def test_status_label_is_the_word_a_person_sees(status: S, label: str):
    assert status.label == label


def test_every_status_has_a_rank_and_a_label():
    for status in S:
        assert isinstance(status.rank, int)
        assert status.label


def _message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "provider": Provider.AIRCALL,
        "provider_message_id": "m-1",
        "direction": Direction.INBOUND,
        "line_number": US_MOBILE,
        "other_party": US_OTHER,
        "sent_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return Message.model_validate(fields)


def test_message_key_is_stable_and_names_provider_and_id():
    assert _message().key == "aircall:m-1"
    assert _message(text="edited").key == _message().key


def test_message_thread_is_its_line_and_other_party():
    assert _message().thread == Thread(
        line_number=US_MOBILE, other_party=US_OTHER, provider=Provider.AIRCALL
    )


def test_received_message_defaults_to_received_status():
    assert _message().status is S.RECEIVED


def test_model_refuses_unknown_fields_and_negative_sizes():
    with pytest.raises(ValidationError):
        _message(colour="blue")
    with pytest.raises(ValidationError):
        Attachment(name="a.png", size=-1)
