"""Changing the account's address and deleting the account, through the API."""

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select, update

from app.db.session import SessionFactory
from app.models.account_token import CHANGE_EMAIL, RESET_PASSWORD
from app.models.auth_session import AuthSession
from app.models.outbox_message import OutboxMessage
from app.models.user import INACTIVE_USER_RETENTION, User, purge_old_inactive_users
from tests.api.v1.test_account_links import issue, login_status
from tests.support.users import PASSWORD, assert_ended, bearer, register, sign_in

AUTH = "/api/v1/auth"
CHANGE_TASKS = ["emails.send_email_change_email", "emails.send_email_change_notice"]


async def queued(task_names: list[str]) -> list[tuple[str, list[object]]]:
    async with SessionFactory() as session:
        rows = await session.execute(
            select(OutboxMessage.task_name, OutboxMessage.args)
            .where(OutboxMessage.task_name.in_(task_names))
            .order_by(OutboxMessage.task_name)
        )
    return [(name, args) for name, args in rows]


async def test_an_email_change_takes_the_password_and_queues_a_link_and_a_notice(
    client: AsyncClient, unique_email: str, empty_outbox: None
) -> None:
    user = await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    new_email = f"new-{unique_email}"

    wrong = await client.post(
        f"{AUTH}/email",
        json={"new_email": new_email, "password": "not the password"},
        headers=bearer(tokens),
    )
    assert wrong.status_code == 403
    assert await queued(CHANGE_TASKS) == []

    asked = await client.post(
        f"{AUTH}/email",
        json={"new_email": new_email.upper(), "password": PASSWORD},
        headers=bearer(tokens),
    )

    assert asked.status_code == 202
    assert await queued(CHANGE_TASKS) == [(name, [user["id"], new_email]) for name in CHANGE_TASKS]
    me = (await client.get(f"{AUTH}/me", headers=bearer(tokens))).json()
    assert me["email"] == unique_email, "The address changed before its link was used"


async def test_an_email_change_to_an_address_with_an_account_is_refused(
    client: AsyncClient, unique_email: str
) -> None:
    taken = f"taken-{unique_email}"
    await register(client, taken)
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)

    response = await client.post(
        f"{AUTH}/email", json={"new_email": taken, "password": PASSWORD}, headers=bearer(tokens)
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


async def test_a_change_link_moves_the_account_to_the_new_address_once(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    new_email = f"new-{unique_email}"
    token, other_request = [
        await issue(unique_email, CHANGE_EMAIL, sent_to=address)
        for address in (new_email, f"other-{unique_email}")
    ]

    changed = await client.post(f"{AUTH}/email/confirm", json={"token": token})

    assert changed.status_code == 204
    me = (await client.get(f"{AUTH}/me", headers=bearer(tokens))).json()
    assert me["email"] == new_email
    assert await login_status(client, new_email) == 200
    assert await login_status(client, unique_email) == 401
    for used_or_void in (token, other_request):
        again = await client.post(f"{AUTH}/email/confirm", json={"token": used_or_void})
        assert again.status_code == 400


async def test_a_change_link_to_an_address_taken_since_changes_nothing(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    new_email = f"new-{unique_email}"
    token = await issue(unique_email, CHANGE_EMAIL, sent_to=new_email)
    await register(client, new_email)

    response = await client.post(f"{AUTH}/email/confirm", json={"token": token})

    assert response.status_code == 409
    assert await login_status(client, unique_email) == 200


async def test_deleting_the_account_takes_the_password_and_ends_everything_at_once(
    client: AsyncClient, unique_email: str
) -> None:
    await register(client, unique_email)
    sessions = [await sign_in(client, unique_email) for _ in range(2)]
    reset_link = await issue(unique_email, RESET_PASSWORD)

    wrong = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": "nope"}, headers=bearer(sessions[0])
    )
    assert wrong.status_code == 403
    assert (await client.get(f"{AUTH}/me", headers=bearer(sessions[0]))).status_code == 200

    deleted = await client.request(
        "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=bearer(sessions[0])
    )

    assert deleted.status_code == 204
    await assert_ended(client, sessions)
    assert await login_status(client, unique_email) == 401
    reset = await client.post(
        f"{AUTH}/password-reset/confirm",
        json={"token": reset_link, "new_password": "a password to take over with"},
    )
    assert reset.status_code == 400
    # The address stays taken until the account is purged: no one else can claim it meanwhile.
    again = await client.post(
        f"{AUTH}/register", json={"email": unique_email, "password": "another password"}
    )
    assert again.status_code == 409


async def test_deleted_accounts_are_purged_with_their_sessions_after_the_retention(
    client: AsyncClient, unique_email: str
) -> None:
    ids = {}
    for email in (f"old-{unique_email}", unique_email):
        ids[email] = (await register(client, email))["id"]
        tokens = await sign_in(client, email)
        deleted = await client.request(
            "DELETE", "/api/v1/users/me", json={"password": PASSWORD}, headers=bearer(tokens)
        )
        assert deleted.status_code == 204
    old_id = ids[f"old-{unique_email}"]
    async with SessionFactory() as session:
        await session.execute(
            update(User)
            .where(User.id == old_id)
            .values(created_at=datetime.now(UTC) - INACTIVE_USER_RETENTION - timedelta(days=1))
        )
        await session.commit()

        await purge_old_inactive_users(session)

        remaining = await session.scalars(select(User.id).where(User.id.in_(ids.values())))
        sessions = await session.scalars(
            select(AuthSession.user_id).where(AuthSession.user_id.in_(ids.values()))
        )
        assert set(remaining) == {ids[unique_email]}
        assert set(sessions) == {ids[unique_email]}
