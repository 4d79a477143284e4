"""A Celery app with Celery's defaults: the baseline the template's worker settings are held to.

It shares only the broker and the task body with the project, and imports nothing from `app`:
the project's logging setup would take over this worker too. The queue has a name of its own so
it can share the broker. Celery reads CELERY_RESULT_BACKEND (which `just` loads from .env) before
its own settings, so its processes get it empty: by default Celery has no result backend.

    celery -A benchmarks.bare_app:bare_app worker   # the worker
    python -m benchmarks.bare_app COUNTER TOTAL     # queue TOTAL counting no-op tasks
"""

import os
import sys

from celery import Celery

from benchmarks.noop import BARE_BROKER_URL_VARIABLE, BARE_QUEUE_VARIABLE, run_noop

bare_app = Celery("bench_bare", broker=os.environ[BARE_BROKER_URL_VARIABLE])
bare_app.conf.task_default_queue = os.environ[BARE_QUEUE_VARIABLE]


@bare_app.task(name="benchmarks.noop")
def noop(counter: str | None = None, total: int = 0) -> None:
    run_noop(counter, total)


def fill(counter: str, total: int) -> None:
    """Queue the tasks of one drain, on one connection, as fast as the app can send them."""
    with bare_app.producer_or_acquire() as producer:
        for _ in range(total):
            noop.apply_async((counter, total), producer=producer)


if __name__ == "__main__":
    fill(sys.argv[1], int(sys.argv[2]))
