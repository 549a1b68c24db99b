"""The pure core: canonical model, MMS policies and the one rule engine. No I/O here."""

from connector.core.catalogue import Code, Refusal
from connector.core.errors import ConnectorError, CredentialsError, Permanent, Transient
from connector.core.model import (
    AccountState,
    Attachment,
    DeliveryStatus,
    Direction,
    Line,
    Message,
    Provider,
    Thread,
)
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY, MmsPolicy, policy_for
from connector.core.rules import AttachmentVerdict, Candidate, Verdict, validate

__all__ = [
    "AIRCALL_POLICY",
    "CLOUDTALK_POLICY",
    "AccountState",
    "Attachment",
    "AttachmentVerdict",
    "Candidate",
    "Code",
    "ConnectorError",
    "CredentialsError",
    "DeliveryStatus",
    "Direction",
    "Line",
    "Message",
    "MmsPolicy",
    "Permanent",
    "Provider",
    "Refusal",
    "Thread",
    "Transient",
    "Verdict",
    "policy_for",
    "validate",
]
