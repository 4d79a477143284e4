"""The no-op task on the project's Celery app, with all of the template's settings.

The API imports it to enqueue; workers load it with `--include benchmarks.tasks`.
"""

from app.worker.celery_app import celery_app
from benchmarks.noop import run_noop


@celery_app.task(name="benchmarks.noop")
def noop(counter: str | None = None, total: int = 0) -> None:
    run_noop(counter, total)
