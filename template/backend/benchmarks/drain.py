"""Figure 3: how fast a worker with the template's settings drains no-op tasks, against Celery's
defaults, on the same broker, with the same pool, concurrency, log level and task body.

Only the apps' configuration differs: the template's (late acknowledgement, one task reserved per
process, time limits, results stored with their STARTED state...) against none at all. Each drain
queues N tasks while no worker runs, then starts one. The tasks time themselves (see
`benchmarks.noop`): the rate runs from the first task done to the last, so the worker's start-up
is left out. The two kinds alternate in order from run to run.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from kombu import Connection, Queue

from benchmarks.environment import Isolation
from benchmarks.noop import BARE_BROKER_URL_VARIABLE, BARE_QUEUE_VARIABLE, drain_keys
from benchmarks.stats import over_runs
from tests.support.processes import BACKEND_DIR, CeleryProcess, LoggedProcess

KINDS = ("template", "bare")


def worker_options(concurrency: int) -> list[str]:
    """The same pool and concurrency for both workers (prefork, one process per core by default).

    Without mingle, which only makes each start a second longer (asking other workers for the
    tasks they revoked) and happens before the first task, so outside what a drain times.
    """
    hostname = f"bench-{uuid.uuid4().hex[:8]}@%h"
    return [
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        "--without-mingle",
    ]


def start_template_worker(concurrency: int, log_path: Path) -> LoggedProcess:
    """The worker as compose runs it, with the benchmark's task loaded; ready to consume."""
    worker = CeleryProcess(
        ["worker", "--include=benchmarks.tasks", *worker_options(concurrency)], log_path
    )
    return _ready(worker)


def _ready(worker: LoggedProcess) -> LoggedProcess:
    """Wait until the worker consumes; stop it if it never does."""
    try:
        worker.wait_for_log(" ready.", timeout=60)
    except BaseException:
        worker.stop()
        raise
    return worker


def _bare_environment(isolation: Isolation) -> dict[str, str]:
    return {
        BARE_BROKER_URL_VARIABLE: isolation.broker_url,
        BARE_QUEUE_VARIABLE: isolation.bare_queue,
        # Celery prefers these variables to its own settings (see benchmarks.bare_app).
        "CELERY_BROKER_URL": isolation.broker_url,
        "CELERY_RESULT_BACKEND": "",
    }


def _fill(kind: str, counter: str, total: int, isolation: Isolation) -> None:
    if kind == "template":
        from benchmarks.tasks import noop

        noop.app.control.discard_all()  # the queue holds these tasks and nothing else
        with noop.app.producer_or_acquire() as producer:
            for _ in range(total):
                noop.apply_async((counter, total), producer=producer)
        return
    subprocess.run(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "benchmarks.bare_app", counter, str(total)],
        cwd=BACKEND_DIR,
        env={**os.environ, **_bare_environment(isolation)},
        check=True,
        timeout=300,
    )


def _waiting(kind: str, isolation: Isolation) -> int:
    """How many tasks wait in the queue a worker of `kind` consumes."""
    from app.worker.celery_app import celery_app

    if kind == "template":
        connection, name = celery_app.connection_for_write(), celery_app.conf.task_default_queue
    else:
        connection, name = Connection(isolation.broker_url), isolation.bare_queue
    with connection:
        declared: Any = Queue(name).bind(connection.default_channel).queue_declare()
    count: int = declared.message_count
    return count


def _check_queue_holds(kind: str, total: int, isolation: Isolation) -> None:
    """The drain's tasks and no others: a broker may take a moment to count what it was sent."""
    deadline = time.monotonic() + 10
    while (waiting := _waiting(kind, isolation)) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    if waiting != total:
        raise RuntimeError(f"The {kind} queue holds {waiting} tasks, not the {total} of the drain")


def _start_worker(kind: str, concurrency: int, isolation: Isolation, log: Path) -> LoggedProcess:
    if kind == "template":
        return start_template_worker(concurrency, log)
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.bare_app:bare_app", "worker"]
    # At INFO, as the template's worker logs: both write the same two lines per task.
    command += ["--loglevel=INFO", *worker_options(concurrency)]
    worker = LoggedProcess(command, log, **_bare_environment(isolation))
    worker.name = "The bare Celery worker"
    return _ready(worker)


def drain_once(
    kind: str,
    total: int,
    concurrency: int,
    isolation: Isolation,
    log: Path,
    then: Callable[[], None] | None = None,
) -> float:
    """Tasks per second while one worker of `kind` empties a queue of `total` no-op tasks.

    `then` runs once the queue is empty, before the worker stops: the worker is idle and ready.
    """
    counter = f"{isolation.key_prefix}drain-{uuid.uuid4().hex[:8]}"
    times_key, done_key = drain_keys(counter)
    _fill(kind, counter, total, isolation)
    _check_queue_holds(kind, total, isolation)
    worker = _start_worker(kind, concurrency, isolation, log)
    try:
        with redis.Redis.from_url(isolation.results_url) as counters:
            if counters.blpop([done_key], timeout=60 + total / 50) is None:
                raise RuntimeError(
                    f"The {kind} worker ran {counters.get(counter) or 0} of {total} tasks in time;"
                    f" its log: {log}"
                )
            stamps = counters.hgetall(times_key)
            times = {key.decode(): float(value) for key, value in stamps.items()}
            counters.delete(counter, times_key, done_key)
        if then is not None:
            then()
    finally:
        worker.stop()
    return (total - 1) / (times["last"] - times["first"])


def measure_drain(
    total: int,
    concurrency: int,
    runs: int,
    isolation: Isolation,
    logs: Path,
    with_idle_template_worker: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Both kinds `runs` times; `with_idle_template_worker` runs after the last template drain,
    which saves starting one more worker for it."""
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for run in range(runs):
        for kind in KINDS if run % 2 == 0 else KINDS[::-1]:
            log = logs / f"drain-{kind}-{run}.log"
            last = kind == "template" and run == runs - 1
            then = with_idle_template_worker if last else None
            rates[kind].append(drain_once(kind, total, concurrency, isolation, log, then))
    return {
        "runs": runs,
        "tasks": total,
        "pool": "prefork",
        "concurrency": concurrency,
        "template_tasks_per_s": over_runs(rates["template"]),
        "bare_tasks_per_s": over_runs(rates["bare"]),
        "ratio": over_runs([t / b for t, b in zip(rates["template"], rates["bare"], strict=True)]),
    }
