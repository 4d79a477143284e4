"""Processes of this project started by tests (Celery commands, the API), each logging to a file."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
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

    def __init__(self, command: list[str], log_path: Path, **env: str) -> None:
        self.command = command
        self.log_path = log_path
        self._log_file = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            command,
            cwd=BACKEND_DIR,
            # Bytecode caches are written even where the environment turns them off: the tests
            # start many processes, and each would compile every module it imports again.
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "", **env},
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


# `python -m app.relay`, with the tests' own tasks registered first (it sends only known tasks).
RELAY_WITH_TEST_TASKS = (
    "import runpy, tests.support.tasks; "
    "runpy.run_module('app.relay', run_name='__main__', alter_sys=True)"
)


class RelayProcess(LoggedProcess):
    """The outbox relay, started as compose starts it (`python -m app.relay`), knowing the tests'
    own tasks too; ready once it has logged so."""

    name = "The outbox relay"

    def __init__(self, log_path: Path, **env: str) -> None:
        command = [sys.executable, "-c", RELAY_WITH_TEST_TASKS]
        super().__init__(command, log_path, **env)
        try:
            self.wait_for_log("Outbox relay started", timeout=30)
        except BaseException:
            self.stop()
            raise
