"""Builders for the mapping tests: core messages, lines, and mapping directories on disk."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from connector.core.catalogue import INBOUND_UNSUPPORTED_TEXT, KB
from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider
from connector.mapping import (
    CapturedMessage,
    CrmMapping,
    LineEntry,
    MappingSet,
    RenderContext,
    build_context,
    load_mappings,
)
from connector.mapping.loader import display_path

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"
PUBLIC = "https://connector.example.com"
CONVERSATION = f"{PUBLIC}/conversations/42"
LINE = "+14155550100"
CONTACT = "+14155550123"
WHEN = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
ALERT = INBOUND_UNSUPPORTED_TEXT


def image(number: int = 1) -> Attachment:
    return Attachment(
        name=f"photo-{number}.jpg",
        declared_type="image/jpeg",
        sniffed_type="image/jpeg",
        size=100 * KB,
    )


def video() -> Attachment:
    return Attachment(name="clip.mp4", declared_type="video/mp4", sniffed_type="video/mp4", size=KB)


def message(
    *,
    direction: Direction = Direction.INBOUND,
    text: str = "Hi, is the order ready?",
    attachments: Sequence[Attachment] = (),
    status: DeliveryStatus | None = None,
    sent_at: datetime = WHEN,
    message_id: str = "m1",
    provider: Provider = Provider.AIRCALL,
    line: str = LINE,
    other_party: str = CONTACT,
) -> Message:
    if status is None:
        status = (
            DeliveryStatus.RECEIVED if direction is Direction.INBOUND else DeliveryStatus.DELIVERED
        )
    return Message(
        provider=provider,
        provider_message_id=message_id,
        direction=direction,
        line_number=line,
        other_party=other_party,
        text=text,
        attachments=tuple(attachments),
        status=status,
        sent_at=sent_at,
    )


def links_for(msg: Message) -> list[str | None]:
    """Stable links for every attachment except videos (refused by every policy)."""
    return [
        None if a.sniffed_type == "video/mp4" else f"{PUBLIC}/media/{msg.provider_message_id}-{n}"
        for n, a in enumerate(msg.attachments, start=1)
    ]


def captured(msg: Message) -> CapturedMessage:
    links = links_for(msg)
    return CapturedMessage(msg, links, ALERT if None in links else None)


def line_entry(
    number: str = LINE,
    *,
    label: str = "US Sales",
    hubspot_owner: str | None = "111",
    salesforce_owner: str | None = "005000000000001AAA",
) -> LineEntry:
    owners = {"hubspot": hubspot_owner, "salesforce": salesforce_owner}
    return LineEntry.model_validate(
        {
            "number": number,
            "provider": "aircall",
            "label": label,
            "mms_capable": True,
            "owners": {crm: owner for crm, owner in owners.items() if owner},
        }
    )


def context(
    msg: Message,
    *,
    line: LineEntry | None = None,
    day: Sequence[Message] | None = None,
) -> RenderContext:
    item = captured(msg)
    return build_context(
        msg,
        line=line or line_entry(),
        attachment_links=item.attachment_links,
        alert=item.alert,
        conversation_url=CONVERSATION,
        messages=[captured(m) for m in day] if day is not None else None,
    )


LINES_YAML = f"""\
lines:
  - number: "{LINE}"
    provider: aircall
    label: US Sales
    mms_capable: true
    owners:
      hubspot: "111"
      salesforce: 005000000000001AAA
"""


def mapping_dir(
    tmp_path: Path,
    *,
    hubspot: str | None = None,
    salesforce: str | None = None,
    lines: str | None = LINES_YAML,
    shipped: bool = True,
) -> Path:
    """A mappings directory: the shipped CRM files (or the given texts) and test lines."""
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    for name, text in (("hubspot.yaml", hubspot), ("salesforce.yaml", salesforce)):
        if text is not None:
            (directory / name).write_text(text, encoding="utf-8")
        elif shipped:
            shutil.copy(SHIPPED / name, directory / name)
    if lines is not None:
        (directory / "lines.yaml").write_text(lines, encoding="utf-8")
    return directory


def shipped_text(name: str) -> str:
    return (SHIPPED / name).read_text(encoding="utf-8")


def load(
    tmp_path: Path,
    *,
    hubspot: str | None = None,
    salesforce: str | None = None,
    lines: str | None = LINES_YAML,
    shipped: bool = True,
) -> MappingSet:
    directory = mapping_dir(
        tmp_path, hubspot=hubspot, salesforce=salesforce, lines=lines, shipped=shipped
    )
    return load_mappings(directory)


def hubspot_with(tmp_path: Path, **fields: str) -> CrmMapping:
    """A HubSpot mapping whose `fields` are exactly `fields` (each a YAML-quoted value)."""
    body = "".join(f"  {name}: {value}\n" for name, value in fields.items())
    mapping = load(tmp_path, hubspot=MINIMAL_HUBSPOT + body, shipped=False).get("hubspot")
    assert mapping is not None
    return mapping


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def where(directory: Path, name: str) -> str:
    return display_path(directory / name)


MINIMAL_HUBSPOT = """\
object: communications
idempotency:
  key_field: mms_message_key
  thread_field: mms_thread_key
contact:
  match:
    - object: contacts
      phone_fields: [phone]
  on_no_match:
    action: unassociated
fields:
"""

MINIMAL_SALESFORCE = """\
object: Task
idempotency:
  key_field: MMS_Message_Key__c
contact:
  match:
    - object: Contact
      phone_fields: [Phone]
  on_no_match:
    action: skip
fields:
  Subject: MMS
"""
