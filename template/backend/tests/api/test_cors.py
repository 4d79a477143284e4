"""CORS, as `create_app` sets it up from the settings."""

from collections.abc import Callable

import pytest
from httpx import ASGITransport, AsyncClient

from app.main import create_app

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture
def allowed_origins(setting: Callable[[str, str], None]) -> None:
    """CORS_ALLOWED_ORIGINS set to one front end, for the apps this test creates."""
    setting("CORS_ALLOWED_ORIGINS", '["https://app.example.com"]')


async def preflight(origin: str) -> dict[str, str]:
    transport = ASGITransport(app=create_app())
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.options("/api/v1/auth/login", headers={"Origin": origin, **PREFLIGHT})
    return dict(response.headers)


async def test_cors_lets_the_configured_front_end_in_without_credentials(
    allowed_origins: None,
) -> None:
    headers = await preflight("https://app.example.com")

    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in headers["access-control-allow-headers"].lower()
    # Tokens never travel in cookies, so browsers are not told to send any.
    assert "access-control-allow-credentials" not in headers


async def test_cors_keeps_other_origins_out(allowed_origins: None) -> None:
    headers = await preflight("https://evil.example.net")

    assert "access-control-allow-origin" not in headers


async def test_cors_allows_no_origin_by_default() -> None:
    headers = await preflight("https://app.example.com")

    assert "access-control-allow-origin" not in headers
