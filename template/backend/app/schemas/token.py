from typing import Literal

from pydantic import BaseModel


class Token(BaseModel):
    """OAuth2 bearer token response, as the login form and Swagger UI expect it."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (a token type, not a password)
