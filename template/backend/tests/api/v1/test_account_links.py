"""Verified and changed addresses and password resets, through the API; the links' tokens made here
as the worker makes them (`tests/e2e/test_welcome_email_flow.py` takes them from real emails)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update

from app.core.security import link_token, token_digest
from app.db.session import SessionFactory
from app.models.account_token import (
    CHANGE_EMAIL,
    RESET_PASSWORD,
    VERIFY_EMAIL,
    AccountToken,
    purge_spent_links,
)
from app.models.outbox_message import OutboxMessage
from app.models.user import User
from tests.support.users import PASSWORD, assert_ended, bearer, register, sign_in

AUTH = "/api/v1/auth"
UNUSABLE = {"detail": "This link is invalid or has expired; ask for a new one"}
NEW_PASSWORD = "a brand new password"


async def issue(
    email: str,
    purpose: str,
    valid_for: timedelta = timedelta(hours=1),
    sent_to: str | None = None,
) -> str:
    """A link's token for the user with `email`, sent to `sent_to` (else `email`), stored as the
    worker stores it."""
    token_id = str(uuid.uuid4())
    async with SessionFactory() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        session.add(
            AccountToken(
                id=token_id,
                user_id=user_id,
                purpose=purpose,
                email=sent_to or email,
                token_hash=token_digest(link_token(token_id)),
                expires_at=datetime.now(UTC) + valid_for,
            )
        )
        await session.commit()
    return link_token(token_id)


async def login_status(client: AsyncClient, email: str, password: str = PASSWORD) -> int:
    response = await client.post(f"{AUTH}/login", data={"username": email, "password": password})
    return response.status_code


async def test_login_waits_for_the_address_to_be_verified(
    client: AsyncClient, unique_email: str
) -> None:
    user = await register(client, unique_email, verified=False)
    assert user["email_verified_at"] is None

    refused = await client.post(
        f"{AUTH}/login", data={"username": unique_email, "password": PASSWORD}
    )
    verified = await client.post(
        f"{AUTH}/verify-email", json={"token": await issue(unique_email, VERIFY_EMAIL)}
    )

    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Verify your email address first")
    assert verified.status_code == 204
    tokens = await sign_in(client, unique_email)
    me = (await client.get(f"{AUTH}/me", headers=bearer(tokens))).json()
    assert me["email_verified_at"] is not None


async def test_a_wrong_password_is_refused_before_verification_is_mentioned(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email, verified=False)

    assert await login_status(client, unique_email, "not the password") == 401


async def test_unverified_accounts_log_in_where_the_setting_allows(
    client: AsyncClient, unique_email: str, setting: Callable[[str, str], None]
) -> None:
    setting("LOGIN_REQUIRES_VERIFIED_EMAIL", "false")
    await register(client, unique_email, verified=False)

    assert await login_status(client, unique_email) == 200


@pytest.mark.parametrize(
    ("path", "task"),
    [
        ("password-reset", "emails.send_password_reset_email"),
        ("verify-email/resend", "emails.send_verification_email"),
    ],
)
async def test_requests_for_an_email_answer_alike_and_queue_alike_for_unknown_addresses(
    client: AsyncClient, unique_email: str, empty_outbox: None, path: str, task: str
) -> None:
    """The dummy path: whether or not an account has the address, the API queues the same task
    for it, and the worker alone looks the account up."""
    user = await register(client, unique_email, verified=False)
    unknown = f"nobody-{unique_email}"

    answers = [
        await client.post(f"{AUTH}/{path}", json={"email": email})
        for email in (unique_email.upper(), unknown)
    ]

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    async with SessionFactory() as session:
        queued = await session.scalars(
            select(OutboxMessage.args).where(OutboxMessage.task_name == task)
        )
        links = await session.scalars(
            select(AccountToken.id).where(AccountToken.user_id == user["id"])
        )
    assert sorted(queued) == sorted([[unique_email], [unknown]])
    assert links.first() is None, "The API made a link itself"


async def expire(email: str, purpose: str) -> str:
    return await issue(email, purpose, valid_for=timedelta(seconds=-1))


async def use(email: str, purpose: str) -> str:
    token = await issue(email, purpose)
    async with SessionFactory() as session:
        await session.execute(
            update(AccountToken)
            .where(AccountToken.token_hash == token_digest(token))
            .values(used_at=datetime.now(UTC))
        )
        await session.commit()
    return token


async def tamper(email: str, purpose: str) -> str:
    token = await issue(email, purpose)
    return ("B" if token[0] == "A" else "A") + token[1:]


async def invent(email: str, purpose: str) -> str:
    return link_token(str(uuid.uuid4()))


async def other_purpose(email: str, purpose: str) -> str:
    return await issue(email, RESET_PASSWORD if purpose == VERIFY_EMAIL else VERIFY_EMAIL)


SPOILERS: dict[str, Callable[[str, str], Awaitable[str]]] = {
    "expired": expire,
    "used": use,
    "tampered": tamper,
    "never issued": invent,
    "made for the other purpose": other_purpose,
}


@pytest.mark.parametrize("spoil", SPOILERS.values(), ids=SPOILERS.keys())
@pytest.mark.parametrize(
    ("path", "purpose", "extra"),
    [
        ("verify-email", VERIFY_EMAIL, {}),
        ("password-reset/confirm", RESET_PASSWORD, {"new_password": NEW_PASSWORD}),
        ("email/confirm", CHANGE_EMAIL, {}),
    ],
)
async def test_link_tokens_that_cannot_be_used_are_refused_alike(
    client: AsyncClient,
    unique_email: str,
    spoil: Callable[[str, str], Awaitable[str]],
    path: str,
    purpose: str,
    extra: dict[str, Any],
) -> None:
    await register(client, unique_email, verified=False)
    token = await spoil(unique_email, purpose)

    response = await client.post(f"{AUTH}/{path}", json={"token": token, **extra})

    assert response.status_code == 400
    assert response.json() == UNUSABLE
    assert await login_status(client, unique_email) == 403, "Something was changed anyway"


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    sessions = [await sign_in(client, unique_email) for _ in range(2)]
    token, older_token = [await issue(unique_email, RESET_PASSWORD) for _ in range(2)]

    reset = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert reset.status_code == 204
    await assert_ended(client, sessions)
    assert await login_status(client, unique_email) == 401
    assert await login_status(client, unique_email, NEW_PASSWORD) == 200
    for used_or_void in (token, older_token):
        again = await client.post(
            f"{AUTH}/password-reset/confirm",
            json={"token": used_or_void, "new_password": "yet another password"},
        )
        assert again.status_code == 400


async def test_a_reset_link_verifies_the_address_it_reached(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email, verified=False)
    token = await issue(unique_email, RESET_PASSWORD)

    await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert await login_status(client, unique_email, NEW_PASSWORD) == 200


async def test_a_link_sent_to_an_address_the_account_no_longer_has_is_refused(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email, verified=False)
    new_email = f"new-{unique_email}"
    verify, reset = [
        await issue(unique_email, purpose) for purpose in (VERIFY_EMAIL, RESET_PASSWORD)
    ]
    change = await issue(unique_email, CHANGE_EMAIL, sent_to=new_email)

    changed = await client.post(f"{AUTH}/email/confirm", json={"token": change})
    verified = await client.post(f"{AUTH}/verify-email", json={"token": verify})
    reset_answer = await client.post(
        f"{AUTH}/password-reset/confirm", json={"token": reset, "new_password": NEW_PASSWORD}
    )

    assert changed.status_code == 204
    assert (verified.status_code, reset_answer.status_code) == (400, 400)
    assert await login_status(client, new_email) == 200, "The change did not verify the new address"


async def test_purge_deletes_only_links_that_can_no_longer_be_used(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email, verified=False)
    await expire(unique_email, VERIFY_EMAIL)
    await use(unique_email, VERIFY_EMAIL)
    usable = await issue(unique_email, VERIFY_EMAIL)

    async with SessionFactory() as session:
        await purge_spent_links(session)
        left = set(
            await session.scalars(
                select(AccountToken.token_hash).join(User).where(User.email == unique_email)
            )
        )

    assert left == {token_digest(usable)}
