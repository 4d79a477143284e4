"""Tasks of the tests' own, for tests that need some task rather than one of the project's.

Registered on the project's Celery app under names of their own, like every task. Test processes
import this module; the worker and relay processes that tests start load it too (see processes.py).
"""

import os
import time
from pathlib import Path
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready

from app.core.logging import get_logger
from app.worker.celery_app import celery_app

logger = get_logger(__name__)

STEP_SECONDS = 0.5
# A worker started by a test touches the file this names once it consumes (processes.py).
READY_FILE_VARIABLE = "TEST_WORKER_READY_FILE"


@worker_ready.connect
def _tell_the_test_this_worker_is_ready(**_: Any) -> None:
    if ready_file := os.environ.get(READY_FILE_VARIABLE):
        Path(ready_file).touch()


# STARTED is stored, as for any task whose status endpoint should show it running.
@celery_app.task(name="tests.long_task", bind=True, track_started=True)
def long_task(self: Task[[int], dict[str, int]], steps: int) -> dict[str, int]:
    """Sleeps `steps` times STEP_SECONDS, reporting its progress after each step."""
    completed = 0
    try:
        for step in range(1, steps + 1):
            time.sleep(STEP_SECONDS)
            self.update_state(state="PROGRESS", meta={"current": step, "total": steps})
            completed = step
    except SoftTimeLimitExceeded:
        logger.warning("Long task stopped by its time limit after %s of %s steps", completed, steps)
        raise
    return {"steps": steps}


@celery_app.task(name="tests.fail_for_good")
def fail_for_good(secret: str) -> None:
    """Fails for good (no retry), with a secret in its arguments, as an email task has a token."""
    raise RuntimeError("failed on purpose")


@celery_app.task(name="tests.retry_once", bind=True, max_retries=1)
def retry_once(self: Task[[], str]) -> str:
    """Asks to be retried on its first run, and succeeds on the second."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"
