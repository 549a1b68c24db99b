"""Phone numbers as the connector compares them: E.164, whatever format a CRM or provider used.

CRMs hold free-text phones, providers send E.164 or national formats; everything that matches or
decides on a number goes through here so one normalisation serves the whole connector.
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType


class InvalidPhoneNumber(ValueError):
    """A text that cannot be read as a phone number; the message names the text."""


def parse(raw: str, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a possible phone number")
    return number


@functools.lru_cache(maxsize=4096)
def normalize(raw: str, default_region: str | None = None) -> str:
    """E.164 form of `raw`; a national form needs `default_region` to be read.

    Cached: every webhook names the same few lines and a bounded set of contacts, and parsing a
    number is a good share of a webhook's CPU. (A refused number raises; that is not cached.)"""
    return phonenumbers.format_number(parse(raw, default_region), PhoneNumberFormat.E164)


def try_normalize(raw: str | None, default_region: str | None = None) -> str | None:
    """E.164 form of `raw`, or None: CRM phone fields may hold anything, even notes."""
    if not raw:
        return None
    try:
        return normalize(raw, default_region)
    except InvalidPhoneNumber:
        return None


def region_of(e164: str) -> str | None:
    """ISO country of a number, by its numbering plan: +1 876 is JM, not US."""
    number = parse(e164)
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def dialing_region(e164: str) -> str | None:
    """The region whose national format a CRM user would type this number in.

    Unlike `region_of`, a number the plan does not assign (a fictional +1 555) still reads as its
    country code's main region, so `(555) 123-4567` stored in a CRM matches `+15551234567`.
    """
    try:
        number = parse(e164)
    except InvalidPhoneNumber:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region and region != "ZZ":
        return region
    if number.country_code is None:
        return None
    main = phonenumbers.region_code_for_country_code(number.country_code)
    return main if main and main != "ZZ" else None


def is_clearly_fixed_line(e164: str) -> bool:
    """True only when the numbering plan says landline; NANP numbers cannot be told apart."""
    number = parse(e164)
    return phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE


def national_format(e164: str) -> str:
    return phonenumbers.format_number(parse(e164), PhoneNumberFormat.NATIONAL)


def international_format(e164: str) -> str:
    """`+1 415-555-0123`: how a person reads a number of any country."""
    return phonenumbers.format_number(parse(e164), PhoneNumberFormat.INTERNATIONAL)


def variants(e164: str) -> list[str]:
    """The spellings a CRM user may have typed for one number, for searching CRM phone fields.

    Matching never trusts these alone: whatever a search returns is normalised and compared
    again in E.164.
    """
    number = parse(e164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national_digits = str(number.national_number)
    candidates = [
        e164,
        e164[1:],
        international,
        national,
        national_digits,
        "".join(ch for ch in national if ch.isdigit()),
    ]
    seen: dict[str, None] = {}
    for candidate in candidates:
        if candidate:
            seen.setdefault(candidate, None)
    return list(seen)


def mask(e164: str | None) -> str:
    """A number as logs may show it: its first and last two digits, the rest starred."""
    if not e164:
        return ""
    digits = e164.lstrip("+")
    if len(digits) <= 4:
        return "+" + "*" * len(digits)
    return "+" + digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
