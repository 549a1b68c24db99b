"""Engines for the two supported databases: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from connector.store.files import private_file, private_folder, tighten_file


class Database:
    """An engine plus the one rule SQLite needs: a single writer at a time in this process.

    SQLite serialises writers anyway; doing it with a lock here instead of its busy-wait keeps
    latency flat under many concurrent webhooks.
    """

    def __init__(self, url: str, **engine_args: Any) -> None:
        url = normalize_url(url)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
            engine_args.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
            engine_args.setdefault("pool_size", 8)
        else:
            engine_args.setdefault("pool_pre_ping", True)
            engine_args.setdefault("pool_size", 10)
            engine_args.setdefault("max_overflow", 20)
        # Errors never quote bound values: they are message texts and phone numbers.
        engine_args.setdefault("hide_parameters", True)
        self.engine: Engine = create_engine(url, **engine_args)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


# SQLSTATEs after which the same transaction, run again, can succeed: a deadlock victim
# (40P01) and a serialization failure (40001).
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` says "this transaction lost a race; run it again", not "it is wrong".

    PostgreSQL ends one of two deadlocked transactions (or a serialization failure), and SQLite
    answers "database is locked" when another process held the file past the busy timeout. Both
    roll the whole transaction back, so writing it again from the start is safe.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        if type(current).__name__ == "OperationalError" and "database is locked" in str(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here, the driver the `postgres` extra installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _ensure_sqlite_folder(url: str) -> None:
    """The database file exists as 0600 before SQLite opens it: SQLite gives its WAL and shared
    memory files the database file's mode, so all three stay private to this user."""
    path = url.split(":///", 1)[-1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        database = Path(path)
        private_folder(database.parent)
        private_file(database)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten_file(database.with_name(database.name + suffix))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's `begin` event issue BEGIN so that writes take the lock up front.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take SQLite's lock when they begin, so two never deadlock upgrading a read lock.
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
