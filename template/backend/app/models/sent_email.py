from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class SentEmail(Base):
    """An email the worker sent, by a key of its own ("welcome:<user id>", a task id).

    Inserted in the transaction that sends it, so a task delivered twice sends it once (see
    `app.tasks.emails`).
    """

    __tablename__ = "sent_emails"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
