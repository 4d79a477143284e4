"""Dependencies shared by endpoints: who is signed in, from the bearer token."""

from typing import Annotated, NamedTuple

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from app.core.security import decode_access_token
from app.models.user import User
from app.services.session_service import SessionService, get_session_service

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login")


class SignedIn(NamedTuple):
    user: User
    session_id: str


async def get_signed_in(
    token: Annotated[str, Depends(oauth2_scheme)],
    sessions: Annotated[SessionService, Depends(get_session_service)],
) -> SignedIn:
    """The user and session of a valid access token whose session has not ended; else 401."""
    claims = decode_access_token(token)
    user = None if claims is None else await sessions.user_for(claims)
    if claims is None or user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return SignedIn(user, claims.session_id)


async def get_current_user(signed_in: Annotated[SignedIn, Depends(get_signed_in)]) -> User:
    return signed_in.user


CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentSession = Annotated[SignedIn, Depends(get_signed_in)]
