"""Rendering the template and running commands in generated projects."""

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import copier
from filelock import FileLock
from pytest_copie.plugin import Copie

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ANSWERS: dict[str, Any] = {}


def command_env(**overrides: str) -> dict[str, str]:
    """The environment for commands run in a generated project.

    uv finds pyenv's interpreters only among the versions pyenv exposes, so on a pyenv machine
    every installed version is exposed (a project may ask for any of 3.11-3.13), the selected first.
    """
    env = dict(os.environ)
    pyenv_versions = Path(env.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv_versions.is_dir():
        selected = [v for v in env.get("PYENV_VERSION", "").split(":") if v]
        installed = sorted(p.name for p in pyenv_versions.iterdir() if p.name not in selected)
        env["PYENV_VERSION"] = ":".join(selected + installed)
    env.pop("VIRTUAL_ENV", None)  # the template's own venv must not leak into the project's
    # Bytecode caches are written even where this machine turns them off: each of the many Python
    # processes of a generated suite would compile every module it imports again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(overrides)
    return env


def copy(copie: Copie, template: Path | None = None, ref: str = "HEAD", **answers: Any) -> Path:
    """Render a template (this working tree, uncommitted changes included, unless another is
    given) at `ref` with these answers, else the defaults.

    pytest-copie reports a failed copy in its result; raise it, so `pytest.raises` can match it.
    """
    result = copie.copy(extra_answers=answers, template_dir=template, vcs_ref=ref)
    if result.exception is not None:
        raise result.exception
    assert result.project_dir is not None
    return result.project_dir


def render(destination: Path, **answers: Any) -> Path:
    """Render the template's working tree (uncommitted changes included) with default answers."""
    copier.run_copy(
        str(TEMPLATE_ROOT),
        destination,
        data=answers,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return destination


def new_project(copie: Copie, template: Path, ref: str, **answers: Any) -> Path:
    """A project copied from a release of a template clone, committed as `copier update` needs."""
    project = copy(copie, template, ref, **answers)
    git_init_and_commit(project)
    return project


def run(
    command: list[str], cwd: Path, timeout: float = 600, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure (unless `check` is off), raise with its whole output."""
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=command_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"`{' '.join(command)}` failed in {cwd} with exit code {completed.returncode}\n"
            f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
        )
    return completed


class MypyCaches:
    """Type-checks a generated project with mypy's cache of an earlier render of this run.

    A cold mypy run spends most of its 15 s on the libraries, which every render of one Python
    version has alike. mypy checks each cached module against its source, so the project's own
    modules are checked afresh. The first render of each version to be checked leaves its cache.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def run(
        self, command: list[str], project: Path, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`command` (`just lint`, `uv run mypy .`) run in `project`, or in its backend/."""
        backend = project if project.name == "backend" else project / "backend"
        cache = backend / ".mypy_cache"
        seed = self.folder / (backend / ".python-version").read_text().strip()
        if seed.is_dir() and not cache.exists():
            shutil.copytree(seed, cache)
        completed = run(command, project, check=check)
        with FileLock(f"{seed}.lock"):
            if not seed.exists() and cache.is_dir():
                partial = seed.with_name(f"{seed.name}.partial")  # never read half copied
                shutil.copytree(cache, partial)
                partial.rename(seed)
        return completed


def git_init_and_commit(project: Path) -> None:
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "Generated from the template")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]


def git(repo: Path, *args: str) -> str:
    return run(["git", *IDENTITY, *args], repo).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def clone_working_tree(repo: Path) -> Path:
    """A clone of this repository with the working tree committed on top (untagged). The clone
    keeps the history, so earlier commits render too."""
    run(["git", "clone", "--quiet", "--no-tags", str(TEMPLATE_ROOT), str(repo)], TEMPLATE_ROOT)
    git(repo, "rm", "-r", "--quiet", ".")
    files = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], TEMPLATE_ROOT
    ).stdout.splitlines()
    for name in files:
        source = TEMPLATE_ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "The working tree under test")
    return repo


def passing_tests(project: Path, *pytest_args: str, recipe: str = "test", **env: str) -> set[str]:
    """Run the project's suite (or the part `pytest_args` select) with `just test` (or another
    recipe that runs pytest); assert that it ran, all passed, none skipped.

    The outcome comes from the suite's JUnit report: its -v lines change shape under xdist.
    """
    report = project / ".pytest-report.xml"
    command = ["just", recipe, "-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args]
    try:
        run(command, project, **env)
        suite = ElementTree.parse(report).getroot().find("testsuite")
    finally:
        report.unlink(missing_ok=True)
    assert suite is not None
    assert int(suite.get("tests", "0")) > 0
    outcomes = {outcome: suite.get(outcome) for outcome in ("failures", "errors", "skipped")}
    assert outcomes == {"failures": "0", "errors": "0", "skipped": "0"}
    return {str(case.get("name")) for case in suite.iter("testcase")}


def stop(process: subprocess.Popen[Any], *, whole_group: bool = True, timeout: float = 30) -> None:
    """SIGTERM to a process started with `start_new_session` (its group, or the process alone,
    as Kubernetes stops a pod), then SIGKILL to the group if it outlives `timeout`."""
    with suppress(ProcessLookupError):  # it may be gone already
        if whole_group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A database of its own on this machine's PostgreSQL, dropped afterwards: its asyncpg URL."""
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"]
    subprocess.run([*psql, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run(
            [*psql, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=True,
            capture_output=True,
        )
