"""Registration, login and the current user."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CurrentUser
from app.core.rate_limit import LoginRateLimiter, RateLimitExceededError, get_login_rate_limiter
from app.core.security import create_access_token
from app.schemas.token import Token
from app.schemas.user import UserCreate, UserRead
from app.services.user_service import (
    EmailAlreadyRegisteredError,
    UserService,
    get_user_service,
    normalize_email,
)

router = APIRouter(prefix="/auth", tags=["auth"])

Users = Annotated[UserService, Depends(get_user_service)]


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_409_CONFLICT: {"description": "Email already registered"}},
)
async def register(user_in: UserCreate, users: Users) -> UserRead:
    """Create an account; its welcome email is queued in the same transaction.

    The response never waits for the broker: the relay sends the email task once it can.
    """
    try:
        new_user = await users.register(user_in)
    except EmailAlreadyRegisteredError:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail="Email already registered"
        ) from None
    return UserRead.model_validate(new_user)


def _sent_as_a_form(request: Request) -> None:
    """Say what login takes to a client that sent JSON, rather than "username missing"."""
    if request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="Login takes a form (application/x-www-form-urlencoded) with `username` (the "
            "email) and `password`, as OAuth2's password flow does, not JSON",
        )


@router.post(
    "/login",
    # Before the form's fields are read: their errors would only say that both are missing.
    dependencies=[Depends(_sent_as_a_form)],
    responses={
        status.HTTP_401_UNAUTHORIZED: {"description": "Incorrect email or password"},
        status.HTTP_429_TOO_MANY_REQUESTS: {
            "description": "Too many attempts for this account or from this client",
            "headers": {
                "Retry-After": {
                    "description": "Seconds until another attempt is allowed",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    users: Users,
    limiter: Annotated[LoginRateLimiter, Depends(get_login_rate_limiter)],
    request: Request,
) -> Token:
    """OAuth2 password flow: `username` is the email. Attempts are limited per account and per
    client IP, so passwords cannot be guessed at speed."""
    client_ip = request.client.host if request.client else "unknown"
    try:
        await limiter.hit(normalize_email(form.username), client_ip)
    except RateLimitExceededError as exc:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many login attempts; try again in {exc.retry_after} seconds",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    user = await users.authenticate(form.username, form.password)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(access_token=create_access_token(str(user.id)))


@router.get("/me", responses={status.HTTP_401_UNAUTHORIZED: {"description": "Not authenticated"}})
async def read_me(current_user: CurrentUser) -> UserRead:
    return UserRead.model_validate(current_user)
