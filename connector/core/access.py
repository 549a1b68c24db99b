"""API tokens and their scopes: what each `CONNECTOR_API_TOKENS` entry may do.

An entry is `name:scopes:secret`, scopes joined by `+` (`crm-card:compose:…`,
`scripts:read+send:…`, `ops:admin:…`). The name shows in logs and error texts instead of the
secret. A bare secret (the first form this setting had) still works and means `admin`; the
caller warns about it. Every secret must be long and must not be a placeholder, because a token
guessed or copied from an example would open the whole API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

MIN_SECRET_BYTES = 32
# Compared without case or punctuation: a value containing one of these was copied from an
# example; a value that is only one of the others is a word, not a secret.
PLACEHOLDER_PARTS = (
    "changeme",
    "replaceme",
    "example",
    "placeholder",
    "yourtoken",
    "yoursecret",
    "secretkey",
)
PLACEHOLDER_WORDS = ("secret", "password", "token", "apitoken", "test", "default", "none", "null")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Scope(StrEnum):
    """What a token may do; `admin` implies every other scope."""

    # What a CRM card holds: composer links and the record's conversation (read model), no more
    COMPOSE = "compose"
    SEND = "send"  # sends, their checks and uploads
    READ = "read"  # messages, threads, lines, media archives
    ADMIN = "admin"  # jobs, status, replays; and everything above


@dataclass(frozen=True)
class ApiToken:
    name: str
    scopes: frozenset[Scope]
    secret: str = field(repr=False)
    legacy: bool = False  # a bare secret without name and scopes

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


def weakness(value: str) -> str | None:
    """Why `value` cannot serve as a secret, or None when it can. Never quotes the value."""
    if not value.strip():
        return "is empty"
    if placeholder(value):
        return "is a placeholder, not a secret"
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(value)) < 8:
        return "repeats too few characters to be a secret"
    return None


def placeholder(value: str) -> bool:
    """The value is (or contains) a word that examples use in place of a real secret."""
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    return letters in PLACEHOLDER_WORDS or any(part in letters for part in PLACEHOLDER_PARTS)


def parse_token(entry: str, position: int) -> ApiToken:
    """One entry of the setting; `ValueError` says what is wrong without quoting the secret."""
    parts = entry.strip().split(":", 2)
    if len(parts) == 1:
        name, scopes, secret, legacy = f"entry-{position}", {Scope.ADMIN}, parts[0], True
    elif len(parts) == 2:
        raise ValueError(
            f"entry {position} has one ':'; write name:scopes:secret "
            "(e.g. crm-card:compose:<secret>)"
        )
    else:
        name, raw_scopes, secret = parts
        legacy = False
        if not _NAME.fullmatch(name):
            raise ValueError(f"entry {position}: the name must be letters, digits, '_.-'")
        scopes = set()
        for word in raw_scopes.split("+"):
            try:
                scopes.add(Scope(word.strip().lower()))
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise ValueError(
                    f"{name}: unknown scope {word.strip()!r} (known: {known}; join with '+')"
                ) from None
    problem = weakness(secret)
    if problem is not None:
        raise ValueError(f"{name}: the secret {problem}")
    return ApiToken(name=name, scopes=frozenset(scopes), secret=secret, legacy=legacy)


def parse_tokens(entries: list[str]) -> list[ApiToken]:
    """Every entry parsed; names and secrets must each be unique."""
    tokens = [parse_token(entry, index + 1) for index, entry in enumerate(entries)]
    names = [token.name for token in tokens]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{name}: the name is used twice")
    secrets = [token.secret for token in tokens]
    if len(set(secrets)) != len(secrets):
        raise ValueError("two entries share one secret")
    return tokens
