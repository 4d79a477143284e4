"""The example job: a long task that reports progress, for the task status endpoints to show.

Delete it with its endpoint and tests once you have tasks of your own (see the README).
"""

import time

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from app.core.logging import get_logger
from app.worker.celery_app import celery_app

logger = get_logger(__name__)

EXAMPLE_JOB_STEP_SECONDS = 0.5


# STARTED is stored for this one task: its status endpoint shows it (others skip the write).
@celery_app.task(name="example.run_example_job", bind=True, track_started=True)
def run_example_job(
    self: Task[[int, int], dict[str, int]], user_id: int, steps: int
) -> dict[str, int]:
    """A long-running job that reports progress, for the task status endpoints to show."""
    completed = 0
    try:
        for step in range(1, steps + 1):
            time.sleep(EXAMPLE_JOB_STEP_SECONDS)
            self.update_state(state="PROGRESS", meta={"current": step, "total": steps})
            completed = step
    except SoftTimeLimitExceeded:
        # The hard limit follows shortly: release what the job holds, say where it stopped.
        logger.warning(
            "Example job for user %s stopped by its time limit after %s of %s steps",
            user_id,
            completed,
            steps,
        )
        raise
    logger.info("Example job for user %s finished %s steps", user_id, steps)
    return {"user_id": user_id, "steps": steps}
