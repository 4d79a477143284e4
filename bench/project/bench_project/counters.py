"""What the bench's tasks do: count and timestamp themselves in Redis, and nothing else.

Imports nothing from `app`, so the bare worker (`bench_project.bare`) stays bare. Both workers of
a drain pay the same one INCR per task, and the drain is timed by the tasks themselves.
"""

import os
import time
from typing import cast

import redis

COUNTER_URL_VARIABLE = "BENCH_COUNTER_URL"
KEY_PREFIX_VARIABLE = "BENCH_KEY_PREFIX"
DONE_KEY_TTL_SECONDS = 600

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:  # one connection per worker process, opened after the fork
        _client = redis.Redis.from_url(os.environ[COUNTER_URL_VARIABLE])
    return _client


def drain_keys(counter: str) -> tuple[str, str]:
    """Where a drain counting under `counter` keeps its timestamps, and signals it is done."""
    return f"{counter}:times", f"{counter}:done"


def done_key(task_id: str) -> str:
    """Where a stamped task leaves the time it ran (see `mark_done`)."""
    return f"{os.environ[KEY_PREFIX_VARIABLE]}bench-done:{task_id}"


def run_noop(counter: str | None = None, total: int = 0) -> None:
    """Nothing at all, unless counting a drain of `total` tasks."""
    if counter is None:
        return
    client = _redis()
    count = cast(int, client.incr(counter))  # a sync client: never an awaitable
    if count in (1, total):
        times, done = drain_keys(counter)
        client.hset(times, "first" if count == 1 else "last", repr(time.time()))
        if count == total:
            client.rpush(done, "1")


def mark_done(task_id: str) -> None:
    """Record when this task ran, by its own clock (its SUCCESS is stored after it returns)."""
    _redis().set(done_key(task_id), repr(time.time()), ex=DONE_KEY_TTL_SECONDS)
