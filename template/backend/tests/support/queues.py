"""The broker's queues, as a test sees them."""

from typing import Any

from kombu import Queue

from app.core.config import get_settings
from app.tasks.emails import send_welcome_email
from app.worker.celery_app import TASK_QUEUES, celery_app, queue_names
from tests.support.processes import WorkerProcess


def queued_messages() -> dict[str, int]:
    """Messages waiting in each of the project's queues, by name (those a worker holds
    unacknowledged not counted)."""
    WorkerProcess.wait_for_reads_in_flight()
    prefix = get_settings().celery_key_prefix
    with celery_app.connection_for_write() as connection:
        counts: dict[str, int] = {}
        for name in queue_names():
            queue = Queue(f"{prefix}{name}").bind(connection.default_channel)
            # kombu types this str | None; a declare answers (name, messages, consumers).
            declared: Any = queue.queue_declare()
            counts[name] = declared.message_count
        return counts


def waiting_in_the_emails_queue() -> int:
    return queued_messages()[TASK_QUEUES[send_welcome_email.name]]
