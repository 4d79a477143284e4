"""Queue a task in the same database transaction as the change that calls for it (an outbox).

`.delay()` after a commit loses the task if the broker is down or the process dies in between;
a row written with the change cannot be lost that way. The relay (`app.services.outbox_relay`)
publishes it once the transaction has committed.
"""

import uuid
from typing import Any

from asgi_correlation_id import correlation_id
from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.outbox_message import OutboxMessage


def delay(
    session: AsyncSession, task: Task[..., Any], /, *args: Any, **kwargs: Any
) -> OutboxMessage:
    """`task.delay(*args, **kwargs)` as part of the session's transaction: sent after the commit."""
    message = OutboxMessage(
        id=str(uuid.uuid4()),
        task_name=task.name,
        args=list(args),
        kwargs=dict(kwargs),
        request_id=correlation_id.get(),
    )
    session.add(message)
    return message
