from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, delete, func, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

# An inactive (deleted or deactivated) account is purged once it was created this long ago; until
# then its address stays taken.
INACTIVE_USER_RETENTION = timedelta(days=30)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see UserService): the unique index makes emails unique ignoring case.
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the user followed the link sent to the address; None until then.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def purge_old_inactive_users(session: AsyncSession) -> int:
    """Delete inactive accounts created before the retention period, with their sessions, links
    and task runs; returns how many went."""
    created_before = datetime.now(UTC) - INACTIVE_USER_RETENTION
    purged = await session.scalars(
        delete(User)
        .where(User.is_active.is_(False), User.created_at < created_before)
        .returning(User.id)
    )
    count = len(purged.all())
    await session.commit()
    return count
