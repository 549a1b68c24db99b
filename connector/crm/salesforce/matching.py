"""Which Salesforce record a phone number belongs to: the search text, and the pick.

Salesforce phone fields are free text (`(415) 555-0100`, `+1 415 555 0100`, `4155550100`), so a
search cannot trust the number's spelling. SOSL `IN PHONE FIELDS` is asked for the number's
E.164 and digit-only variants (reserved characters escaped); every returned phone field is then
normalised to E.164 and only exact matches are kept.

The pick rule when several records match: the first object of the rule's `objects` that has any
match (Contact before Lead by default), and within it the most recently modified record (then
the smallest id, so the choice is deterministic).

One SOSL call serves as many numbers as fit in Salesforce's 4,000-character search text (longer
texts lose their OR operators).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog

from connector.core import phone
from connector.core.errors import Permanent
from connector.core.model import CrmContact
from connector.crm.base import ContactRule

log = structlog.get_logger(__name__)

# Salesforce drops the OR operators of a search text longer than 4,000 characters.
MAX_FIND_CHARS = 3_900

DEFAULT_PHONE_FIELDS: dict[str, tuple[str, ...]] = {
    "Contact": ("Phone", "MobilePhone", "HomePhone", "OtherPhone"),
    "Lead": ("Phone", "MobilePhone"),
}
# Characters SOSL reserves inside FIND {...}; each is escaped with a backslash.
_SOSL_RESERVED = frozenset("?&|!{}[]()^~*:\\\"'+-")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def escape_sosl(term: str) -> str:
    """`+14155550100` -> `\\+14155550100`: SOSL would read `+` and `-` as operators."""
    return "".join("\\" + ch if ch in _SOSL_RESERVED else ch for ch in term)


def search_terms(e164: str) -> list[str]:
    """The spellings worth searching: E.164 and the digit-only forms (national, with the
    trunk prefix, with the country code); SOSL tokenises `(415) 555-0100` into digit groups
    that the E.164 form alone does not find."""
    return [v for v in phone.variants(e164) if v == e164 or v.isdigit()]


def phone_fields(rule: ContactRule, sobject: str) -> tuple[str, ...]:
    fields = tuple(rule.phone_fields.get(sobject) or DEFAULT_PHONE_FIELDS.get(sobject, ("Phone",)))
    for name in (sobject, *fields):
        if not NAME.match(name):
            raise Permanent(f"invalid Salesforce name in the contact rule: {name!r}")
    return fields


def sosl_query(numbers: Sequence[str], rules: Iterable[ContactRule]) -> str:
    returning: dict[str, list[str]] = {}
    for rule in rules:
        for sobject in rule.objects:
            fields = returning.setdefault(sobject, ["Id", "LastModifiedDate"])
            fields.extend(f for f in phone_fields(rule, sobject) if f not in fields)
    terms = " OR ".join(find_text(number) for number in numbers)
    spec = ", ".join(f"{sobject}({', '.join(fields)})" for sobject, fields in returning.items())
    return f"FIND {{{terms}}} IN PHONE FIELDS RETURNING {spec}"


def find_text(number: str) -> str:
    return " OR ".join(escape_sosl(term) for term in search_terms(number))


def chunks_by_length(numbers: Sequence[str], budget: int) -> list[list[str]]:
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for number in numbers:
        size = len(find_text(number)) + len(" OR ")
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(number)
        used += size
    if current:
        chunks.append(current)
    return chunks


def only(rule: ContactRule, sobject: str) -> ContactRule:
    return ContactRule(
        objects=(sobject,),
        phone_fields={sobject: phone_fields(rule, sobject)},
        on_no_match=rule.on_no_match,
    )


def pick(number: str, rule: ContactRule, rows: Sequence[Mapping[str, Any]]) -> CrmContact | None:
    """The record this number belongs to, by the rule in the module docstring."""
    region = phone.dialing_region(number)
    matches: list[Mapping[str, Any]] = []
    for row in rows:
        sobject = str((row.get("attributes") or {}).get("type") or "")
        if sobject not in rule.objects:
            continue
        if any(
            phone.try_normalize(row.get(field), region) == number
            for field in phone_fields(rule, sobject)
        ):
            matches.append(row)
    if not matches:
        return None
    matches.sort(key=lambda r: str(r.get("Id")))
    matches.sort(key=lambda r: str(r.get("LastModifiedDate") or ""), reverse=True)
    matches.sort(key=lambda r: rule.objects.index(r["attributes"]["type"]))
    chosen = matches[0]
    if len(matches) > 1:
        log.info(
            "salesforce.contact_ambiguous",
            phone=phone.mask(number),
            matches=len(matches),
            chosen=chosen["Id"],
        )
    return CrmContact(crm_object=chosen["attributes"]["type"], crm_id=chosen["Id"])
