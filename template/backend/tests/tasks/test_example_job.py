"""The example job, run by a real worker process on the real broker and result backend."""

import asyncio
import logging
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from app.tasks import example_job
from app.tasks.example_job import run_example_job
from tests.support.processes import WorkerProcess
from tests.support.waiting import task_result


async def test_the_example_job_returns_its_result(worker: WorkerProcess) -> None:
    result = run_example_job.delay(7, 2)

    assert await asyncio.to_thread(task_result, result) == {"user_id": 7, "steps": 2}


def test_stopped_by_its_time_limit_the_job_says_where_it_stopped(
    broker: Celery, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker raises SoftTimeLimitExceeded inside the task: here, during its third step.

    Run in this process (`apply`); its progress still goes to the result backend.
    """
    steps_begun = 0

    def sleep(_: float) -> None:
        nonlocal steps_begun
        steps_begun += 1
        if steps_begun == 3:
            raise SoftTimeLimitExceeded

    monkeypatch.setattr(example_job, "time", SimpleNamespace(sleep=sleep))

    with caplog.at_level(logging.WARNING, logger=example_job.__name__):
        result = run_example_job.apply((11, 20))

    assert result.state == "FAILURE"
    assert isinstance(result.result, SoftTimeLimitExceeded)
    assert "Example job for user 11 stopped by its time limit after 2 of 20 steps" in caplog.text
