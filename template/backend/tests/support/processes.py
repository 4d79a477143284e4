"""Processes of this project started by tests (workers, the relay, ...), each logging to a
file.

The Celery app is imported where it is used, not here: tests/conftest.py imports this module
before it points the settings at this run's database and queues.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Self

import pytest

BACKEND_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LoggedProcess:
    """A subprocess run from backend/ with this process's environment plus `env`."""

    name = "The process"
    # Where its metrics are served, for a test that starts it with METRICS_PORT set.
    metrics_port: int | None = None

    def __init__(self, command: list[str], log_path: Path, **env: str) -> None:
        self.command = command
        self.log_path = log_path
        self._log_file = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            command,
            cwd=BACKEND_DIR,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches every child
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def fail_unless_running(self, what: str) -> None:
        if self.process.poll() is not None:
            failure = f"{self.name} exited with code {self.process.returncode} {what}:\n{self.log}"
            pytest.fail(failure, pytrace=False)

    def wait_for_file(self, path: Path, what: str, timeout: float) -> None:
        """Until the process creates `path`, which it does once `what`; killed if it never does."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            try:
                self.fail_unless_running(f"before it was {what}")
                if time.monotonic() > deadline:
                    failure = f"{self.name} was not {what} within {timeout} s:\n{self.log}"
                    pytest.fail(failure, pytrace=False)
            except BaseException:
                self.kill()
                raise
            time.sleep(0.05)

    def wait_for_log(self, text: str, timeout: float, count: int = 1) -> None:
        """Wait until the process has logged `text` `count` times; fail with its log if not."""
        deadline = time.monotonic() + timeout
        while self.log.count(text) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                failure = f"{self.name} did not log {text!r} {count} time(s):\n{self.log}"
                pytest.fail(failure, pytrace=False)
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the process and all its children at once, as a crash or an OOM kill would."""
        with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log_file.close()

    def stop(self) -> None:
        """SIGTERM, as in production; killed if it takes over 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()


class CeleryProcess(LoggedProcess):
    """A `celery` command of this project (a worker, for one)."""

    def __init__(self, arguments: list[str], log_path: Path, **env: str) -> None:
        self.name = f"celery {arguments[0]}"
        command = [sys.executable, "-m", "celery", "-A", "app.worker.celery_app:celery_app"]
        super().__init__([*command, *arguments], log_path, **env)


class WorkerProcess(CeleryProcess):
    """A worker started as `just worker` starts it, on every queue of the project, with the tests'
    own tasks loaded too; ready once it consumes (it touches a file then, see tasks.py)."""

    # A worker that stops consuming can still take a message, for up to this long, with a read
    # it began before; it then puts the message back. Counts of queued messages wait that out.
    READ_IN_FLIGHT_SECONDS = 1.0
    last_stopped_consuming = -READ_IN_FLIGHT_SECONDS  # by any worker of this test process

    def __init__(self, log_path: Path, concurrency: int = 1, **env: str) -> None:
        self.hostname = f"test-{uuid.uuid4().hex[:10]}@localhost"
        arguments = ["worker", f"--concurrency={concurrency}", f"--hostname={self.hostname}"]
        # Mingle waits a second at startup for other workers to share what they revoked; no
        # test revokes a task.
        arguments.append("--without-mingle")
        arguments.append("--include=tests.support.tasks")  # the tests' own tasks, besides the app's
        ready = log_path.with_suffix(".ready")
        super().__init__(arguments, log_path, **env, TEST_WORKER_READY_FILE=str(ready))
        self.wait_for_file(ready, "ready", timeout=60)

    def consume(self, on: bool) -> None:
        """Start or stop consuming every queue of the project; returns once the worker says it
        does (tasks it already holds still run)."""
        from app.core.config import get_settings
        from app.worker.celery_app import celery_app, queue_names

        queues = [f"{get_settings().celery_key_prefix}{name}" for name in queue_names()]
        command = celery_app.control.add_consumer if on else celery_app.control.cancel_consumer
        for queue in queues:
            command(queue, destination=[self.hostname], reply=True, timeout=5)
        # The worker answers a command before it carries it out: ask until it has.
        wanted = queues if on else []
        deadline = time.monotonic() + 10
        while (consuming := self.consuming()) != wanted:
            self.fail_unless_running("while it changed its queues")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} consumes {consuming}, not {wanted}", pytrace=False)
            time.sleep(0.05)
        if not on:
            WorkerProcess.last_stopped_consuming = time.monotonic()

    @classmethod
    def wait_for_reads_in_flight(cls) -> None:
        """Until no worker that stopped consuming can still take a message."""
        time.sleep(
            max(0.0, cls.last_stopped_consuming + cls.READ_IN_FLIGHT_SECONDS - time.monotonic())
        )

    def consuming(self) -> list[str]:
        """The queues the worker consumes, as it says."""
        from app.worker.celery_app import celery_app

        replies = celery_app.control.inspect([self.hostname], timeout=5).active_queues() or {}
        assert self.hostname in replies, f"{self.name} did not answer for its queues"
        return sorted(queue["name"] for queue in replies[self.hostname])

    def tasks_started(self) -> dict[str, int]:
        """How many tasks of each name this worker has started, from its statistics (asked over
        the broker the settings name)."""
        from app.worker.celery_app import celery_app

        stats = celery_app.control.inspect([self.hostname], timeout=5).stats() or {}
        assert self.hostname in stats, f"{self.name} did not answer for its statistics"
        started: dict[str, int] = stats[self.hostname]["total"]
        return started


# `python -m app.relay`, with the tests' own tasks registered first (it sends only known tasks).
RELAY_WITH_TEST_TASKS = (
    "import runpy, tests.support.tasks; "
    "runpy.run_module('app.relay', run_name='__main__', alter_sys=True)"
)


class RelayProcess(LoggedProcess):
    """The outbox relay, started as compose starts it (`python -m app.relay --heartbeat FILE`),
    knowing the tests' own tasks too; ready once it has made a pass (touched its heartbeat)."""

    name = "The outbox relay"

    def __init__(self, log_path: Path, **env: str) -> None:
        heartbeat = log_path.with_suffix(".heartbeat")
        command = [sys.executable, "-c", RELAY_WITH_TEST_TASKS, "--heartbeat", str(heartbeat)]
        super().__init__(command, log_path, **env)
        self.wait_for_file(heartbeat, "through its first pass", timeout=30)
