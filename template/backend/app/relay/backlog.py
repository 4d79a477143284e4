"""What waits, as the relay's gauges: the outbox, the dead letters and each broker queue.

Read by the relay, which has the database and the broker at hand, while metrics are served
(`METRICS_PORT`); several relays report the same. The age is that of the longest-due row, so
tasks waiting out a countdown do not look stuck.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from kombu import Queue
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.config import get_settings
from app.core.logging import get_logger
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage
from app.worker.celery_app import queue_names

logger = get_logger(__name__)


def queued_messages(celery: Celery) -> dict[str, int]:
    """Messages waiting in each of the project's queues, by name (not those a worker holds)."""
    prefix = get_settings().celery_key_prefix
    with celery.connection_for_write() as connection:
        # Once: a broker that is down fails this reading instead of being waited for.
        connection.ensure_connection(max_retries=1)
        counts: dict[str, int] = {}
        for name in queue_names():
            # A declaration answers (name, messages, consumers); kombu types it str | None.
            queue = Queue(f"{prefix}{name}").bind(connection.default_channel)
            declared: Any = queue.queue_declare()
            counts[name] = declared.message_count
        return counts


async def report_backlog(
    session_factory: Callable[[], AsyncSession], celery: Celery, every_seconds: float
) -> None:
    """Refresh the gauges every `every_seconds` until cancelled; what cannot be read keeps its
    last value (the database or the broker is down, which other alerts tell)."""
    while True:
        try:
            now = datetime.now(UTC)
            async with session_factory() as session:
                waiting, longest_due = (
                    await session.execute(
                        select(
                            func.count(),
                            func.min(OutboxMessage.due_at).filter(OutboxMessage.due_at <= now),
                        )
                    )
                ).one()
                letters = await session.scalar(select(func.count()).select_from(DeadLetter))
            metrics.OUTBOX_MESSAGES.set(waiting)
            if longest_due is None:
                metrics.OUTBOX_OLDEST_AGE.set(0)
            else:  # timestamps are stored in UTC
                metrics.OUTBOX_OLDEST_AGE.set(
                    (now - longest_due.replace(tzinfo=UTC)).total_seconds()
                )
            metrics.DEAD_LETTERS.set(letters or 0)
        except Exception as exc:
            logger.warning("Outbox figures not read: %r", exc)
        try:
            for queue, count in (await asyncio.to_thread(queued_messages, celery)).items():
                metrics.QUEUE_MESSAGES.labels(queue).set(count)
        except Exception as exc:
            logger.warning("Queue lengths not read: %r", exc)
        await asyncio.sleep(every_seconds)
