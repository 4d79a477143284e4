"""Shared fixtures, and isolation for each test run.

Every run gets its own PostgreSQL database and its own Redis key prefix, set in the environment
before the app is imported, so parallel runs never collide with each other or with your data.
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
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings
from tests.support.mailbox import Mailbox, running_smtp_server

BACKEND_DIR = Path(__file__).resolve().parents[1]
RUN_ID = uuid.uuid4().hex[:10]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _isolate_test_run() -> URL:
    """Point this process and its workers at a per-run database, key prefix and SMTP port."""
    # A fresh clone has no .env, and tests need no real secret.
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    configured = make_url(Settings().database_url)
    test_database_url = configured.set(database=f"{configured.database}_test_{RUN_ID}")
    os.environ["DATABASE_URL"] = test_database_url.render_as_string(hide_password=False)
    os.environ["CELERY_KEY_PREFIX"] = f"test-{RUN_ID}:"
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(_free_port())
    os.environ["SMTP_USER"] = ""
    os.environ["SMTP_STARTTLS"] = "false"
    return test_database_url


TEST_DATABASE_URL = _isolate_test_run()


async def _execute_as_admin(statement: str) -> None:
    admin_engine = create_async_engine(
        TEST_DATABASE_URL.set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin_engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await admin_engine.dispose()


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[URL]:
    """A fresh database for this run, migrated with Alembic, dropped at the end."""
    name = TEST_DATABASE_URL.database
    try:
        await _execute_as_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not usable at {TEST_DATABASE_URL.host}:{TEST_DATABASE_URL.port} "
            f"as user {TEST_DATABASE_URL.username!r}: {exc!r}. "
            "Start it (`docker compose up -d db`) or point DATABASE_URL at a running server.",
            pytrace=False,
        )
    alembic_config = Config(BACKEND_DIR / "alembic.ini")
    alembic_config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, alembic_config, "head")
    yield TEST_DATABASE_URL
    from app.db.session import engine

    await engine.dispose()
    await _execute_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def redis_broker() -> Iterator[redis.Redis]:
    """The real Redis broker; this run's keys are deleted afterwards."""
    from app.core.config import get_settings

    settings = get_settings()
    client = redis.Redis.from_url(settings.celery_broker_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {settings.celery_broker_url}: {exc!r}. Start it "
            "(`docker compose up -d redis`) or point CELERY_BROKER_URL at a running server.",
            pytrace=False,
        )
    yield client
    for url in {settings.celery_broker_url, settings.celery_result_backend}:
        with redis.Redis.from_url(url) as connection:
            keys = list(connection.scan_iter(f"{settings.celery_key_prefix}*"))
            if keys:
                connection.delete(*keys)
    client.close()


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


class WorkerProcess:
    """A `celery worker` subprocess started with the same command as `just worker`."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.hostname = f"test-{RUN_ID}-{uuid.uuid4().hex[:6]}@localhost"
        self.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.worker.celery_app:celery_app",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            f"--hostname={self.hostname}",
        ]
        self._log_file = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603  (our own command line)
            self.command, cwd=BACKEND_DIR, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Wait until the worker has logged `text`; fail with its whole log if it does not."""
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"The worker did not log {text!r}:\n{self.log}", pytrace=False)
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


@pytest.fixture(scope="module")
def worker_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A real worker process consuming this run's queues, stopped after the module."""
    worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        worker.wait_for_log(" ready.", timeout=60)
        yield worker
    finally:
        worker.stop()
