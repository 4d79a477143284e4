"""Fault tests: real worker processes killed, stopped and starved, on real services.

Workers here run with short limits so that what a crash leaves behind comes back in seconds:
a task unacknowledged for VISIBILITY_TIMEOUT seconds is redelivered (by a Redis broker; other
brokers redeliver as soon as the dead worker's connection closes).
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy.engine import URL

from tests.support.mailbox import Mailbox
from tests.support.processes import WorkerProcess

VISIBILITY_TIMEOUT = 6
FAULT_SETTINGS = {
    "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS": "4",
    "CELERY_TASK_TIME_LIMIT_SECONDS": "5",
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
    "CELERY_UNACKED_RESTORE_INTERVAL_SECONDS": "1",
    "EMAIL_RETRY_BACKOFF_SECONDS": "1",
    "EMAIL_RETRY_BACKOFF_MAX_SECONDS": "2",
}

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(
    tmp_path: Path, broker: Celery, database: URL, mailbox: Mailbox
) -> Iterator[StartWorker]:
    """Start worker processes, as the `worker` fixture does but with the fault settings, for a
    test that kills or stops them; all are killed after the test.

    Tasks that earlier tests left queued are dropped first: the workers run this test's alone.
    """
    broker.control.purge()
    workers: list[WorkerProcess] = []

    def start(concurrency: int = 1, **env: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess(log_path, concurrency=concurrency, **{**FAULT_SETTINGS, **env})
        workers.append(worker)
        return worker

    yield start
    # Each test waits for its tasks to finish: nothing is lost by not waiting for a warm shutdown
    # (tested on its own).
    for worker in workers:
        worker.kill()
