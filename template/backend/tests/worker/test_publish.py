"""Publishing from async code: the request id goes along, and Celery's own path leaves the loop."""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_correlation_id import correlation_id
from celery.signals import before_task_publish
from kombu import Queue

from app.core.config import get_settings
from app.tasks.example_task import run_example_job
from app.worker import publish
from app.worker.celery_app import celery_app
from app.worker.request_id import REQUEST_ID_HEADER

Published = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def published() -> Iterator[Published]:
    """(thread name, headers) of each task published during the test."""
    seen: Published = []

    def record(headers: dict[str, Any], **_: Any) -> None:
        seen.append((threading.current_thread().name, dict(headers)))

    before_task_publish.connect(record, weak=False)
    yield seen
    before_task_publish.disconnect(record)


@pytest.fixture
def parked_queue() -> Iterator[str]:
    """A queue no worker consumes, deleted with what it holds after the test."""
    name = f"{get_settings().celery_key_prefix}parked-{uuid.uuid4().hex[:8]}"
    yield name
    with celery_app.connection_for_write() as connection:
        Queue(name).bind(connection.default_channel).delete()


async def test_delay_carries_the_request_id(published: Published) -> None:
    token = correlation_id.set("req-publish-1")
    try:
        result = await publish.delay(run_example_job, 1, 1)  # no worker here: it stays queued
    finally:
        correlation_id.reset(token)

    _, headers = next(entry for entry in published if entry[1]["id"] == result.id)
    assert headers[REQUEST_ID_HEADER] == "req-publish-1"
    assert headers["argsrepr"] == "(1, 1)"


async def test_a_burst_of_publishes_all_arrive_with_their_options(
    published: Published, parked_queue: str
) -> None:
    results = await asyncio.gather(
        *(
            publish.apply_async(run_example_job, (1, 1), countdown=60, queue=parked_queue)
            for _ in range(50)
        )
    )

    sent = {result.id for result in results}
    ours = [headers for _, headers in published if headers["id"] in sent]
    assert len(sent) == len(ours) == 50
    assert all(headers["eta"] is not None for headers in ours)  # the options arrived
    assert await asyncio.to_thread(waiting_in, parked_queue, 50) == 50


async def test_celery_publishes_on_the_publishing_thread_not_the_event_loop(
    published: Published, parked_queue: str
) -> None:
    """`expires=` is one of the options only Celery's own path handles, whatever the broker."""
    result = await publish.apply_async(run_example_job, (1, 1), queue=parked_queue, expires=300)

    [(thread_name, headers)] = [entry for entry in published if entry[1]["id"] == result.id]
    assert thread_name.startswith("publish")
    assert threading.current_thread().name != thread_name
    assert headers["expires"] is not None
    assert await asyncio.to_thread(waiting_in, parked_queue, 1) == 1


def waiting_in(queue: str, expected: int) -> int:
    """How many tasks wait in `queue`; a broker may take a moment to count what it was sent."""
    deadline = time.monotonic() + 5
    with celery_app.connection_for_write() as connection:
        while True:
            declared: Any = Queue(queue).bind(connection.default_channel).queue_declare()
            count: int = declared.message_count
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.05)
