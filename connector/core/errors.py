"""The exceptions adapters raise and the worker understands; no SDK exception passes above them."""

from __future__ import annotations


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names each offending environment
    variable. Here, not in `connector.config`, so an adapter that finds its values incomplete
    can say so without importing the settings."""


class ConnectorError(Exception):
    """Base of every error an adapter reports; `reason` is safe to show to admins and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(ConnectorError):
    """Worth retrying: the remote side is busy, down or rate limiting."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(ConnectorError):
    """Retrying cannot help (the data is refused): the job is dead at once, reason kept."""


class CredentialsError(ConnectorError):
    """The target refuses our credentials: pause it and tell `/readyz`, lose nothing."""


class Throttled(ConnectorError):
    """The target's whole allowance is spent (e.g. Salesforce's daily API limit): every job of the
    target waits `retry_after` seconds, without counting an attempt; no retry storm."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OutcomeUnknown(ConnectorError):
    """The request left but no answer came back: the remote side may or may not have acted."""


class RecipientOptedOut(Permanent):
    """The provider refused a send because the recipient unsubscribed (replied STOP to it):
    the message is not sent, and the number is marked opted out."""
