from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class OutboxMessage(Base):
    """A task to enqueue, written in the same transaction as the change that calls for it.

    The outbox relay publishes it once it is due and then deletes it, so a broker outage delays
    the task instead of losing it, and a rolled-back change never sends one.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # becomes the Celery task id
    task_name: Mapped[str] = mapped_column(String(255))
    args: Mapped[list[Any]] = mapped_column(JSON)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # `apply_async` options of the call (queue, priority, expires, headers, ...).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # The request that wrote it, so the task's log lines carry the same id.
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Not sent before this: a countdown or ETA waits here rather than in a worker's memory, and a
    # message that failed to publish waits here before its next try.
    due_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    # Failures of this message itself (an unknown task, arguments that cannot be sent); a broker
    # that is down is not the message's fault and does not count.
    publish_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
