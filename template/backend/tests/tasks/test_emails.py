"""The email task, run by a real worker process on the real broker, database and SMTP."""

import asyncio

from app.tasks.emails import send_welcome_email
from tests.support.mailbox import Mailbox
from tests.support.processes import WorkerProcess
from tests.support.users import create_user
from tests.support.waiting import task_result


async def run_welcome_email(user_id: int) -> None:
    """Send the task and wait until it has run. The task stores no result of its own; this call
    asks for one, so that its end can be waited on."""
    result = send_welcome_email.apply_async((user_id,), ignore_result=False)
    await asyncio.to_thread(task_result, result)


async def test_sends_the_welcome_email_to_the_user(
    worker: WorkerProcess, mailbox: Mailbox, unique_email: str
) -> None:
    user = await create_user(unique_email, "Grace Hopper")

    send_welcome_email.delay(user.id)

    message = await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert message["Subject"] == "Welcome!"
    assert "Hello Grace Hopper," in message.get_content()
    assert len(mailbox.to(unique_email)) == 1


async def test_skips_a_user_that_no_longer_exists(worker: WorkerProcess) -> None:
    await run_welcome_email(2_000_000_000)


async def test_a_second_delivery_sends_nothing(
    worker: WorkerProcess, mailbox: Mailbox, unique_email: str
) -> None:
    """Late acknowledgement can deliver a task twice; the user still gets one email."""
    user = await create_user(unique_email)

    for _ in range(2):
        await run_welcome_email(user.id)

    assert len(mailbox.to(unique_email)) == 1
