"""Worker drain: no-op tasks per second with the template's Celery app against a bare one.

Same broker, pool, concurrency, log level and task body; only the apps' configuration differs:
the template's (late acknowledgement, one task reserved per process, time limits, stored
results...) against Celery's defaults (`bench_project.bare`). Each drain queues N tasks while no
worker runs, then starts one. The tasks time themselves (`bench_project.counters`): the rate runs
from the first task done to the last, so the worker's start-up is left out. Kinds alternate in
order from run to run, refs too.
"""

import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from bench import isolation
from bench.deployment import Deployment
from bench.errors import BenchError
from bench.plan import Plan
from bench.stats import over_runs

KINDS = ("template", "bare")
FILL_CHECK_TIMEOUT_SECONDS = 10


def _check_queue_holds(deployment: Deployment, kind: str, total: int) -> None:
    """The drain's tasks and no others: a broker may take a moment to count what it was sent."""
    suffix = deployment.isolation.bare_queue if kind == "bare" else "default"
    deadline = time.monotonic() + FILL_CHECK_TIMEOUT_SECONDS
    while (waiting := isolation.queued(deployment.isolation, suffix)) < total:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if waiting != total:
        raise BenchError(f"The {kind} queue holds {waiting} tasks, not the {total} of the drain")


def drain_once(deployment: Deployment, kind: str, total: int, concurrency: int, log: str) -> float:
    """Tasks per second while one worker of `kind` empties a queue of `total` no-op tasks."""
    counter = f"{deployment.isolation.key_prefix}drain-{uuid.uuid4().hex[:8]}"
    times_key, done_key = f"{counter}:times", f"{counter}:done"
    isolation.purge_queues(deployment.isolation)
    deployment.fill(kind, counter, total)
    _check_queue_holds(deployment, kind, total)
    if kind == "template":
        worker = deployment.start_worker(concurrency, log)
    else:
        worker = deployment.start_bare_worker(concurrency, log)
    timeout = 60 + total / 50
    # redis-py's default socket timeout would cut the BLPOP short.
    counters = redis.Redis.from_url(isolation.RESULTS_URL, socket_timeout=timeout + 10)
    with worker, counters:
        if counters.blpop([done_key], timeout=timeout) is None:
            ran = counters.get(counter) or 0
            raise worker.failure(f"ran {ran!r} of {total} tasks in time")
        stamps = counters.hgetall(times_key)
        counters.delete(counter, times_key, done_key)
    times = {key.decode(): float(value) for key, value in stamps.items()}
    return (total - 1) / (times["last"] - times["first"])


def measure_drain(
    deployments: list[Deployment], plan: Plan, progress: Callable[[str], None]
) -> dict[str, Any]:
    rates: dict[tuple[str, str], list[float]] = {}
    for run in range(plan.runs):
        progress(f"worker drain: run {run + 1} of {plan.runs}, {plan.drain_tasks} tasks")
        for deployment in deployments if run % 2 == 0 else deployments[::-1]:
            for kind in KINDS if run % 2 == 0 else KINDS[::-1]:
                log = f"drain-{kind}-{run}"
                rate = drain_once(deployment, kind, plan.drain_tasks, plan.concurrency, log)
                rates.setdefault((deployment.project.label, kind), []).append(rate)
    figure = {}
    for deployment in deployments:
        label = deployment.project.label
        template, bare = rates[(label, "template")], rates[(label, "bare")]
        figure[label] = {
            "tasks": plan.drain_tasks,
            "pool": "prefork",
            "concurrency": plan.concurrency,
            "template_tasks_per_s": over_runs(template),
            "bare_tasks_per_s": over_runs(bare),
            "ratio": over_runs([t / b for t, b in zip(template, bare, strict=True)]),
        }
    return figure
