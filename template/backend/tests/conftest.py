"""Shared fixtures, and isolation for each test run.

Every run gets its own database and its own prefix for queue names and result keys, set in the
environment before the app is imported, so parallel runs never collide with each other or your data.
The services are the real ones named in the environment or `.env` (see `app/core/config.py`).
"""

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.worker import WorkController
from celery.worker import state as worker_state
from httpx import ASGITransport, AsyncClient
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy.engine import URL

from app.core.config import Settings
from tests.support import database as test_database
from tests.support.mailbox import Mailbox, running_smtp_server
from tests.support.processes import BACKEND_DIR, CeleryProcess, free_port

if TYPE_CHECKING:  # imported in fixtures: the app reads its settings once, isolated first
    from app.relay.relay import OutboxRelay

RUN_ID = uuid.uuid4().hex[:10]


def _isolate_test_run() -> URL:
    """Point this process and its workers at a per-run database, key prefix and SMTP port."""
    # A fresh clone has no .env, and tests need no real secret.
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    test_database_url = test_database.database_url_for_run(Settings().database_url, RUN_ID)
    os.environ["DATABASE_URL"] = test_database_url.render_as_string(hide_password=False)
    os.environ["CELERY_KEY_PREFIX"] = f"test-{RUN_ID}."
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(free_port())
    # The cheapest password hashes the settings accept: the suite hashes hundreds of passwords.
    os.environ["PASSWORD_HASH_MEMORY_KIB"] = str(19 * 1024)
    os.environ["PASSWORD_HASH_ITERATIONS"] = "2"
    # Correctness, not speed, is tested here: a loaded machine must not fail readiness checks.
    os.environ["HEALTH_CHECK_TIMEOUT_SECONDS"] = "10"
    # Login attempts are counted under this run's own keys. Every in-process request comes from one
    # client IP, so the limit per IP is set out of the suite's reach (tests install lower ones).
    os.environ["RATE_LIMIT_KEY_PREFIX"] = f"test-{RUN_ID}.ratelimit"
    os.environ["LOGIN_RATE_LIMIT_PER_ACCOUNT"] = "5/minute"
    os.environ["LOGIN_RATE_LIMIT_PER_IP"] = "100000/minute"
    # Outbox rows refused by a broker that was down are retried this often.
    os.environ["OUTBOX_RELAY_INTERVAL_SECONDS"] = "0.5"
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
    """An HTTP client talking to the ASGI app in this process, started as a server starts it."""
    from app.main import app

    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://testserver") as http,
    ):
        yield http


class InProcessRelay:
    """The outbox relay as `python -m app.relay` runs it, in this event loop."""

    def __init__(self) -> None:
        self._running: tuple[OutboxRelay, asyncio.Task[None]] | None = None

    def start(self) -> None:
        relay = self._relay()
        self._running = relay, asyncio.create_task(relay.run(), name="outbox-relay")

    async def send_waiting(self) -> None:
        """Send what the outbox holds now, pass after pass, until a pass sends nothing."""
        relay = self._relay()
        while await relay.relay_pending():
            pass

    @staticmethod
    def _relay() -> "OutboxRelay":
        from tests.support.relay import new_relay

        return new_relay()

    async def stop(self) -> None:
        if self._running is not None:
            relay, runner = self._running
            relay.stop()
            await runner
            self._running = None


@pytest.fixture(scope="session", autouse=True)
async def outbox_relay(database: URL) -> AsyncIterator[InProcessRelay]:
    """The relay publishes what requests queue, for as long as the session runs."""
    relay = InProcessRelay()
    relay.start()
    yield relay
    await relay.stop()


@pytest.fixture
async def paused_outbox_relay(outbox_relay: InProcessRelay) -> AsyncIterator[None]:
    """Keep this process's outbox relay from relaying during the test.

    It shares this run's database: left running, it would also publish rows that a test means
    another process to relay, or to leave where they are. What earlier tests queued is sent
    first, so the test starts with an empty outbox.
    """
    await outbox_relay.stop()
    await outbox_relay.send_waiting()
    yield
    outbox_relay.start()


@pytest.fixture
def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class WorkerProcess(CeleryProcess):
    """A worker started like `just worker` does, on every queue of the project, with the tests'
    own tasks loaded too."""

    def __init__(self, log_path: Path, concurrency: int = 1, **env: str) -> None:
        hostname = f"test-{RUN_ID}-{uuid.uuid4().hex[:6]}@localhost"
        arguments = ["worker", f"--concurrency={concurrency}", f"--hostname={hostname}"]
        # Mingle waits a second at startup for other workers to share what they revoked; no
        # test revokes a task.
        arguments.append("--without-mingle")
        arguments.append("--include=tests.support.tasks")  # the tests' own tasks, besides the app's
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


@pytest.fixture(scope="module")
def celery_worker(mailbox: Mailbox) -> Iterator[WorkController]:
    """A real worker in a thread of this process (`start_worker`), stopped after the module."""
    from app.worker.celery_app import celery_app

    celery_app.control.purge()  # tasks that earlier tests left queued would run ahead
    with start_worker(celery_app, pool="solo", perform_ping_check=False) as worker:
        yield worker
        # start_worker stops the worker with a flag that its event loop reads between two polls,
        # and gives it 10 s. With broker heartbeats a poll can last until the next heartbeat
        # check, up to 10 s away: raise the flag here and wake the loop to read it at once.
        stopping: Any = worker_state  # celery-types: the flag is None, the hub has no call_soon
        stopping.should_terminate = 0
        hub: Any = worker.hub
        if hub is not None:
            hub.call_soon(lambda: None)


@pytest.fixture(scope="session", autouse=True)
async def rate_limit_storage() -> AsyncIterator[str]:
    """The Redis that counts login attempts; this run's counters go afterwards."""
    from app.core.config import get_settings
    from app.core.rate_limit import get_login_rate_limiter

    settings = get_settings()
    url = settings.rate_limit_storage_url
    with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as storage:
        try:
            storage.ping()
        except redis.RedisError as exc:
            pytest.fail(
                f"The rate limit storage is not reachable at {maybe_sanitize_url(url)}: {exc!r}. "
                "Start it (see README) or point RATE_LIMIT_STORAGE_URL at a running server.",
                pytrace=False,
            )
        yield url
        await get_login_rate_limiter().aclose()
        keys = list(storage.scan_iter(f"{settings.rate_limit_key_prefix}*"))
        if keys:
            storage.delete(*keys)
