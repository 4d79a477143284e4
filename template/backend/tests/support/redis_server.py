"""A private redis-server for tests that stop or restart the broker (never the shared one)."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis


class RedisServer:
    """redis-server on its own port and data directory, with append-only persistence on."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("These tests run their own Redis: put redis-server on PATH", pytrace=False)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            [
                executable,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--maxmemory-policy", "noeviction",
                "--logfile", str(self.data_dir / "redis.log"),
            ],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")
                pytest.fail(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Shut down as Redis does on SIGTERM: the append-only file is flushed first."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _answers(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False
