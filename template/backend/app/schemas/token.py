from typing import Literal

from pydantic import BaseModel, Field


class Token(BaseModel):
    """OAuth2 bearer token response, as the login form and Swagger UI expect it, with the refresh
    token that gets the next one."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (a token type, not a password)
    # Seconds the access token is valid for.
    expires_in: int
    refresh_token: str


class RefreshRequest(BaseModel):
    # Tokens are 43 characters; the bound keeps absurd input away from the database.
    refresh_token: str = Field(max_length=128)
