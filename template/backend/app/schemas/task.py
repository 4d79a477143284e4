from typing import Any

from pydantic import BaseModel


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
