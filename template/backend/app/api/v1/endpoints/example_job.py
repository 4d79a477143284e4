"""Start the example job; the task status endpoint (`tasks.py`) follows it.

Part of the example job, which the README says how to delete.
"""

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field, field_validator

from app.api.deps import CurrentUser
from app.api.v1.endpoints.tasks import NOT_AUTHENTICATED, Tasks
from app.schemas.task import TaskAccepted
from app.tasks.example_job import run_example_job

router = APIRouter(prefix="/tasks", tags=["tasks"])


class ExampleJobCreate(BaseModel):
    steps: int = Field(default=5, ge=1, le=60, description="Half-second steps the job runs")

    @field_validator("steps", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        """`true` and "5" are not numbers, though Pydantic would make 1 and 5 of them.

        5.0 stays valid: JSON Schema counts it as an integer.
        """
        if isinstance(value, bool | str):
            raise ValueError("Input should be a number")
        return value


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
