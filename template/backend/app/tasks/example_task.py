"""Example task: the welcome email sent after registration."""

import asyncio
import smtplib

from app.core.logging import get_logger
from app.db.session import WorkerSessionFactory
from app.models.user import User
from app.services.email_service import send_email
from app.services.user_service import UserService
from app.worker.celery_app import celery_app

logger = get_logger(__name__)

# Connection-level failures are worth retrying; a refused recipient or bad credentials are not.
TRANSIENT_SMTP_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)


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
