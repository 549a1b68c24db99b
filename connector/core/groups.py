"""Group conversations: one thread per provider group, whatever its participants' numbers.

A one-to-one thread is keyed by the other party's number; a group has no single other party, so
its thread is keyed by the provider's group conversation id instead, kept in the same column as a
short digest (`group:` and 24 hex digits: ids of any length fit the 32 characters a number has,
and a digest never reads as a phone number). Its participants' numbers live beside the thread.
"""

from __future__ import annotations

import hashlib

GROUP_PREFIX = "group:"
SEND_REFUSAL = (
    "Sending to a group conversation is not supported: reply from the provider's app, or send "
    "to one participant's number"
)


def group_party(conversation_id: str) -> str:
    """The `other_party` of a group's thread."""
    digest = hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:24]
    return GROUP_PREFIX + digest


def is_group(other_party: str) -> bool:
    return other_party.startswith(GROUP_PREFIX)
