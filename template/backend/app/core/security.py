"""Password hashing (argon2 via pwdlib), access tokens (JWT via PyJWT) and refresh tokens."""

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple

import jwt
from fastapi.concurrency import run_in_threadpool
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import get_settings

# Tokens are signed and checked by this service alone, with the shared SECRET_KEY: an HMAC.
JWT_ALGORITHM = "HS256"


@cache
def _password_hash() -> PasswordHash:
    settings = get_settings()
    hasher = Argon2Hasher(
        time_cost=settings.password_hash_iterations,
        memory_cost=settings.password_hash_memory_kib,
    )
    return PasswordHash((hasher,))


# Argon2 is deliberately slow, so these run in a worker thread: the event loop
# keeps serving other requests meanwhile.


async def hash_password(password: str) -> str:
    return await run_in_threadpool(_password_hash().hash, password)


async def verify_password(password: str, hashed_password: str | None) -> bool:
    """Check a password. With no hash (unknown email) it still costs one check and fails, so a
    failed login takes the same time either way and does not reveal which emails exist."""
    return await run_in_threadpool(_verify, password, hashed_password)


def _verify(password: str, hashed_password: str | None) -> bool:
    if hashed_password is None:
        _password_hash().verify(password, _dummy_hash())
        return False
    return _password_hash().verify(password, hashed_password)


@cache
def _dummy_hash() -> str:
    return _password_hash().hash("a password nobody has")


class AccessClaims(NamedTuple):
    user_id: int
    session_id: str


def create_access_token(user_id: int, session_id: str) -> str:
    """A short-lived token for `user_id`, valid while its session (`sid`) has not ended."""
    settings = get_settings()
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_expire_minutes),
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=JWT_ALGORITHM)


def decode_access_token(token: str) -> AccessClaims | None:
    """The token's user and session, or None when it is invalid, tampered with or expired."""
    settings = get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "sid", "exp"]},
        )
    except jwt.InvalidTokenError:
        return None
    subject, session_id = claims["sub"], claims["sid"]
    if not (isinstance(subject, str) and subject.isdigit() and isinstance(session_id, str)):
        return None
    return AccessClaims(int(subject), session_id)


def new_refresh_token() -> str:
    """A random refresh token (256 bits), given to the client once and stored only as its digest."""
    return secrets.token_urlsafe(32)


def link_token(token_id: str) -> str:
    """The token an emailed link carries for the AccountToken `token_id`.

    Derived from the id with SECRET_KEY, so a retried task sends the same link without the token
    being stored anywhere; the database holds only its digest. Changing SECRET_KEY voids the links.
    """
    key = get_settings().secret_key.get_secret_value().encode()
    mac = hmac.new(key, f"account-token:{token_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_digest(token: str) -> str:
    """What is stored of a token: a random token needs no slow hash, SHA-256 is enough."""
    return hashlib.sha256(token.encode()).hexdigest()
