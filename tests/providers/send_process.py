"""A sender in a process of its own, for the shared send-rate test.

python -m tests.providers.send_process BASE_URL STORE COUNT
    STORE is `sql:DATABASE_URL` or `redis:REDIS_URL PREFIX`; says `sender-ready`, waits for
    a line on stdin, sends COUNT messages through Aircall's API at BASE_URL, then says
    `sender-done SENT REFUSED`.
"""

from __future__ import annotations

import sys

from connector.core.errors import ConnectorError
from connector.providers.aircall_send import AircallSender
from connector.store.budgets import BucketStore, SqlBuckets
from connector.store.db import Database
from connector.store.redis_buckets import RedisBuckets
from tests.providers.factories import outbound_message

READY = "sender-ready"
DONE = "sender-done"
PER_MINUTE = 480.0  # 8 a second, shared by every process


def store_of(spec: str) -> BucketStore:
    kind, _, rest = spec.partition(":")
    if kind == "redis":
        url, prefix = rest.split(" ", 1)
        return RedisBuckets.from_url(url, prefix)
    return SqlBuckets(Database(rest, pool_size=2))


def main(argv: list[str]) -> int:
    base_url, spec, count = argv[0], argv[1], int(argv[2])
    budgets = store_of(spec)
    sent = refused = 0
    with AircallSender(
        "api-id", "api-token", base_url, requests_per_minute=PER_MINUTE, budgets=budgets
    ) as sender:
        print(READY, flush=True)
        sys.stdin.readline()
        for _ in range(count):
            try:
                sender.send(outbound_message())
                sent += 1
            except ConnectorError:
                refused += 1
    budgets.close()
    print(f"{DONE} {sent} {refused}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
