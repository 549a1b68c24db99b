"""Opt-out and consent for people and the CRMs: look a number up, change it, write it to the CRM.

The API (`/v1/consent`), the CLI (`mms-connector consent`) and the admin page call these
functions; the `sync_consent` job writes a number's current state onto its matched contact in
each CRM through the mapping's `consent` fields. Nothing read from a CRM ever changes consent:
unticking the field there re-subscribes no one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from pydantic import BaseModel, Field

from connector.core import phone
from connector.core.consent import ConsentChange, ConsentSource
from connector.core.errors import Permanent
from connector.core.rules import consent_refusal
from connector.crm.base import ConsentWrite, ContactRule, CrmAdapter
from connector.mapping.errors import MappingError
from connector.mapping.registry import MappingRegistry
from connector.store import consent as stored
from connector.store.db import Database
from connector.store.queue import Job, utcnow
from connector.sync.ports import ConsentParts

log = structlog.get_logger(__name__)

SYNC_CONSENT = stored.SYNC_CONSENT
# Who may change consent through `set_consent`, and who may only opt a number out: a CRM-side
# integration reports an opt-out, but re-subscribing takes the recipient's START or an admin.
PEOPLE = frozenset({ConsentSource.ADMIN, ConsentSource.API, ConsentSource.CRM})
OPT_OUT_ONLY = frozenset({ConsentSource.CRM})


class InvalidConsent(ValueError):
    """A change that cannot be made (unreadable number, missing reason…): 422, nothing kept."""


class ChangeView(BaseModel):
    id: int
    number: str
    opted_out: bool
    source: ConsentSource
    reason: str
    at: datetime
    message_id: int | None = Field(description="The message that caused it (STOP, refused send).")
    actor: str | None

    @classmethod
    def of(cls, change: ConsentChange) -> ChangeView:
        assert change.id is not None
        return cls(
            id=change.id,
            number=change.number,
            opted_out=change.opted_out,
            source=change.source,
            reason=change.reason,
            at=change.at,
            message_id=change.message_id,
            actor=change.actor,
        )


class ConsentView(BaseModel):
    """A number's consent: its state, the refusal a send gets, and every change, newest first."""

    number: str
    opted_out: bool
    since: datetime | None = Field(description="When the current state began (None: never set).")
    refusal: str | None = Field(description="What a send to this number is refused with.")
    current: ChangeView | None
    history: list[ChangeView]


def number_or_error(raw: str) -> str:
    number = phone.try_normalize(raw)
    if number is None:
        raise InvalidConsent(f"number: {raw!r} is not a phone number (E.164, e.g. +14155550123)")
    return number


def show(connector: ConsentParts, raw: str) -> ConsentView:
    number = number_or_error(raw)
    with connector.database.read() as conn:
        changes = stored.history(conn, number)
    latest = changes[0] if changes else None
    refusal = consent_refusal(latest)
    return ConsentView(
        number=number,
        opted_out=bool(latest and latest.opted_out),
        since=latest.at if latest else None,
        refusal=refusal.message if refusal else None,
        current=ChangeView.of(latest) if latest else None,
        history=[ChangeView.of(c) for c in changes],
    )


def set_consent(
    connector: ConsentParts,
    raw: str,
    *,
    opted_out: bool,
    reason: str,
    source: ConsentSource = ConsentSource.ADMIN,
    actor: str | None = None,
    at: datetime | None = None,
) -> ChangeView:
    """Record a person's change (an admin, a script, a CRM-side integration), with its reason."""
    change = person_change(
        raw, opted_out=opted_out, reason=reason, source=source, actor=actor, at=at
    )
    with connector.database.begin() as conn:
        kept = stored.record(conn, change, crms=connector.crms)
    log.info(
        "consent.changed",
        number=phone.mask(kept.number),
        opted_out=kept.opted_out,
        source=kept.source.value,
    )
    return ChangeView.of(kept)


def person_change(
    raw: str,
    *,
    opted_out: bool,
    reason: str,
    source: ConsentSource,
    actor: str | None = None,
    at: datetime | None = None,
) -> ConsentChange:
    """The change a person asks for, checked: a reason is required, and a CRM may only opt out."""
    number = number_or_error(raw)
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidConsent("reason: say why (e.g. 'asked by phone on May 2')")
    if len(reason) > 500:
        raise InvalidConsent("reason: at most 500 characters")
    if source not in PEOPLE:
        raise InvalidConsent(f"source: {source.value!r} changes are recorded by the connector")
    if not opted_out and source in OPT_OUT_ONLY:
        raise InvalidConsent(
            "opted_out: a CRM cannot re-subscribe anyone; only the recipient's START or an "
            "admin action with a reason opts a number back in"
        )
    if at is not None and at.tzinfo is None:
        raise InvalidConsent("at: give a time zone (e.g. 2026-05-01T10:00:00Z)")
    return ConsentChange(
        number=number,
        opted_out=opted_out,
        source=source,
        reason=reason,
        at=at or utcnow(),
        actor=(actor or None) and actor[:255],
    )


def opted_out_numbers(
    connector: ConsentParts, *, limit: int = 100, offset: int = 0
) -> tuple[int, list[ChangeView]]:
    """How many numbers are opted out, and a page of them (most recent first)."""
    with connector.database.read() as conn:
        total = stored.count_opted_out(conn)
        page = stored.opted_out(conn, limit=limit, offset=offset)
    return total, [ChangeView.of(c) for c in page]


# -- the CRM side -------------------------------------------------------------------------------


class ConsentSync:
    """The handler of `sync_consent` jobs of one CRM: `job.subject` is a change's id.

    It writes the number's *current* state, not the change's: jobs of one number may run in any
    order across retries, and whichever runs last still writes the truth.
    """

    def __init__(
        self,
        crm: str,
        *,
        database: Database,
        registry: MappingRegistry,
        adapter: Callable[[], CrmAdapter],
    ) -> None:
        self.crm = crm
        self.database = database
        self.registry = registry
        self.adapter = adapter

    def __call__(self, job: Job) -> None:
        with self.database.read() as conn:
            change = stored.get(conn, int(job.subject))
            state = stored.current(conn, change.number) if change is not None else None
        if change is None or state is None:
            return  # nothing to write
        try:
            mapping = self.registry.current().get(self.crm)
        except MappingError as exc:
            raise Permanent(f"the mappings are invalid: {exc}") from None
        if mapping is None or mapping.spec.consent is None:
            log.info("consent.crm_not_mapped", crm=self.crm)
            return  # this CRM's mapping writes no consent fields
        fields = mapping.spec.consent
        write = ConsentWrite(
            phone=state.number,
            contact_rule=ContactRule(
                objects=tuple(m.object for m in mapping.spec.contact.match),
                phone_fields={m.object: tuple(m.phone_fields) for m in mapping.spec.contact.match},
                on_no_match="skip",
            ),
            opted_out=state.opted_out,
            opted_out_at=state.at if state.opted_out else None,
            opted_out_field=fields.opted_out_field,
            opted_out_at_field=fields.opted_out_at_field,
        )
        result = self.adapter().write_consent(write)  # its errors are the worker's to classify
        if result.skipped:
            log.info("consent.crm_skipped", crm=self.crm, reason=result.skipped)
