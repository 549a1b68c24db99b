"""Opt-out and consent, as pure rules: keywords, a number's state, and how a refusal reads.

US and Canadian messaging rules make a recipient's STOP a hard gate, and the burden of proof of
consent is on the sender; so a number's consent is a history of changes (who or what caused
each, when, why), and its current state is the latest change. A number nobody ever opted out is
sendable. The keyword lists are policy (`MmsPolicy.opt_out_keywords` / `opt_in_keywords`),
overridable like every other policy value.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from connector.core import phone

DEFAULT_OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "END",
        "QUIT",
        "CANCEL",
        "REVOKE",
        "OPTOUT",
        "OPT-OUT",
        "ARRET",
    }
)
DEFAULT_OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})


class ConsentSource(enum.StrEnum):
    """What caused a change: the recipient's keyword, a provider's refusal, or a person."""

    KEYWORD = "keyword"
    PROVIDER_ERROR = "provider_error"
    ADMIN = "admin"
    API = "api"
    CRM = "crm"


class ConsentChange(BaseModel):
    """One change of a number's consent; the latest one is the number's current state.

    `message_id` is the message that caused it (the STOP, or the send a provider refused);
    `actor` who did it (an admin's name, `import:<file>`); `reason` the free text shown with it.
    """

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    number: str
    opted_out: bool
    source: ConsentSource
    reason: str = Field(max_length=500)
    at: datetime
    message_id: int | None = None
    actor: str | None = Field(default=None, max_length=255)

    @property
    def why(self) -> str:
        """The reason as the refusal shows it: `replied STOP`, `marked by an admin: …`."""
        if self.source is ConsentSource.KEYWORD:
            return self.reason
        prefix = _SOURCE_WORDS[self.source]
        return f"{prefix}: {self.reason}" if self.reason else prefix


_SOURCE_WORDS = {
    ConsentSource.KEYWORD: "replied",
    ConsentSource.PROVIDER_ERROR: "the provider refused a send",
    ConsentSource.ADMIN: "marked by an admin",
    ConsentSource.API: "marked through the API",
    ConsentSource.CRM: "marked in the CRM",
}


def normalize_keyword(word: str) -> str:
    """A keyword as texts are compared with it: upper case, accents and case folded away."""
    folded = unicodedata.normalize("NFKD", word.strip().casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch)).upper()


def keyword_set(words: Iterable[str]) -> frozenset[str]:
    """A policy's keyword list, normalised; empty entries are dropped."""
    return frozenset(w for w in (normalize_keyword(word) for word in words) if w)


def _is_edge(ch: str) -> bool:
    """Whitespace and punctuation around a keyword (`Stop.`, `¡STOP!`, `"STOP"`) are trimmed."""
    return ch.isspace() or unicodedata.category(ch)[0] in ("P", "S", "Z", "C")


def _whole_text(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


@dataclass(frozen=True)
class Keywords:
    """A policy's two keyword lists, normalised (`keyword_set`)."""

    opt_out: frozenset[str] = DEFAULT_OPT_OUT_KEYWORDS
    opt_in: frozenset[str] = DEFAULT_OPT_IN_KEYWORDS


DEFAULT_KEYWORDS = Keywords()


def keyword_in(text: str, keywords: Keywords = DEFAULT_KEYWORDS) -> tuple[bool, str] | None:
    """(opted out?, the keyword) when the whole message is one keyword; None otherwise.

    The whole text, trimmed of whitespace and surrounding punctuation, case-folded and compared
    without accents (`Arrêt` is ARRET), must be one keyword: "STOP 12345", "Stop by at 5" or
    "please stop" are ordinary messages. Inner punctuation counts (`OPT-OUT` is a keyword,
    `ST.OP` is not).
    """
    if len(text) > 64:  # no keyword is this long: spare the normalisation of long texts
        return None
    word = normalize_keyword(_whole_text(text))
    if not word:
        return None
    if word in keywords.opt_out:
        return True, word
    if word in keywords.opt_in:
        return False, word
    return None


def from_keyword(
    number: str, opted_out: bool, keyword: str, at: datetime, message_id: int | None
) -> ConsentChange:
    return ConsentChange(
        number=number,
        opted_out=opted_out,
        source=ConsentSource.KEYWORD,
        reason=f"replied {keyword}",
        at=at,
        message_id=message_id,
    )


# Provider refusals that mean the recipient unsubscribed. Neither Aircall nor CloudTalk documents
# such an error, so this matches the wordings carriers and Twilio-based stacks use, and nothing
# looser: a refusal that merely mentions "stop" is not an opt-out.
_UNSUBSCRIBED = re.compile(
    r"\b(?:opted[\s_-]?out|opt[\s_-]?out(?:ed)?|unsubscribed(?:\s+recipient)?"
    r"|blacklist(?:ed)?\s+(?:rule|number|recipient)|replied\s+stop|stop\s+message"
    r"|blocked\s+due\s+to\s+stop)\b",
    re.IGNORECASE,
)


def means_unsubscribed(reason: str) -> bool:
    """Whether a provider's refusal says the recipient opted out of messages."""
    return bool(_UNSUBSCRIBED.search(reason))


def display_number(number: str) -> str:
    """`+1 415-555-0123`: the international form people read; the text itself if unreadable."""
    try:
        return phone.international_format(number)
    except phone.InvalidPhoneNumber:
        return number


def display_date(moment: datetime) -> str:
    """`May 1, 2026`: the day of a change (UTC), as the refusal says it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%B} {moment.day}, {moment.year}"
