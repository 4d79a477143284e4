"""The outbox relay: a task queued with a change is published once the broker takes it."""

import asyncio
import uuid
from pathlib import Path

import pytest
from celery import Celery
from httpx import AsyncClient
from sqlalchemy import delete, select

from app.db.session import SessionFactory
from app.models.outbox_message import OutboxMessage
from app.services.outbox_relay import OutboxRelay
from app.worker.celery_app import celery_app
from tests.conftest import WorkerProcess
from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess, free_port
from tests.support.users import register


async def pending_for(user_id: int) -> list[OutboxMessage]:
    async with SessionFactory() as session:
        messages = await session.scalars(select(OutboxMessage))
        return [message for message in messages if message.args == [user_id]]


@pytest.mark.usefixtures("paused_outbox_relay")
async def test_registering_writes_the_welcome_email_to_the_outbox(
    client: AsyncClient, unique_email: str
) -> None:
    user = await register(client, unique_email)

    [message] = await pending_for(int(str(user["id"])))
    assert message.task_name == "app.tasks.example_task.send_welcome_email"
    assert message.kwargs == {}
    async with SessionFactory() as session:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.id == message.id))
        await session.commit()


@pytest.mark.usefixtures("paused_outbox_relay")
async def test_a_refused_message_stays_until_the_broker_takes_it(
    client: AsyncClient,
    worker_process: WorkerProcess,
    mailbox: Mailbox,
    unique_email: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await register(client, unique_email)
    user_id = int(str(user["id"]))
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # it would win over `broker=`
    unreachable = Celery(broker=f"redis://127.0.0.1:{free_port()}/0")
    unreachable.conf.broker_connection_timeout = 1
    assert unreachable.conf.broker_url.startswith("redis://127.0.0.1:")

    assert await OutboxRelay(SessionFactory, unreachable, interval_seconds=1).relay_pending() == 0
    [message] = await pending_for(user_id)
    assert message.publish_attempts == 1
    assert message.last_error

    assert await OutboxRelay(SessionFactory, celery_app, interval_seconds=1).relay_pending() >= 1
    assert await pending_for(user_id) == []
    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert len(mailbox.to(unique_email)) == 1


@pytest.mark.usefixtures("paused_outbox_relay")
def test_the_relay_process_stops_between_batches_on_sigterm(tmp_path: Path) -> None:
    relay = RelayProcess(tmp_path / "relay.log")

    relay.stop()

    assert relay.process.returncode == 0
    assert "Outbox relay stopped" in relay.log


@pytest.mark.usefixtures("paused_outbox_relay")
async def test_a_message_that_cannot_be_sent_is_kept_and_holds_up_nothing(
    client: AsyncClient, unique_email: str
) -> None:
    async with SessionFactory() as session:
        session.add(
            OutboxMessage(id=str(uuid.uuid4()), task_name="app.tasks.renamed", args=[], kwargs={})
        )
        await session.commit()
    user = await register(client, unique_email)
    relay = OutboxRelay(SessionFactory, celery_app, interval_seconds=1)

    assert await relay.relay_pending() == 1  # the welcome email
    assert await pending_for(int(str(user["id"]))) == []
    async with SessionFactory() as session:
        [kept] = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == "app.tasks.renamed")
        )
        assert kept.publish_attempts == 1
        assert "app.tasks.renamed" in (kept.last_error or "")
        await session.delete(kept)
        await session.commit()
