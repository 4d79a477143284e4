"""The bench's tasks on the project's Celery app, with all of the template's settings.

The API imports them to enqueue; workers load them with `--include=bench_project.tasks`.
"""

from typing import Any

from app.worker.celery_app import celery_app

from bench_project.counters import mark_done, run_noop


@celery_app.task(name="bench_project.noop")
def noop(counter: str | None = None, total: int = 0) -> None:
    run_noop(counter, total)


@celery_app.task(name="bench_project.stamp", bind=True)
def stamp(self: Any) -> dict[str, bool]:
    """A task whose result is stored (unless its sender said otherwise), for 202 -> SUCCESS."""
    mark_done(self.request.id)
    return {"done": True}
