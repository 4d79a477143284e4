"""The example job, run by a real worker (in a thread) on the real broker and result backend."""

import asyncio
import logging
from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker import WorkController

from app.tasks import example_job
from app.tasks.example_job import run_example_job


async def test_the_example_job_returns_its_result(
    celery_worker: WorkController,
) -> None:
    result = run_example_job.delay(7, 2)

    assert await asyncio.to_thread(result.get, timeout=30) == {"user_id": 7, "steps": 2}


def test_stopped_by_its_time_limit_the_job_says_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker raises SoftTimeLimitExceeded inside the task: here, during its third step."""
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
