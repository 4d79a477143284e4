"""The programs the suites run: one list (.ci/programs), installed where CI runs the tests.

GitHub's runners lack some of them (redis-server, which the generated broker fault tests start),
so every CI entry point that runs pytest must run .ci/install-programs first.
"""

import os
import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import TEMPLATE_ROOT, run

PROGRAMS_FILE = TEMPLATE_ROOT / ".ci/programs"
INSTALL_SCRIPT = TEMPLATE_ROOT / ".ci/install-programs"

# Heuristic for "a program the suite runs": a list literal that starts with a string and goes on
# (a command line: `["git", "init", ...]`, `["node", str(script)]`) naming a program this machine
# has, not compared with `==`; and any `shutil.which("...")`. Lists of other strings (variant
# names, answers) name no program here and drop out; a program this machine lacks fails the
# suite here already.
COMMAND_LIST = re.compile(r'(?<!==)(?<!== )\[\s*"([A-Za-z0-9][\w.+-]*)"\s*,')
WHICH = re.compile(r'shutil\.which\(\s*"([^"]+)"')


def listed_programs() -> dict[str, tuple[str, str]]:
    """Each program of .ci/programs, with where it comes from and its package."""
    programs = {}
    for line in PROGRAMS_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            program, source, package = line.split()
            programs[program] = (source, package)
    return programs


def programs_run_by(files: list[Path]) -> dict[str, list[str]]:
    """The programs each file runs, by the heuristic above, with the files that run it."""
    found: dict[str, list[str]] = {}
    for path in files:
        text = path.read_text()
        names = {name for name in COMMAND_LIST.findall(text) if shutil.which(name)}
        for name in names | set(WHICH.findall(text)):
            found.setdefault(name, []).append(path.relative_to(TEMPLATE_ROOT).as_posix())
    return found


def steps_running(steps: list[dict[str, Any]], text: str) -> list[int]:
    return [index for index, step in enumerate(steps) if text in step.get("run", "")]


def readme_test_command() -> str:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```sh\n(.+?)\n```", readme, re.DOTALL)
    assert match, "README.md must mark its test command with <!-- test-command -->"
    return match.group(1).strip()


def test_every_listed_program_is_on_path() -> None:
    programs = listed_programs()
    assert {"uv", "just", "git", "node", "npm", "redis-server"} <= set(programs)
    assert {source for source, _ in programs.values()} <= {"pip", "apt", "dev"}
    missing = [program for program in programs if shutil.which(program) is None]
    assert not missing, f"not on PATH after .ci/install-programs and `uv sync`: {missing}"


def test_dev_programs_come_from_the_dev_group() -> None:
    """`uv sync --locked` installs the `dev` ones, so pyproject.toml's dev group has them."""
    pyproject = tomllib.loads((TEMPLATE_ROOT / "pyproject.toml").read_text())
    dev_group = [re.split(r"[^\w.-]", entry)[0] for entry in pyproject["dependency-groups"]["dev"]]
    for program, (source, package) in listed_programs().items():
        if source == "dev":
            assert package in dev_group, f"{program}: {package} is not in the dev group"


def test_the_suites_run_only_listed_programs() -> None:
    suites = [
        *(TEMPLATE_ROOT / "tests").glob("*.py"),
        *(p for p in (TEMPLATE_ROOT / "template/backend/tests").rglob("*") if p.is_file()),
    ]
    found = programs_run_by([path for path in suites if path != Path(__file__)])
    assert {"git", "uv", "redis-server"} <= set(found)  # the heuristic sees the known ones
    unlisted = {name: files for name, files in found.items() if name not in listed_programs()}
    assert not unlisted, f"programs the suites run that .ci/programs does not list: {unlisted}"


def test_install_script_finds_nothing_missing_here() -> None:
    assert os.access(INSTALL_SCRIPT, os.X_OK)
    installed = run([str(INSTALL_SCRIPT)], TEMPLATE_ROOT)
    assert "Installing" not in installed.stdout + installed.stderr


def test_install_script_installs_only_what_is_missing(tmp_path: Path) -> None:
    """With pip, apt-get and sudo replaced by stand-ins that log their arguments (as a user who is
    not root): each missing program's package once, through its installer; present ones never."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(INSTALL_SCRIPT, tmp_path / ".ci/install-programs")
    (tmp_path / ".ci/programs").write_text(
        "# program  from  package\n"
        "git                   apt  git\n"
        "template-test-lacks-a pip  package-a\n"
        "template-test-lacks-b pip  package-a\n"
        "template-test-lacks-c apt  package-c\n"
        "template-test-lacks-d dev  package-d\n"
    )
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    for name in ("python3", "sudo", "apt-get"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
    (stubs / "id").write_text("#!/bin/sh\necho 1000\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)

    path = f"{stubs}{os.pathsep}{os.environ['PATH']}"
    run([str(tmp_path / ".ci/install-programs")], tmp_path, PATH=path)

    calls = log.read_text().splitlines()
    assert "python3 -m pip install --quiet --disable-pip-version-check package-a" in calls
    install = [call for call in calls if "apt-get install" in call]
    assert install == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install --quiet --yes "
        "--no-install-recommends package-c"
    ]
    assert "sudo apt-get update --quiet" in calls
    assert not [call for call in calls if "package-d" in call or call.endswith(" git")]


def jobs_running_pytest(workflows: Path) -> dict[str, list[dict[str, Any]]]:
    """The steps of every job, in every workflow file, with a step that runs pytest."""
    jobs = {}
    for path in sorted(workflows.glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            if steps_running(job.get("steps", []), "pytest"):
                jobs[f"{path.name}: {name}"] = job["steps"]
    return jobs


def test_every_ci_job_that_runs_pytest_installs_the_programs_first() -> None:
    jobs = jobs_running_pytest(TEMPLATE_ROOT / ".github/workflows")
    assert len(jobs) >= 2, jobs  # the render matrix and the update tests
    for name, steps in jobs.items():
        installs = steps_running(steps, ".ci/install-programs")
        assert installs, f"job {name} runs pytest without .ci/install-programs"
        first_test = steps_running(steps, "pytest")[0]
        assert installs[0] < first_test, f"job {name} installs the programs after running pytest"


def test_ci_run_installs_the_programs_then_runs_the_readme_test_command() -> None:
    lines = (TEMPLATE_ROOT / ".ci/run").read_text().splitlines()
    commands = [line.split(" #")[0].strip() for line in lines if line.strip()]
    commands = [command for command in commands if not command.startswith("#")]
    assert ".ci/install-programs" in commands
    assert commands[-1] == readme_test_command()
    assert commands.index(".ci/install-programs") < commands.index("uv sync --locked")


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_generated_ci_installs_redis_server_when_its_tests_start_one(
    render: Callable[..., Path], broker: str
) -> None:
    project = render(broker=broker, ci="github")
    starters = [
        path
        for path in (project / "backend/tests").rglob("test_*.py")
        if "tests.support.redis_server import" in path.read_text()
    ]
    if broker == "redis":
        assert starters, "the Redis broker's fault tests start a redis-server of their own"
    jobs = jobs_running_pytest(project / ".github/workflows")
    assert jobs
    for name, steps in jobs.items():
        installs = [
            index
            for index, step in enumerate(steps)
            if re.search(r"apt-get install .*\bredis-server\b", step.get("run", ""))
        ]
        if starters:
            assert installs, f"{starters} start redis-server, which job {name} never installs"
            assert installs[0] < steps_running(steps, "pytest")[0], name
        else:
            assert not installs, f"job {name} installs redis-server for tests that never start it"
