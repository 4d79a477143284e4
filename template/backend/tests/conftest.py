"""Shared fixtures, and isolation for each test run.

Every run gets its own database and its own prefix for queue names and result keys, set in the
environment before the app is imported, so parallel runs never collide with each other or your data.
The services are the real ones named in the environment or `.env` (see `app/core/config.py`).
"""

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from alembic import command
from alembic.config import Config
from celery import Celery
from httpx import ASGITransport, AsyncClient
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy.engine import URL

from app.core.config import Settings
from tests.support import database as test_database
from tests.support.mailbox import Mailbox, running_smtp_server

BACKEND_DIR = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:10]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _isolate_test_run() -> URL:
    """Point this process and its workers at a per-run database, key prefix and SMTP port."""
    # A fresh clone has no .env, and tests need no real secret.
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    test_database_url = test_database.database_url_for_run(Settings().database_url, RUN_ID)
    os.environ["DATABASE_URL"] = test_database_url.render_as_string(hide_password=False)
    os.environ["CELERY_KEY_PREFIX"] = f"test-{RUN_ID}."
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(free_port())
    # Correctness, not speed, is tested here: a loaded machine must not fail readiness checks.
    os.environ["HEALTH_CHECK_TIMEOUT_SECONDS"] = "10"
    return test_database_url


TEST_DATABASE_URL = _isolate_test_run()


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[URL]:
    """A fresh database for this run, migrated with Alembic, dropped at the end."""
    try:
        await test_database.create_database(TEST_DATABASE_URL)
    except Exception as exc:
        pytest.fail(
            f"{test_database.describe(TEST_DATABASE_URL)} is not usable: {exc!r}. "
            "Start it (see README) or point DATABASE_URL at a running server.",
            pytrace=False,
        )
    alembic_config = Config(BACKEND_DIR / "alembic.ini")
    alembic_config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, alembic_config, "head")
    yield TEST_DATABASE_URL
    from app.db.session import engine

    await engine.dispose()
    await test_database.drop_database(TEST_DATABASE_URL)


@pytest.fixture(scope="session", autouse=True)
def celery_services() -> Iterator[Celery]:
    """The project's Celery app on the real broker; this run's queues and results go afterwards."""
    from app.core.config import get_settings
    from app.worker.celery_app import celery_app

    settings = get_settings()
    urls = {"broker": settings.celery_broker_url, "result backend": settings.celery_result_backend}
    for name, url in urls.items():
        try:
            with celery_app.connection_for_write(url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            pytest.fail(
                f"The Celery {name} is not reachable at {maybe_sanitize_url(url)}: {exc!r}. "
                "Start it (see README) or point the setting at a running server.",
                pytrace=False,
            )
    yield celery_app
    with celery_app.connection_for_write() as connection:
        for queue in celery_app.conf.task_queues:
            queue.bind(connection.default_channel).delete()
    with redis.Redis.from_url(settings.celery_result_backend) as results:
        keys = list(results.scan_iter(f"{settings.celery_key_prefix}*"))
        if keys:
            results.delete(*keys)


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on the port the settings point at; keeps every message it receives."""
    with running_smtp_server("127.0.0.1", int(os.environ["SMTP_PORT"])) as box:
        yield box


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[AsyncClient]:
    """An HTTP client talking to the ASGI app in this process."""
    from app.main import app

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


@pytest.fixture
def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class CeleryProcess:
    """A `celery` subprocess of this project (a worker or another command), logging to a file."""

    def __init__(self, arguments: list[str], log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.worker.celery_app:celery_app",
            *arguments,
        ]
        self._log_file = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            self.command,
            cwd=BACKEND_DIR,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Wait until the process has logged `text`; fail with its whole log if it does not."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{self.command[5]} did not log {text!r}:\n{self.log}", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


class WorkerProcess(CeleryProcess):
    """A worker started like `just worker` does, on every queue of the project."""

    def __init__(self, log_path: Path, **env: str) -> None:
        hostname = f"test-{RUN_ID}-{uuid.uuid4().hex[:6]}@localhost"
        arguments = ["worker", "--concurrency=1", f"--hostname={hostname}"]
        super().__init__(arguments, log_path, **env)


@pytest.fixture(scope="module")
def worker_process(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[WorkerProcess]:
    """A real worker process consuming this run's queues, stopped after the module."""
    worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        worker.wait_for_log(" ready.", timeout=60)
        yield worker
    finally:
        worker.stop()
