"""The exception tree the worker reasons about, and the parsed provider event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    OutcomeUnknown,
    Permanent,
    Transient,
)
from connector.core.events import EventKind, MalformedEvent, ProviderEvent
from connector.core.model import DeliveryStatus, Provider


@pytest.mark.parametrize("kind", [Transient, Permanent, CredentialsError, OutcomeUnknown])
def test_every_adapter_error_is_a_connector_error_with_a_reason(kind: type[ConnectorError]):
    error = kind("remote said no")
    assert isinstance(error, ConnectorError)
    assert error.reason == "remote said no"
    assert str(error) == "remote said no"


def test_transient_may_say_when_to_retry():
    assert Transient("busy", retry_after=2.5).retry_after == 2.5
    assert Transient("busy").retry_after is None


def test_malformed_event_is_a_value_error():
    assert issubclass(MalformedEvent, ValueError)


def test_a_status_event_is_frozen():
    event = ProviderEvent(
        provider=Provider.CLOUDTALK,
        event_id="e-1",
        kind=EventKind.STATUS_UPDATED,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        provider_message_id="m-1",
        status=DeliveryStatus.DELIVERED,
    )
    with pytest.raises(ValidationError):
        event.event_id = "e-2"  # type: ignore[misc]
