"""What one ref's project owns on the shared servers, and how it is set up and removed.

Like the generated test suite, each project gets its own PostgreSQL database (created, migrated
with Alembic, dropped) and its own prefix for Celery's queues and results and the rate-limit
counters, all passed in the environment of the processes started from it. Everything outside the
prefix and the database is left alone.
"""

import secrets
from dataclasses import dataclass

import psycopg
import redis

from bench.paths import BENCH_PYTHONPATH

REDIS = "redis://127.0.0.1:6379"
BROKER_URL = f"{REDIS}/0"
RESULTS_URL = f"{REDIS}/1"
RATE_LIMIT_URL = f"{REDIS}/2"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
# Login is not what is measured: attempts from one client IP must not run into the limit.
UNLIMITED = "100000/minute"


@dataclass(frozen=True)
class Isolation:
    """One project's database and key prefix, and the environment pointing its processes there."""

    name: str  # a lower-case identifier, unique to this run and ref
    smtp_port: int
    secret_key: str

    @property
    def database(self) -> str:
        return self.name

    @property
    def key_prefix(self) -> str:
        return f"{self.name.replace('_', '-')}."

    @property
    def bare_queue(self) -> str:
        return f"{self.key_prefix}bare"

    def environment(self, **overrides: str) -> dict[str, str]:
        """The variables every process of the project gets (they win over the project's .env)."""
        prefix = self.key_prefix
        return {
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}",
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_RESULT_BACKEND": RESULTS_URL,
            "RATE_LIMIT_STORAGE_URL": RATE_LIMIT_URL,
            "CELERY_KEY_PREFIX": prefix,
            "RATE_LIMIT_KEY_PREFIX": f"{prefix}ratelimit",
            "LOGIN_RATE_LIMIT_PER_ACCOUNT": UNLIMITED,
            "LOGIN_RATE_LIMIT_PER_IP": UNLIMITED,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "LOG_FORMAT": "json",  # compose's default: `${LOG_FORMAT:-json}`
            "PYTHONPATH": str(BENCH_PYTHONPATH),
            "BENCH_KEY_PREFIX": prefix,
            "BENCH_COUNTER_URL": RESULTS_URL,
            **overrides,
        }


def new_isolation(run_id: str, label: str, smtp_port: int) -> Isolation:
    slug = "".join(c if c.isalnum() else "_" for c in label.lower())
    return Isolation(f"bench_{run_id}_{slug}", smtp_port, secrets.token_hex(32))


def _admin(statement: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement)  # type: ignore[arg-type]  (identifiers we made ourselves)


def create_database(isolation: Isolation) -> None:
    _admin(f'CREATE DATABASE "{isolation.database}"')


def drop_database(isolation: Isolation) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{isolation.database}" WITH (FORCE)')


def query(isolation: Isolation, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(f"{POSTGRES}/{isolation.database}", connect_timeout=5) as connection:
        return connection.execute(sql, params).fetchall()  # type: ignore[arg-type]


def server_version() -> str:
    with psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5) as admin:
        return str(admin.info.parameter_status("server_version"))


def _prefixed_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    return list(client.scan_iter(f"*{prefix}*", count=1000))


def purge_queues(isolation: Isolation, broker_url: str = BROKER_URL) -> None:
    """Empty the project's queues (Redis lists); exchanges and bindings stay as they are."""
    with redis.Redis.from_url(broker_url, socket_connect_timeout=2) as client:
        lists = [
            k for k in _prefixed_keys(client, isolation.key_prefix) if client.type(k) == b"list"
        ]
        if lists:
            client.delete(*lists)


def queued(isolation: Isolation, queue_suffix: str, broker_url: str = BROKER_URL) -> int:
    """Tasks waiting in the project's lists whose name ends with `queue_suffix`."""
    with redis.Redis.from_url(broker_url, socket_connect_timeout=2) as client:
        keys = _prefixed_keys(client, isolation.key_prefix)
        return sum(
            int(client.llen(key))  # type: ignore[arg-type]
            for key in keys
            if key.decode().endswith(queue_suffix) and client.type(key) == b"list"
        )


def delete_keys(isolation: Isolation) -> None:
    """Everything the run left under its prefix, in each Redis database it used."""
    for url in (BROKER_URL, RESULTS_URL, RATE_LIMIT_URL):
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            keys = _prefixed_keys(client, isolation.key_prefix)
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
