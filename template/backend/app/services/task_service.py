"""Starting tasks on behalf of a user, and reading their state back for that user only."""

from typing import Annotated, Any

from celery.canvas import Signature
from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import get_db_session
from app.models.task_run import TaskRun
from app.schemas.task import TaskStatus
from app.services.outbox import enqueue_on_commit
from app.worker.celery_app import celery_app


class TaskService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def start(self, call: Signature[Any], user_id: int) -> str:
        """Record the owner and queue the call in one transaction: both or neither."""
        task_id = enqueue_on_commit(self.session, call)
        self.session.add(TaskRun(id=task_id, user_id=user_id, task_name=call.task))
        await self.session.commit()
        return task_id

    async def status_for_owner(self, task_id: str, user_id: int) -> TaskStatus | None:
        """The task's state, or None when it does not exist or belongs to someone else."""
        task_run = await self.session.scalar(
            select(TaskRun).where(TaskRun.id == task_id, TaskRun.user_id == user_id)
        )
        if task_run is None:
            return None
        return await run_in_threadpool(_read_state, task_run)


def _read_state(task_run: TaskRun) -> TaskStatus:
    # One read of the backend: reading the state and then the info could see two different moments
    # (PROGRESS, then the final result).
    meta = celery_app.backend.get_task_meta(task_run.id)
    state: str = meta["status"]
    info = meta["result"]
    status = TaskStatus(task_id=task_run.id, task_name=task_run.task_name, state=state)
    if state == "PROGRESS" and isinstance(info, dict):
        status.progress = info
    elif state == "SUCCESS":
        status.result = info
    elif state == "FAILURE":
        # The exception's type only: its message and traceback stay in the worker's log.
        status.error = type(info).__name__
    return status


def get_task_service(session: Annotated[AsyncSession, Depends(get_db_session)]) -> TaskService:
    return TaskService(session)
