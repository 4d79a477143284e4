from typing import Any

from pydantic import BaseModel, Field


class ExampleJobCreate(BaseModel):
    steps: int = Field(default=5, ge=1, le=60, description="Half-second steps the job runs")


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


class TaskStatus(BaseModel):
    task_id: str
    task_name: str
    # PENDING (queued), STARTED, PROGRESS, SUCCESS, FAILURE or RETRY
    state: str
    progress: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
