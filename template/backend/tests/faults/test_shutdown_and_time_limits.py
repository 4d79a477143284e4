"""Stopping a worker, overrunning a time limit: running tasks finish or clean up, never vanish."""

import asyncio
import signal
import time

from app.tasks.example_job import run_example_job
from tests.faults.conftest import StartWorker


async def test_a_task_past_its_soft_time_limit_cleans_up_and_fails(
    start_worker: StartWorker,
) -> None:
    worker = start_worker()

    # 10 s of work against a 1 s limit. Limits travel with the task: the sender's settings apply.
    result = run_example_job.apply_async((11, 20), soft_time_limit=1, time_limit=5)
    await asyncio.to_thread(result.get, timeout=30, propagate=False)

    assert result.state == "FAILURE"
    assert type(result.result).__name__ == "SoftTimeLimitExceeded"
    await asyncio.to_thread(
        worker.wait_for_log, "Example job for user 11 stopped by its time limit after", 10
    )
    assert "of 20 steps" in worker.log
    # Sent outside a request, the task logs "-" for a request id.
    assert "[-] app.tasks.example_job: Example job for user 11 stopped" in worker.log
    assert worker.process.poll() is None


async def test_sigterm_lets_the_running_task_finish(start_worker: StartWorker) -> None:
    worker = start_worker()
    result = run_example_job.delay(12, 4)
    # Running, not only received: a task still waiting in the worker goes back to the queue.
    deadline = time.monotonic() + 30
    while result.state not in ("STARTED", "PROGRESS"):
        assert time.monotonic() < deadline, worker.log
        await asyncio.sleep(0.05)

    worker.process.send_signal(signal.SIGTERM)  # what `docker compose stop` sends

    assert await asyncio.to_thread(result.get, timeout=30) == {"user_id": 12, "steps": 4}
    # A pool process can wait up to 30 s for the stopping main process to take its last message
    # (billiard's guarantee that none is lost); compose's stop_grace_period allows for it.
    assert await asyncio.to_thread(worker.process.wait, 60) == 0
    assert "Warm shutdown" in worker.log
