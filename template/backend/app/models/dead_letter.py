from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class DeadLetter(Base):
    """A task set aside: the relay could not publish it, or it failed for good in the worker.

    Kept with its arguments and last error until someone resends it (`just outbox resend`).
    """

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the Celery task id
    task_name: Mapped[str] = mapped_column(String(255))
    args: Mapped[list[Any]] = mapped_column(JSON)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    request_id: Mapped[str | None] = mapped_column(String(128))
    # "relay" (never published) or "worker" (ran and failed for good).
    set_aside_by: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text)
    set_aside_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
