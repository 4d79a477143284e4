"""Generated projects end to end: their own suite, and a worker started as a user starts it."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import command_env, run

NEW_TASK_MODULE = '''"""A task module added by hand, registered nowhere."""

from app.core.logging import get_logger
from app.worker.celery_app import celery_app

logger = get_logger(__name__)


@celery_app.task
def double(value: int) -> int:
    logger.info("Doubling %s", value)
    return value * 2
'''


@pytest.mark.usefixtures("services")
def test_generated_suite_passes_against_real_services(default_project: Path) -> None:
    result = run(["just", "test", "-p", "no:cacheprovider", "-v"], default_project)

    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary, result.stdout
    assert "failed" not in summary, result.stdout
    assert "error" not in summary, result.stdout
    assert "skipped" not in summary, result.stdout
    assert "test_registering_sends_a_welcome_email_through_the_worker PASSED" in result.stdout


@pytest.mark.usefixtures("services")
def test_a_new_task_file_runs_on_just_worker_with_nothing_else_edited(
    default_project: Path, tmp_path: Path, key_prefix: str
) -> None:
    module = default_project / "backend/app/tasks/arithmetic.py"
    module.write_text(NEW_TASK_MODULE)
    log_path = tmp_path / "worker.log"
    env = command_env(CELERY_KEY_PREFIX=key_prefix)
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            ["just", "worker", "--concurrency=1", "--pool=solo"],
            cwd=default_project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log_path.read_text():
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        client = run(
            [
                "uv",
                "run",
                "python",
                "-c",
                "from app.tasks.arithmetic import double; print(double.delay(21).get(timeout=30))",
            ],
            default_project / "backend",
            CELERY_KEY_PREFIX=key_prefix,
        )

        assert client.stdout.strip() == "42"
        worker_log = log_path.read_text()
        assert "app.tasks.arithmetic.double" in worker_log
        assert "Doubling 21" in worker_log
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        module.unlink()
