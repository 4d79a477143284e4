"""Publish the tasks committed to the outbox, once each is due.

Requests only write outbox rows (`app.services.outbox`); this process sends them with Celery, so
no request waits on the broker and a broker outage delays tasks instead of losing them. It wakes
when the API says it committed rows (a Redis message), when the next delayed row falls due, and
every interval in any case, which also paces retries while the broker is down. Several relays may
run: `SKIP LOCKED` keeps two from sending the same row. A relay that dies between publishing a
batch and deleting it sends the batch again, with the same task ids: tasks are written to tolerate
a second delivery.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio
from celery import Celery
from celery.exceptions import NotRegistered
from celery.result import denied_join_result
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.logging import get_logger
from app.core.metrics import TASKS_SENT, TASKS_SET_ASIDE
from app.core.tracing import publishing
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.services.outbox import wakeup_channel
from app.worker.request_id import REQUEST_ID_HEADER

logger = get_logger(__name__)

BATCH_SIZE = 100
LINGER_SECONDS = 0.005
BROKER_ERRORS = (OperationalError, OSError)


class OutboxRelay:
    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        celery: Celery,
        interval_seconds: float,
        max_publish_attempts: int,
        wakeup_url: str,
        heartbeat: Path | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._celery = celery
        self._wakeup_url = wakeup_url
        self._interval = interval_seconds
        self._max_attempts = max_publish_attempts
        self._heartbeat = heartbeat
        self._broker_down = False
        self._stopping = False
        self._idle: asyncio.Task[None] | None = None
        # The earliest due time in the outbox, as the last pass left it.
        self._next_due: datetime | None = None

    async def run(self) -> None:
        """Relay until `stop()`; a lost database connection is retried every interval."""
        logger.info("Outbox relay started")
        wakeups = Wakeups(self._wakeup_url, wakeup_channel())
        await wakeups.listen()
        try:
            while not self._stopping:
                try:
                    await self._relay_until_stopped(wakeups)
                except Exception:
                    # The database is down, or something unexpected: rows stay for the next try.
                    logger.exception("Outbox relay failed; retrying in %s s", self._interval)
                    await self._idle_until(asyncio.sleep(self._interval))
        finally:
            await wakeups.close()
        logger.info("Outbox relay stopped")

    async def _relay_until_stopped(self, wakeups: "Wakeups") -> None:
        while not self._stopping:
            sent = await self.relay_pending()
            while sent == BATCH_SIZE:
                sent = await self.relay_pending()
            if self._heartbeat is not None:
                self._heartbeat.touch()
            if sent:
                # Busy: let the next commits gather, so they go out in one batch rather than a
                # pass each. An idle relay sends a commit at once.
                await self._idle_until(asyncio.sleep(LINGER_SECONDS))
            # A broker that is down is tried again on the interval, not as soon as rows are due.
            wait = self._interval if self._broker_down else self._seconds_until_next_due()
            await self._idle_until(wakeups.wait(wait))

    def stop(self) -> None:
        """Finish the batch in flight, if any, then return from `run()`."""
        self._stopping = True
        if self._idle is not None:
            self._idle.cancel()

    async def _idle_until(self, wakeup: Coroutine[Any, Any, None]) -> None:
        """Wait between batches, where `stop()` may cut the wait short."""
        if self._stopping:
            wakeup.close()
            return
        self._idle = asyncio.create_task(wakeup)
        try:
            await self._idle
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            self._idle = None

    def _seconds_until_next_due(self) -> float:
        # Read by the last pass; a row committed since then comes with a wake-up of its own.
        if self._next_due is None:
            return self._interval
        # Timestamps are stored in UTC.
        wait = (self._next_due.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        # A row due now that this pass left is another relay's (SKIP LOCKED): give it a moment.
        return min(max(wait, LINGER_SECONDS), self._interval)

    async def relay_pending(self) -> int:
        """Publish one batch of due messages, oldest first; returns how many went out."""
        async with self._session_factory() as session, session.begin():
            messages = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.due_at <= datetime.now(UTC))
                .order_by(OutboxMessage.due_at)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
            waiting = messages.all()
            published, failed = self._publish(waiting) if waiting else ([], [])
            if published:
                # The session ends with this transaction: its copies of the rows need no update.
                await session.execute(
                    delete(OutboxMessage).where(OutboxMessage.id.in_(published)),
                    execution_options={"synchronize_session": False},
                )
            for message in failed:
                await self._retry_later_or_set_aside(session, message)
            # In this transaction, not a session of its own: a pass costs one connection checkout.
            self._next_due = await session.scalar(select(func.min(OutboxMessage.due_at)))
        if published and self._broker_down:
            self._broker_down = False
            logger.info("Broker reachable again: outbox relay resumed")
        return len(published)

    def _publish(self, messages: Sequence[OutboxMessage]) -> tuple[list[str], list[OutboxMessage]]:
        """Send each message with Celery, over one connection: the ids that went out, and the
        messages that failed through a fault of their own."""
        published: list[str] = []
        failed: list[OutboxMessage] = []
        # The relay never waits for a result: told so, Celery's result backend does not subscribe
        # to each sent task's result channel (and unsubscribe again) as it would for `.get()`.
        with denied_join_result(), self._celery.producer_or_acquire() as producer:
            for message in messages:
                options = dict(message.options)
                headers = options.pop("headers", None) or {}
                if message.request_id:
                    headers[REQUEST_ID_HEADER] = message.request_id
                try:
                    if message.task_name not in self._celery.tasks:
                        # Sent anyway, the worker would drop it: keep it until a release has it.
                        raise NotRegistered(message.task_name)
                    # The task's own options apply too (its route, whether its result is stored).
                    call = self._celery.signature(
                        message.task_name, message.args, message.kwargs, options
                    )
                    with publishing(message.task_name, headers):
                        # Fail fast: the row stays for the next try.
                        call.apply_async(
                            task_id=message.id, headers=headers, producer=producer, retry=False
                        )
                except BROKER_ERRORS as exc:
                    # Not the message's fault: it stays due, and nothing counts against it.
                    message.last_error = repr(exc)
                    self._report_broker_down(exc)
                    break
                except Exception as exc:
                    # This message alone is at fault; keep it and send the rest.
                    message.publish_attempts += 1
                    message.last_error = repr(exc)
                    failed.append(message)
                    continue
                published.append(message.id)
                TASKS_SENT.labels(message.task_name).inc()
        return published, failed

    async def _retry_later_or_set_aside(
        self, session: AsyncSession, message: OutboxMessage
    ) -> None:
        if message.publish_attempts < self._max_attempts:
            backoff = self._interval * 2 ** (message.publish_attempts - 1)
            message.due_at = datetime.now(UTC) + timedelta(seconds=backoff)
            logger.warning(
                "Outbox message %s (%s) could not be published, try %s of %s: %s",
                message.id,
                message.task_name,
                message.publish_attempts,
                self._max_attempts,
                message.last_error,
            )
            return
        session.add(
            DeadLetter(
                id=message.id,
                task_name=message.task_name,
                args=message.args,
                kwargs=message.kwargs,
                options=message.options,
                request_id=message.request_id,
                set_aside_by="relay",
                error=message.last_error or "",
            )
        )
        await session.delete(message)  # in the same transaction: moved, never lost or doubled
        TASKS_SET_ASIDE.labels(message.task_name).inc()
        logger.error(
            "Outbox message %s (%s) set aside after %s failed tries: %s",
            message.id,
            message.task_name,
            message.publish_attempts,
            message.last_error,
        )

    def _report_broker_down(self, exc: Exception) -> None:
        if not self._broker_down:
            self._broker_down = True
            logger.warning("Broker unavailable, tasks wait in the outbox: %r", exc)


class Wakeups:
    """The API's "rows committed" messages (see `RelayWakeup` in `app.services.outbox`).

    `wait(seconds)` returns when one arrives or after `seconds`. While Redis is away it only
    sleeps, so the relay falls back to its interval; it listens again when Redis is back.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._client = redis.asyncio.Redis.from_url(url)
        self._channel = channel
        self._pubsub: redis.asyncio.client.PubSub | None = None
        self._warned = False

    async def listen(self) -> None:
        """Start listening, before the relay's first pass: no commit after that pass is missed."""
        with contextlib.suppress(RedisError, OSError):
            await self._subscribe()

    async def _subscribe(self) -> None:
        pubsub = self._client.pubsub()
        await pubsub.subscribe(self._channel)
        self._pubsub = pubsub
        self._warned = False

    async def wait(self, seconds: float) -> None:
        try:
            if self._pubsub is None:
                await self._subscribe()
                return  # a pass right away: rows committed while not listening went unannounced
            pubsub = self._pubsub
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                # None on a timeout, and on Redis's own replies (to the subscription, say).
                remaining = deadline - time.monotonic()
                if await pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining):
                    break
            while await pubsub.get_message(ignore_subscribe_messages=True):
                pass  # wake-ups that came together make one pass
        except (RedisError, OSError) as exc:
            await self._reset()
            if not self._warned:
                self._warned = True
                logger.warning("Not woken by commits until Redis is back (%r); polling", exc)
            await asyncio.sleep(seconds)

    async def _reset(self) -> None:
        # The client serves this subscription alone: dropping its connections ends it.
        self._pubsub = None
        with contextlib.suppress(RedisError, OSError):
            await self._client.connection_pool.disconnect()

    async def close(self) -> None:
        await self._reset()
        await self._client.aclose()
