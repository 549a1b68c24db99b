"""Whether a phone number typed into a CRM is a given number, and how to search for it.

CRM users type numbers in any format; a search asks for every spelling of a number (the
`variants` of `connector.core.phone`, and the digit strings HubSpot's calculated
`hs_searchable_*` properties hold), and whatever comes back is checked again here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from connector.core import phone
from connector.crm.hubspot.answers import CrmObject

IN_VALUES_MAX = 100  # values per IN filter: kept conservative, HubSpot's figure is unconfirmed


def pick_contacts(
    candidates: Sequence[CrmObject], fields: Sequence[str], numbers: Sequence[str]
) -> dict[str, str]:
    """number -> the id of its contact among search candidates, by the documented rule:
    the number must be the candidate's number once normalised; then the earliest property of
    `fields` wins, then the lowest (oldest) id."""
    best: dict[str, tuple[int, int, str]] = {}
    for obj in candidates:
        order = int(obj.id) if obj.id.isdigit() else 2**63
        for rank, name in enumerate(fields):
            value = obj.properties.get(name)
            if not value:
                continue
            for number in numbers:
                if same_number(value, number):
                    choice = (rank, order, obj.id)
                    if number not in best or choice < best[number]:
                        best[number] = choice
    return {number: choice[2] for number, choice in best.items()}


def same_number(stored: str, e164: str) -> bool:
    """Whether a free-text phone from the CRM is the number `e164`."""
    if phone.try_normalize(stored, _region(e164)) == e164:
        return True
    digits = re.sub(r"\D", "", stored)
    return bool(digits) and digits in digit_forms(e164)


def digit_forms(e164: str) -> set[str]:
    """The digit strings a spelling of the number can reduce to (with or without prefixes)."""
    return {d for v in phone.variants(e164) if (d := re.sub(r"\D", "", v))}


def _region(e164: str) -> str | None:
    try:
        return phone.region_of(e164)
    except phone.InvalidPhoneNumber:
        return None


def number_chunks(numbers: Sequence[str]) -> list[list[str]]:
    """Numbers grouped so that no IN filter of a search carries more than IN_VALUES_MAX values."""
    groups: list[list[str]] = []
    current: list[str] = []
    spellings: set[str] = set()
    digits: set[str] = set()
    for number in numbers:
        more_spellings = spellings | set(phone.variants(number))
        more_digits = digits | digit_forms(number)
        if current and (len(more_spellings) > IN_VALUES_MAX or len(more_digits) > IN_VALUES_MAX):
            groups.append(current)
            current, spellings, digits = [], set(phone.variants(number)), digit_forms(number)
        else:
            spellings, digits = more_spellings, more_digits
        current.append(number)
    if current:
        groups.append(current)
    return groups
