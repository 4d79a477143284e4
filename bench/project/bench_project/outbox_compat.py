"""The template's way of enqueueing, on either outbox API the bench is run against.

v0.5.1 has `outbox.delay(session, task)` and a relay inside the API, woken by `notify()` after
the commit. The newer code has `outbox.enqueue_on_commit(session, task)` and a relay process of
its own, woken by the commit itself (a trigger and LISTEN/NOTIFY).
"""

from typing import Any

from app.services import outbox
from celery import Task
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

ENQUEUE_ON_COMMIT = hasattr(outbox, "enqueue_on_commit")
API_NAME = "enqueue_on_commit" if ENQUEUE_ON_COMMIT else "delay"


def add_to_outbox(session: AsyncSession, task: Task[..., Any], /, *args: Any) -> str:
    """Queue `task` in the session's transaction; its task id."""
    if ENQUEUE_ON_COMMIT:
        task_id: str = outbox.enqueue_on_commit(session, task, *args)
        return task_id
    message_id: str = outbox.delay(session, task, *args).id
    return message_id


def relay_in_api(app: FastAPI) -> bool:
    """Whether the app's lifespan started a relay (v0.5.1) rather than leaving it to a process."""
    return hasattr(app.state, "outbox_relay")


def after_commit(app: FastAPI) -> None:
    """What the template does once the outbox row is committed: wake an in-API relay, if any."""
    if relay_in_api(app):
        app.state.outbox_relay.notify()
