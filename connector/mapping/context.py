"""The data a mapping template sees, built in one place so every CRM applies the MMS rules alike.

The caller (the CRM sync, `check`, `preview`) hands over a core message, the connector's stable
links of its media and the alert the rules gave; this module works out the 4-media preview and
the `+N more` counter, the labels and the phone formats. Templates get plain data only: dicts,
lists, strings, numbers and datetimes, nothing with behaviour worth reaching into.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from connector.core import phone
from connector.core.catalogue import format_size
from connector.core.model import Attachment, Direction, Line, Message
from connector.core.policy import PREVIEW_COUNT
from connector.mapping.schema import Crm, LineEntry

PREVIEW_LIMIT = PREVIEW_COUNT  # media shown in a record; the rest are counted as `+N more`
SUMMARY_TEXT_LENGTH = 80
UNSUPPORTED_CONTENT = "Unsupported content"

DIRECTION_LABELS = {Direction.INBOUND: "Inbound MMS", Direction.OUTBOUND: "Outbound MMS"}


@dataclass(frozen=True)
class CapturedMessage:
    """A message with what capture made of its media: one stable link (or None) per attachment.

    `attachment_links[i]` is the connector's link to `message.attachments[i]`, None when that
    medium is not shown (refused by the rules, failed or expired). `alert` is the rule engine's
    inbound alert (`Verdict.alert`), if any.
    """

    message: Message
    attachment_links: Sequence[str | None] = ()
    alert: str | None = None


@dataclass(frozen=True)
class RenderContext:
    """What one record is rendered from: `data` is what templates see."""

    message: Message
    messages: tuple[Message, ...]
    owners: Mapping[Crm, str]
    data: Mapping[str, Any]


def thread_key(message: Message) -> str:
    """The conversation's key in every CRM: provider, line and other party (E.164)."""
    return f"{message.provider.value}:{message.line_number}:{message.other_party}"


def build_context(
    message: Message,
    *,
    line: LineEntry | Line | None,
    attachment_links: Sequence[str | None] = (),
    conversation_url: str,
    alert: str | None = None,
    messages: Sequence[CapturedMessage] | None = None,
) -> RenderContext:
    """The render context of `message`; `messages` are the thread's messages of that day, in
    any order, for `conversation_day` records (each with its own links and alert)."""
    captured = CapturedMessage(message, tuple(attachment_links), alert)
    day = sorted(messages, key=lambda c: c.message.sent_at) if messages else [captured]
    current = message_data(captured)
    owners: Mapping[Crm, str] = dict(line.owners) if isinstance(line, LineEntry) else {}
    data: dict[str, Any] = {
        "message": current,
        "messages": [current if c.message.key == message.key else message_data(c) for c in day],
        "thread": {
            "key": thread_key(message),
            "provider": message.provider.value,
            "line_number": message.line_number,
            "other_party": message.other_party,
        },
        "line": line_data(line, message),
        "contact": number_data(message.other_party),
        "attachments": current["attachments"],
        "preview": current["preview"],
        "more_count": current["more_count"],
        "alert": current["alert"],
        "status": current["status"],
        "status_label": current["status_label"],
        "conversation_url": conversation_url,
    }
    return RenderContext(
        message=message,
        messages=tuple(c.message for c in day),
        owners=MappingProxyType(dict(owners)),
        data=MappingProxyType(data),
    )


def message_data(captured: CapturedMessage) -> dict[str, Any]:
    message = captured.message
    links = list(captured.attachment_links)
    if links and len(links) != len(message.attachments):
        raise ValueError(
            f"{len(links)} links for {len(message.attachments)} attachments of {message.key}"
        )
    links += [None] * (len(message.attachments) - len(links))
    attachments = [
        attachment_data(a, link) for a, link in zip(message.attachments, links, strict=True)
    ]
    available = [a for a in attachments if a["available"]]
    preview = available[:PREVIEW_LIMIT]
    inbound = message.direction is Direction.INBOUND
    return {
        "id": message.provider_message_id,
        "key": message.key,
        "provider": message.provider.value,
        "direction": message.direction.value,
        "direction_label": DIRECTION_LABELS[message.direction],
        "is_inbound": inbound,
        "is_outbound": not inbound,
        "text": message.text,
        "sent_at": message.sent_at,
        "status": message.status.value,
        "status_label": message.status.label,
        "status_at": message.status_at,
        "attachments": attachments,
        "media_count": len(available),
        "preview": preview,
        "more_count": len(available) - len(preview),
        "alert": captured.alert,
        "summary": summary(message.text, len(attachments), len(available)),
    }


def attachment_data(attachment: Attachment, link: str | None) -> dict[str, Any]:
    return {
        "name": attachment.name,
        "type": attachment.sniffed_type or attachment.declared_type or "",
        "size": attachment.size,
        "size_label": format_size(attachment.size) if attachment.size is not None else "",
        "url": link,
        "available": link is not None,
    }


def summary(text: str, attachments: int, available: int) -> str:
    """The notification-style line of the MMS rules: media count, `Unsupported content`, or text."""
    if available:
        return f"{available} attachment" + ("" if available == 1 else "s")
    if attachments:
        return UNSUPPORTED_CONTENT
    flat = " ".join(text.split())
    if len(flat) <= SUMMARY_TEXT_LENGTH:
        return flat
    return flat[: SUMMARY_TEXT_LENGTH - 1] + "…"


def number_data(number: str) -> dict[str, str]:
    """A number as E.164 and in its country's national format; a number the phone metadata
    cannot read stays as it came in both forms."""
    try:
        national = phone.national_format(number)
    except phone.InvalidPhoneNumber:
        national = number
    return {"e164": number, "national": national}


def line_data(line: LineEntry | Line | None, message: Message) -> dict[str, Any]:
    number = line.number if line is not None else message.line_number
    label = line.label if line is not None else ""
    return {
        **number_data(number),
        "number": number,
        "label": label,
        "display": f"{label} ({number})" if label else number,
        "provider": (line.provider if line is not None else message.provider).value,
        "mms_capable": bool(line.mms_capable) if line is not None else False,
    }
