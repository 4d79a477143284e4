"""The broker's queues, as a test sees them."""

from typing import Any

from app.tasks.emails import send_welcome_email
from app.worker.celery_app import TASK_QUEUES, celery_app


def waiting_in_the_emails_queue() -> int:
    """Messages not yet delivered to a worker (those a worker holds unacknowledged not counted)."""
    emails = TASK_QUEUES[send_welcome_email.name]
    queue = next(queue for queue in celery_app.conf.task_queues if queue.name.endswith(emails))
    with celery_app.connection_for_write() as connection:
        # kombu types this str | None; a declare answers (name, messages, consumers).
        declared: Any = queue.bind(connection.default_channel).queue_declare()
        count: int = declared.message_count
        return count
