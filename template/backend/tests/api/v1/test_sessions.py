"""Sessions: refresh tokens that rotate, a reused one that ends its session, logouts, the list."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select, update

from app.core.security import token_digest
from app.db.session import SessionFactory
from app.models.auth_session import AuthSession, purge_ended_sessions
from app.models.refresh_token import RefreshToken
from app.models.user import User
from tests.support.users import PASSWORD, bearer, register, sign_in

AUTH = "/api/v1/auth"
ME = f"{AUTH}/me"
REFUSED = {"detail": "Invalid or expired refresh token; sign in again"}


async def refresh(client: AsyncClient, tokens: dict[str, Any]) -> Response:
    return await client.post(f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]})


async def refreshed(client: AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await refresh(client, tokens)
    assert response.status_code == 200, response.text
    new_tokens: dict[str, Any] = response.json()
    return new_tokens


async def is_signed_in(client: AsyncClient, tokens: dict[str, Any]) -> bool:
    return (await client.get(ME, headers=bearer(tokens))).status_code == 200


async def test_login_starts_a_session_with_a_refresh_token(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)

    tokens = await sign_in(client, unique_email, user_agent="Firefox on a laptop")

    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    async with SessionFactory() as session:
        stored = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == token_digest(tokens["refresh_token"])
            )
        )
        assert stored is not None, "The refresh token's digest is not stored"
        auth_session = await session.get(AuthSession, stored.session_id)
    assert auth_session is not None
    assert auth_session.user_agent == "Firefox on a laptop"
    # Only the digest is kept.
    assert stored.token_hash != tokens["refresh_token"]


async def test_refreshing_replaces_both_tokens(client: AsyncClient, unique_email: str) -> None:
    await register(client, unique_email)
    first = await sign_in(client, unique_email)

    second = await refreshed(client, first)
    third = await refreshed(client, second)

    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert await is_signed_in(client, third)


async def test_a_reused_refresh_token_ends_its_session(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    stolen = await sign_in(client, unique_email)
    current = await refreshed(client, stolen)  # the rightful client moves on

    reused = await refresh(client, stolen)

    assert reused.status_code == 401
    assert reused.json() == REFUSED
    # Both holders are out: the newest refresh token and the access tokens of the session.
    assert (await refresh(client, current)).status_code == 401
    assert not await is_signed_in(client, current)
    assert not await is_signed_in(client, stolen)


async def test_two_refreshes_racing_with_one_token_let_one_win(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)

    responses = await asyncio.gather(refresh(client, tokens), refresh(client, tokens))

    assert sorted(response.status_code for response in responses) == [200, 401]


async def expire(client: AsyncClient, tokens: dict[str, Any]) -> str:
    async with SessionFactory() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_digest(tokens["refresh_token"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    return str(tokens["refresh_token"])


async def log_out(client: AsyncClient, tokens: dict[str, Any]) -> str:
    assert (await client.post(f"{AUTH}/logout", headers=bearer(tokens))).status_code == 204
    return str(tokens["refresh_token"])


async def deactivate_the_user(client: AsyncClient, tokens: dict[str, Any]) -> str:
    user = (await client.get(ME, headers=bearer(tokens))).json()
    async with SessionFactory() as session:
        await session.execute(update(User).where(User.id == user["id"]).values(is_active=False))
        await session.commit()
    return str(tokens["refresh_token"])


async def tamper(client: AsyncClient, tokens: dict[str, Any]) -> str:
    token = str(tokens["refresh_token"])
    return ("B" if token[0] == "A" else "A") + token[1:]


async def invent(client: AsyncClient, tokens: dict[str, Any]) -> str:
    return secrets.token_urlsafe(32)


SPOILERS: dict[str, Callable[[AsyncClient, dict[str, Any]], Awaitable[str]]] = {
    "expired": expire,
    "logged out": log_out,
    "user deactivated": deactivate_the_user,
    "tampered": tamper,
    "invented": invent,
}


@pytest.mark.parametrize("spoil", SPOILERS.values(), ids=SPOILERS.keys())
async def test_refresh_tokens_that_cannot_be_used_are_refused_alike(
    client: AsyncClient,
    unique_email: str,
    spoil: Callable[[AsyncClient, dict[str, Any]], Awaitable[str]],
) -> None:
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    token = await spoil(client, tokens)

    response = await client.post(f"{AUTH}/refresh", json={"refresh_token": token})

    assert response.status_code == 401
    assert response.json() == REFUSED


async def test_logout_ends_this_session_and_no_other(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    laptop, phone = await sign_in(client, unique_email), await sign_in(client, unique_email)

    response = await client.post(f"{AUTH}/logout", headers=bearer(laptop))

    assert response.status_code == 204
    assert not await is_signed_in(client, laptop)
    assert (await refresh(client, laptop)).status_code == 401
    assert await is_signed_in(client, phone)


async def test_logout_all_ends_every_session(client: AsyncClient, unique_email: str) -> None:
    await register(client, unique_email)
    laptop, phone = await sign_in(client, unique_email), await sign_in(client, unique_email)

    response = await client.post(f"{AUTH}/logout-all", headers=bearer(laptop))

    assert response.status_code == 204
    for tokens in (laptop, phone):
        assert not await is_signed_in(client, tokens)
        assert (await refresh(client, tokens)).status_code == 401


async def test_sessions_lists_the_users_own_sessions(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    laptop = await sign_in(client, unique_email, user_agent="laptop")
    await sign_in(client, unique_email, user_agent="phone")
    ended = await sign_in(client, unique_email, user_agent="old tablet")
    await log_out(client, ended)
    await register(client, f"other-{unique_email}")
    await sign_in(client, f"other-{unique_email}", user_agent="someone else's")

    response = await client.get(f"{AUTH}/sessions", headers=bearer(laptop))

    assert response.status_code == 200
    listed = {entry["user_agent"]: entry for entry in response.json()}
    assert listed.keys() == {"laptop", "phone"}
    assert listed["laptop"]["current"] is True
    assert listed["phone"]["current"] is False
    assert listed["laptop"]["created_at"].endswith(("Z", "+00:00"))


async def test_ending_one_session_from_another(client: AsyncClient, unique_email: str) -> None:
    await register(client, unique_email)
    laptop = await sign_in(client, unique_email, user_agent="laptop")
    lost_phone = await sign_in(client, unique_email, user_agent="phone")
    sessions = (await client.get(f"{AUTH}/sessions", headers=bearer(laptop))).json()
    phone_id = next(entry["id"] for entry in sessions if entry["user_agent"] == "phone")

    response = await client.delete(f"{AUTH}/sessions/{phone_id}", headers=bearer(laptop))

    assert response.status_code == 204
    assert not await is_signed_in(client, lost_phone)
    assert (await refresh(client, lost_phone)).status_code == 401
    assert await is_signed_in(client, laptop)
    again = await client.delete(f"{AUTH}/sessions/{phone_id}", headers=bearer(laptop))
    assert again.status_code == 404


async def test_a_session_of_another_user_cannot_be_ended(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    mine = await sign_in(client, unique_email)
    await register(client, f"other-{unique_email}")
    theirs = await sign_in(client, f"other-{unique_email}")
    their_id = (await client.get(f"{AUTH}/sessions", headers=bearer(theirs))).json()[0]["id"]

    response = await client.delete(f"{AUTH}/sessions/{their_id}", headers=bearer(mine))

    assert response.status_code == 404
    assert await is_signed_in(client, theirs)


async def test_changing_the_password_ends_the_other_sessions(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    here, elsewhere = await sign_in(client, unique_email), await sign_in(client, unique_email)
    new_password = "a new password for sure"

    response = await client.post(
        f"{AUTH}/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(here),
    )

    assert response.status_code == 204
    assert await is_signed_in(client, here)
    assert not await is_signed_in(client, elsewhere)
    assert (await refresh(client, elsewhere)).status_code == 401
    old = await client.post(f"{AUTH}/login", data={"username": unique_email, "password": PASSWORD})
    assert old.status_code == 401
    assert await sign_in(client, unique_email, new_password)


async def test_changing_the_password_needs_the_current_one(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    here, elsewhere = await sign_in(client, unique_email), await sign_in(client, unique_email)

    response = await client.post(
        f"{AUTH}/password",
        json={"current_password": "not the password", "new_password": "a new password"},
        headers=bearer(here),
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "The current password is wrong"}
    assert await is_signed_in(client, elsewhere)
    assert await sign_in(client, unique_email, PASSWORD)


async def test_purge_deletes_only_sessions_that_can_no_longer_be_used(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    going, ended, expired = [await sign_in(client, unique_email) for _ in range(3)]
    rotated = await refreshed(client, going)
    await log_out(client, ended)
    await expire(client, expired)

    async with SessionFactory() as session:
        await purge_ended_sessions(session)
        left = set(
            await session.scalars(
                select(RefreshToken.token_hash).where(
                    RefreshToken.token_hash.in_(
                        [token_digest(t["refresh_token"]) for t in (going, rotated, ended, expired)]
                    )
                )
            )
        )

    # The replaced token stays until it expires: presented again, it still ends the session.
    assert left == {token_digest(going["refresh_token"]), token_digest(rotated["refresh_token"])}
    assert await is_signed_in(client, rotated)
