from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class UserCreate(BaseModel):
    email: EmailStr
    # The upper bound keeps hashing cheap for absurd inputs; argon2 itself has no practical limit.
    password: str = Field(min_length=8, max_length=128)
    # No control characters: a name is shown in emails and pages, and databases may refuse NUL.
    full_name: str | None = Field(default=None, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: EmailStr
    full_name: str | None
    is_active: bool
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _with_time_zone(cls, value: datetime) -> datetime:
        """Some databases drop a timestamp's time zone; ours are UTC, and the API says so."""
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
