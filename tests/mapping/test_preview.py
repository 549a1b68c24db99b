"""`mappings preview EVENT.json` shows the exact records an event would produce in each CRM."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.core.catalogue import INBOUND_UNSUPPORTED_TEXT
from connector.core.events import EventKind, ProviderEvent
from connector.core.model import Attachment, DeliveryStatus, Provider
from connector.mapping import (
    Crm,
    MappingRegistry,
    PreviewError,
    load_mappings,
    preview,
    preview_event,
    preview_json,
)
from tests.mapping.factories import PUBLIC, image, mapping_dir, message, video


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return mapping_dir(tmp_path)


def test_each_mapped_crm_gets_its_record(directory: Path) -> None:
    records = preview(load_mappings(directory), message(), public_url=PUBLIC)
    assert set(records) == {Crm.HUBSPOT, Crm.SALESFORCE}
    assert records[Crm.HUBSPOT].object_name == "communications"
    assert records[Crm.SALESFORCE].fields["Status"] == "Completed"


def test_only_the_crms_asked_for(directory: Path) -> None:
    records = preview(load_mappings(directory), message(), public_url=PUBLIC, crms=["salesforce"])
    assert set(records) == {Crm.SALESFORCE}


def test_media_get_placeholder_links_and_refused_media_the_alert(directory: Path) -> None:
    unnamed = Attachment(name="scan.pdf", declared_type="application/pdf", size=900 * 1024)
    msg = message(attachments=[image(1), video(), unnamed])
    record = preview(load_mappings(directory), msg, public_url=PUBLIC)[Crm.SALESFORCE]
    description = str(record.fields["Description"])
    assert f"photo-1.jpg: {PUBLIC}/media/<link-of-attachment-1>" in description
    assert "clip.mp4" not in description
    assert "scan.pdf" not in description  # Aircall takes PDFs up to 600 KB only
    assert INBOUND_UNSUPPORTED_TEXT in description
    assert f"{PUBLIC}/conversations/<aircall:+14155550100:+14155550123>" in description


def test_given_links_and_alert_are_used_as_they_are(directory: Path) -> None:
    msg = message(attachments=[image(1)])
    record = preview(
        load_mappings(directory),
        msg,
        public_url=PUBLIC,
        attachment_links=["https://links.example/1"],
        conversation_url="https://links.example/thread",
    )[Crm.HUBSPOT]
    body = str(record.fields["hs_communication_body"])
    assert '<a href="https://links.example/1">photo-1.jpg</a>' in body
    assert "https://links.example/thread" in body


def test_the_registry_can_be_the_source(directory: Path) -> None:
    records = preview(MappingRegistry(directory), message(), public_url=PUBLIC)
    assert set(records) == {Crm.HUBSPOT, Crm.SALESFORCE}


def test_the_preview_prints_as_json_payloads(directory: Path) -> None:
    records = preview(load_mappings(directory), message(), public_url=PUBLIC)
    printed = json.loads(json.dumps(preview_json(records)))
    hubspot = printed["hubspot"]
    assert hubspot["object"] == "communications"
    assert hubspot["id_property"] == "mms_message_key"
    assert hubspot["properties"]["mms_message_key"] == "aircall:m1"
    assert hubspot["properties"]["hubspot_owner_id"] == "111"
    assert hubspot["contact"]["create"]["properties"]["phone"] == "+14155550123"
    assert printed["salesforce"]["create_only"] == ["TaskSubtype"]


def fake_parser(event: ProviderEvent) -> Any:
    def parse(payload: Mapping[str, Any]) -> ProviderEvent:
        assert payload == {"any": "payload"}
        return event

    return parse


def test_an_event_is_parsed_by_the_providers_parser(directory: Path) -> None:
    event = ProviderEvent(
        provider=Provider.AIRCALL,
        event_id="e1",
        kind=EventKind.MESSAGE_RECEIVED,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        message=message(text="from the event"),
    )
    records = preview_event(
        load_mappings(directory), {"any": "payload"}, fake_parser(event), public_url=PUBLIC
    )
    assert "from the event" in str(records[Crm.SALESFORCE].fields["Description"])


def test_an_event_without_a_message_has_nothing_to_preview(directory: Path) -> None:
    event = ProviderEvent(
        provider=Provider.AIRCALL,
        event_id="e2",
        kind=EventKind.STATUS_UPDATED,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        provider_message_id="m1",
        status=DeliveryStatus.DELIVERED,
    )
    with pytest.raises(PreviewError, match=r"a message\.status_updated event carries no message"):
        preview_event(
            load_mappings(directory), {"any": "payload"}, fake_parser(event), public_url=PUBLIC
        )


def test_a_real_aircall_webhook_body_previews(directory: Path) -> None:
    aircall = pytest.importorskip("connector.providers.aircall")
    factories = pytest.importorskip("tests.providers.factories")
    records = preview_event(
        load_mappings(directory),
        factories.aircall_event("message.received"),
        aircall.parse_event,
        public_url=PUBLIC,
    )
    hubspot = records[Crm.HUBSPOT]
    assert hubspot.key.startswith("aircall:")
    assert str(hubspot.fields["hs_communication_body"]).startswith(
        "<p><strong>Inbound MMS</strong> from "
    )
