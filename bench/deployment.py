"""One ref's project running as compose runs it: the API, the worker, the outbox relay.

Every process runs the project's own venv python from its `backend/`, with the ref's isolation
(`bench.isolation`) in its environment and `bench_project` on its path. The API serves
`bench_project.app:app` in ONE uvicorn process with compose's `--no-access-log`.
"""

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import Client, wait_until_live
from bench.errors import BenchError
from bench.isolation import Isolation
from bench.processes import Process, free_port
from bench.render import Project
from tests.helpers import command_env

CELERY_APP = "app.worker.celery_app:celery_app"
BENCH_TASKS = "bench_project.tasks"
# The project's relay, with the bench's tasks registered (see the module).
RELAY_MODULE = "bench_project.relay"
RELAY_READY_LINE = "Outbox relay started"
WORKER_READY_LINE = " ready."
START_TIMEOUT_SECONDS = 60


@dataclass
class Api:
    process: Process
    url: str
    info: dict[str, Any] = field(default_factory=dict)
    relay: Process | None = None

    def client(self, timeout: float = 30) -> Client:
        return Client(self.url, timeout=timeout)


@dataclass
class Deployment:
    project: Project
    isolation: Isolation
    logs: Path

    def env(self, **overrides: str) -> dict[str, str]:
        return command_env(**self.isolation.environment(**overrides))

    def _process(self, name: str, arguments: list[str], log: str, **env: str) -> Process:
        command = [str(self.project.python), *arguments]
        log_path = self.logs / f"{self.isolation.name}-{log}.log"
        return Process(name, command, log_path, self.project.backend, self.env(**env))

    def run(self, arguments: list[str], timeout: float = 300, **env: str) -> None:
        completed = subprocess.run(
            [str(self.project.python), *arguments],
            cwd=self.project.backend,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0:
            raise BenchError(
                f"{' '.join(arguments)} failed for {self.project.label}:\n"
                f"{completed.stdout}\n{completed.stderr}"
            )

    def migrate(self) -> None:
        """compose's `migrate` service."""
        self.run(["-m", "alembic", "upgrade", "head"])

    def start_api(self, log: str = "api", **env: str) -> Api:
        port = free_port()
        arguments = ["-m", "uvicorn", "bench_project.app:app", "--no-access-log"]
        arguments += ["--host", "127.0.0.1", "--port", str(port)]
        process = self._process(f"The API of {self.project.label}", arguments, log, **env)
        api = Api(process, f"http://127.0.0.1:{port}")
        try:
            wait_until_live(api.url, START_TIMEOUT_SECONDS, lambda: process.process.poll() is None)
        except BenchError:
            process.stop()
            raise process.failure("did not start") from None
        client = api.client()
        try:
            api.info = client.expect("GET", "/bench/info", 200)
        finally:
            client.close()
        return api

    def start_relay(self, log: str = "relay", **env: str) -> Process:
        """The relay process."""
        name = f"The outbox relay of {self.project.label}"
        relay = self._process(name, ["-m", RELAY_MODULE], log, **env)
        return _ready(relay, RELAY_READY_LINE)

    def worker_options(self, concurrency: int) -> list[str]:
        """One pool and concurrency for every worker; no mingle, which only slows the start."""
        return [
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--hostname=bench-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
        ]

    def start_worker(self, concurrency: int, log: str = "worker", **env: str) -> Process:
        """compose's `celery -A app.worker.celery_app:celery_app worker`, with the bench's tasks."""
        arguments = ["-m", "celery", "-A", CELERY_APP, "worker", f"--include={BENCH_TASKS}"]
        name = f"The worker of {self.project.label}"
        worker = self._process(name, [*arguments, *self.worker_options(concurrency)], log, **env)
        return _ready(worker, WORKER_READY_LINE)

    def bare_environment(self) -> dict[str, str]:
        return {
            "BENCH_BARE_BROKER_URL": self.isolation.environment()["CELERY_BROKER_URL"],
            "BENCH_BARE_QUEUE": self.isolation.bare_queue,
            "CELERY_RESULT_BACKEND": "",
        }

    def start_bare_worker(self, concurrency: int, log: str = "bare-worker") -> Process:
        arguments = ["-m", "celery", "-A", "bench_project.bare:bare_app", "worker"]
        # At INFO, as the template's worker logs: both write the same lines per task.
        arguments += ["--loglevel=INFO", *self.worker_options(concurrency)]
        name = f"The bare Celery worker of {self.project.label}"
        return _ready(
            self._process(name, arguments, log, **self.bare_environment()), WORKER_READY_LINE
        )

    def fill(self, kind: str, counter: str, total: int) -> None:
        env = self.bare_environment() if kind == "bare" else {}
        self.run(["-m", "bench_project.fill", kind, counter, str(total)], **env)


def _ready(process: Process, line: str) -> Process:
    try:
        process.wait_for_log(line, timeout=START_TIMEOUT_SECONDS)
    except BaseException:
        process.stop()
        raise
    return process


@contextmanager
def serving(deployment: Deployment, log: str = "api", **env: str) -> Iterator[Api]:
    """The API and the relay process, until the block ends."""
    api = deployment.start_api(log, **env)
    with api.process:
        relay = deployment.start_relay(f"{log}-relay", **env)
        api.relay = relay
        try:
            yield api
        finally:
            relay.stop()
