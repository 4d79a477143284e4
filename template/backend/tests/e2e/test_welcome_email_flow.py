"""Emails to an account the whole way: the API, the relay, a worker process, an SMTP server. The
welcome email and the link in it that verifies the address; a password reset, and a change of
address, by their emailed links."""

import asyncio
import uuid

from httpx import AsyncClient
from sqlalchemy import func, select

from app.db.session import SessionFactory
from app.models.sent_email import SentEmail
from tests.support.mailbox import Mailbox, link_token_of, text_of
from tests.support.processes import RelayProcess, WorkerProcess
from tests.support.users import (
    PASSWORD,
    assert_ended,
    bearer,
    register,
    sign_in,
    welcome_emails_marked_sent,
)
from tests.support.waiting import eventually

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a brand new password"


async def test_registering_sends_a_welcome_email_whose_link_verifies_the_address(
    client: AsyncClient,
    relay: RelayProcess,
    worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    response = await client.post(
        f"{AUTH}/register",
        json={"email": unique_email, "password": PASSWORD, "full_name": "Alan Turing"},
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]

    message = await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    verified = await client.post(f"{AUTH}/verify-email", json={"token": link_token_of(message)})

    assert message["Subject"] == "Welcome!"
    assert "Hello Alan Turing," in text_of(message)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert link_token_of(message) in str(html.get_content())
    assert verified.status_code == 204
    assert await sign_in(client, unique_email)
    await eventually(
        lambda: welcome_emails_marked_sent([unique_email]),
        f"User {user_id} was not recorded as welcomed",
        seconds=10,
    )


async def test_the_request_id_follows_the_request_into_the_worker_log(
    client: AsyncClient,
    relay: RelayProcess,
    worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    request_id = uuid.uuid4().hex

    response = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email, "password": "correct horse battery"},
        headers={"X-Request-ID": request_id},
    )

    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id
    user_id = response.json()["id"]
    # The project's own log line: an operator follows a request into the worker with it.
    line = f"Welcome email for user {user_id} sent"
    await asyncio.to_thread(worker.wait_for_log, line, 30)
    [logged] = [entry for entry in worker.log.splitlines() if line in entry]
    assert f"[{request_id}]" in logged


async def test_reset_a_forgotten_password_with_the_emailed_link(
    client: AsyncClient,
    relay: RelayProcess,
    worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    await register(client, unique_email)
    old_session = await sign_in(client, unique_email)
    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)  # the welcome email
    unknown = f"nobody-{unique_email}"
    runs_before = await reset_task_runs()

    answers = [
        await client.post(f"{AUTH}/password-reset", json={"email": email})
        for email in (unknown, unique_email)
    ]
    await eventually(
        lambda: has_run(runs_before + 2), "The worker did not run both reset tasks", 30
    )
    [_, reset_email] = mailbox.to(unique_email)
    confirmed = await client.post(
        f"{AUTH}/password-reset/confirm",
        json={"token": link_token_of(reset_email), "new_password": NEW_PASSWORD},
    )

    assert [answer.status_code for answer in answers] == [202, 202]
    assert mailbox.to(unknown) == [], "An address with no account got an email"
    assert reset_email["Subject"] == "Reset your password"
    assert confirmed.status_code == 204
    old = await client.post(f"{AUTH}/login", data={"username": unique_email, "password": PASSWORD})
    assert old.status_code == 401
    assert await sign_in(client, unique_email, NEW_PASSWORD)
    await assert_ended(client, [old_session])


async def reset_task_runs() -> int:
    """Reset tasks that ran to their end, whether they found an account to email or not."""
    async with SessionFactory() as session:
        count = await session.scalar(
            select(func.count()).select_from(SentEmail).where(SentEmail.key.startswith("reset:"))
        )
    return count or 0


async def has_run(count: int) -> bool:
    return await reset_task_runs() >= count


async def test_change_the_address_with_the_link_sent_to_it(
    client: AsyncClient,
    relay: RelayProcess,
    worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    await register(client, unique_email)
    tokens = await sign_in(client, unique_email)
    new_email = f"new-{unique_email}"

    asked = await client.post(
        f"{AUTH}/email", json={"new_email": new_email, "password": PASSWORD}, headers=bearer(tokens)
    )
    link_email = await asyncio.to_thread(mailbox.wait_for, new_email, 30)
    notice = await asyncio.to_thread(mailbox.wait_for, unique_email, 30, 2)  # after the welcome
    before = (await client.get(f"{AUTH}/me", headers=bearer(tokens))).json()
    confirmed = await client.post(
        f"{AUTH}/email/confirm", json={"token": link_token_of(link_email)}
    )
    after = (await client.get(f"{AUTH}/me", headers=bearer(tokens))).json()

    assert asked.status_code == 202
    assert notice["Subject"] == "Your email address is being changed"
    assert new_email in text_of(notice)
    assert link_token_of(link_email) not in notice.as_string(), "The notice carries the link"
    assert before["email"] == unique_email
    assert confirmed.status_code == 204
    assert after["email"] == new_email
    assert await sign_in(client, new_email)
