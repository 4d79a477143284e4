"""Publish the tasks committed to the outbox: `python -m app.services.outbox_relay`.

Requests only write outbox rows (`app.services.outbox`); this process sends them with Celery, so
no request waits on the broker and a broker outage delays tasks instead of losing them. It wakes
when a transaction that added rows commits (or polls, where the database cannot notify it: see
`app.db.session.notifications`), and retries what the broker refused on a fixed cadence. Several
relays may run: `SKIP LOCKED` (where the database has it) keeps two from sending the same row. A
relay that dies between publishing a batch and deleting it sends the batch again, with the same
task ids: tasks are written to tolerate a second delivery.
"""

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.core.logging import configure_logging, get_logger
from app.db.session import SessionFactory, notifications
from app.models.outbox_message import OutboxMessage
from app.worker.celery_app import celery_app
from app.worker.request_id import REQUEST_ID_HEADER

logger = get_logger(__name__)

BATCH_SIZE = 100
LINGER_SECONDS = 0.005
# What a commit that adds outbox rows notifies (see `notifications` in app.db.session).
CHANNEL = "outbox_messages"
BROKER_ERRORS = (OperationalError, OSError)


class OutboxRelay:
    def __init__(
        self,
        session_factory: Callable[[], AsyncSession],
        celery: Celery,
        interval_seconds: float,
        heartbeat: Path | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._celery = celery
        self._interval = interval_seconds
        self._heartbeat = heartbeat
        self._broker_down = False
        self._stopping = False
        self._idle: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Relay until `stop()`; a lost database connection is retried every interval."""
        logger.info("Outbox relay started")
        while not self._stopping:
            try:
                async with notifications(CHANNEL) as wait_for_commit:
                    while not self._stopping:
                        sent = await self.relay_pending()
                        while sent == BATCH_SIZE:
                            sent = await self.relay_pending()
                        if self._heartbeat is not None:
                            self._heartbeat.touch()
                        if sent:
                            # Busy: let the next commits gather, so they go out in one batch
                            # rather than a pass each. An idle relay sends a commit at once.
                            await self._idle_until(asyncio.sleep(LINGER_SECONDS))
                        await self._idle_until(wait_for_commit(self._interval))
            except Exception:
                # The database is down, or something unexpected: rows stay, the next try sends them.
                logger.exception("Outbox relay failed; retrying in %s s", self._interval)
                await self._idle_until(asyncio.sleep(self._interval))
        logger.info("Outbox relay stopped")

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

    async def relay_pending(self) -> int:
        """Publish one batch of waiting messages, oldest first; returns how many went out."""
        async with self._session_factory() as session, session.begin():
            messages = await session.scalars(
                select(OutboxMessage)
                # Messages that failed go behind the others: a few that always fail (a task
                # renamed since) cannot hold up the rest.
                .order_by(OutboxMessage.publish_attempts, OutboxMessage.created_at)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
            waiting = messages.all()
            if not waiting:
                return 0
            published = self._publish(waiting)
            if published:
                await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(published)))
        if published and self._broker_down:
            self._broker_down = False
            logger.info("Broker reachable again: outbox relay resumed")
        return len(published)

    def _publish(self, messages: Sequence[OutboxMessage]) -> list[str]:
        """Send each message with Celery, over one connection; returns the ids that went out."""
        published: list[str] = []
        with self._celery.producer_or_acquire() as producer:
            for message in messages:
                headers = {REQUEST_ID_HEADER: message.request_id} if message.request_id else {}
                try:
                    # The task's own options apply (its queue, whether its result is stored).
                    self._celery.tasks[message.task_name].apply_async(
                        tuple(message.args),
                        message.kwargs,
                        task_id=message.id,
                        headers=headers,
                        producer=producer,
                        # Fail fast: the row stays for the next try.
                        retry=False,
                    )
                except BROKER_ERRORS as exc:
                    self._record_failure(message, exc)
                    self._report_broker_down(exc)
                    break
                except Exception as exc:
                    # Not the broker: this message alone is at fault; keep it and send the rest.
                    self._record_failure(message, exc)
                    logger.exception("Outbox message %s could not be published", message.id)
                    continue
                published.append(message.id)
        return published

    @staticmethod
    def _record_failure(message: OutboxMessage, exc: Exception) -> None:
        message.publish_attempts += 1
        message.last_error = repr(exc)

    def _report_broker_down(self, exc: Exception) -> None:
        if not self._broker_down:
            self._broker_down = True
            logger.warning("Broker unavailable, tasks wait in the outbox: %r", exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--heartbeat", type=Path, help="a file touched on every pass (for health checks)"
    )
    options = parser.parse_args()
    configure_logging()
    # The tasks' own modules, so each message is sent with its task's options.
    celery_app.loader.import_default_modules()
    relay = OutboxRelay(
        SessionFactory,
        celery_app,
        interval_seconds=get_settings().outbox_relay_interval_seconds,
        heartbeat=options.heartbeat,
    )
    asyncio.run(_serve(relay))


async def _serve(relay: OutboxRelay) -> None:
    # `docker compose stop` sends SIGTERM: stop between batches, so none is sent twice.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relay.stop)
    await relay.run()


if __name__ == "__main__":
    main()
