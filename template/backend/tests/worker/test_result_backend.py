"""Sending a task leaves no result subscription behind; waiting on it subscribes till it is in."""

import asyncio
import time
from collections.abc import Callable
from typing import cast

import redis
from celery.worker import WorkController

from app.core.config import get_settings
from app.tasks.example_task import run_example_job
from app.worker.celery_app import celery_app
from app.worker.result_backend import RedisResultBackend


def subscribed_channels(task_id: str) -> list[bytes]:
    with redis.Redis.from_url(get_settings().celery_result_backend) as results:
        channels: list[bytes] = results.pubsub_channels(f"*{task_id}*")
        return channels


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"waited 5 s for {what}"
        await asyncio.sleep(0.01)


def test_sending_a_task_does_not_subscribe_to_its_result() -> None:
    result = run_example_job.delay(1, 1)  # no worker here: it stays queued

    assert subscribed_channels(result.id) == []
    assert result.state == "PENDING"  # and its state is still read on demand


async def test_waiting_on_a_result_subscribes_until_it_arrives(
    celery_worker: WorkController,
) -> None:
    result = run_example_job.delay(3, 1)
    waiting = asyncio.create_task(asyncio.to_thread(result.get, timeout=30))
    # The job takes half a second; (un)subscribing is a command on another connection than ours.
    await until(lambda: subscribed_channels(result.id) != [], "the subscription")
    assert not waiting.done()

    assert await waiting == {"user_id": 3, "steps": 1}
    await until(lambda: subscribed_channels(result.id) == [], "the unsubscription")
    backend = cast(RedisResultBackend, celery_app.backend)
    assert not any(backend._pending_results)  # the result forgot nothing it once waited on
    assert not backend.result_consumer.subscribed_to
