"""Fixtures, each named for what it gives: a test asks in its signature for what it needs.

    database            this run's database, migrated with Alembic
    broker              the broker and the result backend, reachable; this run's queues and results
    rate_limit_storage  the Redis that counts login attempts
    client              an HTTP client on the app in this process (with the three above)
    mailbox             a real SMTP server where the app sends its emails
    empty_outbox        the outbox with no row in it
    relay               `python -m app.relay` in a process of its own, for the module
    worker              a `celery worker` process consuming every queue during the test
    setting             sets a setting for one test: setting("LOG_LEVEL", "DEBUG")

Tests that ask for none of the first three need no service at all: `just test-quick` runs them
(`-m "not services"`; the `services` mark is added here, from each test's fixtures).

Every run gets its own database, queue names and key prefixes (decided in `pytest_configure`,
before the tests import the app), so runs never touch each other or your data.
"""

import asyncio
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import pytest
import redis
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from celery import Celery
from httpx import ASGITransport, AsyncClient
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import delete, select
from sqlalchemy.engine import URL, make_url

from app.core.config import Settings, get_settings
from tests.support import database as test_database
from tests.support.mailbox import Mailbox, running_smtp_server
from tests.support.processes import BACKEND_DIR, RelayProcess, WorkerProcess, free_port
from tests.support.waiting import eventually

# A test whose fixtures include one of these is marked `services`.
SERVICE_FIXTURES = {"database", "broker", "rate_limit_storage"}

TEST_SETTINGS = {
    # The cheapest password hashes the settings accept: the suite hashes hundreds of passwords.
    "PASSWORD_HASH_MEMORY_KIB": str(19 * 1024),
    "PASSWORD_HASH_ITERATIONS": "2",
    # Correctness, not speed, is tested here: a loaded machine must not fail readiness checks.
    "HEALTH_CHECK_TIMEOUT_SECONDS": "10",
    # Every in-process request comes from one client IP: the limit per IP is set out of the
    # suite's reach (tests install lower ones).
    "LOGIN_RATE_LIMIT_PER_ACCOUNT": "5/minute",
    "LOGIN_RATE_LIMIT_PER_IP": "100000/minute",
    # Outbox rows refused by a broker that was down are retried this often.
    "OUTBOX_RELAY_INTERVAL_SECONDS": "0.5",
    # Never the project's Sentry, even when .env names it: tests that report set their own.
    "SENTRY_DSN": "",
}


def pytest_configure(config: pytest.Config) -> None:
    """Point this process, and every process it starts, at settings of this run's own."""
    # Bytecode caches are written even where the environment turns them off: the suite starts
    # many Python processes (test workers, the worker, the relay), and each would compile every
    # module it imports again, seconds each.
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(TEST_SETTINGS)
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))  # a fresh clone has no .env
    xdist_worker = getattr(config, "workerinput", None)
    if xdist_worker is None and getattr(config.option, "dist", "no") != "no":
        return  # pytest-xdist's controller runs no test; each of its workers isolates itself
    if xdist_worker is None:
        run_id = uuid.uuid4().hex[:10]
    else:
        run_id = xdist_worker["testrunuid"][:8] + xdist_worker["workerid"]
    configured_database = Settings().database_url
    database_url = test_database.database_url_for_run(configured_database, run_id)
    os.environ["DATABASE_URL"] = database_url.render_as_string(hide_password=False)
    os.environ["CELERY_KEY_PREFIX"] = f"test-{run_id}."
    os.environ["RATE_LIMIT_KEY_PREFIX"] = f"test-{run_id}.ratelimit"
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(free_port())


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def unreachable(service: str, url: str, error: Exception, setting: str) -> None:
    pytest.fail(
        f"{service} is not reachable at {maybe_sanitize_url(url)}: {error!r}. "
        f"Start it (see README) or point {setting} at a running server.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[URL]:
    """This run's database, created and migrated with Alembic, dropped at the end."""
    url = make_url(get_settings().database_url)
    try:
        await asyncio.wait_for(test_database.create_database(url), timeout=10)
    except Exception as exc:
        pytest.fail(
            f"{test_database.describe(url)} is not usable: {exc!r}. "
            "Start it (see README) or point DATABASE_URL at a running server.",
            pytrace=False,
        )
    alembic_config = Config(BACKEND_DIR / "alembic.ini")
    alembic_config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, alembic_config, "head")
    yield url
    from app.db.session import engine, worker_engine

    await engine.dispose()
    await worker_engine.dispose()
    await test_database.drop_database(url)


@pytest.fixture(scope="session")
def broker() -> Iterator[Celery]:
    """The project's Celery app, its broker and result backend reachable; this run's queues and
    results are deleted at the end."""
    from app.worker.celery_app import celery_app

    settings = get_settings()
    urls = {
        ("The Celery broker", "CELERY_BROKER_URL"): settings.celery_broker_url,
        ("The Celery result backend", "CELERY_RESULT_BACKEND"): settings.celery_result_backend,
    }
    for (service, setting), url in urls.items():
        try:
            with celery_app.connection_for_write(url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            unreachable(service, url, exc, setting)
    yield celery_app
    with celery_app.connection_for_write() as connection:
        for queue in celery_app.conf.task_queues:
            queue.bind(connection.default_channel).delete()
    with redis.Redis.from_url(settings.celery_result_backend) as results:
        keys = list(results.scan_iter(f"{settings.celery_key_prefix}*"))
        if keys:
            results.delete(*keys)


@pytest.fixture(scope="session")
async def rate_limit_storage() -> AsyncIterator[str]:
    """The Redis that counts login attempts; this run's counters are deleted at the end."""
    settings = get_settings()
    url = settings.rate_limit_storage_url
    with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as storage:
        try:
            storage.ping()
        except redis.RedisError as exc:
            unreachable("The rate limit storage", url, exc, "RATE_LIMIT_STORAGE_URL")
        yield url
        keys = list(storage.scan_iter(f"{settings.rate_limit_key_prefix}*"))
        if keys:
            storage.delete(*keys)


@pytest.fixture(scope="session")
async def client(
    database: URL, broker: Celery, rate_limit_storage: str
) -> AsyncIterator[AsyncClient]:
    """An HTTP client talking to the ASGI app in this process, started as a server starts it."""
    from app.main import app

    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://testserver") as http,
    ):
        yield http


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on the port the settings point at; keeps every message it receives."""
    with running_smtp_server("127.0.0.1", get_settings().smtp_port) as box:
        yield box


async def delete_the_outbox_rows() -> None:
    from app.db.session import SessionFactory
    from app.models.outbox_message import OutboxMessage

    async with SessionFactory() as session:
        await session.execute(delete(OutboxMessage))
        await session.commit()


@pytest.fixture
async def empty_outbox(database: URL) -> None:
    """The outbox with no row in it: what earlier tests queued is deleted, never sent."""
    await delete_the_outbox_rows()


async def no_due_rows() -> bool:
    """Whether the outbox holds no row that is due (a working relay sends and deletes them)."""
    from app.db.session import SessionFactory
    from app.models.outbox_message import OutboxMessage

    async with SessionFactory() as session:
        due = await session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.due_at <= datetime.now(UTC)).limit(1)
        )
        return due.first() is None


@pytest.fixture(scope="module")
async def relay_process(
    database: URL, broker: Celery, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RelayProcess]:
    """The relay of a module's tests (see `relay`), started on an empty outbox: what earlier
    modules queued is deleted, never sent."""
    await delete_the_outbox_rows()
    with RelayProcess(tmp_path_factory.mktemp("relay") / "relay.log") as process:
        yield process


@pytest.fixture
async def relay(relay_process: RelayProcess) -> AsyncIterator[RelayProcess]:
    """The outbox relay as compose runs it, in a process of its own, shared by the tests of a
    module (stop one of your own, `RelayProcess`, to test stopping).

    At the end every row that fell due must have left the outbox: a relay that publishes without
    deleting fails the test here.
    """
    relay_process.fail_unless_running("when the test began")
    yield relay_process
    try:
        await eventually(no_due_rows, "The relay left due rows in the outbox", seconds=10)
    except AssertionError as exc:
        pytest.fail(f"{exc}. Its log:\n{relay_process.log}", pytrace=False)


@pytest.fixture(scope="session")
def worker_process(
    tmp_path_factory: pytest.TempPathFactory, broker: Celery, database: URL, mailbox: Mailbox
) -> Iterator[WorkerProcess]:
    """One real worker process for the run, started when a test first needs it (see `worker`)."""
    broker.control.purge()  # it consumes at once: nothing queued earlier may run ahead
    with WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log") as process:
        yield process


@pytest.fixture
def worker(broker: Celery, worker_process: WorkerProcess) -> Iterator[WorkerProcess]:
    """A real worker process consuming this run's queues during the test, and only then: between
    tests it takes nothing, so what other tests queue stays queued.

    Tasks that tests without a worker left queued are dropped first, so they cannot run ahead.
    """
    broker.control.purge()
    worker_process.consume(on=True)
    yield worker_process
    worker_process.consume(on=False)


@pytest.fixture
def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Sets a setting's environment variable for this test: `setting("LOG_LEVEL", "DEBUG")`.
    `get_settings()` reads it from then on, and the run's own settings again after the test."""

    def set_variable(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_variable
    monkeypatch.undo()
    get_settings.cache_clear()
