"""Signing users up and in through the API, as a client would (or straight into the database)."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.db.session import SessionFactory
from app.models.sent_email import SentEmail
from app.models.user import User

PASSWORD = "correct horse battery"


async def register(
    client: AsyncClient, email: str, password: str = PASSWORD, *, verified: bool = True
) -> dict[str, object]:
    """Register through the API; the address is then marked verified, as if the user had followed
    the link, unless `verified` is False."""
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "full_name": "Ada Lovelace"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    if verified:
        await mark_verified(email)
    return body


async def mark_verified(email: str) -> None:
    async with SessionFactory() as session:
        await session.execute(
            update(User).where(User.email == email).values(email_verified_at=func.now())
        )
        await session.commit()


async def sign_in(
    client: AsyncClient, email: str, password: str = PASSWORD, user_agent: str = "tests"
) -> dict[str, Any]:
    """Log in: the new session's tokens (`access_token`, `refresh_token`, ...)."""
    response = await client.post(
        "/api/v1/auth/login",
        data={"username": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def login(client: AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in: the new session's access token."""
    token: str = (await sign_in(client, email, password))["access_token"]
    return token


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """The headers that authenticate with a session's access token."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def assert_ended(client: AsyncClient, sessions: list[dict[str, Any]]) -> None:
    """Each of these sessions is over: its access token and its refresh token are refused."""
    for tokens in sessions:
        me = await client.get("/api/v1/auth/me", headers=bearer(tokens))
        assert me.status_code == 401, me.text
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401, refreshed.text


async def auth_headers(client: AsyncClient, email: str) -> dict[str, str]:
    """Register `email` and return the headers that authenticate as that user."""
    await register(client, email)
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def sign_up(client: AsyncClient, email: str) -> tuple[int, dict[str, str]]:
    """Register `email`: the new user's id, and the headers that authenticate as that user."""
    user = await register(client, email)
    return int(str(user["id"])), {"Authorization": f"Bearer {await login(client, email)}"}


async def create_user(email: str, full_name: str | None = None) -> User:
    """A user written straight to the database, for tests of tasks rather than of the API."""
    async with SessionFactory() as session:
        user = User(email=email, hashed_password="not-used-here", full_name=full_name)
        session.add(user)
        await session.commit()
        return user


async def welcome_emails_marked_sent(emails: list[str]) -> int:
    """How many of these users are recorded as welcomed (their welcome email sent)."""
    async with SessionFactory() as session:
        ids = await session.scalars(select(User.id).where(User.email.in_(emails)))
        keys = [f"welcome:{user_id}" for user_id in ids]
        count = await session.scalar(
            select(func.count()).select_from(SentEmail).where(SentEmail.key.in_(keys))
        )
    return count or 0
