"""A countdown longer than a worker may hold a task unacknowledged: it waits in the outbox instead.

Celery sends a countdown to the broker at once, and a worker holds the message, unacknowledged,
until it is due; held past the broker's limit, it is handed out again and runs twice. Through the
outbox, nothing reaches the broker or a worker before the task is due.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from app.db.session import SessionFactory
from app.models.outbox_message import OutboxMessage
from app.services.outbox import enqueue_on_commit
from app.tasks.emails import send_welcome_email
from app.worker.celery_app import celery_app
from tests.faults.conftest import REDELIVERY_SECONDS, StartWorker
from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess
from tests.support.users import create_user

COUNTDOWN = REDELIVERY_SECONDS + 2


async def test_a_long_countdown_waits_in_the_outbox_and_runs_once_when_due(
    relay: RelayProcess, start_worker: StartWorker, mailbox: Mailbox, unique_email: str
) -> None:
    worker = start_worker()
    user = await create_user(unique_email)
    async with SessionFactory() as session:
        task_id = enqueue_on_commit(session, send_welcome_email.s(user.id).set(countdown=COUNTDOWN))
        await session.commit()
    due = datetime.now(UTC) + timedelta(seconds=COUNTDOWN)

    # Until it is due: a row of the outbox, and nothing in the hands of the worker. The worker
    # consumes the emails queue, so a message of it in the broker would reach the worker in
    # milliseconds; the queue itself may briefly hold other tests' emails, which it drains.
    deadline = time.monotonic() + COUNTDOWN - 2
    while time.monotonic() < deadline:
        async with SessionFactory() as session:
            assert await session.get(OutboxMessage, task_id) is not None
        # Asked of this test's worker alone: other test runs' workers may share the broker.
        inspect = celery_app.control.inspect([worker.hostname], timeout=1)
        held = await asyncio.to_thread(inspect.query_task, task_id)
        assert held == {worker.hostname: {}}, held
        await asyncio.sleep(0.5)

    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert datetime.now(UTC) >= due
    assert len(mailbox.to(unique_email)) == 1
