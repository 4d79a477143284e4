"""Follow the state of a task started for a user (with `TaskService.start`)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from app.api.deps import CurrentUser
from app.schemas.task import TaskStatus
from app.services.task_service import TaskService, get_task_service

router = APIRouter(prefix="/tasks", tags=["tasks"])

Tasks = Annotated[TaskService, Depends(get_task_service)]
NOT_AUTHENTICATED = {"description": "Not authenticated"}


@router.get(
    # Only UUIDs match: other paths under /tasks are left to the endpoints that start tasks, where
    # a GET is a 405 and not a lookup of a task of that name.
    "/{task_id:uuid}",
    responses={
        status.HTTP_401_UNAUTHORIZED: NOT_AUTHENTICATED,
        status.HTTP_404_NOT_FOUND: {"description": "No such task of yours"},
    },
)
async def read_task_status(
    task_id: uuid.UUID, current_user: CurrentUser, tasks: Tasks
) -> TaskStatus:
    """Only the user who started a task can see it; any other id is simply not found."""
    task_status = await tasks.status_for_owner(str(task_id), current_user.id)
    if task_status is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Task not found")
    return task_status
