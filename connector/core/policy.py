"""What each provider allows in an MMS, as data: the README's MMS rules, overridable by config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.core.catalogue import KB, MB
from connector.core.consent import (
    DEFAULT_OPT_IN_KEYWORDS,
    DEFAULT_OPT_OUT_KEYWORDS,
    Keywords,
    keyword_set,
)
from connector.core.model import AccountState, Provider
from connector.core.sniff import canonical_type

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif")
# Media previewed per message wherever a conversation is shown (CRM records, the conversation
# page, the CRM cards); the rest are counted as `+N`. The same for every provider.
PREVIEW_COUNT = 4


class MmsPolicy(BaseModel):
    """The MMS rules of one provider; every limit the rule engine applies comes from here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider
    countries: frozenset[str] = Field(
        description="ISO regions both the line and the other party must belong to."
    )
    recipient_must_be_mobile: bool = True
    recipient_must_be_mms_capable: bool = True
    disabled_account_states: frozenset[AccountState] = frozenset()
    max_files: int = Field(default=10, ge=1)
    send_api_max_files: int | None = Field(
        default=None, ge=1, description="A provider API narrower than its app (CloudTalk: 5)."
    )
    max_total_bytes: int = Field(default=5 * MB, ge=1)
    max_file_bytes: Mapping[str, Annotated[int, Field(gt=0)]] = Field(
        description="Accepted types (sniffed MIME) and the largest file of each."
    )
    opt_out_keywords: frozenset[str] = Field(
        default=DEFAULT_OPT_OUT_KEYWORDS,
        description="A received message that is exactly one of these opts its sender out.",
    )
    opt_in_keywords: frozenset[str] = Field(
        default=DEFAULT_OPT_IN_KEYWORDS,
        description="A received message that is exactly one of these opts its sender back in.",
    )

    @field_validator("countries")
    @classmethod
    def _upper_regions(cls, value: frozenset[str]) -> frozenset[str]:
        """`us` in an override means `US`: regions are compared as phonenumbers gives them."""
        return frozenset(region.upper() for region in value)

    @field_validator("max_file_bytes")
    @classmethod
    def _canonical_types(cls, value: Mapping[str, int]) -> dict[str, int]:
        """`image/jpg` in an override is `image/jpeg`: the engine compares sniffed types."""
        return {canonical_type(mime) or mime: limit for mime, limit in value.items()}

    @field_validator("opt_out_keywords", "opt_in_keywords")
    @classmethod
    def _normalised_keywords(cls, value: frozenset[str]) -> frozenset[str]:
        """`stop` in an override is `STOP`: texts are compared case- and accent-folded."""
        return keyword_set(value)

    @model_validator(mode="after")
    def _keywords_apart(self) -> MmsPolicy:
        both = self.opt_out_keywords & self.opt_in_keywords
        if both:
            raise ValueError("a keyword cannot both opt out and opt in: " + ", ".join(sorted(both)))
        return self

    @property
    def keywords(self) -> Keywords:
        return Keywords(opt_out=self.opt_out_keywords, opt_in=self.opt_in_keywords)

    @property
    def accepted_types(self) -> frozenset[str]:
        return frozenset(self.max_file_bytes)

    @property
    def outbound_max_files(self) -> int:
        if self.send_api_max_files is None:
            return self.max_files
        return min(self.max_files, self.send_api_max_files)

    @property
    def largest_file_bytes(self) -> int:
        """The biggest single file this policy could accept, for capping downloads."""
        return max(self.max_file_bytes.values(), default=self.max_total_bytes)


CLOUDTALK_POLICY = MmsPolicy(
    provider=Provider.CLOUDTALK,
    countries=frozenset({"US", "CA"}),
    disabled_account_states=frozenset({AccountState.TRIAL, AccountState.NO_CREDIT}),
    max_files=10,
    send_api_max_files=5,
    max_total_bytes=5 * MB,
    max_file_bytes={mime: 5 * MB for mime in IMAGE_TYPES},
)

AIRCALL_POLICY = MmsPolicy(
    provider=Provider.AIRCALL,
    countries=frozenset({"US", "CA", "AU"}),
    max_files=10,
    max_total_bytes=5 * MB,
    max_file_bytes={**{mime: 5 * MB for mime in IMAGE_TYPES}, "application/pdf": 600 * KB},
)

DEFAULT_POLICIES: Mapping[Provider, MmsPolicy] = {
    Provider.CLOUDTALK: CLOUDTALK_POLICY,
    Provider.AIRCALL: AIRCALL_POLICY,
}


def policy_for(provider: Provider, overrides: Mapping[str, Any] | None = None) -> MmsPolicy:
    """The provider's policy with an admin's overrides applied and validated like the defaults."""
    base = DEFAULT_POLICIES[provider]
    if not overrides:
        return base
    return MmsPolicy.model_validate({**base.model_dump(), **overrides, "provider": provider})
