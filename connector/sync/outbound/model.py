"""The words of a send: what a CRM user asks for, what the rules answer, what the API returns.

These names are the contract the send API and the composer page share (`SendRequest` is the
body of `POST /v1/messages` and of `/validate`), so both show the same refusals for the same
draft.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.core.catalogue import Refusal
from connector.core.model import AccountState, DeliveryStatus, Provider
from connector.core.rules import Verdict
from connector.mapping.schema import LineEntry
from connector.store.sends import StoredUpload

# More references than any policy could send is a malformed request, not a verdict: each URL is
# a download, so the list is bounded before anything is fetched.
MAX_MEDIA_REFS = 50


class MediaRef(BaseModel):
    """One medium of a send: a file kept by `POST /v1/uploads`, or a URL fetched once."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=4096)
    upload_id: int | None = Field(default=None, ge=1, le=2**63 - 1)

    @model_validator(mode="after")
    def _exactly_one(self) -> MediaRef:
        if (self.url is None) == (self.upload_id is None):
            raise ValueError("give exactly one of url or upload_id")
        return self


class CrmOriginIn(BaseModel):
    """The CRM record the send was made from: the sent message is logged on it."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["hubspot", "salesforce"]
    object: str = Field(min_length=1, max_length=64)
    record_id: str = Field(min_length=1, max_length=64)


class SendRequest(BaseModel):
    """The body of `POST /v1/messages` and `POST /v1/messages/validate`."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(alias="from", description="The line, in E.164 (mappings/lines.yaml).")
    to: str = Field(description="The recipient, in E.164.")
    text: str = ""
    media: list[MediaRef] = Field(default_factory=list, max_length=MAX_MEDIA_REFS)
    on_invalid_media: Literal["reject", "drop"] = Field(
        default="reject",
        description="reject: nothing is sent if any medium is invalid; drop: the valid ones are.",
    )
    crm: CrmOriginIn | None = None


@dataclass(frozen=True)
class CheckedMedium:
    """One medium of the request as the rules saw it; `upload_id` reuses it in a later send."""

    index: int
    name: str
    sniffed_type: str
    size: int
    upload_id: int | None
    errors: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class SendCheck:
    """The verdict on a draft, without sending it.

    `errors` holds every refusal (the message's, then each file's with its index); `dropped`
    the refusals of the files `drop` would leave out; `sendable` whether the request, under its
    own `on_invalid_media`, would be accepted.
    """

    verdict: Verdict
    line: LineEntry | None
    errors: list[Refusal]
    dropped: list[Refusal]
    sendable: bool
    to: str | None = None
    media: list[CheckedMedium] = field(default_factory=list)
    uploads: dict[int, StoredUpload] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SendResult:
    """An accepted send: queued for the provider, with the files `drop` left out."""

    message_id: int
    status: DeliveryStatus
    dropped: list[Refusal] = field(default_factory=list)


class SendRefused(Exception):
    """The rules refuse the send (422); nothing was stored or sent."""

    def __init__(self, errors: list[Refusal]) -> None:
        super().__init__("; ".join(error.message for error in errors) or "refused")
        self.errors = errors


class MessageNotFound(LookupError):
    """No message has this id (404)."""


class NotRetryable(Exception):
    """The message cannot be sent again in its state (409)."""


class LineOffer(BaseModel):
    """A line as the composer offers it: its MMS badge and the limits its provider sets."""

    number: str
    provider: Provider
    label: str
    mms_capable: bool
    max_files: int = Field(description="Files per outbound message (CloudTalk's API: 5).")
    max_total_bytes: int
    accepted_types: list[str]
    max_file_bytes: dict[str, int] = Field(description="Largest file of each accepted type.")
    countries: list[str] = Field(description="Regions both numbers of an MMS must belong to.")
    account_state: AccountState
    account_enabled: bool
    sending_configured: bool = Field(
        description="The provider's API credentials are set, so sends leave the queue."
    )
