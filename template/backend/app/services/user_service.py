"""Registering, finding and authenticating users; verifying and changing addresses, resetting
passwords, deleting accounts."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password, token_digest, verify_password
from app.db.session import get_db_session
from app.models.account_token import CHANGE_EMAIL, RESET_PASSWORD, VERIFY_EMAIL, AccountToken
from app.models.auth_session import AuthSession
from app.models.user import User
from app.schemas.user import UserCreate
from app.services.outbox import enqueue_on_commit
from app.services.session_service import end_sessions
from app.tasks.emails import (
    send_email_change_email,
    send_email_change_notice,
    send_password_reset_email,
    send_verification_email,
    send_welcome_email,
)


class EmailAlreadyRegisteredError(Exception):
    """Raised when registering an email that already has an account."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        if "\x00" in email:
            # No address has a NUL character: nothing to look up.
            return None
        result = await self.session.execute(
            select(User).where(User.email == normalize_email(email))
        )
        return result.scalar_one_or_none()

    async def register(self, user_in: UserCreate) -> User:
        """Create the account and queue its welcome email, in one transaction: both or neither."""
        new_user = User(
            email=normalize_email(user_in.email),
            hashed_password=await hash_password(user_in.password),
            full_name=user_in.full_name,
        )
        self.session.add(new_user)
        try:
            await self.session.flush()
            enqueue_on_commit(self.session, send_welcome_email.s(new_user.id))
            await self.session.commit()
        except IntegrityError as exc:
            # The unique index decides, so two concurrent registrations cannot both win.
            await self.session.rollback()
            raise EmailAlreadyRegisteredError(new_user.email) from exc
        await self.session.refresh(new_user)
        return new_user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The active user with these credentials, or None. Costs one hash check either way."""
        user = await self.get_by_email(email)
        if user is None:
            await verify_password(password, None)
            return None
        if not await verify_password(password, user.hashed_password) or not user.is_active:
            return None
        return user

    async def change_password(self, user: User, current: str, new: str, keep_session: str) -> bool:
        """Set a new password if `current` is right, and end every other session of the user."""
        if not await verify_password(current, user.hashed_password):
            return False
        user.hashed_password = await hash_password(new)
        await end_sessions(
            self.session, AuthSession.user_id == user.id, AuthSession.id != keep_session
        )
        await self.session.commit()
        return True

    async def request_password_reset(self, email: str) -> None:
        """Queue a reset link for `email`. The same work whether or not an account has it: the
        worker looks the account up, so neither the answer nor its timing tells."""
        enqueue_on_commit(self.session, send_password_reset_email.s(normalize_email(email)))
        await self.session.commit()

    async def resend_verification(self, email: str) -> None:
        """Queue a new verification link for `email`, alike whether or not an account has it."""
        enqueue_on_commit(self.session, send_verification_email.s(normalize_email(email)))
        await self.session.commit()

    async def verify_email(self, token: str) -> bool:
        """Mark the address of a verification link verified; False if the link is not usable
        (unknown, used, expired, made for something else, or the account's address changed)."""
        used = await self._use_link(token, VERIFY_EMAIL)
        if used is None:
            return False
        user, _ = used
        user.email_verified_at = user.email_verified_at or datetime.now(UTC)
        await self.session.commit()
        return True

    async def reset_password(self, token: str, new_password: str) -> bool:
        """Set a new password with a reset link, and end every session of the user; False if the
        link is not usable."""
        used = await self._use_link(token, RESET_PASSWORD)
        if used is None:
            return False
        user, _ = used
        user.hashed_password = await hash_password(new_password)
        # The link reached the address: it is verified.
        user.email_verified_at = user.email_verified_at or datetime.now(UTC)
        await self._void_links(user.id, RESET_PASSWORD)  # one used, the others sent before go
        await end_sessions(self.session, AuthSession.user_id == user.id)
        await self.session.commit()
        return True

    async def request_email_change(self, user: User, password: str, new_email: str) -> bool:
        """Email a link to `new_email` that moves the account there, and a notice to the current
        address, if `password` is right (else False). EmailAlreadyRegisteredError if an account
        has `new_email`: register says so too."""
        if not await verify_password(password, user.hashed_password):
            return False
        new_email = normalize_email(new_email)
        if await self.get_by_email(new_email) is not None:
            raise EmailAlreadyRegisteredError(new_email)
        enqueue_on_commit(self.session, send_email_change_email.s(user.id, new_email))
        enqueue_on_commit(self.session, send_email_change_notice.s(user.id, new_email))
        await self.session.commit()
        return True

    async def change_email(self, token: str) -> bool:
        """Give the account the address a change link was sent to, verified; False if the link is
        not usable, EmailAlreadyRegisteredError if another account took the address since."""
        used = await self._use_link(token, CHANGE_EMAIL)
        if used is None:
            return False
        user, new_email = used
        await self._void_links(user.id, CHANGE_EMAIL)  # the other changes asked for, too
        user.email = new_email
        user.email_verified_at = datetime.now(UTC)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise EmailAlreadyRegisteredError(new_email) from exc
        return True

    async def delete_account(self, user: User, password: str) -> bool:
        """Deactivate the account at once and end its sessions, if `password` is right (else
        False). Its row, and so its address, stays until the purge (`INACTIVE_USER_RETENTION`)."""
        if not await verify_password(password, user.hashed_password):
            return False
        user.is_active = False
        await end_sessions(self.session, AuthSession.user_id == user.id)
        await self.session.commit()
        return True

    async def _use_link(self, token: str, purpose: str) -> tuple[User, str] | None:
        """Use up a link's token: its active user and the address the link was sent to, or None
        (nothing changed) if it cannot be used for `purpose`. Except for a change of address, the
        account must still have that address."""
        now = datetime.now(UTC)
        link = (
            await self.session.execute(
                update(AccountToken)
                .where(
                    AccountToken.token_hash == token_digest(token),
                    AccountToken.purpose == purpose,
                    AccountToken.used_at.is_(None),
                    AccountToken.expires_at > now,
                )
                .values(used_at=now)
                .returning(AccountToken.user_id, AccountToken.email)
            )
        ).first()
        user = None if link is None else await self.session.get(User, link.user_id)
        if (
            link is None
            or user is None
            or not user.is_active
            or (purpose != CHANGE_EMAIL and user.email != link.email)
        ):
            await self.session.rollback()
            return None
        return user, link.email

    async def _void_links(self, user_id: int, purpose: str) -> None:
        await self.session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )


def get_user_service(session: Annotated[AsyncSession, Depends(get_db_session)]) -> UserService:
    return UserService(session)
