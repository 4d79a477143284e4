"""Example tasks: the welcome email sent after registration, and a long job with progress."""

import asyncio
import smtplib
import socket
import time

from celery import Task

from app.core.logging import get_logger
from app.db.session import WorkerSessionFactory
from app.models.user import User
from app.services.email_service import send_email
from app.services.user_service import UserService
from app.worker.celery_app import celery_app

logger = get_logger(__name__)

# Connection-level failures are worth retrying; a refused recipient or bad credentials are not
# (every smtplib error is an OSError, so the list names the transient ones one by one).
TRANSIENT_SMTP_ERRORS = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)
EXAMPLE_JOB_STEP_SECONDS = 0.5


async def _load_user(user_id: int) -> User | None:
    async with WorkerSessionFactory() as session:
        return await UserService(session).get_by_id(user_id)


@celery_app.task(
    autoretry_for=TRANSIENT_SMTP_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def send_welcome_email(user_id: int) -> None:
    user = asyncio.run(_load_user(user_id))
    if user is None:
        logger.warning("Welcome email skipped: user %s does not exist", user_id)
        return
    greeting = f"Hello {user.full_name}," if user.full_name else "Hello,"
    send_email(
        to=user.email,
        subject="Welcome!",
        body=f"{greeting}\n\nyour account is ready. Thanks for signing up.\n",
    )
    logger.info("Welcome email sent to user %s", user_id)


@celery_app.task(bind=True)
def run_example_job(
    self: Task[[int, int], dict[str, int]], user_id: int, steps: int
) -> dict[str, int]:
    """A long-running job that reports progress, for the task status endpoints to show."""
    for step in range(1, steps + 1):
        time.sleep(EXAMPLE_JOB_STEP_SECONDS)
        self.update_state(state="PROGRESS", meta={"current": step, "total": steps})
    logger.info("Example job for user %s finished %s steps", user_id, steps)
    return {"user_id": user_id, "steps": steps}
