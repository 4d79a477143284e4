"""A failing mail server: temporary errors are retried to one email, final ones set it aside."""

import asyncio
import time
import uuid

from httpx import AsyncClient
from sqlalchemy import select

from app.db.session import SessionFactory
from app.models.dead_letter import DeadLetter
from app.services.outbox import resend
from tests.faults.conftest import StartWorker
from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess
from tests.support.users import PASSWORD, welcome_emails_marked_sent
from tests.support.waiting import eventually


async def register(client: AsyncClient, email: str, request_id: str) -> int:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


async def test_temporary_smtp_failures_are_retried_until_one_email_is_delivered(
    client: AsyncClient,
    relay: RelayProcess,
    mailbox: Mailbox,
    start_worker: StartWorker,
    unique_email: str,
) -> None:
    start_worker()
    mailbox.fail(unique_email, times=2, reply="421 4.3.2 Service busy, try again later")

    user_id = await register(client, unique_email, uuid.uuid4().hex)

    await asyncio.to_thread(mailbox.wait_for, unique_email, 60)

    await eventually(
        lambda: welcome_emails_marked_sent([unique_email]),
        f"User {user_id} was not marked as welcomed",
        seconds=10,
    )
    assert len(mailbox.to(unique_email)) == 1
    assert mailbox.attempts[unique_email] == 3


async def dead_letter_for(user_id: int) -> DeadLetter:
    deadline = time.monotonic() + 30
    while True:
        async with SessionFactory() as session:
            letters = await session.scalars(
                select(DeadLetter).where(DeadLetter.task_name == "emails.send_welcome_email")
            )
            for letter in letters:
                if letter.args == [user_id]:
                    return letter
        assert time.monotonic() < deadline, f"No dead letter for user {user_id} within 30 s"
        await asyncio.sleep(0.1)


async def test_a_permanent_smtp_failure_is_logged_with_the_user_and_request_and_not_retried(
    client: AsyncClient,
    relay: RelayProcess,
    mailbox: Mailbox,
    start_worker: StartWorker,
    unique_email: str,
) -> None:
    worker = start_worker()
    mailbox.fail(unique_email, times=1, reply="550 5.1.1 No such mailbox")
    request_id = uuid.uuid4().hex

    user_id = await register(client, unique_email, request_id)

    # Set aside after a single try: a retry would have tried the mail server again first.
    await dead_letter_for(user_id)
    assert mailbox.attempts[unique_email] == 1
    assert mailbox.to(unique_email) == []
    # The project's own log line, where an operator looks for the failed request.
    failure = f"Welcome email for user {user_id} failed for good, not retried"
    await asyncio.to_thread(worker.wait_for_log, failure, 10)
    [logged] = [line for line in worker.log.splitlines() if failure in line]
    assert f"[{request_id}]" in logged
    assert "550" in logged


async def test_an_email_set_aside_is_sent_once_when_resent(
    client: AsyncClient,
    relay: RelayProcess,
    mailbox: Mailbox,
    start_worker: StartWorker,
    unique_email: str,
) -> None:
    start_worker()
    mailbox.fail(unique_email, times=1, reply="550 5.1.1 No such mailbox")
    request_id = uuid.uuid4().hex
    user_id = await register(client, unique_email, request_id)

    letter = await dead_letter_for(user_id)
    assert letter.set_aside_by == "worker"
    assert letter.request_id == request_id
    assert "550" in letter.error
    assert mailbox.to(unique_email) == []

    # The address was fixed: send it again, twice over, as a hurried operator might.
    async with SessionFactory() as session:
        assert await resend(session, [letter.id]) == [letter.id]
    async with SessionFactory() as session:
        assert await resend(session, [letter.id]) == []

    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    async with SessionFactory() as session:
        assert await session.get(DeadLetter, letter.id) is None
    assert len(mailbox.to(unique_email)) == 1
