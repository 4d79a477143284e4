"""Registering, finding and authenticating users; verifying addresses and resetting passwords."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password, token_digest, verify_password
from app.db.session import get_db_session
from app.models.account_token import RESET_PASSWORD, VERIFY_EMAIL, AccountToken
from app.models.auth_session import AuthSession
from app.models.user import User
from app.schemas.user import UserCreate
from app.services.outbox import enqueue_on_commit
from app.services.session_service import end_sessions
from app.tasks.emails import (
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
        """Mark the address of a verification link's user verified; False if the link is not
        usable (unknown, used, expired, or made for something else)."""
        user_id = await self._use_link_token(token, VERIFY_EMAIL)
        if user_id is None:
            await self.session.rollback()
            return False
        await self.session.execute(
            update(User)
            .where(User.id == user_id, User.email_verified_at.is_(None))
            .values(email_verified_at=datetime.now(UTC))
        )
        await self.session.commit()
        return True

    async def reset_password(self, token: str, new_password: str) -> bool:
        """Set a new password with a reset link, and end every session of the user; False if the
        link is not usable."""
        user_id = await self._use_link_token(token, RESET_PASSWORD)
        user = None if user_id is None else await self.session.get(User, user_id)
        if user is None or not user.is_active:
            await self.session.rollback()
            return False
        user.hashed_password = await hash_password(new_password)
        # The link reached the address: it is verified.
        user.email_verified_at = user.email_verified_at or datetime.now(UTC)
        # Other reset links sent before are void once one is used.
        await self.session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == RESET_PASSWORD,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
        await end_sessions(self.session, AuthSession.user_id == user.id)
        await self.session.commit()
        return True

    async def _use_link_token(self, token: str, purpose: str) -> int | None:
        """Use up a link's token: its user's id, or None if it cannot be used for `purpose`."""
        now = datetime.now(UTC)
        return await self.session.scalar(
            update(AccountToken)
            .where(
                AccountToken.token_hash == token_digest(token),
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(AccountToken.user_id)
        )


def get_user_service(session: Annotated[AsyncSession, Depends(get_db_session)]) -> UserService:
    return UserService(session)
