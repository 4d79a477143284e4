"""Keep every task that fails for good as a dead letter: `just outbox` lists and resends them.

A failure for good is one that Celery will not retry: an error the task does not retry, retries
run out, or a time limit. A task that is retried or put back in the queue is not set aside.
"""

import asyncio
from typing import Any

from asgi_correlation_id import correlation_id
from celery import Task
from celery.signals import task_failure

from app.core.logging import get_logger
from app.core.metrics import TASKS_SET_ASIDE
from app.db.session import WorkerSessionFactory
from app.models.dead_letter import DeadLetter

logger = get_logger(__name__)


@task_failure.connect
def _set_aside(
    sender: Task[Any, Any],
    task_id: str,
    exception: BaseException,
    args: Any,
    kwargs: Any,
    **_: Any,
) -> None:
    letter = DeadLetter(
        id=task_id,
        task_name=sender.name,
        args=list(args or ()),
        kwargs=dict(kwargs or {}),
        options={},
        request_id=correlation_id.get(),
        set_aside_by="worker",
        error=repr(exception),
    )
    try:
        asyncio.run(_store(letter))
    except Exception:
        # Not silently: this line names the task; the failure itself was logged above it.
        logger.exception("Task %s (%s) failed and could not be set aside", task_id, sender.name)
        return
    TASKS_SET_ASIDE.labels(sender.name).inc()
    logger.warning("Task %s (%s) set aside as a dead letter", task_id, sender.name)


async def _store(letter: DeadLetter) -> None:
    async with WorkerSessionFactory() as session:
        await session.merge(letter)  # a resent task that fails again replaces its letter
        await session.commit()
