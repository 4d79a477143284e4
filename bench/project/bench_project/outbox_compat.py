"""The template's way of enqueueing, in the two outbox APIs the bench compares.

v0.8.0 has `enqueue_on_commit(session, task, *args)`, its relay in `app.services.outbox_relay`,
woken by a trigger's NOTIFY, and the welcome email in `app.tasks.example_task`. Later code takes a
signature, `enqueue_on_commit(session, task.s(*args))`, runs its relay as `app.relay`, woken by a
Redis message the API sends after the commit, and has the welcome email in `app.tasks.emails`.
"""

import importlib
import importlib.util
from typing import Any

from app.services import outbox
from celery import Task

SIGNATURES = importlib.util.find_spec("app.relay") is not None
API_NAME = f"enqueue_on_commit(session, {'task.s()' if SIGNATURES else 'task'})"
RELAY_MODULE = "app.relay" if SIGNATURES else "app.services.outbox_relay"
send_welcome_email: Task[..., Any] = importlib.import_module(
    "app.tasks.emails" if SIGNATURES else "app.tasks.example_task"
).send_welcome_email


def add_to_outbox(session: Any, task: Task[..., Any], /, *args: Any) -> str:
    """Queue `task` in the session's transaction; its task id."""
    if SIGNATURES:
        task_id: str = outbox.enqueue_on_commit(session, task.s(*args))
    else:
        task_id = outbox.enqueue_on_commit(session, task, *args)
    return task_id
