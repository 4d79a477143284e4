"""The worker's metrics, traces and error reports (see app.core: metrics, tracing, error_reports).

Metrics are served by the worker's main process (`METRICS_PORT`) and counted by its pool
processes, which share them through `PROMETHEUS_MULTIPROC_DIR`. Each pool process starts its own
tracing, since an exporter's thread does not survive the fork; error reports are set up before
the pool starts, and every pool process inherits them.
"""

import time
from typing import Any

from celery import Task
from celery.signals import (
    celeryd_init,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from celery.worker import WorkController

from app.core import metrics
from app.core.error_reports import configure_error_reports
from app.core.tracing import stop_tracing, trace_worker
from app.db.session import worker_engine

_started: dict[str, float] = {}


@celeryd_init.connect
def _report_errors(**_: Any) -> None:
    configure_error_reports("worker")


@worker_init.connect
def _serve_metrics(sender: WorkController, **_: Any) -> None:
    if metrics.serve_metrics():
        counters = (
            metrics.TASKS_STARTED,
            metrics.TASKS_SUCCEEDED,
            metrics.TASKS_FAILED,
            metrics.TASKS_RETRIED,
            metrics.TASKS_SET_ASIDE,
        )
        metrics.start_at_zero(counters, sender.app.tasks)


@worker_process_init.connect
def _start_tracing(**_: Any) -> None:
    trace_worker(worker_engine)


@worker_process_shutdown.connect
def _stop_tracing(**_: Any) -> None:
    stop_tracing()


@task_prerun.connect
def _count_start(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    metrics.TASKS_STARTED.labels(task.name).inc()
    _started[task_id] = time.perf_counter()


@task_postrun.connect
def _time_run(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        metrics.TASK_DURATION.labels(task.name).observe(time.perf_counter() - started)


@task_success.connect
def _count_success(sender: Task[Any, Any], **_: Any) -> None:
    metrics.TASKS_SUCCEEDED.labels(sender.name).inc()


@task_retry.connect
def _count_retry(sender: Task[Any, Any], **_: Any) -> None:
    metrics.TASKS_RETRIED.labels(sender.name).inc()


@task_failure.connect
def _count_failure(sender: Task[Any, Any], **_: Any) -> None:
    metrics.TASKS_FAILED.labels(sender.name).inc()
