"""The one MMS rule engine: inbound classification, the send API and the composer all call it.

`validate` never raises on bad data: every problem becomes a `Refusal` with the catalogue's code
and exact text, so the three callers show the same words for the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from connector.core import catalogue, phone
from connector.core.catalogue import Refusal
from connector.core.consent import ConsentChange, display_date, display_number
from connector.core.model import AccountState, Direction, Line
from connector.core.policy import MmsPolicy
from connector.core.sniff import canonical_type, sniff


class Candidate(BaseModel):
    """A file offered for an MMS: its size and first bytes are all the engine needs."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    declared_type: str | None = None
    size: int = Field(ge=0)
    head: bytes = b""


class AttachmentVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    sniffed_type: str
    size: int
    errors: tuple[Refusal, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


class Verdict(BaseModel):
    """What the rules say of one message; `errors` block it whatever is done with the files."""

    model_config = ConfigDict(frozen=True)

    direction: Direction
    errors: tuple[Refusal, ...]
    attachments: tuple[AttachmentVerdict, ...]
    total_bytes: int = Field(description="Bytes of the files that would be kept.")
    max_total_bytes: int
    max_files: int

    @property
    def kept(self) -> tuple[int, ...]:
        """Indexes of the files that comply: what `drop` sends and the inbound record links."""
        return tuple(a.index for a in self.attachments if a.ok)

    @property
    def refused(self) -> tuple[int, ...]:
        return tuple(a.index for a in self.attachments if not a.ok)

    @property
    def ok(self) -> bool:
        """Sendable as given (`on_invalid_media=reject`)."""
        return not self.errors and not self.refused

    @property
    def ok_with_drop(self) -> bool:
        """Sendable once the refused files are left out (`on_invalid_media=drop`)."""
        return not self.errors

    @property
    def alert(self) -> str | None:
        """The alert a received message carries when some of its media cannot be shown."""
        if self.direction is Direction.INBOUND and self.refused:
            return catalogue.INBOUND_UNSUPPORTED_TEXT
        return None

    def all_errors(self) -> list[Refusal]:
        return [*self.errors, *(e for a in self.attachments for e in a.errors)]


def validate(
    policy: MmsPolicy,
    *,
    line: Line,
    other_party: str,
    attachments: Sequence[Candidate] = (),
    direction: Direction = Direction.OUTBOUND,
    account: AccountState = AccountState.ACTIVE,
    other_party_mms_capable: bool | None = None,
    mms: bool | None = None,
    consent: ConsentChange | None = None,
) -> Verdict:
    """Apply `policy` to one message.

    `consent` is the recipient's current consent state (its latest change, None when it never
    changed), looked up by the caller: a recipient who opted out receives nothing, SMS or MMS.

    `mms` says whether the message is an MMS; by default it is one when it carries files, and the
    composer passes True to learn whether attaching is possible at all. Inbound messages are only
    checked file by file: numbers, counts and totals are the carrier's business once received.
    """
    is_mms = bool(attachments) if mms is None else mms
    errors: list[Refusal] = []
    if direction is Direction.OUTBOUND:
        errors += [refusal] if (refusal := consent_refusal(consent)) else []
        errors += _account_refusals(policy, account)
        if is_mms:
            errors += _number_refusals(policy, line, other_party, other_party_mms_capable)
    verdicts = _attachment_verdicts(policy, attachments, direction)
    return Verdict(
        direction=direction,
        errors=tuple(errors),
        attachments=tuple(verdicts),
        total_bytes=sum(v.size for v in verdicts if v.ok),
        max_total_bytes=policy.max_total_bytes,
        max_files=policy.outbound_max_files,
    )


def consent_refusal(consent: ConsentChange | None) -> Refusal | None:
    """The refusal of any send to a recipient in this consent state (None: free to message).

    Public because the send job asks it again at send time, without judging the files twice.
    """
    if consent is None or not consent.opted_out:
        return None
    return catalogue.recipient_opted_out(
        display_number(consent.number), display_date(consent.at), consent.why
    )


def _account_refusals(policy: MmsPolicy, account: AccountState) -> list[Refusal]:
    if account in policy.disabled_account_states:
        return [catalogue.account_disabled(account.value)]
    return []


def _number_refusals(
    policy: MmsPolicy, line: Line, other_party: str, other_party_mms_capable: bool | None
) -> list[Refusal]:
    refusals: list[Refusal] = []
    if not line.mms_capable:
        refusals.append(catalogue.line_not_mms_capable(line.number))
    for role, number in (("line", line.number), ("recipient", other_party)):
        if _region(number) not in policy.countries:
            refusals.append(catalogue.number_not_eligible(number, role, policy.countries))
    if any(r.code is catalogue.Code.NUMBER_NOT_ELIGIBLE for r in refusals):
        return refusals
    landline = policy.recipient_must_be_mobile and phone.is_clearly_fixed_line(other_party)
    declared_incapable = policy.recipient_must_be_mms_capable and other_party_mms_capable is False
    if landline or declared_incapable:
        refusals.append(catalogue.recipient_not_mms_capable(other_party))
    return refusals


def _region(number: str) -> str | None:
    try:
        return phone.region_of(number)
    except phone.InvalidPhoneNumber:
        return None


def _attachment_verdicts(
    policy: MmsPolicy, attachments: Sequence[Candidate], direction: Direction
) -> list[AttachmentVerdict]:
    outbound = direction is Direction.OUTBOUND
    kept_count = 0
    kept_bytes = 0
    verdicts: list[AttachmentVerdict] = []
    for index, candidate in enumerate(attachments):
        sniffed = canonical_type(sniff(candidate.head)) or ""
        refusal = _file_refusal(policy, candidate, sniffed, index)
        if refusal is None and outbound:
            if kept_count >= policy.outbound_max_files:
                refusal = catalogue.too_many_files(policy.outbound_max_files, index)
            elif kept_bytes + candidate.size > policy.max_total_bytes:
                refusal = catalogue.total_too_large(policy.max_total_bytes, index)
        if refusal is None:
            kept_count += 1
            kept_bytes += candidate.size
        verdicts.append(
            AttachmentVerdict(
                index=index,
                name=candidate.name,
                sniffed_type=sniffed,
                size=candidate.size,
                errors=(refusal,) if refusal else (),
            )
        )
    return verdicts


def _file_refusal(
    policy: MmsPolicy, candidate: Candidate, sniffed: str, index: int
) -> Refusal | None:
    if candidate.size == 0 or not candidate.head:
        return catalogue.unknown_error(index)
    limit = policy.max_file_bytes.get(sniffed)
    if limit is None:
        return catalogue.unsupported_format(policy.accepted_types, index)
    if candidate.size > limit:
        return catalogue.file_too_large(limit, index)
    return None
