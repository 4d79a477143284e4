"""Start a long-running task and follow its state."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from app.api.deps import CurrentUser
from app.schemas.task import ExampleJobCreate, TaskAccepted, TaskStatus
from app.services.task_service import TaskService, get_task_service
from app.tasks.example_job import run_example_job

router = APIRouter(prefix="/tasks", tags=["tasks"])

Tasks = Annotated[TaskService, Depends(get_task_service)]
NOT_AUTHENTICATED = {"description": "Not authenticated"}


@router.post(
    "/example",
    status_code=status.HTTP_202_ACCEPTED,
    responses={status.HTTP_401_UNAUTHORIZED: NOT_AUTHENTICATED},
)
async def start_example_job(
    job: ExampleJobCreate,
    current_user: CurrentUser,
    tasks: Tasks,
    request: Request,
    response: Response,
) -> TaskAccepted:
    """Queue the example job; poll the URL in `Location` (or `status_url`) for its state.

    Accepted even while the broker is down: the job waits in the outbox until it is back.
    """
    task_id = await tasks.start(run_example_job.s(current_user.id, job.steps), current_user.id)
    status_url = str(request.url_for("read_task_status", task_id=task_id))
    response.headers["Location"] = status_url
    return TaskAccepted(task_id=task_id, status_url=status_url)


@router.get(
    # Only UUIDs match, so `GET /tasks/example` is a 405 and not a lookup of a task "example".
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
