"""Rate budgets in Redis, for deployments that set `CONNECTOR_REDIS_URL`.

A budget's step is Python (the same code as on the database and in memory, see `budgets.py`), so
it cannot run inside Redis as a Lua script. Instead each change is an optimistic transaction:
WATCH the key, read it and Redis's clock, compute, then MULTI / SET / EXEC; when another client
changed the key in between, EXEC fails and the step runs again on the new state. Budgets are
changed a few times per CRM call, so conflicts are rare and cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from connector.store.budgets import State, Step, decode, encode

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

# A bucket nobody touched for a day is forgotten (its state has long expired anyway).
KEY_TTL_SECONDS = 86_400
# Conflicting writers retry; past this many in a row something is badly wrong.
MAX_CONFLICTS = 1_000


class RedisBuckets:
    """Buckets as Redis strings under `prefix` (JSON states), shared by every process."""

    def __init__(self, client: redis.Redis, prefix: str = "mms-connector:budget:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "mms-connector:budget:") -> RedisBuckets:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5.0), prefix)

    def update(self, name: str, step: Step[T]) -> T:
        import redis

        key = self.prefix + name
        with self.client.pipeline() as pipe:
            for _ in range(MAX_CONFLICTS):
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    text = _text(pipe.get(key))
                    now = _seconds(pipe.time())
                    new, result = step(decode(text), now)
                    encoded = encode(new)
                    pipe.multi()
                    if new is not None and encoded != text:
                        pipe.set(key, encoded, ex=KEY_TTL_SECONDS)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise RuntimeError(f"rate budget {name!r}: too many conflicting writers in Redis")

    def read(self, name: str) -> tuple[State | None, float]:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.get(self.prefix + name)
            pipe.time()
            text, now = pipe.execute()
        return decode(_text(text)), _seconds(now)

    def close(self) -> None:
        self.client.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(value: Any) -> float:
    seconds, micros = value
    return int(seconds) + int(micros) / 1_000_000
