"""The keys that sign the connector's links: one that signs, and the ones it replaced.

Media and conversation links are written into CRM records and live as long as those records, so
changing `CONNECTOR_SECRET_KEY` would break every one of them. A rotation therefore keeps the
replaced keys (`CONNECTOR_PREVIOUS_SECRET_KEYS`) for verifying only: links are always signed
with the current key, and accepted under any key of the ring until the operator drops it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The current key and the previous ones, newest first; no key is ever shown."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        # An empty key would sign with nothing: anyone could forge under it.
        if not self.current or not all(self.previous):
            raise ValueError("a signing key is empty")

    @property
    def verifying(self) -> tuple[bytes, ...]:
        """Every key a signature is checked against: the current one first, as most links are
        signed with it, then the previous ones in the order the operator listed them."""
        return (self.current, *self.previous)

    @property
    def oldest_first(self) -> list[bytes]:
        """The ring in itsdangerous's order: its last key signs, every key verifies."""
        return list(reversed(self.verifying))

    def __repr__(self) -> str:
        return f"KeyRing(current=<hidden>, previous=<{len(self.previous)} hidden>)"
