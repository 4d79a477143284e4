"""Signing users up and in through the API, as a client would."""

from httpx import AsyncClient

PASSWORD = "correct horse battery"


async def register(client: AsyncClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "full_name": "Ada Lovelace"},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def login(client: AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def auth_headers(client: AsyncClient, email: str) -> dict[str, str]:
    """Register `email` and return the headers that authenticate as that user."""
    await register(client, email)
    return {"Authorization": f"Bearer {await login(client, email)}"}
