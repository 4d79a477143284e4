"""HTTP 202 -> task SUCCESS on an idle system, the template's way (t).

`POST /bench/accepted` queues `bench_project.stamp` through the outbox and records it as a
`TaskRun`, as the template's own endpoint does. The SUCCESS is seen on the result
backend's publish of the task's state, subscribed to before the requests are sent: no polling
interval adds to the figure. The task also writes the time it ran, by its own clock.
"""

import json
import time
from typing import Any

import redis

from bench import isolation
from bench.deployment import Api, Deployment
from bench.errors import BenchError
from bench.plan import Plan
from bench.stats import latency_over_runs, latency_summary

IDLE_GAP_SECONDS = 0.02  # between requests, so each one meets an idle API, relay and worker
TASK_TIMEOUT_SECONDS = 30


def _subscribe(pubsub: Any) -> None:
    """Return once the subscription holds: only what is published after that reaches it."""
    pubsub.psubscribe("*celery-task-meta-*")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message is not None and message["type"] == "psubscribe":
            return
    raise BenchError("The result backend did not confirm the subscription")


def _is_success(message: dict[str, Any] | None, task_id: str) -> bool:
    if message is None or message["type"] != "pmessage":
        return False
    return (
        task_id in message["channel"].decode()
        and json.loads(message["data"])["status"] == "SUCCESS"
    )


class _Sampler:
    def __init__(self, deployment: Deployment, api: Api) -> None:
        self.prefix = deployment.isolation.key_prefix
        self.client = api.client()
        self.results = redis.Redis.from_url(isolation.RESULTS_URL)
        self.pubsub = self.results.pubsub()  # type: ignore[no-untyped-call]
        _subscribe(self.pubsub)

    def close(self) -> None:
        self.pubsub.close()
        self.results.close()
        self.client.close()

    def sample(self) -> tuple[float, float, float]:
        """Seconds: request -> 202, 202 -> the task ran, 202 -> SUCCESS seen."""
        sent_at = time.perf_counter()
        task_id = self.client.expect("POST", "/bench/accepted", 202)["task_id"]
        accepted_at, accepted_wall = time.perf_counter(), time.time()
        deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
        while not _is_success(self.pubsub.get_message(timeout=1), task_id):
            if time.monotonic() > deadline:
                raise BenchError(f"No SUCCESS for {task_id} within {TASK_TIMEOUT_SECONDS} s")
        succeeded_at = time.perf_counter()
        ran = self.results.get(f"{self.prefix}bench-done:{task_id}")
        if ran is None:
            raise BenchError(f"Task {task_id} succeeded without recording when it ran")
        ran_after = max(0.0, float(ran) - accepted_wall)
        return accepted_at - sent_at, ran_after, succeeded_at - accepted_at


def measure_accepted(deployment: Deployment, api: Api, plan: Plan) -> dict[str, Any]:
    """With an idle worker of the template's app consuming; the API and relay otherwise idle."""
    isolation.purge_queues(deployment.isolation)
    runs: dict[str, list[dict[str, float]]] = {"to_202": [], "to_ran": [], "to_success": []}
    with deployment.start_worker(plan.concurrency, "worker-accepted"):
        sampler = _Sampler(deployment, api)
        try:
            sampler.sample()  # warm: connections, the relay's first publish, the worker's pool
            for _ in range(plan.runs):
                samples = []
                for _ in range(plan.latency_samples):
                    time.sleep(IDLE_GAP_SECONDS)
                    samples.append(sampler.sample())
                runs["to_202"].append(latency_summary([s[0] for s in samples]))
                runs["to_ran"].append(latency_summary([s[1] for s in samples]))
                runs["to_success"].append(latency_summary([s[2] for s in samples]))
        finally:
            sampler.close()
    return {
        "samples_per_run": plan.latency_samples,
        "request_to_202": latency_over_runs(runs["to_202"]),
        "accepted_to_task_ran": latency_over_runs(runs["to_ran"]),
        "accepted_to_success": latency_over_runs(runs["to_success"]),
    }
