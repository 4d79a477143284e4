from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, String, delete, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose, not a password)
CHANGE_EMAIL = "change_email"


class AccountToken(Base):
    """A single-use link sent by email: to verify an address, reset a password or change the
    address.

    Its id is the id of the task that emails it, and the token in the link is derived from that id
    and SECRET_KEY (`app.core.security.link_token`): a retried task sends the same link, never a
    second one. Only the token's digest is stored.
    """

    __tablename__ = "account_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    # Where the link was sent: it works only while the account has this address, except a link to
    # change the address, which gives the account this one.
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def purge_spent_links(session: AsyncSession) -> int:
    """Delete links that were used or have expired; returns how many went. Nothing deleted could
    still be used."""
    purged = await session.scalars(
        delete(AccountToken)
        .where(or_(AccountToken.used_at.is_not(None), AccountToken.expires_at <= datetime.now(UTC)))
        .returning(AccountToken.id)
    )
    count = len(purged.all())
    await session.commit()
    return count
