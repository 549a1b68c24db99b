"""Paused targets: a CRM or provider whose jobs wait, with the reason and what caused it.

A pause is one row per target, written with one upsert so that two workers pausing the same
target at once never collide. Its `cause` says what lifts it early: a `credentials` pause is
re-checked with a cheap call and lifted as soon as the credentials work again; any pause can be
lifted by an admin.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connector.store.tables import targets


class PauseCause(enum.StrEnum):
    CREDENTIALS = "credentials"
    THROTTLED = "throttled"


def _now() -> datetime:
    return datetime.now(UTC)


def pause_target(
    conn: Connection,
    name: str,
    *,
    until: datetime | None,
    reason: str,
    cause: PauseCause | None = None,
) -> None:
    values: dict[str, Any] = {
        "paused": True,
        "paused_until": until,
        "reason": reason,
        "cause": cause.value if cause else None,
        "updated_at": _now(),
    }
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql_insert(targets).values(name=name, **values)
    elif dialect == "sqlite":
        statement = sqlite_insert(targets).values(name=name, **values)
    else:  # pragma: no cover - the connector supports only these two databases
        raise NotImplementedError(f"no upsert for {dialect}")
    conn.execute(statement.on_conflict_do_update(index_elements=[targets.c.name], set_=values))


def resume_target(conn: Connection, name: str, *, cause: PauseCause | None = None) -> bool:
    """Lift the pause (only one of this cause, when given); False when there was none."""
    condition = and_(targets.c.name == name, targets.c.paused.is_(True))
    if cause is not None:
        condition = and_(condition, targets.c.cause == cause.value)
    result = conn.execute(
        update(targets)
        .where(condition)
        .values(paused=False, paused_until=None, reason=None, cause=None, updated_at=_now())
    )
    return result.rowcount == 1


def _in_force(now: datetime) -> Any:
    return and_(
        targets.c.paused.is_(True),
        or_(targets.c.paused_until.is_(None), targets.c.paused_until > now),
    )


def paused_names(now: datetime) -> Any:
    """The names of the targets paused at `now`, as a subquery for the claim."""
    return select(targets.c.name).where(_in_force(now))


def paused_targets(conn: Connection, now: datetime | None = None) -> dict[str, str]:
    """Targets whose jobs wait, with the reason, for `/readyz` and the admin page."""
    rows = conn.execute(select(targets.c.name, targets.c.reason).where(_in_force(now or _now())))
    return {name: reason or "" for name, reason in rows}


def paused_by(conn: Connection, cause: PauseCause, now: datetime | None = None) -> list[str]:
    """The targets paused now for this cause (the credentials probe re-checks these)."""
    rows = conn.execute(
        select(targets.c.name)
        .where(and_(_in_force(now or _now()), targets.c.cause == cause.value))
        .order_by(targets.c.name)
    )
    return [name for (name,) in rows]
