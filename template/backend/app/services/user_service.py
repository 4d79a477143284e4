"""Registering, finding and authenticating users."""

from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password, verify_password
from app.db.session import get_db_session
from app.models.auth_session import AuthSession
from app.models.user import User
from app.schemas.user import UserCreate
from app.services.outbox import enqueue_on_commit
from app.services.session_service import end_sessions
from app.tasks.emails import send_welcome_email


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


def get_user_service(session: Annotated[AsyncSession, Depends(get_db_session)]) -> UserService:
    return UserService(session)
