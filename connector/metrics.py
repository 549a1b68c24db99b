"""Prometheus metrics the operators scrape at `/metrics` (and at a worker's `--metrics-port`).

Labels stay few and bounded: job kinds, CRM and provider names, HTTP status codes. The HTTP
metrics (`connector_http_*`, by route template) and the queue's depth are added where they are
measured: `api/observability.py` and `sync/queue_metrics.py`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# From a second to the 72 hours a failing job is retried.
_AGE_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)

WEBHOOKS = Counter(
    "connector_webhook_events_total", "Provider events received", ["provider", "outcome"]
)
JOBS = Counter("connector_jobs_total", "Jobs run by outcome", ["kind", "outcome"])
JOB_SECONDS = Histogram("connector_job_seconds", "Time spent running a job", ["kind"])
JOB_AGE = Histogram(
    "connector_job_age_seconds",
    "A job's age (since it was queued) each time it settles, by outcome",
    ["kind", "outcome"],
    buckets=_AGE_BUCKETS,
)
CRM_CALLS = Counter("connector_crm_calls_total", "Calls made to a CRM", ["crm", "status"])
PROVIDER_CALLS = Counter(
    "connector_provider_calls_total",
    "Send calls made to a provider, by HTTP status (`no_answer` when none came back)",
    ["provider", "status"],
)
