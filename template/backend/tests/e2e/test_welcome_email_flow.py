"""The seed flow: POST /register -> a worker process runs send_welcome_email -> SMTP delivers."""

import asyncio
import uuid

from httpx import AsyncClient

from tests.conftest import WorkerProcess
from tests.support.mailbox import Mailbox


async def test_registering_sends_a_welcome_email_through_the_worker(
    client: AsyncClient, worker_process: WorkerProcess, mailbox: Mailbox, unique_email: str
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
    await asyncio.to_thread(
        worker_process.wait_for_log, f"Welcome email sent to user {user_id}", 10
    )
    assert "send_welcome_email" in worker_process.log


async def test_the_request_id_follows_the_request_into_the_worker_log(
    client: AsyncClient, worker_process: WorkerProcess, mailbox: Mailbox, unique_email: str
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
    line = f"Welcome email sent to user {user_id}"
    await asyncio.to_thread(worker_process.wait_for_log, line, 30)
    [logged] = [entry for entry in worker_process.log.splitlines() if line in entry]
    assert f"[{request_id}]" in logged
