"""Rate budgets shared by every process: one small state per bucket, changed atomically.

HubSpot's 10-second window, its search rate, Salesforce's daily allocation and each provider's
per-minute send rate are counted by the provider per app or per account, not per process. A
budget kept in one process's memory lets two workers spend twice the allowance, so the state of
each budget lives in a store every process reaches:

- `SqlBuckets` (the default): a row per bucket in `rate_budgets`, read and written in one
  transaction. On PostgreSQL the row is taken with `SELECT ... FOR UPDATE`; on SQLite the
  transaction begins IMMEDIATE, so it holds the database's write lock. The clock is the
  database's on PostgreSQL (replicas on several hosts agree on it) and the host's on SQLite.
- `RedisBuckets` (when `CONNECTOR_REDIS_URL` is set): a key per bucket, changed in an optimistic
  transaction (WATCH / MULTI / EXEC, repeated when another client changed the key meanwhile);
  the clock is Redis's `TIME`.
- `MemoryBuckets`: one process, for unit tests and tools.

The budgets themselves (`connector.crm.ratelimit`, `connector.crm.salesforce.limits`,
`connector.providers.ratelimit`) are written once, as a step `(state, now) -> (state, result)`;
a store only makes that step atomic. So every algorithm is tested once, against the in-memory
store with a fake clock, and each store is tested for atomicity.

Why not pyrate-limiter (4.6, which has SQLite, PostgreSQL and Redis buckets):
- its buckets are fixed at construction: there is no way to lower the limit or pause every
  caller when HubSpot's `X-HubSpot-RateLimit-Remaining` or a 429 says the allowance is spent,
  which is the reason for sharing the budget in the first place;
- a blocking acquire with a timeout sleeps until the timeout before failing; an at-most-once
  send needs to be refused at once, with the wait it would have needed and nothing reserved;
- it timestamps a request when it starts; HubSpot counts it somewhere until it ends, so a slot
  must be held until a window after the call ended;
- its PostgreSQL bucket needs a `psycopg_pool` pool beside the connector's SQLAlchemy engine,
  creates its tables at run time outside the migrations, writes a row per request, and refuses
  on lock contention (`LOCK TABLE ... NOWAIT`) then polls; its SQLite bucket is multi-process
  only with a file lock on a file of its own; its Redis bucket uses each client's clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import rate_budgets

__all__ = [
    "BucketStore",
    "Budget",
    "BudgetExhausted",
    "MemoryBuckets",
    "SqlBuckets",
    "State",
    "Step",
    "decode",
    "encode",
]

T = TypeVar("T")
State = dict[str, Any]
# A budget's change of state: the state now (None for a new bucket) and the store's clock in
# seconds, to the new state and what the caller learns. A step returns a new state rather than
# changing the one it was given; returning an equal state writes nothing.
Step = Callable[[State | None, float], tuple[State | None, T]]


class BudgetExhausted(Exception):
    """The next free slot is further away than the caller agreed to wait."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"rate limit budget exhausted; next slot in {wait_seconds:.2f}s")
        self.wait_seconds = wait_seconds


class Budget(Protocol):
    """What callers do with a budget: take from it, tell it what the server said, stop it."""

    def acquire(self, n: int = 1, max_wait: float | None = None) -> float:
        """Wait until `n` calls may start and take them; the seconds waited. `BudgetExhausted`
        (nothing taken) when that would take longer than `max_wait`."""
        ...

    def observe(self, headers: Any) -> None:
        """Align with the allowance the server's answer reports (its headers)."""
        ...

    def pause_for(self, seconds: float) -> None:
        """No call starts for `seconds`, in any process (the server refused one)."""
        ...


class BucketStore(Protocol):
    def update(self, name: str, step: Step[T]) -> T:
        """Apply `step` to the bucket's state atomically (no other process changes the bucket
        in between) and return its result."""
        ...

    def read(self, name: str) -> tuple[State | None, float]:
        """The bucket's state and the store's clock, without locking (for looking only)."""
        ...

    def close(self) -> None: ...


class MemoryBuckets:
    """Buckets in this process's memory; `clock` is injectable so tests need not wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, State] = {}

    def update(self, name: str, step: Step[T]) -> T:
        with self._lock:
            new, result = step(self._states.get(name), self._clock())
            if new is not None:
                self._states[name] = new
            return result

    def read(self, name: str) -> tuple[State | None, float]:
        with self._lock:
            return self._states.get(name), self._clock()

    def close(self) -> None:
        pass


class SqlBuckets:
    """Buckets as rows of `rate_budgets` (states as JSON text), shared by every process.

    `clock` overrides the store's clock (tests); by default PostgreSQL's `clock_timestamp()` is
    used, and the host's `time.time()` on SQLite, whose processes all run on one host.
    """

    def __init__(self, database: Database, clock: Callable[[], float] | None = None) -> None:
        self.database = database
        self._clock = clock

    def update(self, name: str, step: Step[T]) -> T:
        with self.database.begin() as conn:
            text, now = self._locked(conn, name)
            new, result = step(decode(text), now)
            encoded = encode(new)
            if new is not None and encoded != text:
                conn.execute(
                    update(rate_budgets)
                    .where(rate_budgets.c.name == name)
                    .values(state=encoded, updated_at=utcnow())
                )
            return result

    def read(self, name: str) -> tuple[State | None, float]:
        with self.database.read() as conn:
            query = select(rate_budgets.c.state, *self._now_column()).where(
                rate_budgets.c.name == name
            )
            row = conn.execute(query).first()
            if row is None:
                return None, self._now(conn)
            return decode(row.state), self._row_now(row)

    def close(self) -> None:
        pass  # the database belongs to the connector

    def _locked(self, conn: Connection, name: str) -> tuple[str, float]:
        """The bucket's row, locked until the transaction ends (created empty when new)."""
        query = select(rate_budgets.c.state, *self._now_column()).where(rate_budgets.c.name == name)
        if self.database.is_postgres:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            # SQLite: BEGIN IMMEDIATE already excludes every other writer. PostgreSQL: two
            # processes may both find no row; the second insert does nothing, and the select
            # below waits for the first transaction's row lock.
            values = {"name": name, "state": "", "updated_at": utcnow()}
            if self.database.is_postgres:
                conn.execute(pg_insert(rate_budgets).values(values).on_conflict_do_nothing())
                row = conn.execute(query).one()
            else:
                conn.execute(insert(rate_budgets).values(values))
                return "", self._now(conn)
        return str(row.state or ""), self._row_now(row)

    def _now_column(self) -> list[Any]:
        if self.database.is_postgres and self._clock is None:
            return [func.extract("epoch", func.clock_timestamp()).label("now")]
        return []

    def _row_now(self, row: Any) -> float:
        if self.database.is_postgres and self._clock is None:
            return float(row.now)
        return self._clock() if self._clock else time.time()

    def _now(self, conn: Connection) -> float:
        if self._clock is not None:
            return self._clock()
        if self.database.is_postgres:
            now = conn.execute(select(func.extract("epoch", func.clock_timestamp())))
            return float(now.scalar_one())
        return time.time()


def encode(state: State | None) -> str:
    """A state as compact JSON text (how both shared stores keep it)."""
    return "" if state is None else json.dumps(state, separators=(",", ":"), sort_keys=True)


def decode(text: str | None) -> State | None:
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
