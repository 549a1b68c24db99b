"""The composition root: settings in, the connector's concrete parts out.

The API, the CLI and the tests all build the connector here, so there is one place that decides
which database, which CRMs and which providers a process talks to.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from pydantic import SecretStr

from connector.config import ConfigError, Settings, load_settings
from connector.core.access import weakness
from connector.core.errors import Permanent
from connector.core.keys import KeyRing
from connector.core.model import Provider
from connector.core.policy import MmsPolicy
from connector.crm.base import CrmAdapter
from connector.mapping.registry import MappingRegistry
from connector.media import retention
from connector.media.capture import CaptureLimits, MediaCapture, capture_deadline
from connector.media.locations import open_store
from connector.media.locations import readiness as media_store_readiness
from connector.media.store import MediaStore
from connector.media.uploads import UploadRules
from connector.periodic import Periodic
from connector.providers.aircall_admin import AircallAdmin
from connector.providers.cloudtalk_admin import CloudTalkAdmin
from connector.providers.sending import Sender
from connector.store import migrate
from connector.store.budgets import BucketStore, SqlBuckets
from connector.store.conversations import CAPTURE_MEDIA, SYNC_CRM
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from connector.store.files import private_folder
from connector.store.queue import Job
from connector.sync import housekeeping
from connector.sync.consent import SYNC_CONSENT, ConsentSync
from connector.sync.crm_sync import CrmSync
from connector.sync.linger import budget_linger
from connector.sync.outbound import SEND_MESSAGE, SendJob
from connector.sync.worker import Batched, Handler, Worker

if TYPE_CHECKING:
    from connector.crm.salesforce import SalesforceConfig

log = structlog.get_logger(__name__)

CRM_NAMES = ("hubspot", "salesforce")
# Records per batched sync call; each adapter splits further to its CRM's batch size.
SYNC_BATCH_SIZE = 200
# A batch this full already makes a whole CRM call (HubSpot's batches carry 100 records).
LINGER_FILL = 100
# The longest a batch waits for its CRM's next call slot while gathering more jobs.
LINGER_LONGEST = 10.0


class ProviderSender(Sender, Protocol):
    """A provider's sender as the connector holds it: it sends, and it is closed at the end."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Registries:
    """What a process runs, built once by `build()` and read-only from then on: the job
    handlers, the batched job kinds, the periodic tasks, the readiness checks, and how each
    configured CRM adapter and provider sender is made (on first use)."""

    handlers: Mapping[str, Handler] = field(default_factory=lambda: MappingProxyType({}))
    batched: Mapping[str, Batched] = field(default_factory=lambda: MappingProxyType({}))
    periodic: tuple[Periodic, ...] = ()
    readiness_checks: Mapping[str, Callable[[], Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    adapter_factories: Mapping[str, Callable[[], CrmAdapter]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    sender_factories: Mapping[str, Callable[[], ProviderSender]] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass
class Connector:
    """Everything a process needs, built once from settings.

    The composition root: the API, the CLI and the worker take the parts they need from it
    (`database`, `settings`, `secret`, `media_store`, `registry`...). Its `registries` are made
    by `wire` while the connector is constructed (their factories resolve the connector's lazy
    parts, such as `budgets`, on first use) and never change afterwards.
    """

    settings: Settings
    database: Database
    secret: KeyRing
    wire: InitVar[Callable[[Connector], Registries] | None] = None
    registries: Registries = field(init=False, default_factory=Registries)
    _adapters: dict[str, CrmAdapter] = field(default_factory=dict, repr=False)
    _adapters_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _senders: dict[str, ProviderSender] = field(default_factory=dict, repr=False)

    def __post_init__(self, wire: Callable[[Connector], Registries] | None) -> None:
        if wire is not None:
            self.registries = wire(self)

    @property
    def handlers(self) -> Mapping[str, Handler]:
        return self.registries.handlers

    @property
    def batched(self) -> Mapping[str, Batched]:
        return self.registries.batched

    @property
    def periodic(self) -> tuple[Periodic, ...]:
        return self.registries.periodic

    @property
    def readiness_checks(self) -> Mapping[str, Callable[[], Any]]:
        return self.registries.readiness_checks

    @property
    def adapter_factories(self) -> Mapping[str, Callable[[], CrmAdapter]]:
        return self.registries.adapter_factories

    @property
    def sender_factories(self) -> Mapping[str, Callable[[], ProviderSender]]:
        return self.registries.sender_factories

    @property
    def crms(self) -> list[str]:
        """The CRMs that are on: those whose credentials are configured."""
        enabled = {
            "hubspot": self.settings.hubspot.enabled,
            "salesforce": self.settings.salesforce.enabled,
        }
        return [name for name in CRM_NAMES if enabled[name]]

    @cached_property
    def media_store(self) -> MediaStore:
        """Where media are kept: `CONNECTOR_MEDIA_STORE_URL`, by default files under DATA_DIR
        (a test may assign another)."""
        return media_store(self.settings)

    @cached_property
    def upload_rules(self) -> UploadRules:
        return upload_rules(self.settings)

    @cached_property
    def budgets(self) -> BucketStore:
        """Where the CRMs' and providers' rate budgets live, shared by every process of the
        deployment: Redis when `CONNECTOR_REDIS_URL` is set, else the database."""
        if self.settings.redis_url is not None:
            from connector.store.redis_buckets import RedisBuckets

            return RedisBuckets.from_url(self.settings.redis_url.get_secret_value())
        return SqlBuckets(self.database)

    @cached_property
    def registry(self) -> MappingRegistry:
        """The admin's mappings, reloaded when the files change (the last good one is kept)."""
        return MappingRegistry(self.settings.mappings_dir)

    def adapter(self, crm: str) -> CrmAdapter:
        """The one adapter of a CRM in this process, built on first use (worker threads share
        it; its rate budgets live in `budgets`, shared with the other processes)."""
        with self._adapters_lock:
            if crm not in self._adapters:
                factory = self.adapter_factories.get(crm)
                if factory is None:
                    raise KeyError(f"{crm} is not configured")
                self._adapters[crm] = factory()
            return self._adapters[crm]

    def sender(self, provider: str) -> ProviderSender:
        """The one sender of a provider in this process, built on first use (worker threads
        share it; its per-minute budget lives in `budgets`, shared with the other processes)."""
        with self._adapters_lock:
            if provider not in self._senders:
                factory = self.sender_factories.get(provider)
                if factory is None:
                    raise KeyError(f"sending through {provider} is not configured")
                self._senders[provider] = factory()
            return self._senders[provider]

    def worker(self, *, concurrency: int | None = None) -> Worker:
        settings = self.settings
        return Worker(
            self.database,
            self.handlers,
            concurrency=concurrency or settings.jobs.worker_concurrency,
            lease=timedelta(seconds=settings.jobs.lease_seconds),
            poll_seconds=settings.jobs.worker_poll_seconds,
            max_age=timedelta(hours=settings.jobs.max_age_hours),
            periodic=self.periodic,
            batched=self.batched,
        )

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        close_store = getattr(self.__dict__.get("media_store"), "close", None)
        if close_store is not None:
            close_store()
        if "budgets" in self.__dict__:
            self.budgets.close()
        self.database.dispose()


class SecretKeyError(ConfigError):
    """The generated key file cannot be used; the message says what to do."""


def load_secret(settings: Settings) -> KeyRing:
    """The keys of links: the current one signs; `CONNECTOR_PREVIOUS_SECRET_KEYS`, the keys it
    replaced, only verify, so links already written into CRM records survive a rotation."""
    previous = tuple(key.get_secret_value().encode() for key in settings.previous_secret_keys)
    return KeyRing(_current_key(settings), previous)


def _current_key(settings: Settings) -> bytes:
    """The signing key: configured, or generated once and kept under the data folder.

    Several processes may start at once on one data folder: each writes a candidate to a
    temporary file of its own (0600), then links it to `secret.key`, which only the first
    succeeds at; the others read the winner's. The file appears whole or not at all, so no
    process ever reads a partial or empty key.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if (settings.media.store_url or "").startswith("s3://"):
        # An object store is for replicas without a shared disk: each would generate a key of
        # its own, and a restarted pod (an emptyDir data folder) a new one, breaking every link
        # already written into CRM records.
        raise SecretKeyError(
            "CONNECTOR_SECRET_KEY must be set when media are kept in S3 "
            "(CONNECTOR_MEDIA_STORE_URL=s3://...): every replica signs links with it, and a "
            "key generated into a replica's own data folder would not survive it"
        )
    folder = private_folder(Path(settings.data_dir), tighten=True)
    path = folder / "secret.key"
    if not path.exists():
        handle, candidate = tempfile.mkstemp(dir=folder, prefix=".secret.key.")  # 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(48))
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(candidate, path)
        finally:
            os.unlink(candidate)
    key = path.read_text(encoding="utf-8").strip()
    problem = weakness(key)
    if problem:
        raise SecretKeyError(
            f"{path} {problem}: set CONNECTOR_SECRET_KEY, or delete the file to generate a new "
            "key (links already written into CRM records then stop working)"
        )
    return key.encode()


def build(settings: Settings | None = None, *, upgrade_sqlite: bool = True) -> Connector:
    settings = settings or load_settings()
    for token in settings.api_tokens:
        if token.legacy:
            log.warning(
                "config.api_token_without_scopes",
                entry=token.name,
                detail="a bare CONNECTOR_API_TOKENS entry is an admin token; write "
                "name:scopes:secret to give it only the scopes it needs",
            )
    database = Database(settings.effective_database_url)
    if upgrade_sqlite and database.is_sqlite:
        migrate.upgrade(database)
    return Connector(
        settings=settings, database=database, secret=load_secret(settings), wire=_registries
    )


@dataclass
class _Wiring:
    """The registries while `_registries` fills them; frozen into `Registries` at the end."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    batched: dict[str, Batched] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    readiness_checks: dict[str, Callable[[], Any]] = field(default_factory=dict)
    adapter_factories: dict[str, Callable[[], CrmAdapter]] = field(default_factory=dict)
    sender_factories: dict[str, Callable[[], ProviderSender]] = field(default_factory=dict)

    def freeze(self) -> Registries:
        return Registries(
            handlers=MappingProxyType(dict(self.handlers)),
            batched=MappingProxyType(dict(self.batched)),
            periodic=tuple(self.periodic),
            readiness_checks=MappingProxyType(dict(self.readiness_checks)),
            adapter_factories=MappingProxyType(dict(self.adapter_factories)),
            sender_factories=MappingProxyType(dict(self.sender_factories)),
        )


def _registries(connector: Connector) -> Registries:
    """Wire each job kind to its handler; each feature adds its own here."""
    settings = connector.settings
    wiring = _Wiring()
    wiring.handlers[CAPTURE_MEDIA] = MediaCapture(
        connector.database, connector.media_store, capture_limits(settings)
    )
    wiring.periodic.append(
        retention.periodic(
            connector.database,
            connector.media_store,
            timedelta(days=settings.media.retention_days),
        )
    )
    wiring.periodic.append(housekeeping.job_retention(connector.database, settings))
    _wire_crms(connector, wiring)
    _wire_sends(connector, wiring)
    _wire_consent(connector, wiring)
    wiring.readiness_checks["mappings"] = connector.registry.status
    wiring.readiness_checks["media_store"] = lambda: media_store_readiness(connector.media_store)
    return wiring.freeze()


def _wire_crms(connector: Connector, wiring: _Wiring) -> None:
    """One sync per configured CRM, behind one batched `sync_crm` job kind."""
    settings = connector.settings
    cache = SqlContactCache(connector.database, ttl=timedelta(seconds=settings.crm_cache_seconds))
    if settings.hubspot.enabled:
        wiring.adapter_factories["hubspot"] = lambda: _hubspot(settings, cache, connector.budgets)
    if settings.salesforce.enabled:
        wiring.adapter_factories["salesforce"] = lambda: _salesforce(
            settings, cache, connector.budgets
        )
    syncs = {
        crm: CrmSync(
            crm,
            database=connector.database,
            registry=connector.registry,
            adapter=lambda crm=crm: connector.adapter(crm),  # type: ignore[misc]
            public_url=settings.public_url,
            secret=connector.secret,
        )
        for crm in wiring.adapter_factories
    }

    def sync(jobs: list[Job]) -> dict[int, BaseException | None]:
        # A batch holds jobs of one kind and one target: route it to that CRM's sync.
        return syncs[jobs[0].target](jobs)

    def budget_wait(jobs: list[Job]) -> float | None:
        wait = getattr(connector.adapter(jobs[0].target), "budget_wait", None)
        return wait() if wait is not None else None

    # A batch of fewer records than one CRM call carries waits a moment for more, and until its
    # CRM's next call slot when the budget is spent.
    linger = budget_linger(
        settings.jobs.sync_linger_seconds,
        fill=LINGER_FILL,
        budget_wait=budget_wait,
        # The claimed jobs' leases are renewed only once the batch runs: stay well inside one.
        longest=min(LINGER_LONGEST, settings.jobs.lease_seconds / 3),
    )
    if syncs:
        wiring.batched[SYNC_CRM] = Batched(sync, SYNC_BATCH_SIZE, linger)
        checks = {crm: lambda crm=crm: connector.adapter(crm).check_credentials() for crm in syncs}
        wiring.periodic.append(housekeeping.credentials_probe(connector.database, checks))


def _wire_consent(connector: Connector, wiring: _Wiring) -> None:
    """The `sync_consent` job: a number's opt-out written onto its contact in each CRM."""
    syncs = {
        crm: ConsentSync(
            crm,
            database=connector.database,
            registry=connector.registry,
            adapter=lambda crm=crm: connector.adapter(crm),  # type: ignore[misc]
        )
        for crm in wiring.adapter_factories
    }

    def sync(job: Job) -> None:
        if job.target not in syncs:
            raise Permanent(f"{job.target} is not configured")
        syncs[job.target](job)

    wiring.handlers[SYNC_CONSENT] = sync


def _wire_sends(connector: Connector, wiring: _Wiring) -> None:
    """The `send_message` job and one sender per provider whose API credentials are set."""
    settings = connector.settings
    if settings.aircall.send_enabled:
        wiring.sender_factories["aircall"] = lambda: _aircall_sender(settings, connector.budgets)
    if settings.cloudtalk.send_enabled:
        wiring.sender_factories["cloudtalk"] = lambda: _cloudtalk_sender(
            settings, connector.budgets
        )
    wiring.handlers[SEND_MESSAGE] = SendJob(connector)


def _send_wait(settings: Settings) -> float:
    """How long a send may wait for its provider's budget: well inside the job's lease, so the
    request never leaves after another worker could have taken the job."""
    return min(30.0, settings.jobs.lease_seconds / 4)


def _aircall_sender(settings: Settings, budgets: BucketStore) -> ProviderSender:
    from connector.providers.aircall_send import AircallSender

    return AircallSender(
        *_credentials(settings, Provider.AIRCALL),
        settings.aircall.base_url,
        requests_per_minute=settings.aircall.requests_per_minute,
        max_wait=_send_wait(settings),
        budgets=budgets,
    )


def _cloudtalk_sender(settings: Settings, budgets: BucketStore) -> ProviderSender:
    from connector.providers.cloudtalk_send import CloudTalkSender

    return CloudTalkSender(
        *_credentials(settings, Provider.CLOUDTALK),
        settings.cloudtalk.base_url,
        requests_per_minute=settings.cloudtalk.requests_per_minute,
        max_wait=_send_wait(settings),
        budgets=budgets,
    )


def aircall_admin(settings: Settings) -> AircallAdmin:
    """Aircall's admin API (numbers, webhooks) with the configured credentials."""
    return AircallAdmin(*_credentials(settings, Provider.AIRCALL), settings.aircall.base_url)


def cloudtalk_admin(settings: Settings) -> CloudTalkAdmin:
    """CloudTalk's admin API (numbers) with the configured credentials."""
    return CloudTalkAdmin(*_credentials(settings, Provider.CLOUDTALK), settings.cloudtalk.base_url)


def _credentials(settings: Settings, provider: Provider) -> tuple[str, str]:
    credentials = settings.provider(provider).api_credentials()
    if credentials is None:
        raise ConfigError(f"{provider.value}'s API credentials are not set")
    return credentials


def _hubspot(settings: Settings, cache: SqlContactCache, budgets: BucketStore) -> CrmAdapter:
    from connector.crm.hubspot import HubSpotAdapter

    assert settings.hubspot.access_token is not None
    return HubSpotAdapter(
        settings.hubspot.access_token.get_secret_value(),
        settings.hubspot.base_url,
        cache,
        rate_limit=(settings.hubspot.rate_limit, settings.hubspot.rate_window_seconds),
        search_rate=settings.hubspot.search_rate,
        timeout=(5.0, settings.hubspot.timeout_seconds),
        budgets=budgets,
    )


def _salesforce(settings: Settings, cache: SqlContactCache, budgets: BucketStore) -> CrmAdapter:
    from connector.crm.salesforce import from_config

    return from_config(salesforce_config(settings), cache, budgets)


# The values each adapter takes, read from the settings here, so no layer below needs them whole.


def policies(settings: Settings) -> dict[Provider, MmsPolicy]:
    """Each provider's MMS rules with the operator's overrides."""
    return {provider: settings.policy(provider) for provider in Provider}


def media_store(settings: Settings) -> MediaStore:
    """The configured store: `CONNECTOR_MEDIA_STORE_URL`, by default files under DATA_DIR."""
    return open_store(
        settings.media.store_url,
        data_dir=settings.data_dir,
        endpoint_url=settings.media.s3_endpoint_url,
    )


def capture_limits(settings: Settings) -> CaptureLimits:
    return CaptureLimits(
        policies=policies(settings),
        deadline_seconds=capture_deadline(
            settings.media.download_timeout_seconds, settings.jobs.lease_seconds
        ),
        spool_dir=settings.data_dir / "spool",
        allow_private_urls=settings.media.allow_private_urls,
    )


def upload_rules(settings: Settings) -> UploadRules:
    return UploadRules(
        policies=policies(settings),
        public_url=settings.public_url,
        spool_dir=settings.data_dir / "spool",
    )


def salesforce_config(settings: Settings) -> SalesforceConfig:
    from connector.crm.salesforce import SalesforceConfig, SalesforceCredentials

    values = settings.salesforce
    return SalesforceConfig(
        credentials=SalesforceCredentials(
            domain=values.domain,
            login_url=values.login_url,
            api_version=values.api_version,
            consumer_key=values.consumer_key,
            consumer_secret=_reveal(values.consumer_secret),
            username=values.username,
            private_key_file=values.private_key_file,
            password=_reveal(values.password),
            security_token=_reveal(values.security_token),
            instance_url=values.instance_url,
            session_id=_reveal(values.session_id),
        ),
        connect_timeout=values.connect_timeout_seconds,
        read_timeout=values.timeout_seconds,
        api_usage_soft=values.api_usage_soft,
        api_usage_hard=values.api_usage_hard,
        cache_seconds=settings.crm_cache_seconds,
    )


def _reveal(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
