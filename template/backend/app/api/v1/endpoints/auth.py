"""Registration, login, sessions, verified and changed addresses, password resets and the current
user."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CurrentSession, CurrentUser
from app.core.config import get_settings
from app.core.rate_limit import RateLimiter, RateLimitExceededError, get_rate_limiter
from app.schemas.token import RefreshRequest, Token
from app.schemas.user import (
    Accepted,
    EmailAddress,
    EmailChange,
    LinkToken,
    PasswordChange,
    PasswordReset,
    SessionRead,
    UserCreate,
    UserRead,
)
from app.services.session_service import (
    InvalidRefreshTokenError,
    SessionService,
    get_session_service,
)
from app.services.user_service import (
    EmailAlreadyRegisteredError,
    UserService,
    get_user_service,
    normalize_email,
)

router = APIRouter(prefix="/auth", tags=["auth"])

Users = Annotated[UserService, Depends(get_user_service)]
Sessions = Annotated[SessionService, Depends(get_session_service)]
Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]

NOT_SIGNED_IN: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "Not authenticated"}
}
UNUSABLE_LINK = "This link is invalid or has expired; ask for a new one"
ADDRESS_TAKEN: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "Email already registered"}
}
WRONG_PASSWORD: dict[int | str, dict[str, Any]] = {
    status.HTTP_403_FORBIDDEN: {"description": "The current password is wrong"}
}
LINK_REFUSED: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {
        "description": "The link is unknown, used, expired or made for something else"
    }
}
LIMITED: dict[int | str, dict[str, Any]] = {
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "description": "Too many attempts for this account or from this client",
        "headers": {
            "Retry-After": {
                "description": "Seconds until another attempt is allowed",
                "schema": {"type": "integer"},
            }
        },
    },
}


def _address_taken() -> HTTPException:
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Email already registered")


def wrong_password() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_403_FORBIDDEN, detail="The current password is wrong"
    )


async def count_attempt(
    limiter: RateLimiter, action: str, request: Request, account: str | None
) -> None:
    """Count an attempt at `action` per client IP and per account; 429 over either limit."""
    client_ip = request.client.host if request.client else "unknown"
    try:
        await limiter.hit(action, client_ip, account)
    except RateLimitExceededError as exc:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many {action} attempts; try again in {exc.retry_after} seconds",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=ADDRESS_TAKEN,
)
async def register(user_in: UserCreate, users: Users) -> UserRead:
    """Create an account; its welcome email is queued in the same transaction.

    The response never waits for the broker: the relay sends the email task once it can.
    """
    try:
        new_user = await users.register(user_in)
    except EmailAlreadyRegisteredError:
        raise _address_taken() from None
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
        status.HTTP_403_FORBIDDEN: {"description": "The email address is not verified yet"},
        **LIMITED,
    },
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    users: Users,
    sessions: Sessions,
    limiter: Limiter,
    request: Request,
) -> Token:
    """OAuth2 password flow: `username` is the email. Starts a session: an access token, and the
    refresh token that gets the next one (`POST /auth/refresh`)."""
    await count_attempt(limiter, "login", request, normalize_email(form.username))
    user = await users.authenticate(form.username, form.password)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect email or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Said only to whoever knows the password: it reveals nothing about who has an account.
    if user.email_verified_at is None and get_settings().login_requires_verified_email:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Verify your email address first: open the link sent to it, or ask for a new "
            "one (POST /api/v1/auth/verify-email/resend)",
        )
    return await sessions.start(user, request.headers.get("user-agent"))


@router.post("/verify-email", status_code=status.HTTP_204_NO_CONTENT, responses=LINK_REFUSED)
async def verify_email(body: LinkToken, users: Users) -> Response:
    """Verify the address with the token of the link sent to it (at registration, or again)."""
    if not await users.verify_email(body.token):
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=UNUSABLE_LINK)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/verify-email/resend", status_code=status.HTTP_202_ACCEPTED, responses=LIMITED)
async def resend_verification_email(
    body: EmailAddress, users: Users, limiter: Limiter, request: Request
) -> Accepted:
    """Send a new verification link. The answer is the same whether or not an account has the
    address, or has verified it: it reveals no account."""
    await count_attempt(limiter, "resend", request, normalize_email(body.email))
    await users.resend_verification(body.email)
    return Accepted(
        detail="If an account with this address awaits verification, a link is on its way"
    )


@router.post("/password-reset", status_code=status.HTTP_202_ACCEPTED, responses=LIMITED)
async def request_password_reset(
    body: EmailAddress, users: Users, limiter: Limiter, request: Request
) -> Accepted:
    """Email a link to choose a new password. The answer, and the work behind it, are the same
    whether or not an account has the address."""
    await count_attempt(limiter, "reset", request, normalize_email(body.email))
    await users.request_password_reset(body.email)
    return Accepted(
        detail="If an account has this address, a link to reset its password is on its way"
    )


@router.post(
    "/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT, responses=LINK_REFUSED
)
async def confirm_password_reset(body: PasswordReset, users: Users) -> Response:
    """Set a new password with the token of a reset link; every session of the user ends."""
    if not await users.reset_password(body.token, body.new_password):
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=UNUSABLE_LINK)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/refresh",
    responses={
        status.HTTP_401_UNAUTHORIZED: {"description": "The refresh token cannot be used"},
        **LIMITED,
    },
)
async def refresh(
    body: RefreshRequest, sessions: Sessions, limiter: Limiter, request: Request
) -> Token:
    """A new access token and a new refresh token for the session; the one sent is used up.

    Sending a refresh token that was already used ends its session: one of its holders copied it.
    """
    owner = await sessions.owner_of(body.refresh_token)
    await count_attempt(limiter, "refresh", request, None if owner is None else str(owner))
    try:
        return await sessions.refresh(body.refresh_token)
    except InvalidRefreshTokenError:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid or expired refresh token; sign in again",
        ) from None


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_SIGNED_IN)
async def logout(signed_in: CurrentSession, sessions: Sessions) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await sessions.end(signed_in.user.id, signed_in.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_SIGNED_IN)
async def logout_all(current_user: CurrentUser, sessions: Sessions) -> Response:
    """End every session of this user, this one included."""
    await sessions.end_all(current_user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", responses=NOT_SIGNED_IN)
async def list_sessions(signed_in: CurrentSession, sessions: Sessions) -> list[SessionRead]:
    """The user's sessions still going, the latest refreshed first."""
    return [
        SessionRead.model_validate(s).model_copy(update={"current": s.id == signed_in.session_id})
        for s in await sessions.active(signed_in.user.id)
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_SIGNED_IN, status.HTTP_404_NOT_FOUND: {"description": "No such session"}},
)
async def end_session(session_id: str, current_user: CurrentUser, sessions: Sessions) -> Response:
    """End one of the user's sessions (a lost phone, a shared computer)."""
    if not await sessions.end(current_user.id, session_id):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="No such session")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_SIGNED_IN, **WRONG_PASSWORD, **LIMITED},
)
async def change_password(
    body: PasswordChange,
    signed_in: CurrentSession,
    users: Users,
    limiter: Limiter,
    request: Request,
) -> Response:
    """Change the password, given the current one; every other session of the user ends."""
    await count_attempt(limiter, "password", request, str(signed_in.user.id))
    changed = await users.change_password(
        signed_in.user, body.current_password, body.new_password, signed_in.session_id
    )
    if not changed:
        raise wrong_password()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_SIGNED_IN, **WRONG_PASSWORD, **ADDRESS_TAKEN, **LIMITED},
)
async def request_email_change(
    body: EmailChange,
    signed_in: CurrentSession,
    users: Users,
    limiter: Limiter,
    request: Request,
) -> Accepted:
    """Move the account to another address, given the password: a link goes to the new address
    and a notice to the current one. The address changes when the link is used."""
    await count_attempt(limiter, "email", request, str(signed_in.user.id))
    try:
        asked = await users.request_email_change(signed_in.user, body.password, body.new_email)
    except EmailAlreadyRegisteredError:
        raise _address_taken() from None
    if not asked:
        raise wrong_password()
    return Accepted(detail="A link to confirm the new address is on its way to it")


@router.post(
    "/email/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**LINK_REFUSED, **ADDRESS_TAKEN},
)
async def confirm_email_change(body: LinkToken, users: Users) -> Response:
    """Give the account the address the link was sent to (now verified)."""
    try:
        changed = await users.change_email(body.token)
    except EmailAlreadyRegisteredError:
        raise _address_taken() from None
    if not changed:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=UNUSABLE_LINK)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=NOT_SIGNED_IN)
async def read_me(current_user: CurrentUser) -> UserRead:
    return UserRead.model_validate(current_user)
