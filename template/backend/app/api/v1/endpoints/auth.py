"""Registration, login and the current user."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm
from kombu.exceptions import OperationalError

from app.api.deps import CurrentUser
from app.core.logging import get_logger
from app.core.security import create_access_token
from app.schemas.token import Token
from app.schemas.user import UserCreate, UserRead
from app.services.user_service import EmailAlreadyRegisteredError, UserService, get_user_service
from app.tasks.example_task import send_welcome_email

logger = get_logger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

Users = Annotated[UserService, Depends(get_user_service)]


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_409_CONFLICT: {"description": "Email already registered"}},
)
async def register(user_in: UserCreate, users: Users) -> UserRead:
    try:
        new_user = await users.create(user_in)
    except EmailAlreadyRegisteredError:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail="Email already registered"
        ) from None
    # .delay() talks to the broker synchronously: run it in a thread, the event loop keeps serving.
    try:
        await run_in_threadpool(send_welcome_email.delay, new_user.id)
    except OperationalError:
        # The account exists either way; failing the request now would only make the client
        # retry into a 409. The error names the user, so the email can be sent again.
        logger.exception("Broker unavailable: welcome email for user %s not queued", new_user.id)
    return UserRead.model_validate(new_user)


@router.post(
    "/login",
    responses={status.HTTP_401_UNAUTHORIZED: {"description": "Incorrect email or password"}},
)
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], users: Users) -> Token:
    """OAuth2 password flow: `username` is the email."""
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
