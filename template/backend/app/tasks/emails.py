"""Emails the worker sends: the welcome email after registration.

Tasks are acknowledged only after they ran (see `app.worker.celery_app`), so a crash or a redelivery
can run one twice: each task here is written so that a second run does no harm.
"""

import asyncio

from sqlalchemy import func, update
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.core.email import PermanentEmailError, TransientEmailError, send_email
from app.core.logging import get_logger
from app.db.session import WorkerSessionFactory
from app.models.user import User
from app.worker.celery_app import celery_app

logger = get_logger(__name__)


async def _send_welcome_email_once(user_id: int) -> bool:
    """Mark the email sent and send it in one transaction; False when there is nothing to send.

    A duplicate delivery running at the same time waits on the row lock, then finds it sent. If
    sending fails, the mark rolls back with the transaction and a retry sends it.
    """
    async with WorkerSessionFactory() as session, session.begin():
        claimed = await session.execute(
            update(User)
            .where(User.id == user_id, User.welcome_email_sent_at.is_(None))
            .values(welcome_email_sent_at=func.now())
            .returning(User.email, User.full_name)
        )
        recipient = claimed.one_or_none()
        if recipient is None:
            return False
        email, full_name = recipient
        greeting = f"Hello {full_name}," if full_name else "Hello,"
        await asyncio.to_thread(
            send_email,
            to=email,
            subject="Welcome!",
            body=f"{greeting}\n\nyour account is ready. Thanks for signing up.\n",
        )
        return True


@celery_app.task(
    # A name of its own: it is what the outbox stores and the routes use, so moving the
    # module changes neither.
    name="emails.send_welcome_email",
    # Fire and forget: nothing reads its result, so none is stored.
    ignore_result=True,
    # A mail server or database that is briefly away is retried, with growing, jittered delays.
    autoretry_for=(TransientEmailError, OperationalError),
    retry_backoff=get_settings().email_retry_backoff_seconds,
    retry_backoff_max=get_settings().email_retry_backoff_max_seconds,
    retry_jitter=True,
    max_retries=get_settings().email_max_retries,
)
def send_welcome_email(user_id: int) -> None:
    try:
        sent = asyncio.run(_send_welcome_email_once(user_id))
    except PermanentEmailError as exc:
        logger.error("Welcome email for user %s failed for good, not retried: %s", user_id, exc)
        raise
    if sent:
        logger.info("Welcome email sent to user %s", user_id)
    else:
        logger.info("Welcome email for user %s skipped: already sent, or no such user", user_id)
