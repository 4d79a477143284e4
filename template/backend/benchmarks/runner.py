"""The whole benchmark: start the processes, measure each figure, stop everything, clean up.

1. Requests/s of `POST /bench/enqueue` against `POST /bench/noop` on one uvicorn process, at
   1 and 32 connections, with the load generator's own ceiling (`benchmarks.http_load`).
2. The API's event-loop lag during that load, sampled inside the API (`benchmarks.bench_app`).
3. Worker drain: the template's settings against Celery's defaults (`benchmarks.drain`).
4. `.delay()` against one raw publish, and HTTP 202 -> task SUCCESS when idle
   (`benchmarks.enqueue_latency`).
5. Register while the broker is down (`benchmarks.broker_down`).

Processes are started as compose starts them (`uvicorn ... --no-access-log`, `celery ... worker`)
with this run's isolation (`benchmarks.environment`); the API serves `benchmarks.bench_app:app`.
"""

import asyncio
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import environment
from benchmarks.broker_down import measure_register_with_broker_down
from benchmarks.drain import measure_drain
from benchmarks.enqueue_latency import measure_accepted_to_success, measure_delay_cost
from benchmarks.environment import API_OPTIONS, Isolation
from benchmarks.http_load import measure_ceiling, measure_endpoints
from tests.support import database
from tests.support.api_server import ApiServer


@dataclass(frozen=True)
class Plan:
    """How much of everything: enough runs to take a median, short enough to run often."""

    runs: int
    duration_s: float  # per load-generator run, after its warm-up
    warmup_s: float
    drain_tasks: int
    delay_calls: int
    latency_samples: int
    register_requests: int
    connections: tuple[int, ...] = (1, 32)
    concurrency: int = os.cpu_count() or 1  # the worker's default: one process per core


FULL = Plan(
    runs=3,
    duration_s=3.0,
    warmup_s=0.5,
    drain_tasks=2000,
    delay_calls=1000,
    latency_samples=100,
    register_requests=20,
)
# A smoke run (CI runs it): every figure once, small; its numbers are rough.
QUICK = Plan(
    runs=1,
    duration_s=0.5,
    warmup_s=0.2,
    drain_tasks=300,
    delay_calls=200,
    latency_samples=20,
    register_requests=5,
)


# Each JSON figure with the number it has in the table, and what it is.
FIGURES = {
    "loadgen_ceiling": (1, "req/s the load generator reaches against a server that does nothing"),
    "enqueue_vs_noop": (1, "req/s of POST /bench/enqueue and /bench/noop on one API, their ratio"),
    "event_loop_lag": (2, "ms a ready callback waited for the API's event loop during figure 1"),
    "worker_drain": (3, "tasks/s draining no-op tasks: the template's settings, Celery's defaults"),
    "delay_vs_raw_publish": (4, "ms per call of .delay() and of one raw publish of its message"),
    "accepted_to_success": (4, "idle: ms from request to 202, and from 202 to the task's SUCCESS"),
    "register_broker_down": (5, "ms of POST /api/v1/auth/register while the broker is down"),
}
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"bench [{time.monotonic() - STARTED:5.1f} s]: {message}", file=sys.stderr, flush=True)


def run_benchmarks(plan: Plan, isolation: Isolation, logs: Path) -> dict[str, Any]:
    """Every figure, with the machine it was measured on, as a JSON-ready dict."""
    from app.worker.celery_app import celery_app

    def empty_queues() -> None:
        """Drop every task waiting in the project's queues (none of them is ever run)."""
        celery_app.control.discard_all()

    progress(f"creating database {isolation.database_url.database}")
    database_version = asyncio.run(environment.create_database(isolation.database_url))
    figures: dict[str, Any] = {}
    try:
        machine = environment.machine(isolation, database_version)
        progress("figure 1: the load generator's ceiling")
        # A reference, far above what the API reaches: shorter runs are precise enough.
        figures["loadgen_ceiling"] = measure_ceiling(
            plan.connections, plan.runs, min(plan.duration_s, 1.0), plan.warmup_s, logs
        )
        api = ApiServer(logs / "api.log", app="benchmarks.bench_app:app", options=API_OPTIONS)
        try:
            progress("figures 1 and 2: enqueue vs no-op endpoint, event-loop lag")
            figures["enqueue_vs_noop"], figures["event_loop_lag"] = measure_endpoints(
                api.url, plan.connections, plan.runs, plan.duration_s, plan.warmup_s, empty_queues
            )
            progress("figure 4: .delay() vs one raw publish")
            figures["delay_vs_raw_publish"] = measure_delay_cost(
                plan.delay_calls, plan.runs, isolation, empty_queues
            )

            def accepted_to_success() -> None:
                progress("figure 4: HTTP 202 -> task SUCCESS, with the last drain's idle worker")
                figures["accepted_to_success"] = measure_accepted_to_success(
                    api.url, plan.latency_samples, plan.runs, isolation
                )

            progress(f"figure 3: worker drain of {plan.drain_tasks} tasks")
            figures["worker_drain"] = measure_drain(
                plan.drain_tasks, plan.concurrency, plan.runs, isolation, logs, accepted_to_success
            )
        finally:
            api.stop()
        progress("figure 5: register with the broker down")
        figures["register_broker_down"] = measure_register_with_broker_down(
            plan.register_requests, plan.runs, isolation, logs
        )
    finally:
        environment.cleanup(isolation)
        asyncio.run(database.drop_database(isolation.database_url))
    for name, (number, what) in FIGURES.items():
        figures[name] = {"figure": number, "what": what, **figures[name]}
    return {"machine": machine, "plan": asdict(plan), "figures": figures}
