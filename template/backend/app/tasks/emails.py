"""Emails the worker sends: the welcome email after registration, with the link that verifies the
address; another verification link, a password reset link, or a link that confirms a new address,
on request, and a notice of that request to the old address.

Tasks are acknowledged only after they ran (see `app.worker.celery_app`), so a crash or a redelivery
can run one twice: each email is sent once for a key of its own (`_send_once`), and the token in a
link is derived from its task's id, so a retry sends the same link, never a second one.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.core.email import PermanentEmailError, TransientEmailError, render_email, send_email
from app.core.logging import get_logger
from app.core.security import link_token, token_digest
from app.db.session import WorkerSessionFactory
from app.models.account_token import CHANGE_EMAIL, RESET_PASSWORD, VERIFY_EMAIL, AccountToken
from app.models.sent_email import SentEmail
from app.models.user import User
from app.worker.celery_app import celery_app

logger = get_logger(__name__)

# Every email task: fire and forget (nothing reads a result, so none is stored), and a mail server
# or database that is briefly away is retried, with growing, jittered delays.
EMAIL_TASK: dict[str, Any] = {
    "bind": True,
    "ignore_result": True,
    "autoretry_for": (TransientEmailError, OperationalError),
    "retry_backoff": get_settings().email_retry_backoff_seconds,
    "retry_backoff_max": get_settings().email_retry_backoff_max_seconds,
    "retry_jitter": True,
    "max_retries": get_settings().email_max_retries,
}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    template: str  # app/templates/emails/<template>.txt and .html
    values: dict[str, object]


async def _send_once(key: str, compose: Callable[[AsyncSession], Awaitable[Email | None]]) -> bool:
    """Send the email `compose` writes, once for `key` however often the task runs; False when it
    was sent already, or `compose` found nothing to send (None).

    What `compose` stores (a link's token) is committed first, so a user who follows the link at
    once finds it. The key's row is written in the transaction that sends: a duplicate running at
    the same time waits on that row alone, never on the user's, while the SMTP server answers;
    then it finds the row and sends nothing. If sending fails, the row rolls back and a retry
    sends, with the same link.
    """
    async with WorkerSessionFactory() as session:
        if await session.get(SentEmail, key) is not None:
            return False
        email = await compose(session)
        try:
            await session.commit()
        except IntegrityError:  # a duplicate of this task stored the same token first
            await session.rollback()
        session.add(SentEmail(key=key))
        try:
            await session.flush()
        except IntegrityError:
            return False
        if email is not None:
            text, html = render_email(email.template, **email.values)
            await asyncio.to_thread(send_email, email.to, email.subject, text, html)
        await session.commit()
        return email is not None


def _run(what: str, key: str, compose: Callable[[AsyncSession], Awaitable[Email | None]]) -> None:
    try:
        sent = asyncio.run(_send_once(key, compose))
    except PermanentEmailError as exc:
        logger.error("%s failed for good, not retried: %s", what, exc)
        raise
    logger.info("%s %s", what, "sent" if sent else "skipped: sent already, or nothing to send")


# The front end's page that each kind of link opens.
LINK_PAGES = {
    VERIFY_EMAIL: "verify-email",
    RESET_PASSWORD: "reset-password",
    CHANGE_EMAIL: "confirm-email",
}


def _link_for(
    session: AsyncSession,
    token_id: str,
    user: User,
    purpose: str,
    valid_for: timedelta,
    email: str | None = None,
) -> str:
    """Store a single-use token for `user`, sent to `email` (the user's address unless given),
    as its digest, and return the front end's link to it."""
    token = link_token(token_id)
    session.add(
        AccountToken(
            id=token_id,
            user_id=user.id,
            purpose=purpose,
            email=email or user.email,
            token_hash=token_digest(token),
            expires_at=datetime.now(UTC) + valid_for,
        )
    )
    return f"{get_settings().frontend_url.rstrip('/')}/{LINK_PAGES[purpose]}?token={token}"


def _with_verification_link(
    session: AsyncSession, token_id: str, user: User, subject: str, template: str
) -> Email:
    hours = get_settings().verify_email_token_expire_hours
    link = _link_for(session, token_id, user, VERIFY_EMAIL, timedelta(hours=hours))
    values = {"greeting": _greeting(user), "link": link, "hours": hours}
    return Email(user.email, subject, template, values)


def _greeting(user: User) -> str:
    return f"Hello {user.full_name}," if user.full_name else "Hello,"


async def _active_user(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email, User.is_active))


async def _active_user_by_id(session: AsyncSession, user_id: int) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


@celery_app.task(name="emails.send_welcome_email", **EMAIL_TASK)
def send_welcome_email(self: Task[Any, Any], user_id: int) -> None:
    """The welcome email, with the link that verifies the address; once per user."""

    async def compose(session: AsyncSession) -> Email | None:
        user = await _active_user_by_id(session, user_id)
        if user is None:
            return None
        return _with_verification_link(session, str(self.request.id), user, "Welcome!", "welcome")

    _run(f"Welcome email for user {user_id}", f"welcome:{user_id}", compose)


@celery_app.task(name="emails.send_verification_email", **EMAIL_TASK)
def send_verification_email(self: Task[Any, Any], email: str) -> None:
    """A new verification link, if an active account has this address and has not verified it.

    Otherwise nothing is sent: the API queues this task for any address, so its answer cannot
    tell whether an account exists.
    """

    async def compose(session: AsyncSession) -> Email | None:
        user = await _active_user(session, email)
        if user is None or user.email_verified_at is not None:
            return None
        subject = "Confirm your email address"
        return _with_verification_link(session, str(self.request.id), user, subject, "verify_email")

    _run(f"Verification email {self.request.id}", f"verify:{self.request.id}", compose)


@celery_app.task(name="emails.send_password_reset_email", **EMAIL_TASK)
def send_password_reset_email(self: Task[Any, Any], email: str) -> None:
    """A password reset link, if an active account has this address; otherwise nothing (see
    `send_verification_email`)."""
    minutes = get_settings().password_reset_token_expire_minutes

    async def compose(session: AsyncSession) -> Email | None:
        user = await _active_user(session, email)
        if user is None:
            return None
        valid_for = timedelta(minutes=minutes)
        link = _link_for(session, str(self.request.id), user, RESET_PASSWORD, valid_for)
        values = {"greeting": _greeting(user), "link": link, "minutes": minutes}
        return Email(user.email, "Reset your password", "password_reset", values)

    _run(f"Password reset email {self.request.id}", f"reset:{self.request.id}", compose)


@celery_app.task(name="emails.send_email_change_email", **EMAIL_TASK)
def send_email_change_email(self: Task[Any, Any], user_id: int, new_email: str) -> None:
    """The link that moves the account to `new_email`, sent to that address: it proves the user
    receives mail there."""
    hours = get_settings().verify_email_token_expire_hours

    async def compose(session: AsyncSession) -> Email | None:
        user = await _active_user_by_id(session, user_id)
        if user is None or user.email == new_email:
            return None
        valid_for = timedelta(hours=hours)
        link = _link_for(session, str(self.request.id), user, CHANGE_EMAIL, valid_for, new_email)
        values = {"greeting": _greeting(user), "link": link, "hours": hours}
        return Email(new_email, "Confirm your new email address", "change_email", values)

    _run(f"Email change link {self.request.id}", f"change:{self.request.id}", compose)


@celery_app.task(name="emails.send_email_change_notice", **EMAIL_TASK)
def send_email_change_notice(self: Task[Any, Any], user_id: int, new_email: str) -> None:
    """Tell the account's current address that a move to `new_email` was asked for: if it was
    not its owner, they learn of it while the address is still theirs."""

    async def compose(session: AsyncSession) -> Email | None:
        user = await _active_user_by_id(session, user_id)
        if user is None:
            return None
        values: dict[str, object] = {"greeting": _greeting(user), "new_email": new_email}
        subject = "Your email address is being changed"
        return Email(user.email, subject, "email_change_notice", values)

    _run(f"Email change notice {self.request.id}", f"notice:{self.request.id}", compose)
