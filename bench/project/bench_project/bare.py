"""A Celery app with Celery's defaults: the baseline the template's worker settings are held to.

It shares only the broker and the task body with the project and imports nothing from `app`:
the project's logging setup would take over this worker too. Its queue has a name of its own so
it can share the broker. Celery reads CELERY_RESULT_BACKEND before its own settings, so the
harness starts its processes with it empty: by default Celery has no result backend.

    celery -A bench_project.bare:bare_app worker
"""

import os

from celery import Celery

from bench_project.counters import run_noop

BROKER_URL_VARIABLE = "BENCH_BARE_BROKER_URL"
QUEUE_VARIABLE = "BENCH_BARE_QUEUE"

bare_app = Celery("bench_bare", broker=os.environ[BROKER_URL_VARIABLE])
bare_app.conf.task_default_queue = os.environ[QUEUE_VARIABLE]


@bare_app.task(name="bench_project.noop")
def noop(counter: str | None = None, total: int = 0) -> None:
    run_noop(counter, total)
