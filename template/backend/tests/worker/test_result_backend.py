"""Sending a task leaves no result subscription behind; waiting on it still works."""

import redis

from app.core.config import get_settings
from app.tasks.example_task import run_example_job


def subscribed_channels(task_id: str) -> list[bytes]:
    with redis.Redis.from_url(get_settings().celery_result_backend) as results:
        channels: list[bytes] = results.pubsub_channels(f"*{task_id}*")
        return channels


def test_sending_a_task_does_not_subscribe_to_its_result() -> None:
    result = run_example_job.delay(1, 1)  # no worker here: it stays queued

    assert subscribed_channels(result.id) == []
    assert result.state == "PENDING"  # and its state is still read on demand
