"""The API as a real server process: `uvicorn app.main:app` on a free port, logging to a file.

For tests that need HTTP over a socket, or a process of its own: the in-process client shares this
test's event loop and database engine, a server does not.
"""

import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import LoggedProcess, free_port


class ApiServer(LoggedProcess):
    """Started on creation, ready once GET /health answers; `env` is added to this process's."""

    name = "The API"

    def __init__(self, log_path: Path, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "app.main:app"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        super().__init__(command, log_path, **env)
        try:
            self._wait_until_live(timeout=30)
        except BaseException:
            self.stop()
            raise

    def _wait_until_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"The API exited with code {self.process.returncode} before it answered:\n"
                    f"{self.log}",
                    pytrace=False,
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"The API did not answer GET {self.url}/health within {timeout} s:\n{self.log}",
                    pytrace=False,
                )
            time.sleep(0.1)
