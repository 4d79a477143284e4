"""A worker that dies mid-task loses nothing: its tasks run again, and their effect happens once."""

import asyncio
import signal
from contextlib import ExitStack

import psutil
from httpx import AsyncClient

from app.tasks.emails import send_welcome_email
from tests.faults.conftest import REDELIVERY_SECONDS, StartWorker
from tests.support.mailbox import Mailbox, link_token_of
from tests.support.queues import waiting_in_the_emails_queue
from tests.support.users import create_user, welcome_emails_marked_sent
from tests.support.waiting import eventually, wait_until


async def test_tasks_of_a_killed_worker_are_completed_once_by_the_next_one(
    client: AsyncClient, mailbox: Mailbox, start_worker: StartWorker, unique_email: str
) -> None:
    """Killed while sending welcome emails: each user gets one, and its link works (the rerun
    sends the link the first run stored, not a second one)."""
    emails = [f"{index}-{unique_email}" for index in range(3)]
    users = [await create_user(email) for email in emails]
    crashing = start_worker(concurrency=len(emails))
    with ExitStack() as holds:
        for email in emails:
            holds.enter_context(mailbox.holding(email))
        for user in users:
            send_welcome_email.delay(user.id)
        # Every task has been taken, and sending is under way (at least one is at the mailbox).
        await asyncio.to_thread(mailbox.wait_for_waiting, emails, 1, 30)
        await asyncio.to_thread(
            wait_until,
            lambda: waiting_in_the_emails_queue() == 0,
            "The worker did not take every task from the queue",
        )
        crashing.kill()
    assert [mailbox.to(email) for email in emails] == [[], [], []]

    start_worker(concurrency=len(emails))

    async def all_marked_sent() -> bool:
        return await welcome_emails_marked_sent(emails) == len(emails)

    await eventually(
        all_marked_sent, "The next worker did not send every email", REDELIVERY_SECONDS + 30
    )
    assert [len(mailbox.to(email)) for email in emails] == [1, 1, 1]
    for email in emails:
        token = link_token_of(mailbox.to(email)[0])
        verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 204, verified.text


async def test_a_task_whose_pool_process_is_killed_is_run_again(
    mailbox: Mailbox, start_worker: StartWorker, unique_email: str
) -> None:
    user = await create_user(unique_email)
    worker = start_worker(concurrency=2)
    with mailbox.holding(unique_email):
        send_welcome_email.delay(user.id)
        await asyncio.to_thread(mailbox.wait_for_waiting, [unique_email], 1, 30)
        [busy] = [
            child
            for child in psutil.Process(worker.process.pid).children()
            if any(c.raddr and c.raddr.port == mailbox.port for c in child.net_connections("tcp"))
        ]
        busy.send_signal(signal.SIGKILL)
        await asyncio.to_thread(busy.wait, 10)  # dead before its delivery is released

    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert len(mailbox.to(unique_email)) == 1
    assert worker.process.poll() is None  # the worker itself carried on
