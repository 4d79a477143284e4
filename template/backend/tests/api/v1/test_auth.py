from datetime import UTC, datetime, timedelta

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.models.user import User
from tests.support.users import PASSWORD, login, register


async def test_register_returns_the_new_user(client: AsyncClient, unique_email: str) -> None:
    body = await register(client, unique_email)

    assert body["email"] == unique_email
    assert body["full_name"] == "Ada Lovelace"
    assert body["is_active"] is True
    assert isinstance(body["id"], int)
    assert "password" not in body
    assert "hashed_password" not in body


async def test_register_stores_an_argon2id_hash(client: AsyncClient, unique_email: str) -> None:
    await register(client, unique_email)

    async with SessionFactory() as session:
        stored = (
            await session.execute(select(User).where(User.email == unique_email))
        ).scalar_one()
    assert stored.hashed_password.startswith("$argon2id$")
    assert PASSWORD not in stored.hashed_password


async def test_register_twice_is_a_conflict_whatever_the_case(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)

    response = await client.post(
        "/api/v1/auth/register", json={"email": unique_email.upper(), "password": PASSWORD}
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "x" * 129}, "password"),
        ({"password": PASSWORD}, "email"),
    ],
)
async def test_register_rejects_invalid_bodies(
    client: AsyncClient, payload: dict[str, str], field: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=payload)

    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


async def test_login_returns_a_token_for_the_user(client: AsyncClient, unique_email: str) -> None:
    user = await register(client, unique_email)

    token = await login(client, unique_email.upper())

    claims = jwt.decode(token, get_settings().secret_key.get_secret_value(), algorithms=["HS256"])
    assert claims["sub"] == str(user["id"])


async def test_login_failures_look_the_same(client: AsyncClient, unique_email: str) -> None:
    await register(client, unique_email)

    wrong_password = await client.post(
        "/api/v1/auth/login", data={"username": unique_email, "password": "wrong password"}
    )
    unknown_email = await client.post(
        "/api/v1/auth/login", data={"username": f"x{unique_email}", "password": PASSWORD}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert (
        wrong_password.json() == unknown_email.json() == {"detail": "Incorrect email or password"}
    )


async def test_login_with_a_json_body_is_told_to_send_a_form(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)

    response = await client.post(
        "/api/v1/auth/login", json={"username": unique_email, "password": PASSWORD}
    )

    assert response.status_code == 422
    assert "takes a form" in response.json()["detail"]


async def test_me_returns_the_authenticated_user(client: AsyncClient, unique_email: str) -> None:
    user = await register(client, unique_email)
    token = await login(client, unique_email)

    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    me = response.json()
    # `register` verified the address after the registration answered.
    assert user.pop("email_verified_at") is None
    assert me.pop("email_verified_at") is not None
    assert me == user


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer " + jwt.encode({"sub": "1"}, "another-secret" * 3)},
    ],
    ids=["no token", "garbage token", "token signed with another key"],
)
async def test_me_requires_a_valid_token(client: AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/api/v1/auth/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_timestamps_carry_their_time_zone(client: AsyncClient, unique_email: str) -> None:
    body = await register(client, unique_email)

    created_at = datetime.fromisoformat(str(body["created_at"]))

    assert created_at.utcoffset() is not None
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=5)
