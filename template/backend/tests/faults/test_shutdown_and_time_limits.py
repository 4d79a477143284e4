"""Stopping a worker, overrunning a time limit: running tasks finish or clean up, never vanish."""

import asyncio
import signal
import time

from app.db.session import SessionFactory
from app.models.dead_letter import DeadLetter
from tests.faults.conftest import StartWorker
from tests.support.tasks import long_task
from tests.support.waiting import task_result


async def dead_letter(task_id: str) -> DeadLetter:
    deadline = time.monotonic() + 10
    while True:
        async with SessionFactory() as session:
            letter = await session.get(DeadLetter, task_id)
        if letter is not None:
            return letter
        assert time.monotonic() < deadline, f"Task {task_id} was not set aside within 10 s"
        await asyncio.sleep(0.1)


async def test_a_task_past_its_soft_time_limit_cleans_up_and_fails(
    start_worker: StartWorker,
) -> None:
    worker = start_worker()

    # 10 s of work against a 1 s limit. Limits travel with the task: the sender's settings apply.
    result = long_task.apply_async((20,), soft_time_limit=1, time_limit=5)
    await asyncio.to_thread(task_result, result, 30, False)

    assert result.state == "FAILURE"
    assert type(result.result).__name__ == "SoftTimeLimitExceeded"
    await asyncio.to_thread(worker.wait_for_log, "Long task stopped by its time limit after", 10)
    assert "of 20 steps" in worker.log
    # Sent outside a request, the task logs "-" for a request id.
    assert "[-] tests.support.tasks: Long task stopped" in worker.log
    assert worker.process.poll() is None
    assert "SoftTimeLimitExceeded" in (await dead_letter(result.id)).error
    # The worker acknowledges the task last, after storing its failure and setting it aside:
    # stopped, not killed, so that the task is not delivered again to the next test's worker.
    worker.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.process.wait, 60) == 0


async def test_sigterm_lets_the_running_task_finish(start_worker: StartWorker) -> None:
    worker = start_worker()
    result = long_task.delay(4)
    # Running, not only received: a task still waiting in the worker goes back to the queue.
    deadline = time.monotonic() + 30
    while result.state not in ("STARTED", "PROGRESS"):
        assert time.monotonic() < deadline, f"The task did not start within 30 s:\n{worker.log}"
        await asyncio.sleep(0.05)

    worker.process.send_signal(signal.SIGTERM)  # what `docker compose stop` sends

    assert await asyncio.to_thread(task_result, result) == {"steps": 4}
    # A pool process can wait up to 30 s for the stopping main process to take its last message
    # (billiard's guarantee that none is lost); compose's stop_grace_period allows for it.
    assert await asyncio.to_thread(worker.process.wait, 60) == 0
