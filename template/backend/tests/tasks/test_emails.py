"""The email tasks, run by a real worker process on the real broker, database and SMTP."""

import asyncio
import uuid

from sqlalchemy import delete, select

from app.core.security import token_digest
from app.db.session import SessionFactory
from app.models.account_token import AccountToken
from app.models.sent_email import SentEmail
from app.tasks.emails import send_password_reset_email, send_welcome_email
from tests.support.mailbox import Mailbox, link_token_of, text_of
from tests.support.processes import WorkerProcess
from tests.support.users import create_user
from tests.support.waiting import eventually, task_result


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
    assert "Hello Grace Hopper," in text_of(message)
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


async def test_a_reset_email_sent_again_after_a_crash_carries_the_same_link(
    worker: WorkerProcess, mailbox: Mailbox, unique_email: str
) -> None:
    """A worker killed after the SMTP server took the email, before the record of it committed:
    the task is delivered again and sends again, with the link already sent, not a second one."""
    await create_user(unique_email)
    task_id = str(uuid.uuid4())
    first_run = send_password_reset_email.apply_async(
        (unique_email,), task_id=task_id, ignore_result=False
    )
    await asyncio.to_thread(task_result, first_run)
    # What the crash leaves: the email sent, the record of it never committed.
    async with SessionFactory() as session:
        await session.execute(delete(SentEmail).where(SentEmail.key == f"reset:{task_id}"))
        await session.commit()

    send_password_reset_email.apply_async((unique_email,), task_id=task_id)

    await eventually(lambda: _received(mailbox, unique_email, 2), "The task did not send again", 30)
    first, second = mailbox.to(unique_email)
    assert link_token_of(first) == link_token_of(second)
    async with SessionFactory() as session:
        stored = await session.scalar(
            select(AccountToken).where(
                AccountToken.token_hash == token_digest(link_token_of(first))
            )
        )
    assert stored is not None
    assert stored.used_at is None


async def _received(mailbox: Mailbox, recipient: str, count: int) -> bool:
    return len(mailbox.to(recipient)) >= count
