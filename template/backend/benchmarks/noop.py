"""The body of the benchmark's no-op task, shared by the project's Celery app and the bare one.

It imports nothing from `app`, so the bare worker (see `benchmarks.bare_app`) stays bare. Given a
counter it counts itself in Redis and timestamps the first and the last task of a drain: both
workers pay the same one INCR per task, and the drain is timed by the tasks themselves.
"""

import os
import time
from typing import cast

import redis

COUNTER_URL_VARIABLE = "BENCH_COUNTER_URL"
# How the bare app (`benchmarks.bare_app`) learns its broker and queue.
BARE_BROKER_URL_VARIABLE = "BENCH_BARE_BROKER_URL"
BARE_QUEUE_VARIABLE = "BENCH_BARE_QUEUE"

_counter_client: redis.Redis | None = None


def drain_keys(counter: str) -> tuple[str, str]:
    """Where a drain counting under `counter` keeps its timestamps, and signals it is done."""
    return f"{counter}:times", f"{counter}:done"


def run_noop(counter: str | None = None, total: int = 0) -> None:
    """Nothing at all, unless counting a drain of `total` tasks."""
    if counter is None:
        return
    global _counter_client
    if _counter_client is None:  # one connection per worker process, opened after the fork
        _counter_client = redis.Redis.from_url(os.environ[COUNTER_URL_VARIABLE])
    count = cast(int, _counter_client.incr(counter))  # a sync client: never an awaitable
    if count in (1, total):
        times, done = drain_keys(counter)
        _counter_client.hset(times, "first" if count == 1 else "last", repr(time.time()))
        if count == total:
            _counter_client.rpush(done, "1")
