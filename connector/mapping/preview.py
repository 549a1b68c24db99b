"""`mappings preview EVENT.json`: the exact records one event would produce in each CRM.

An admin changing a template wants to see its result on a real event before the sync writes it.
Media are not downloaded here, so their links are placeholders under `PUBLIC_URL`, and whether
a medium would be shown is decided from its declared type and size by the provider's policy
(the sync decides from the captured bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from connector.core.catalogue import INBOUND_UNSUPPORTED_TEXT
from connector.core.events import ProviderEvent
from connector.core.model import Attachment, Direction, Message
from connector.core.policy import MmsPolicy, policy_for
from connector.core.sniff import canonical_type
from connector.mapping.context import build_context, thread_key
from connector.mapping.model import MappingSet
from connector.mapping.render import CrmRecord, render_record
from connector.mapping.schema import Crm


class MappingSource(Protocol):
    """Anything that holds the current mappings (the registry)."""

    def current(self) -> MappingSet: ...


class PreviewError(ValueError):
    """The event produces no record (a status update, an ignored event); the reason says why."""


def preview(
    source: MappingSet | MappingSource,
    message: Message,
    *,
    public_url: str,
    crms: Iterable[Crm | str] | None = None,
    attachment_links: Sequence[str | None] | None = None,
    alert: str | None = None,
    conversation_url: str | None = None,
    policy: MmsPolicy | None = None,
) -> dict[Crm, CrmRecord]:
    """Per mapped CRM (or those in `crms`), the record `message` produces.

    Without `attachment_links`, each medium the policy accepts gets a placeholder link and the
    others none, with the inbound alert when one is refused.
    """
    mappings = source if isinstance(source, MappingSet) else source.current()
    base = public_url.rstrip("/")
    if attachment_links is None:
        attachment_links, guessed_alert = placeholder_links(
            message, base, policy or policy_for(message.provider)
        )
        alert = alert if alert is not None else guessed_alert
    context = build_context(
        message,
        line=mappings.lines.get(message.line_number),
        attachment_links=attachment_links,
        alert=alert,
        conversation_url=conversation_url or f"{base}/conversations/<{thread_key(message)}>",
    )
    wanted = {Crm(c) for c in crms} if crms is not None else set(mappings.crms)
    return {
        crm: render_record(mapping, context)
        for crm, mapping in mappings.crms.items()
        if crm in wanted
    }


def preview_event(
    source: MappingSet | MappingSource,
    payload: Mapping[str, Any],
    parse: Callable[[Mapping[str, Any]], ProviderEvent],
    *,
    public_url: str,
    crms: Iterable[Crm | str] | None = None,
) -> dict[Crm, CrmRecord]:
    """`preview` of a provider event as posted to the webhook (`aircall.parse_event`, …)."""
    event = parse(payload)
    if event.message is None:
        reason = event.ignored_reason or f"a {event.kind.value} event carries no message"
        raise PreviewError(f"no record to preview: {reason}")
    return preview(source, event.message, public_url=public_url, crms=crms)


def preview_json(records: Mapping[Crm, CrmRecord]) -> dict[str, Any]:
    """What the CLI prints: CRM name → the record as plain JSON data."""
    return {crm.value: record.as_dict() for crm, record in records.items()}


def placeholder_links(
    message: Message, public_url: str, policy: MmsPolicy
) -> tuple[list[str | None], str | None]:
    links: list[str | None] = []
    refused = False
    for position, attachment in enumerate(message.attachments, start=1):
        if _accepted(attachment, policy):
            links.append(f"{public_url}/media/<link-of-attachment-{position}>")
        else:
            links.append(None)
            refused = True
    inbound = message.direction is Direction.INBOUND
    return links, INBOUND_UNSUPPORTED_TEXT if refused and inbound else None


def _accepted(attachment: Attachment, policy: MmsPolicy) -> bool:
    kind = canonical_type(attachment.sniffed_type or attachment.declared_type)
    limit = policy.max_file_bytes.get(kind or "")
    if limit is None:
        return False
    return attachment.size is None or attachment.size <= limit
