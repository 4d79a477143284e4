"""Fixtures shared by the template tests."""

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import git_init_and_commit, render, run


@pytest.fixture(scope="session", autouse=True)
def _isolated_copier_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A user's copier settings (defaults, trust) must not change what the tests render."""
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("{}\n")
    previous = os.environ.get("COPIER_SETTINGS_PATH")
    os.environ["COPIER_SETTINGS_PATH"] = str(settings)
    yield
    if previous is None:
        os.environ.pop("COPIER_SETTINGS_PATH", None)
    else:
        os.environ["COPIER_SETTINGS_PATH"] = previous


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services() -> None:
    """The generated projects' tests need real PostgreSQL and Redis; say which one is missing."""
    missing = [
        f"{name} at 127.0.0.1:{port}"
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.fail(
            "Generated-project tests need these services, which are not reachable: "
            + ", ".join(missing),
            pytrace=False,
        )
    redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project rendered with every default answer, committed to git, dependencies installed."""
    project = render(tmp_path_factory.mktemp("default") / "my-service")
    git_init_and_commit(project)
    run(["uv", "sync", "--quiet"], project / "backend")
    return project


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of its own for a test that starts workers outside the project's suite."""
    return f"template-test-{uuid.uuid4().hex[:10]}:"
