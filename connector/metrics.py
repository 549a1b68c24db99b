"""Prometheus metrics the operators scrape at `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "connector_webhook_events_total", "Provider events received", ["provider", "outcome"]
)
JOBS = Counter("connector_jobs_total", "Jobs run by outcome", ["kind", "outcome"])
JOB_SECONDS = Histogram("connector_job_seconds", "Time spent running a job", ["kind"])
CRM_CALLS = Counter("connector_crm_calls_total", "Calls made to a CRM", ["crm", "status"])
