from datetime import UTC, datetime

from sqlalchemy import ColumnElement, DateTime, ForeignKey, String, delete, exists, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.refresh_token import RefreshToken


class AuthSession(Base):
    """One signed-in client: started by a login, kept alive by refreshing, ended by a logout.

    Access tokens name their session, and a request is let in only while it has not ended, so
    ending a session (logout, a password change, a reused refresh token) stops its tokens at once.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # As the client sent it at login, cut to fit: it helps a user tell their sessions apart.
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The last refresh: access tokens are short-lived, so an active client refreshes often.
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def can_refresh(now: datetime) -> ColumnElement[bool]:
    """Sessions still going: not ended, and holding a refresh token that has not expired."""
    current_token = exists().where(
        RefreshToken.session_id == AuthSession.id,
        RefreshToken.replaced_at.is_(None),
        RefreshToken.expires_at > now,
    )
    return AuthSession.ended_at.is_(None) & current_token


async def purge_ended_sessions(session: AsyncSession) -> int:
    """Delete expired refresh tokens and the sessions that ended or can no longer refresh;
    returns how many sessions went. Nothing deleted could still be used. (`python -m app.cli
    purge` runs it.)"""
    now = datetime.now(UTC)
    await session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
    purged = await session.scalars(
        delete(AuthSession).where(~can_refresh(now)).returning(AuthSession.id)
    )
    count = len(purged.all())
    await session.commit()
    return count
