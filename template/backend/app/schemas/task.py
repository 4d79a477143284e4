from typing import Any

from pydantic import BaseModel, Field, field_validator


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
