"""The email task, run by a real worker (in a thread) on the real broker, database and SMTP."""

import asyncio
import time

import pytest
from celery.worker import WorkController

from app.tasks.emails import send_welcome_email
from tests.support.mailbox import Mailbox
from tests.support.users import create_user


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 30) -> None:
    """Until the worker has logged `text`: the welcome email stores no result to wait on."""
    deadline = time.monotonic() + timeout
    while text not in caplog.text:
        assert time.monotonic() < deadline, f"The worker did not log {text!r}:\n{caplog.text}"
        time.sleep(0.05)


async def test_sends_the_welcome_email_to_the_user(
    celery_worker: WorkController, mailbox: Mailbox, unique_email: str
) -> None:
    user = await create_user(unique_email, "Grace Hopper")

    send_welcome_email.delay(user.id)

    message = await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert message["Subject"] == "Welcome!"
    assert "Hello Grace Hopper," in message.get_content()
    assert len(mailbox.to(unique_email)) == 1


async def test_skips_a_user_that_no_longer_exists(
    celery_worker: WorkController, caplog: pytest.LogCaptureFixture
) -> None:
    send_welcome_email.delay(2_000_000_000)

    await asyncio.to_thread(wait_for_log, caplog, "Welcome email for user 2000000000 skipped")


async def test_a_second_delivery_sends_nothing(
    celery_worker: WorkController,
    mailbox: Mailbox,
    unique_email: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Late acknowledgement can deliver a task twice; the user still gets one email."""
    user = await create_user(unique_email)

    for _ in range(2):
        send_welcome_email.delay(user.id)

    await asyncio.to_thread(wait_for_log, caplog, f"Welcome email for user {user.id} skipped")
    assert len(mailbox.to(unique_email)) == 1
