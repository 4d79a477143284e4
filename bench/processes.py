"""Processes the bench starts, each logging to a file, and stopped however the bench ends."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.errors import BenchError

LOG_TAIL_CHARS = 4000

_running: set["Process"] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A subprocess in a process group of its own, so stopping it reaches its children too."""

    def __init__(
        self, name: str, command: Sequence[str], log_path: Path, cwd: Path, env: dict[str, str]
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log_file = log_path.open("w")
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running.add(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def failure(self, what: str) -> BenchError:
        return BenchError(
            f"{self.name} {what}; the end of its log ({self.log_path}):\n"
            f"{self.log[-LOG_TAIL_CHARS:]}"
        )

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Wait until the process has logged `text`; raise with its log if it does not."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.process.poll() is not None:
                raise self.failure(f"exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                raise self.failure(f"did not log {text!r} within {timeout} s")
            time.sleep(0.05)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, as compose stops a service; SIGKILL for the whole group after `timeout`."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Whatever of its group is left (a prefork child, say) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log_file.close()
        _running.discard(self)


def stop_all() -> None:
    """Stop every process still running: the bench failed or was interrupted half-way."""
    for process in list(_running):
        process.stop(timeout=5)


def cpu_percent(process: Process, seconds: float) -> float:
    """The CPU a process (its own, not its children's) uses over `seconds`, in % of one core."""

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    before = cpu_seconds()
    time.sleep(seconds)
    return 100 * (cpu_seconds() - before) / seconds
