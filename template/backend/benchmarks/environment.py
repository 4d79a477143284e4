"""Isolation for one benchmark run, and what the machine and its services are.

Like the test suite, a run gets its own database (created, migrated with Alembic, dropped), its
own Celery key prefix, rate-limit prefix and counter keys, all set in the environment before the
app is imported, so the API and worker processes started from here inherit them. It uses the
servers named in the environment or `.env`, and never touches anything outside its prefix.
"""

import asyncio
import importlib.metadata
import os
import platform
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from alembic import command
from alembic.config import Config
from kombu import Connection, Queue
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings
from benchmarks.noop import COUNTER_URL_VARIABLE
from tests.support import database
from tests.support.processes import BACKEND_DIR

# The options of compose's `api` command (`uvicorn app.main:app --host ... --port ... <these>`).
API_OPTIONS = ("--no-access-log",)
PACKAGES = ("celery", "kombu", "redis", "uvicorn", "uvloop", "fastapi", "starlette", "sqlalchemy")


@dataclass(frozen=True)
class Isolation:
    """What this run owns, and the servers it runs against."""

    run_id: str
    database_url: URL
    key_prefix: str  # Celery queues and results, the drain counters, the bare app's queue
    broker_url: str
    results_url: str

    @property
    def broker_is_redis(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://"))

    @property
    def bare_queue(self) -> str:
        return f"{self.key_prefix}bare"


def isolate() -> Isolation:
    """Point this process and every process it starts at this run's database and prefixes."""
    run_id = uuid.uuid4().hex[:10]
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    configured = Settings()
    database_url = database.database_url_for_run(configured.database_url, f"bench_{run_id}")
    prefix = f"bench-{run_id}."
    os.environ.update(
        {
            "DATABASE_URL": database_url.render_as_string(hide_password=False),
            "CELERY_KEY_PREFIX": prefix,
            "RATE_LIMIT_KEY_PREFIX": f"{prefix}ratelimit",
            "LOGIN_RATE_LIMIT_PER_ACCOUNT": "100000/minute",
            "LOGIN_RATE_LIMIT_PER_IP": "100000/minute",
            COUNTER_URL_VARIABLE: configured.celery_result_backend,
        }
    )
    if "log_format" not in configured.model_fields_set:
        os.environ["LOG_FORMAT"] = "json"  # compose's default: `${LOG_FORMAT:-json}`
    return Isolation(
        run_id=run_id,
        database_url=database_url,
        key_prefix=prefix,
        broker_url=configured.celery_broker_url,
        results_url=configured.celery_result_backend,
    )


async def create_database(url: URL) -> str:
    """Create and migrate this run's database; returns the server's version."""
    await database.create_database(url)
    alembic_config = Config(BACKEND_DIR / "alembic.ini")
    alembic_config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, alembic_config, "head")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            version = engine.dialect.server_version_info or ()
    finally:
        await engine.dispose()
    return ".".join(map(str, version))


def cleanup(isolation: Isolation) -> None:
    """Remove what the run left in the broker and in Redis (everything under its prefix)."""
    from app.core.config import get_settings
    from app.worker.celery_app import celery_app

    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in (*(celery_app.conf.task_queues or ()), Queue(isolation.bare_queue)):
            queue.bind(channel).delete()
    redis_urls = {isolation.results_url, get_settings().rate_limit_storage_url}
    if isolation.broker_is_redis:
        redis_urls.add(isolation.broker_url)
    for url in redis_urls:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            keys = list(client.scan_iter(f"*{isolation.key_prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])


def machine(isolation: Isolation, database_version: str) -> dict[str, Any]:
    """Cores, Python, library and server versions: what the figures were measured on."""
    with redis.Redis.from_url(isolation.results_url, socket_connect_timeout=2) as results:
        redis_version = str(results.info("server")["redis_version"])
    broker: dict[str, str] = {"kind": isolation.broker_url.split(":", 1)[0]}
    if isolation.broker_is_redis:
        with redis.Redis.from_url(isolation.broker_url, socket_connect_timeout=2) as client:
            broker["version"] = str(client.info("server")["redis_version"])
    else:
        with Connection(isolation.broker_url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
            properties = getattr(connection.connection, "server_properties", {})
            broker["version"] = str(properties.get("version", "unknown"))
            broker["product"] = str(properties.get("product", "unknown"))
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _version(name) for name in PACKAGES},
        "redis_server": redis_version,
        "broker": broker,
        "database": {
            "kind": isolation.database_url.get_backend_name(),
            "driver": isolation.database_url.get_driver_name(),
            "version": database_version,
        },
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
