"""The canonical conversation model every provider is parsed into and every CRM is written from."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Provider(enum.StrEnum):
    AIRCALL = "aircall"
    CLOUDTALK = "cloudtalk"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(enum.StrEnum):
    """Where a message is on its way to the recipient.

    The order is forward-only: providers deliver status events late and out of order, and a late
    `sent` must never overwrite `delivered`. `not_sent` and `delivered` are both final.
    """

    QUEUED = "queued"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    RECEIVED = "received"
    DELIVERED = "delivered"
    NOT_SENT = "not_sent"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.NOT_SENT, DeliveryStatus.RECEIVED)

    @property
    def label(self) -> str:
        """The word a person sees, as the provider apps say it."""
        return _STATUS_LABEL[self]

    def advance(self, reported: DeliveryStatus) -> DeliveryStatus:
        """The status after a provider reports `reported`: never backwards, never off a final."""
        if self.is_final:
            return self
        return reported if reported.rank > self.rank else self


_STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.UNKNOWN: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.RECEIVED: 4,
    DeliveryStatus.DELIVERED: 5,
    DeliveryStatus.NOT_SENT: 5,
}

_STATUS_LABEL = {
    DeliveryStatus.QUEUED: "Queued",
    DeliveryStatus.SENDING: "Sending",
    DeliveryStatus.UNKNOWN: "Unknown",
    DeliveryStatus.SENT: "Sent",
    DeliveryStatus.RECEIVED: "Received",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.NOT_SENT: "Not sent",
}


class AccountState(enum.StrEnum):
    """The provider account's standing, as far as sending is concerned."""

    ACTIVE = "active"
    TRIAL = "trial"
    NO_CREDIT = "no_credit"
    SUSPENDED = "suspended"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Line(_Frozen):
    """One of the company's own numbers, as listed by admins in `mappings/lines.yaml`."""

    number: str
    provider: Provider
    mms_capable: bool = False
    label: str = ""
    provider_line_id: str | None = None


class Attachment(_Frozen):
    """One medium of a message; `sniffed_type` is what its bytes are, the only type we trust.

    Without a `source_url` there is nothing to capture: the medium is unavailable from the
    start, and `error` says why when the connector knows."""

    name: str
    declared_type: str | None = None
    sniffed_type: str | None = None
    size: int | None = Field(default=None, ge=0)
    source_url: str | None = None
    error: str | None = None


class Thread(_Frozen):
    """A conversation: one company line and one other party."""

    line_number: str
    other_party: str
    provider: Provider


class Message(_Frozen):
    provider: Provider
    provider_message_id: str
    direction: Direction
    line_number: str
    other_party: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    status: DeliveryStatus = DeliveryStatus.RECEIVED
    sent_at: datetime
    status_at: datetime | None = None

    @property
    def thread(self) -> Thread:
        return Thread(
            line_number=self.line_number, other_party=self.other_party, provider=self.provider
        )

    @property
    def key(self) -> str:
        """The idempotency key written into each CRM record: stable across retries and replicas."""
        return f"{self.provider.value}:{self.provider_message_id}"


class CrmContact(_Frozen):
    """The CRM record a phone number resolved to (a HubSpot contact, a Salesforce Contact/Lead)."""

    crm_object: str
    crm_id: str


class CrmLinks(_Frozen):
    """What a CRM contact's activities may be linked to besides it: its primary company (a
    HubSpot company, a Salesforce Contact's AccountId) and its open deals."""

    company_id: str | None = None
    deal_ids: tuple[str, ...] = ()
