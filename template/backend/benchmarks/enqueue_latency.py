"""Figure 4: what one `.delay()` costs next to the broker's own primitive, and how soon a task
accepted over HTTP has succeeded on an idle system.

`.delay()` is timed in this process with the project's Celery app against one raw publish of the
very message it queued: an LPUSH with a Redis broker (one round trip), otherwise a basic.publish
on the transport's own channel (no round trip: neither waits for a confirm). 202 -> SUCCESS is
seen on the result backend's publish of the SUCCESS state, which this process subscribes to
before sending the requests.
"""

import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from kombu import Connection, Queue

from benchmarks.environment import Isolation
from benchmarks.stats import latency_over_runs, latency_summary, over_runs

WARMUP_CALLS = 50
IDLE_GAP_SECONDS = 0.02  # between requests, so each one meets an idle API, broker and worker


def measure_delay_cost(
    calls: int, runs: int, isolation: Isolation, empty_queues: Callable[[], None]
) -> dict[str, Any]:
    """Median per-call time of `.delay()` and of the raw publish, with no worker consuming."""
    from benchmarks.tasks import noop

    delay_runs, raw_runs = [], []
    for _ in range(runs):
        empty_queues()
        for _ in range(WARMUP_CALLS):
            noop.delay()
        delay_runs.append(latency_summary(_time_calls(noop.delay, calls)))
        if isolation.broker_is_redis:
            raw_runs.append(_time_lpush(calls, isolation))
        else:
            raw_runs.append(_time_basic_publish(calls, isolation))
    empty_queues()
    delay, raw = latency_over_runs(delay_runs), latency_over_runs(raw_runs)
    return {
        "runs": runs,
        "calls_per_run": calls,
        "raw_baseline": "LPUSH" if isolation.broker_is_redis else "basic.publish",
        "delay": delay,
        "raw": raw,
        "ratio": over_runs(
            [d["p50_ms"] / r["p50_ms"] for d, r in zip(delay_runs, raw_runs, strict=True)]
        ),
    }


def _time_calls(call: Callable[[], object], calls: int) -> list[float]:
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def _time_lpush(calls: int, isolation: Isolation) -> dict[str, float]:
    """LPUSH the message `.delay()` queued last, into a scratch list, `calls` times."""
    scratch = f"{isolation.key_prefix}scratch"
    with redis.Redis.from_url(isolation.broker_url) as client:
        queue = next(
            key
            for key in client.scan_iter(f"*{isolation.key_prefix}default", count=1000)
            if client.type(key) == b"list"
        )
        message = client.lindex(queue, 0)
        assert message is not None
        for _ in range(WARMUP_CALLS):
            client.lpush(scratch, message)
        durations = _time_calls(lambda: client.lpush(scratch, message), calls)
        client.delete(scratch)
    return latency_summary(durations)


def _time_basic_publish(calls: int, isolation: Isolation) -> dict[str, float]:
    """basic.publish the message `.delay()` queued last, to a scratch queue, `calls` times."""
    from app.worker.celery_app import celery_app

    scratch = Queue(f"{isolation.key_prefix}scratch")
    with Connection(isolation.broker_url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=1)
        channel: Any = connection.default_channel  # the transport's own, below kombu's Producer
        message = channel.basic_get(queue=celery_app.conf.task_default_queue, no_ack=True)
        scratch.bind(channel).declare()

        def publish() -> None:
            channel.basic_publish(message, exchange="", routing_key=scratch.name)

        for _ in range(WARMUP_CALLS):
            publish()
        durations = _time_calls(publish, calls)
        scratch.bind(channel).delete()
    return latency_summary(durations)


def measure_accepted_to_success(
    api_url: str, samples: int, runs: int, isolation: Isolation
) -> dict[str, Any]:
    """POST /bench/enqueue, one request at a time; from its 202 to the task's SUCCESS."""
    address = urlsplit(api_url)
    results = redis.Redis.from_url(isolation.results_url)
    pubsub = results.pubsub()  # type: ignore[no-untyped-call]
    _subscribe_to_results(pubsub)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    accepted_runs, succeeded_runs = [], []
    try:
        for _ in range(runs):
            accepted, succeeded = [], []
            for _ in range(samples):
                time.sleep(IDLE_GAP_SECONDS)
                sent_at = time.perf_counter()
                connection.request("POST", "/bench/enqueue", body=b"")
                response = connection.getresponse()
                body = response.read()
                accepted_at = time.perf_counter()
                if response.status != 202:
                    raise RuntimeError(f"POST /bench/enqueue answered {response.status}: {body!r}")
                task_id = json.loads(body)["task_id"]
                succeeded_at = _wait_for_success(pubsub, task_id, timeout=30)
                accepted.append(accepted_at - sent_at)
                # A SUCCESS read before its 202 was in means the task was done first.
                succeeded.append(max(0.0, succeeded_at - accepted_at))
            accepted_runs.append(latency_summary(accepted))
            succeeded_runs.append(latency_summary(succeeded))
    finally:
        connection.close()
        pubsub.close()
        results.close()
    return {
        "runs": runs,
        "samples_per_run": samples,
        "request_to_202": latency_over_runs(accepted_runs),
        "accepted_to_success": latency_over_runs(succeeded_runs),
    }


def _subscribe_to_results(pubsub: Any) -> None:
    """Return once the subscription holds: only what is published after that reaches it."""
    pubsub.psubscribe("*celery-task-meta-*")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message is not None and message["type"] == "psubscribe":
            return
    raise RuntimeError("The result backend did not confirm the subscription")


def _wait_for_success(pubsub: Any, task_id: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=remaining)
        if message is None or message["type"] != "pmessage":
            continue
        received_at = time.perf_counter()
        if task_id in message["channel"].decode() and _is_success(message["data"]):
            return received_at
    raise RuntimeError(f"Task {task_id} did not succeed within {timeout} s")


def _is_success(meta: bytes) -> bool:
    status: str = json.loads(meta)["status"]
    return status == "SUCCESS"
