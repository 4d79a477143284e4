"""The seed flow: POST /register, the relay, a worker process runs send_welcome_email, SMTP."""

import asyncio
import uuid

from httpx import AsyncClient

from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess, WorkerProcess
from tests.support.users import welcome_emails_marked_sent
from tests.support.waiting import eventually


async def test_registering_sends_a_welcome_email_through_the_worker(
    client: AsyncClient,
    relay: RelayProcess,
    worker: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": unique_email,
            "password": "correct horse battery",
            "full_name": "Alan Turing",
        },
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]

    message = await asyncio.to_thread(mailbox.wait_for, unique_email, 30)

    assert message["Subject"] == "Welcome!"
    assert "Hello Alan Turing," in message.get_content()

    await eventually(
        lambda: welcome_emails_marked_sent([unique_email]),
        f"User {user_id} was not marked as welcomed",
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
    line = f"Welcome email sent to user {user_id}"
    await asyncio.to_thread(worker.wait_for_log, line, 30)
    [logged] = [entry for entry in worker.log.splitlines() if line in entry]
    assert f"[{request_id}]" in logged
