"""What the figures were measured on: the machine, the servers, each project's packages."""

import json
import os
import platform
import subprocess
from typing import Any

import redis

from bench import isolation
from bench.render import Project

PACKAGES = ("celery", "kombu", "redis", "uvicorn", "uvloop", "fastapi", "sqlalchemy", "asyncpg")
_VERSIONS = f"""
import importlib.metadata, json, platform
versions = {{}}
for name in {PACKAGES!r}:
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        versions[name] = "not installed"
print(json.dumps({{"python": platform.python_version(), "packages": versions}}))
"""


def machine(load_average_at_start: float) -> dict[str, Any]:
    with redis.Redis.from_url(isolation.BROKER_URL, socket_connect_timeout=2) as client:
        redis_version = str(client.info("server")["redis_version"])
    return {
        "cores": os.cpu_count(),
        "load_average_at_start": load_average_at_start,
        "platform": platform.platform(),
        "harness_python": platform.python_version(),
        "redis": redis_version,
        "postgresql": isolation.server_version(),
    }


def project_versions(project: Project) -> dict[str, Any]:
    """The project venv's Python and the versions of the packages that shape the figures."""
    completed = subprocess.run(
        [str(project.python), "-c", _VERSIONS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    versions: dict[str, Any] = json.loads(completed.stdout)
    return versions
