"""Example tasks run by a real worker (in a thread) on the real broker, database and SMTP."""

import asyncio

import pytest
from celery.worker import WorkController

from app.tasks.example_task import run_example_job, send_welcome_email
from tests.support.mailbox import Mailbox
from tests.support.users import create_user


async def test_sends_the_welcome_email_to_the_user(
    celery_worker: WorkController, mailbox: Mailbox, unique_email: str
) -> None:
    user = await create_user(unique_email, "Grace Hopper")

    result = send_welcome_email.delay(user.id)
    await asyncio.to_thread(result.get, timeout=30)

    message = await asyncio.to_thread(mailbox.wait_for, unique_email, 5)
    assert message["Subject"] == "Welcome!"
    assert "Hello Grace Hopper," in message.get_content()
    assert len(mailbox.to(unique_email)) == 1


async def test_skips_a_user_that_no_longer_exists(
    celery_worker: WorkController, caplog: pytest.LogCaptureFixture
) -> None:
    result = send_welcome_email.delay(2_000_000_000)
    await asyncio.to_thread(result.get, timeout=30)

    assert result.successful()
    assert "Welcome email for user 2000000000 skipped" in caplog.text


async def test_a_second_delivery_sends_nothing(
    celery_worker: WorkController, mailbox: Mailbox, unique_email: str
) -> None:
    """Late acknowledgement can deliver a task twice; the user still gets one email."""
    user = await create_user(unique_email)

    for _ in range(2):
        await asyncio.to_thread(send_welcome_email.delay(user.id).get, timeout=30)

    assert len(mailbox.to(unique_email)) == 1


async def test_the_example_job_returns_its_result(
    celery_worker: WorkController,
) -> None:
    result = run_example_job.delay(7, 2)

    assert await asyncio.to_thread(result.get, timeout=30) == {"user_id": 7, "steps": 2}
