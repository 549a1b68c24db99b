"""The queue as Prometheus sees it, read from the database at each scrape.

Every process of a deployment shares one queue, so any of them can answer; each scrape costs a
few bounded index reads (`store/job_counts.py`). The series are rendered beside the process's
own counters by `exposition`, from `/metrics` and from a worker's probe port.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.store import job_counts
from connector.store.db import Database
from connector.store.job_record import utcnow

log = structlog.get_logger(__name__)


class QueueCollector(Collector):
    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "connector_queue_up", "1 when the queue could be read for this scrape"
        )
        try:
            with self.database.read() as conn:
                depth = job_counts.depth(conn)
                oldest = job_counts.oldest_queued(conn)
        except Exception as exc:  # a scrape never fails for it; `connector_queue_up` says so
            log.warning("metrics.queue_unreadable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily(
            "connector_queue_jobs",
            "Queued, running and dead jobs by kind (each state counted up to 10000)",
            labels=["state", "kind"],
        )
        for (state, kind), number in sorted(depth.items()):
            jobs.add_metric([state, kind], number)
        yield jobs
        age = GaugeMetricFamily(
            "connector_queue_oldest_job_age_seconds",
            "Age of the oldest job still waiting to run (0 when none waits)",
        )
        age.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
        yield age


def exposition(database: Database, *more: CollectorRegistry) -> bytes:
    """This process's metrics (with `more` registries) and the queue's, in Prometheus's text
    format."""
    queue = CollectorRegistry(auto_describe=False)
    queue.register(QueueCollector(database))
    return b"".join(generate_latest(registry) for registry in (REGISTRY, *more, queue))
