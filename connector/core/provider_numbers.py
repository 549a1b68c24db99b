"""A company number as its provider lists it: what `lines import` merges and the doctor compares.

Providers name their numbers their own way (Aircall `digits` "+1 312-555-0100", CloudTalk
`caller_id_e164` without `+`); their admin clients turn each into this one shape, E.164 included,
so the merge and the checks never see a provider's format.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.core.model import Provider


@dataclass(frozen=True)
class ProviderNumber:
    """One number at its provider: E.164 `number`, the provider's own `line_id`, its `label`."""

    provider: Provider
    number: str
    line_id: str
    label: str = ""
