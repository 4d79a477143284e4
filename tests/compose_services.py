"""Start the commands compose runs, directly on this machine, against local services.

No Docker engine is needed: each service's `command` (and its healthcheck) from the rendered
compose.yaml (or compose.prod.yaml) runs in backend/ with the project's virtual environment, with
the service addresses pointed at 127.0.0.1 and a database, queue names and ports of its own. A
command that no longer matches the code (a wrong module, a missing dependency, a bad flag) fails
here.
"""

import os
import re
import shlex
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import command_env, postgres_database, read_env_file, stop

LOCAL_BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}


def local_service_urls(broker: str) -> dict[str, str]:
    """This machine's servers, for the URLs a project's `.env` points at compose's servers.

    `.env` carries the passwords compose gives Redis and RabbitMQ; the servers here have none
    (Redis) or only the guest user (RabbitMQ).
    """
    return {
        "CELERY_BROKER_URL": LOCAL_BROKERS[broker],
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1",
        "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/2",
    }


LONG_RUNNING = ("worker", "relay", "api", "beat", "flower")

# What a deploy adds to `.env` before compose.prod.yaml starts (the README's Deploy section).
PRODUCTION_SETTINGS = {
    "DOMAIN": "localhost",
    "SMTP_HOST": "smtp.example.com",
    "FRONTEND_URL": "https://app.example.com",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}`, and `$$` for a literal dollar."""

    def replace(match: re.Match[str]) -> str:
        value = variables.get(match[1])
        if not value and match[2] == ":?":
            raise AssertionError(f"compose would stop: {match[3]}")
        return value or (match[3] if match[2] == ":-" else "") or ""

    text = re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", replace, text)
    return text.replace("$$", "$")


@dataclass
class ServiceProcess:
    name: str
    command: list[str]
    healthcheck: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class ComposeServices:
    """The project's compose services, as local processes."""

    def __init__(
        self,
        project: Path,
        answers: dict[str, Any],
        workdir: Path,
        compose_file: str = "compose.yaml",
    ) -> None:
        self.project = project
        self.backend = project / "backend"
        # Where the commands run, and the options that run them as another user (see test_image.py).
        self.cwd = self.backend
        self.run_as: dict[str, Any] = {}
        self.answers = answers
        self.workdir = workdir
        self.compose = yaml.safe_load((project / compose_file).read_text())
        self.dotenv = read_env_file(project / ".env")
        if compose_file == "compose.prod.yaml":
            self.dotenv |= PRODUCTION_SETTINGS
        # Variables set last, over compose's (a test's own limits, say).
        self.overrides: dict[str, str] = {}
        self.suffix = uuid.uuid4().hex[:10]
        self.hostname = f"compose-check-{self.suffix}"
        self.ports = {"8000": str(free_port()), "5555": str(free_port())}
        self.schedule = workdir / "celerybeat-schedule"
        self.heartbeat = workdir / "outbox-relay-heartbeat"
        self.database_url = self._database_url()

    def _database_url(self) -> str:
        if self.answers["database"] == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / 'compose-check.db'}"
        name = f"{self.answers.get('project_slug', 'my_service')}_compose_{self.suffix}"
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def base_environment(self) -> dict[str, str]:
        """The environment before compose's: this machine's, with the project's venv first."""
        env = command_env()
        env["PATH"] = f"{self.backend / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
        return env

    def environment(self, service: str) -> dict[str, str]:
        """What compose would give the service, with every address moved to this machine."""
        env = self.base_environment()
        env.update(self.dotenv)  # env_file: .env
        for key, value in (self.compose["services"][service].get("environment") or {}).items():
            env[key] = interpolate(str(value), self.dotenv)
        env.update(
            **local_service_urls(self.answers["broker"]),
            DATABASE_URL=self.database_url,
            CELERY_KEY_PREFIX=f"compose-check-{self.suffix}.",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(free_port()),
            HOSTNAME=self.hostname,
        )
        if "METRICS_PORT" in env:  # each service's own port, on loopback
            env.update(METRICS_PORT=str(free_port()), METRICS_HOST="127.0.0.1")
        if "PROMETHEUS_MULTIPROC_DIR" in env:  # compose's tmpfs, one per container
            folder = self.workdir / "prometheus" / service
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o1777)  # a tmpfs's mode: the image's user writes there too
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        env.update(self.overrides)
        return env

    def localize(self, text: str) -> str:
        """Bind to loopback on free ports; beat's schedule and the relay's heartbeat go in the
        work folder."""
        text = text.replace("0.0.0.0", "127.0.0.1").replace(
            "/tmp/celerybeat-schedule", str(self.schedule)
        )
        text = text.replace("/tmp/outbox-relay-heartbeat", str(self.heartbeat))
        for port, free in self.ports.items():
            text = re.sub(rf"(--port[= ]|127\.0\.0\.1:){port}\b", rf"\g<1>{free}", text)
        return text

    def command(self, service: str) -> list[str]:
        text = interpolate(self.compose["services"][service]["command"], self.dotenv)
        command = shlex.split(self.localize(text))
        if service == "worker":
            command += [f"--hostname=celery@{self.hostname}", "--concurrency=1"]
        if service == "flower":
            command += ["--address=127.0.0.1"]
        return command

    def healthcheck(self, service: str) -> list[str]:
        test = self.compose["services"][service]["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            command = ["sh", "-c", self.localize(interpolate(test[1], {}))]
        else:
            assert test[0] == "CMD", test
            command = [self.localize(part) for part in test[1:]]
        # A ping sent before the worker listens waits out its whole --timeout; polled every
        # second, a short one finds the worker as soon as it is ready.
        return [re.sub(r"--timeout \d+", "--timeout 1", part) for part in command]

    def run_once(self, service: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(service),
            cwd=self.cwd,
            **self.run_as,
            env=self.environment(service),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @contextmanager
    def database(self) -> Iterator[None]:
        if self.answers["database"] == "sqlite":
            yield
            return
        with postgres_database(self.database_url.rsplit("/", 1)[1]):
            yield

    @contextmanager
    def started(self, service: str) -> Iterator[ServiceProcess]:
        started = ServiceProcess(
            service,
            self.command(service),
            self.healthcheck(service),
            self.workdir / f"{service}.log",
            env=self.environment(service),
        )
        with started.log_path.open("w") as log:
            started.process = subprocess.Popen(
                started.command,
                cwd=self.cwd,
                **self.run_as,
                env=started.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield started
        finally:
            stop(started.process)

    def wait_until_healthy(self, service: ServiceProcess, timeout: float = 90) -> None:
        """Run the service's own compose healthcheck until it passes, as compose would."""
        deadline = time.monotonic() + timeout
        while True:
            assert service.process is not None
            if service.process.poll() is not None:
                raise AssertionError(f"{service.name} exited ({service.command}):\n{service.log}")
            check = subprocess.run(
                service.healthcheck,
                cwd=self.cwd,
                **self.run_as,
                env=service.env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if check.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{service.name} never passed its healthcheck {service.healthcheck}:\n"
                    f"{check.stdout}{check.stderr}\n--- {service.name} log ---\n{service.log}"
                )
            time.sleep(1)

    def check_all(self) -> list[str]:
        """Migrate, start every long-running service, wait for each healthcheck; the names run."""
        services = self.compose["services"]
        with self.database():
            migrate = self.run_once("migrate")
            assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}{migrate.stderr}"
            with ExitStack() as stack:
                running = [
                    stack.enter_context(self.started(name))
                    for name in LONG_RUNNING
                    if name in services
                ]
                for service in running:
                    self.wait_until_healthy(service)
                return [service.name for service in running]
