"""Queue a task in the same transaction as the change that calls for it: `enqueue_on_commit`.

`.delay()` right after a commit blocks the event loop on the broker, and loses the task if the
broker is down or the process dies in between. A row written with the change cannot be lost that
way, and a change that rolls back sends nothing. The relay (`python -m app.relay`, a process of
its own) publishes the row once the transaction has committed and the task is due.

Tasks that could not be published, or that failed for good in the worker, are set aside as dead
letters; `outbox_status`, `dead_letters` and `resend` (run by `python -m app.cli`) look after them.
"""

import contextlib
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from asgi_correlation_id import correlation_id
from celery.canvas import Signature
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.tracing import trace_headers
from app.models.dead_letter import DeadLetter
from app.models.outbox_message import OutboxMessage

# The `apply_async` options a queued call may carry. Countdown and ETA become the row's due time;
# the others are sent with the task.
STORED_OPTIONS = frozenset(
    {"queue", "priority", "expires", "headers", "time_limit", "soft_time_limit"}
)
DELAY_OPTIONS = frozenset({"countdown", "eta"})
# Set on a session whose transaction added outbox rows, so its commit wakes the relay.
_WAKE_RELAY = "outbox.wake_relay"
# A wake-up waits no longer for Redis: a lost one only delays tasks until the relay looks itself.
WAKEUP_TIMEOUT_SECONDS = 2


def enqueue_on_commit(session: AsyncSession, call: Signature[Any]) -> str:
    """Send `call` once the session's transaction commits and the task is due; returns its id.

    `call` is a Celery signature with any options: `send_report.s(user.id).set(countdown=60)`.
    Arguments are stored as JSON, as Celery would send them.
    """
    options = dict(call.options)
    task_id = options.pop("task_id", None) or str(uuid.uuid4())
    unsupported = options.keys() - STORED_OPTIONS - DELAY_OPTIONS
    if call.subtask_type is not None or unsupported:
        raise ValueError(
            f"enqueue_on_commit takes one task's call with {sorted(STORED_OPTIONS | DELAY_OPTIONS)}"
            f" as options, not {call.subtask_type or sorted(unsupported)}"
        )
    message = OutboxMessage(
        id=task_id,
        task_name=call.task,
        args=list(call.args),
        kwargs=dict(call.kwargs),
        request_id=correlation_id.get(),
    )
    due_at = _due_at(options.pop("countdown", None), options.pop("eta", None))
    if due_at is not None:
        message.due_at = due_at
    if traceparent := trace_headers():
        # The relay publishes the task inside the request's trace: see app.core.tracing.
        options["headers"] = {**(options.get("headers") or {}), **traceparent}
    if isinstance(expires := options.get("expires"), int | float):
        # Relative to now, not to whenever the relay sends it.
        options["expires"] = datetime.now(UTC) + timedelta(seconds=expires)
    if isinstance(expires := options.get("expires"), datetime):
        options["expires"] = expires.isoformat()
    message.options = options
    session.add(message)
    session.info[_WAKE_RELAY] = True
    return task_id


def _due_at(countdown: float | None, eta: datetime | None) -> datetime | None:
    if eta is not None:
        if eta.tzinfo is None:
            raise ValueError("eta must be an aware datetime, such as datetime.now(UTC)")
        return eta
    if countdown:
        return datetime.now(UTC) + timedelta(seconds=countdown)
    return None


@event.listens_for(Session, "after_commit")
def _wake_relay_after_commit(session: Session) -> None:
    if session.info.pop(_WAKE_RELAY, False):
        relay_wakeup.send()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_rows(session: Session) -> None:
    session.info.pop(_WAKE_RELAY, None)


def wakeup_channel() -> str:
    """The Redis channel the relay listens on for commits that added rows."""
    return f"{get_settings().celery_key_prefix}outbox"


class RelayWakeup:
    """Tells the relay that rows were committed: a Redis PUBLISH from a thread of this process.

    Requests never wait for it, and wake-ups that come while one is being sent are sent as one.
    The relay also looks for rows on its own every interval, so a lost wake-up is only a delay.
    """

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._owner_pid: int | None = None

    def send(self) -> None:
        if self._owner_pid != os.getpid():  # first use, or a forked child: start its own thread
            self._owner_pid = os.getpid()
            threading.Thread(target=self._publish_forever, name="relay-wakeup", daemon=True).start()
        self._requested.set()

    def _publish_forever(self) -> None:
        client = redis.Redis.from_url(
            get_settings().celery_result_backend,
            socket_timeout=WAKEUP_TIMEOUT_SECONDS,
            socket_connect_timeout=WAKEUP_TIMEOUT_SECONDS,
        )
        channel = wakeup_channel()
        while True:
            self._requested.wait()
            self._requested.clear()
            # Lost, the relay's own interval finds the rows. Traced, each would be a trace alone.
            with contextlib.suppress(redis.RedisError), suppress_instrumentation():
                client.publish(channel, "")


relay_wakeup = RelayWakeup()


async def outbox_status(session: AsyncSession) -> tuple[int, timedelta | None]:
    """How many messages wait in the outbox, and how long the oldest has waited."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).select_from(OutboxMessage)
        )
    ).one()
    # Timestamps are stored in UTC.
    return count, None if oldest is None else datetime.now(UTC) - oldest.replace(tzinfo=UTC)


async def dead_letters(session: AsyncSession) -> list[DeadLetter]:
    """Every task set aside, oldest first."""
    return list(await session.scalars(select(DeadLetter).order_by(DeadLetter.set_aside_at)))


async def resend(session: AsyncSession, ids: list[str]) -> list[str]:
    """Put these dead letters back into the outbox, with their task ids; returns the ids found."""
    letters = list(await session.scalars(select(DeadLetter).where(DeadLetter.id.in_(ids))))
    for letter in letters:
        session.add(
            OutboxMessage(
                id=letter.id,
                task_name=letter.task_name,
                args=letter.args,
                kwargs=letter.kwargs,
                options=letter.options,
                request_id=letter.request_id,
            )
        )
    await session.execute(delete(DeadLetter).where(DeadLetter.id.in_([x.id for x in letters])))
    session.info[_WAKE_RELAY] = True
    await session.commit()
    return [letter.id for letter in letters]
