"""Tasks land on the queue their name is routed to (no worker consumes here)."""

from typing import Any

import pytest
from kombu import Queue

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.services.outbox import enqueue_on_commit
from app.services.outbox_relay import OutboxRelay
from app.tasks.example_task import run_example_job, send_welcome_email
from app.worker.celery_app import celery_app, queue_names


def queued_messages() -> dict[str, int]:
    prefix = get_settings().celery_key_prefix
    with celery_app.connection_for_write() as connection:
        counts: dict[str, int] = {}
        for name in queue_names(get_settings()):
            queue = Queue(f"{prefix}{name}").bind(connection.default_channel)
            # kombu types this str | None; a declare answers (name, messages, consumers).
            declared: Any = queue.queue_declare()
            counts[name] = declared.message_count
        return counts


def test_the_project_declares_a_default_and_an_emails_queue() -> None:
    assert queue_names(get_settings()) == ["default", "emails"]


def test_each_task_lands_on_its_queue() -> None:
    before = queued_messages()

    send_welcome_email.delay(1)
    run_example_job.delay(1, 1)
    run_example_job.delay(1, 1)

    after = queued_messages()
    assert after["emails"] - before["emails"] == 1
    assert after["default"] - before["default"] == 2


@pytest.mark.usefixtures("paused_outbox_relay")
async def test_tasks_sent_through_the_outbox_land_on_their_queue() -> None:
    before = queued_messages()
    async with SessionFactory() as session:
        enqueue_on_commit(session, send_welcome_email, 1)
        enqueue_on_commit(session, run_example_job, 1, 1)
        enqueue_on_commit(session, run_example_job, 1, 1)
        await session.commit()

    relay = OutboxRelay(SessionFactory, celery_app, interval_seconds=1)
    assert await relay.relay_pending() == 3

    after = queued_messages()
    assert after["emails"] - before["emails"] == 1
    assert after["default"] - before["default"] == 2
