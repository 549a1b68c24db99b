"""What each of sync's services needs of the composition root, as narrow protocols.

`connector.bootstrap.Connector` satisfies every one of them, but the services name only what they
use, so `sync` never imports the layer above it, and a test may hand a service a smaller object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from connector.config import Settings
from connector.core.keys import KeyRing
from connector.mapping.registry import MappingRegistry
from connector.media.store import MediaStore
from connector.media.uploads import UploadRules
from connector.providers.sending import Sender
from connector.store.db import Database


class ConsentParts(Protocol):
    """Recording and listing consent: the database, and the CRMs a change is written to."""

    @property
    def database(self) -> Database: ...

    @property
    def crms(self) -> Sequence[str]: ...


class ViewParts(Protocol):
    """Showing messages: the database, and what signs their media links."""

    @property
    def database(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def secret(self) -> KeyRing: ...


class SendParts(ConsentParts, ViewParts, Protocol):
    """Checking, submitting and running a send: the lines (mappings), the providers' rules and
    senders, the media a send carries, and the links handed to the provider."""

    @property
    def registry(self) -> MappingRegistry: ...

    @property
    def media_store(self) -> MediaStore: ...

    @property
    def upload_rules(self) -> UploadRules: ...

    def sender(self, provider: str) -> Sender: ...
