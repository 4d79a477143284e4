"""The signed-in user's own account."""

from fastapi import APIRouter, Request, Response, status

from app.api.deps import CurrentUser
from app.api.v1.endpoints.auth import (
    LIMITED,
    NOT_SIGNED_IN,
    WRONG_PASSWORD,
    Limiter,
    Users,
    count_attempt,
    wrong_password,
)
from app.schemas.user import AccountDeletion

router = APIRouter(prefix="/users", tags=["users"])


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_SIGNED_IN, **WRONG_PASSWORD, **LIMITED},
)
async def delete_me(
    body: AccountDeletion,
    current_user: CurrentUser,
    users: Users,
    limiter: Limiter,
    request: Request,
) -> Response:
    """Delete the account, given its password: it stops working at once (every session ends,
    login and links are refused) and its data is purged later."""
    await count_attempt(limiter, "delete", request, str(current_user.id))
    if not await users.delete_account(current_user, body.password):
        raise wrong_password()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
