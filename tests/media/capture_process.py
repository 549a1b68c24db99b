"""A worker process of its own for the two-replica capture test.

python -m tests.media.capture_process
    builds the connector from the CONNECTOR_* environment, says `capture-ready`, waits for
    a line on stdin, drains the queue one job at a time, says `capture-drained N`, exits.
"""

from __future__ import annotations

import sys

from connector import bootstrap
from connector.config import load_settings
from connector.logs import configure

READY = "capture-ready"
DRAINED = "capture-drained"


def main() -> None:
    configure("WARNING")
    connector = bootstrap.build(load_settings(), upgrade_sqlite=False)
    print(READY, flush=True)
    sys.stdin.readline()
    count = connector.worker(concurrency=1).drain()
    connector.close()
    print(f"{DRAINED} {count}", flush=True)


if __name__ == "__main__":
    main()
