"""The broker's queues, as a test sees them."""

from app.relay.backlog import queued_messages as queued_in
from app.tasks.emails import send_welcome_email
from app.worker.celery_app import TASK_QUEUES, celery_app
from tests.support.processes import WorkerProcess


def queued_messages() -> dict[str, int]:
    """Messages waiting in each of the project's queues, by name (those a worker holds
    unacknowledged not counted)."""
    WorkerProcess.wait_for_reads_in_flight()
    return queued_in(celery_app)


def waiting_in_the_emails_queue() -> int:
    return queued_messages()[TASK_QUEUES[send_welcome_email.name]]
