"""What one process remembers between HubSpot writes, to write each record exactly once.

Both are per process and bounded: the shared truth is in HubSpot (read by key) and in the
`crm_records` table; these only spare a read, or make a retry look before it creates.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import structlog

from connector.crm.hubspot.client import HubSpotApi
from connector.crm.ratelimit import Clock

log = structlog.get_logger(__name__)

KEY_MODE_TTL_SECONDS = 600.0  # how long "is the key property unique?" is trusted
RECENT_IDS_MAX = 50_000  # key -> id of records this process wrote, for lost local commits
UNCERTAIN_MAX = 50_000


class KeyFieldMissing(Exception):
    """The key property does not exist on the object: `mappings setup` was never run."""


class RecentWrites:
    """The ids of records this process wrote lately (a job whose local commit was lost updates
    instead of creating again), and the keys whose last create ended without an answer (the
    next attempt reads them by key first)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._uncertain: OrderedDict[tuple[str, str], float] = OrderedDict()

    def id_of(self, object_type: str, key: str) -> str | None:
        with self._lock:
            return self._ids.get((object_type, key))

    def remember(self, object_type: str, key: str, crm_id: str) -> None:
        with self._lock:
            self._ids[(object_type, key)] = crm_id
            self._ids.move_to_end((object_type, key))
            while len(self._ids) > RECENT_IDS_MAX:
                self._ids.popitem(last=False)
            self._uncertain.pop((object_type, key), None)

    def forget(self, object_type: str, key: str) -> None:
        with self._lock:
            self._ids.pop((object_type, key), None)

    def mark_uncertain(self, object_type: str, key: str) -> None:
        with self._lock:
            self._uncertain[(object_type, key)] = self.clock()
            self._uncertain.move_to_end((object_type, key))
            while len(self._uncertain) > UNCERTAIN_MAX:
                self._uncertain.popitem(last=False)

    def uncertain_since(self, object_type: str, key: str) -> float | None:
        with self._lock:
            return self._uncertain.get((object_type, key))


class KeyModes:
    """Whether each object's key property has unique values, asked of HubSpot once in a while:
    it decides between "create and let HubSpot refuse a duplicate" and "search first"."""

    def __init__(self, api: HubSpotApi, clock: Clock) -> None:
        self.api = api
        self.clock = clock
        self._lock = threading.Lock()
        self._asking = threading.Lock()
        self._modes: dict[tuple[str, str], tuple[float, bool]] = {}

    def forget(self) -> None:
        with self._lock:
            self._modes.clear()

    def unique(self, object_type: str, key_field: str) -> bool:
        with self._asking:  # one thread asks HubSpot, the others wait for its answer
            now = self.clock()
            with self._lock:
                cached = self._modes.get((object_type, key_field))
            if cached is not None and cached[0] > now:
                return cached[1]
            info = self.api.property_info(object_type, key_field)
            if info is None:
                raise KeyFieldMissing(key_field)
            with self._lock:
                self._modes[(object_type, key_field)] = (now + KEY_MODE_TTL_SECONDS, info.unique)
        if not info.unique:
            log.info("hubspot.key_not_unique", object_type=object_type, key_field=key_field)
        return info.unique
