"""The outbox relay: publishes what was committed once it is due, woken by the API's commits."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from httpx import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.engine import URL

from app.core.config import get_settings
from app.db.session import SessionFactory
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.relay.relay import Wakeups
from app.services.outbox import enqueue_on_commit, wakeup_channel
from app.tasks.emails import send_welcome_email
from tests.support.mailbox import Mailbox
from tests.support.processes import RelayProcess, WorkerProcess, free_port
from tests.support.relay import new_relay
from tests.support.users import register
from tests.support.waiting import eventually, wait_until


async def pending_for(user_id: int) -> list[OutboxMessage]:
    async with SessionFactory() as session:
        messages = await session.scalars(select(OutboxMessage))
        return [message for message in messages if message.args == [user_id]]


async def outbox_holds(task_id: str) -> bool:
    async with SessionFactory() as session:
        return await session.get(OutboxMessage, task_id) is not None


async def queue_unknown_task() -> str:
    task_id = str(uuid.uuid4())
    async with SessionFactory() as session:
        session.add(OutboxMessage(id=task_id, task_name="app.tasks.renamed", args=[], kwargs={}))
        await session.commit()
    return task_id


async def test_registering_writes_the_welcome_email_to_the_outbox(
    client: AsyncClient, unique_email: str
) -> None:
    user = await register(client, unique_email)

    [message] = await pending_for(int(str(user["id"])))
    assert message.task_name == "emails.send_welcome_email"
    assert message.kwargs == {}
    async with SessionFactory() as session:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.id == message.id))
        await session.commit()


def wait_for_a_listener() -> None:
    with redis.Redis.from_url(get_settings().celery_result_backend) as server:
        wait_until(
            lambda: server.pubsub_numsub(wakeup_channel())[0][1], "Nothing listens for wake-ups", 10
        )


async def test_a_commit_that_queued_a_task_wakes_the_relay(database: URL, broker: Celery) -> None:
    """The relay's wait between passes, up to an hour here, ends when such a commit announces it."""
    wakeups = Wakeups(get_settings().celery_result_backend, wakeup_channel())
    try:
        await wakeups.listen()
        await asyncio.to_thread(wait_for_a_listener)
        woken = asyncio.create_task(wakeups.wait(3600))
        async with SessionFactory() as session:
            enqueue_on_commit(session, send_welcome_email.s(2_000_000_000))
            await session.commit()

        done, _ = await asyncio.wait({woken}, timeout=10)
        assert done, "The commit did not wake the relay within 10 s"
    finally:
        await wakeups.close()


async def test_without_wakeups_the_relay_still_sends_within_its_interval(
    broker: Celery, empty_outbox: None, tmp_path: Path
) -> None:
    """Redis away (its address a closed port): a lost wake-up only delays."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    heartbeat = tmp_path / "heartbeat"
    relay = new_relay(interval_seconds=0.5, wakeup_url=closed, heartbeat=heartbeat)
    runner = asyncio.create_task(relay.run())
    try:
        # Past its first pass, the relay waits on its interval alone.
        await asyncio.to_thread(wait_until, heartbeat.exists, "The relay made no pass", 10)
        async with SessionFactory() as session:
            task_id = enqueue_on_commit(session, send_welcome_email.s(2_000_000_000))
            await session.commit()

        async def sent() -> bool:
            return not await outbox_holds(task_id)

        await eventually(sent, "The relay did not send the row on its 0.5 s interval", 10)
    finally:
        relay.stop()
        await runner


async def test_a_refused_message_stays_until_the_broker_takes_it(
    client: AsyncClient,
    empty_outbox: None,
    worker: WorkerProcess,
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
    unreachable.tasks.register(send_welcome_email)  # known there, still sent by its own app

    assert await new_relay(unreachable, max_publish_attempts=1).relay_pending() == 0
    [message] = await pending_for(user_id)
    # The broker's fault, not the message's: kept, and not counted towards setting it aside.
    assert message.last_error
    assert message.publish_attempts == 0

    assert await new_relay().relay_pending() >= 1
    assert await pending_for(user_id) == []
    await asyncio.to_thread(mailbox.wait_for, unique_email, 30)
    assert len(mailbox.to(unique_email)) == 1


async def test_while_the_broker_is_down_the_relay_tries_again_on_its_interval(
    broker: Celery, empty_outbox: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not again as soon as the failed pass ends, though its row is still due."""
    task_id = str(uuid.uuid4())
    # Added as a plain row: `enqueue_on_commit`'s wake-up, published from a thread, could reach
    # the relay during its first pass and rightly start the next one at once.
    async with SessionFactory() as session:
        session.add(
            OutboxMessage(
                id=task_id, task_name=send_welcome_email.name, args=[2_000_000_000], kwargs={}
            )
        )
        await session.commit()
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # it would win over `broker=`
    unreachable = Celery(broker=f"redis://127.0.0.1:{free_port()}/0")
    unreachable.conf.broker_connection_timeout = 1
    unreachable.tasks.register(send_welcome_email)
    relay = new_relay(unreachable, interval_seconds=0.5)
    passes: list[tuple[float, float]] = []
    second_pass = asyncio.Event()
    relay_pending = relay.relay_pending

    async def timed() -> int:
        if passes:
            second_pass.set()
        started = time.monotonic()
        try:
            return await relay_pending()
        finally:
            passes.append((started, time.monotonic()))

    monkeypatch.setattr(relay, "relay_pending", timed)
    runner = asyncio.create_task(relay.run())
    try:
        second = asyncio.create_task(second_pass.wait())
        done, _ = await asyncio.wait({second}, timeout=60)
        assert done, f"The relay made no second pass within 60 s: {passes}"
    finally:
        relay.stop()
        await runner

    assert await outbox_holds(task_id)
    (_, first_ended), (second_started, _) = passes[:2]
    assert second_started - first_ended >= 0.45
    async with SessionFactory() as session:
        await session.delete(await session.get(OutboxMessage, task_id))
        await session.commit()


def test_the_relay_process_stops_between_batches_on_sigterm(
    empty_outbox: None, broker: Celery, tmp_path: Path
) -> None:
    relay = RelayProcess(tmp_path / "relay.log")

    relay.stop()

    assert relay.process.returncode == 0


async def test_a_message_that_cannot_be_sent_is_retried_later_and_holds_up_nothing(
    client: AsyncClient, empty_outbox: None, unique_email: str
) -> None:
    task_id = await queue_unknown_task()
    user = await register(client, unique_email)

    assert await new_relay(interval_seconds=60).relay_pending() == 1  # the welcome email
    assert await pending_for(int(str(user["id"]))) == []
    async with SessionFactory() as session:
        kept = await session.get(OutboxMessage, task_id)
        assert kept is not None
        assert kept.publish_attempts == 1
        assert "app.tasks.renamed" in (kept.last_error or "")
        # Its next try waits: a pass that comes sooner leaves it alone.
        assert kept.due_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(seconds=30)
        await session.delete(kept)
        await session.commit()


async def test_a_message_that_keeps_failing_is_set_aside_once_with_its_error(
    broker: Celery, empty_outbox: None
) -> None:
    task_id = await queue_unknown_task()
    relay = new_relay(interval_seconds=0.01, max_publish_attempts=3)

    for _ in range(3):
        await relay.relay_pending()
        await asyncio.sleep(0.05)  # past the backoff
    await relay.relay_pending()

    assert not await outbox_holds(task_id)
    async with SessionFactory() as session:
        letter = await session.get(DeadLetter, task_id)
        assert letter is not None
        assert letter.set_aside_by == "relay"
        assert letter.task_name == "app.tasks.renamed"
        assert "app.tasks.renamed" in letter.error
        await session.delete(letter)
        await session.commit()


async def test_a_delayed_message_waits_in_the_outbox_until_it_is_due(
    broker: Celery, empty_outbox: None
) -> None:
    async with SessionFactory() as session:
        task_id = enqueue_on_commit(session, send_welcome_email.s(2_000_000_000).set(countdown=1))
        await session.commit()
    relay = new_relay()

    await relay.relay_pending()
    assert await outbox_holds(task_id)

    await asyncio.sleep(1.1)
    await relay.relay_pending()
    assert not await outbox_holds(task_id)
