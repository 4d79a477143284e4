"""Publish the outbox's tasks to the broker, from the API process.

Woken right after a commit that queued something, and on a fixed cadence for whatever the broker
refused while it was down. Publishing runs in a thread with the broker's short timeouts, so the
event loop never waits on the broker. With several API processes, `SKIP LOCKED` (where the
database has it) keeps two relays from sending the same row; a row sent twice anyway (a crash
between publishing and the delete) reaches the worker twice with one task id, which the tasks are
written to tolerate.
"""

import asyncio
import contextlib
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.logging import get_logger
from app.models.outbox_message import OutboxMessage
from app.worker.request_id import REQUEST_ID_HEADER

logger = get_logger(__name__)

BATCH_SIZE = 100
BROKER_ERRORS = (OperationalError, OSError)


class OutboxRelay:
    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        celery: Celery,
        interval_seconds: float,
    ) -> None:
        self._session_factory = session_factory
        self._celery = celery
        self._interval = interval_seconds
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._broker_down = False

    def notify(self) -> None:
        """Something was committed to the outbox: relay it now rather than at the next tick."""
        self._wakeup.set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation
            # that stop() sends, and the relay would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                while await self.relay_pending() == BATCH_SIZE:
                    pass
            except Exception:
                # The database is down, or something unexpected: rows stay, the next tick retries.
                logger.exception("Outbox relay failed; retrying in %s s", self._interval)

    async def relay_pending(self) -> int:
        """Publish waiting messages, oldest first; returns how many went out."""
        published = 0
        async with self._session_factory() as session, session.begin():
            messages = await session.scalars(
                select(OutboxMessage)
                .order_by(OutboxMessage.created_at)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
            for message in messages:
                try:
                    await asyncio.to_thread(self._publish, message)
                except BROKER_ERRORS as exc:
                    message.publish_attempts += 1
                    message.last_error = repr(exc)
                    self._report_broker_down(exc)
                    break
                except Exception as exc:
                    # Not the broker: this message alone is at fault; keep it and send the rest.
                    message.publish_attempts += 1
                    message.last_error = repr(exc)
                    logger.exception("Outbox message %s could not be published", message.id)
                    continue
                await session.delete(message)
                published += 1
        if published and self._broker_down:
            self._broker_down = False
            logger.info("Broker reachable again: outbox relay resumed")
        return published

    def _publish(self, message: OutboxMessage) -> None:
        headers = {REQUEST_ID_HEADER: message.request_id} if message.request_id else {}
        self._celery.send_task(
            message.task_name,
            args=message.args,
            kwargs=message.kwargs,
            task_id=message.id,
            headers=headers,
            # Fail fast (within the broker connection timeout): the row stays for the next tick.
            retry=False,
            # Nobody waits on these results: skip storing them and subscribing to them.
            ignore_result=True,
        )

    def _report_broker_down(self, exc: Exception) -> None:
        if not self._broker_down:
            self._broker_down = True
            logger.warning("Broker unavailable, tasks wait in the outbox: %r", exc)
