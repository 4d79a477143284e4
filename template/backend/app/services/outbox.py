"""Queue a task in the same transaction as the change that calls for it: `enqueue_on_commit`.

`.delay()` right after a commit blocks the event loop on the broker, and loses the task if the
broker is down or the process dies in between. A row written with the change cannot be lost that
way, and a change that rolls back sends nothing. The relay (`app.services.outbox_relay`, a process
of its own) publishes the row once the transaction has committed.
"""

import uuid
from typing import Any

from asgi_correlation_id import correlation_id
from celery import Task
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.outbox_message import OutboxMessage


def enqueue_on_commit(
    session: AsyncSession, task: Task[..., Any], /, *args: Any, **kwargs: Any
) -> str:
    """Send `task(*args, **kwargs)` once the session's transaction commits; returns the task id.

    Arguments are stored as JSON, as Celery would send them.
    """
    task_id = str(uuid.uuid4())
    session.add(
        OutboxMessage(
            id=task_id,
            task_name=task.name,
            args=list(args),
            kwargs=dict(kwargs),
            request_id=correlation_id.get(),
        )
    )
    return task_id
