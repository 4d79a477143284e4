"""Prometheus metrics of the API, the relay and the workers, served on `METRICS_PORT` when set.

Each process kind counts what it sees: the API its requests, the relay what it sends and what
waits (outbox, queues, dead letters), the workers what their tasks do. Under the prefork pool and
`uvicorn --workers`, processes share their counts through files in `PROMETHEUS_MULTIPROC_DIR`,
which must be set (to an empty directory) before the process starts.
"""

import os
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from app.core.config import get_settings
from app.core.logging import get_logger

logger = get_logger(__name__)

HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route template", ["method", "route", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)

TASKS_SENT = Counter("celery_tasks_sent", "Tasks the relay published to the broker", ["task"])
TASKS_STARTED = Counter("celery_tasks_started", "Task runs started by a worker", ["task"])
TASKS_SUCCEEDED = Counter("celery_tasks_succeeded", "Task runs that succeeded", ["task"])
TASKS_FAILED = Counter("celery_tasks_failed", "Task runs that failed for good", ["task"])
TASKS_RETRIED = Counter("celery_tasks_retried", "Task runs that asked to be retried", ["task"])
TASKS_SET_ASIDE = Counter(
    "celery_tasks_set_aside", "Tasks kept as dead letters (by the worker or the relay)", ["task"]
)
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Time a task run took, whatever its outcome",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

# Read by the relay every few seconds; "mostrecent" keeps one series when several processes set it.
QUEUE_MESSAGES = Gauge(
    "celery_queue_messages",
    "Messages waiting in a broker queue",
    ["queue"],
    multiprocess_mode="mostrecent",
)
OUTBOX_MESSAGES = Gauge(
    "outbox_messages", "Tasks committed and not yet published", multiprocess_mode="mostrecent"
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_message_age_seconds",
    "How long the longest-due task has waited to be published (0 when none is due)",
    multiprocess_mode="mostrecent",
)
DEAD_LETTERS = Gauge(
    "outbox_dead_letters", "Tasks set aside, waiting to be resent", multiprocess_mode="mostrecent"
)


def start_at_zero(counters: Iterable[Counter], tasks: Iterable[str]) -> None:
    """Show each task's counts from 0 on: a series that appears at 1 hides its first increase
    from Prometheus's `increase()`, and so a task's first failure from the alerts."""
    for counter in counters:
        for name in tasks:
            if not name.startswith("celery."):  # Celery's own (chords, backend cleanup)
                counter.labels(name)


def serve_metrics() -> bool:
    """Serve `/metrics` on the configured port, if one is; True if it is served.

    Under `PROMETHEUS_MULTIPROC_DIR` the page adds up every process of the directory.
    """
    settings = get_settings()
    if settings.metrics_port is None:
        return False
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        # `uvicorn --workers N`: the first worker serves them all, the others find the port taken.
        logger.info("Metrics port %s taken, not served here: %r", settings.metrics_port, exc)
        return False
    return True
