"""Signed-in sessions: started by a login, kept alive by rotating refresh tokens, ended by logouts.

A session's access tokens name it, and `user_for` lets a request in only while its session has not
ended: logging out stops a token at once, at no extra query (the check joins the user's lookup).
Each refresh replaces the session's refresh token. Presenting a replaced one again means it was
copied, by whoever holds it now or before, so the whole session ends.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.core.security import AccessClaims, create_access_token, new_refresh_token, token_digest
from app.db.session import get_db_session
from app.models.auth_session import AuthSession, can_refresh
from app.models.refresh_token import RefreshToken
from app.models.user import User
from app.schemas.token import Token

USER_AGENT_MAX_LENGTH = 255


class InvalidRefreshTokenError(Exception):
    """Unknown, expired, replaced already, or of a session that ended: sign in again."""


class SessionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start(self, user: User, user_agent: str | None) -> Token:
        """A new session for `user` (who just proved a password): its first pair of tokens."""
        auth_session = AuthSession(
            id=str(uuid.uuid4()),
            user_id=user.id,
            user_agent=user_agent[:USER_AGENT_MAX_LENGTH] if user_agent else None,
        )
        self.session.add(auth_session)
        await self.session.flush()  # the session's row first: its token refers to it
        token = self._issue(auth_session)
        await self.session.commit()
        return token

    async def user_for(self, claims: AccessClaims) -> User | None:
        """The active user of an access token whose session has not ended, or None."""
        return await self.session.scalar(
            select(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                User.id == claims.user_id,
                User.is_active,
                AuthSession.id == claims.session_id,
                AuthSession.ended_at.is_(None),
            )
        )

    async def owner_of(self, refresh_token: str) -> int | None:
        """The id of the user a refresh token was issued to, usable or not."""
        return await self.session.scalar(
            select(AuthSession.user_id)
            .join(RefreshToken, RefreshToken.session_id == AuthSession.id)
            .where(RefreshToken.token_hash == token_digest(refresh_token))
        )

    async def refresh(self, refresh_token: str) -> Token:
        """Replace a refresh token with a new pair; InvalidRefreshTokenError if it is not usable."""
        now = datetime.now(UTC)
        digest = token_digest(refresh_token)
        # One statement claims the token, so of two refreshes racing with it only one wins.
        session_id = await self.session.scalar(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.replaced_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(replaced_at=now)
            .returning(RefreshToken.session_id)
        )
        if session_id is None:
            await self._end_if_replaced(digest)
            raise InvalidRefreshTokenError
        auth_session = await self.session.scalar(
            select(AuthSession)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == session_id, AuthSession.ended_at.is_(None), User.is_active)
        )
        if auth_session is None:
            await self.session.rollback()
            raise InvalidRefreshTokenError
        auth_session.last_used_at = now
        token = self._issue(auth_session)
        await self.session.commit()
        return token

    async def _end_if_replaced(self, digest: str) -> None:
        replaced = await self.session.scalar(
            select(RefreshToken.session_id).where(
                RefreshToken.token_hash == digest, RefreshToken.replaced_at.is_not(None)
            )
        )
        if replaced is not None:
            await end_sessions(self.session, AuthSession.id == replaced)
        await self.session.commit()

    def _issue(self, auth_session: AuthSession) -> Token:
        settings = get_settings()
        refresh_token = new_refresh_token()
        self.session.add(
            RefreshToken(
                token_hash=token_digest(refresh_token),
                session_id=auth_session.id,
                expires_at=datetime.now(UTC) + timedelta(days=settings.refresh_token_expire_days),
            )
        )
        return Token(
            access_token=create_access_token(auth_session.user_id, auth_session.id),
            expires_in=settings.access_token_expire_minutes * 60,
            refresh_token=refresh_token,
        )

    async def active(self, user_id: int) -> list[AuthSession]:
        """The user's sessions that have not ended and can still refresh, latest used first."""
        return list(
            await self.session.scalars(
                select(AuthSession)
                .where(AuthSession.user_id == user_id, can_refresh(datetime.now(UTC)))
                .order_by(AuthSession.last_used_at.desc())
            )
        )

    async def end(self, user_id: int, session_id: str) -> bool:
        """End one of the user's sessions; False if they have no such session still going."""
        ended = await end_sessions(
            self.session, AuthSession.user_id == user_id, AuthSession.id == session_id
        )
        await self.session.commit()
        return ended > 0

    async def end_all(self, user_id: int) -> None:
        await end_sessions(self.session, AuthSession.user_id == user_id)
        await self.session.commit()


async def end_sessions(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    """End the sessions matching `where` that are still going, in the caller's transaction."""
    ended = await session.scalars(
        update(AuthSession)
        .where(*where, AuthSession.ended_at.is_(None))
        .values(ended_at=datetime.now(UTC))
        .returning(AuthSession.id)
    )
    return len(ended.all())


def get_session_service(
    session: Annotated[AsyncSession, Depends(get_db_session)],
) -> SessionService:
    return SessionService(session)
