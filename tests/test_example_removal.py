"""The example job is one unit: deleted as the generated README says, it leaves a clean project.

The test deletes the files that the README's "The example job" section lists, and the example's
lines in the router; then the project's lint (ruff, and mypy over every module, so an import of
the example anywhere fails) and the tests of what stays must pass.
"""

import re
import shutil
from pathlib import Path

import pytest

from tests.compose_services import local_service_urls
from tests.helpers import MypyCaches, edit, git, passing_tests, run

EXAMPLE_SECTION = "### The example job"
ROUTER = "backend/app/api/v1/router.py"
# What the example touched and what stays: the router still serving the API (tests of auth), the
# task status endpoint and TaskService, the rules every task follows (tests/worker) and a task
# followed to its result through a worker process. In one process, as each test process sets up
# a database of its own. The rest of the suite (the accounts' flows, faults, relay, the contract
# fuzzing...) takes most of its time, and mypy has already shown that none of it imports the
# example.
REMAINING_TESTS = [
    "tests/api/v1/test_auth.py",
    "tests/api/v1/test_tasks.py",
    "tests/worker",
    "tests/e2e/test_task_status_flow.py",
    "-n0",
]


def files_the_readme_names(readme: str) -> list[str]:
    """The files listed in the README's example section (its bullet list)."""
    assert EXAMPLE_SECTION in readme, "the README has no section on the example job"
    section = readme.split(EXAMPLE_SECTION, 1)[1].split("\n#", 1)[0]
    listed = re.search(r"^- .*?(?=\n\n)", section, re.MULTILINE | re.DOTALL)
    assert listed is not None, f"no list of files in the README's example section:{section}"
    return re.findall(r"`(backend/[^`]+)`", listed[0])


@pytest.mark.usefixtures("services")
@pytest.mark.xdist_group("default")
def test_deleting_the_example_as_the_readme_says_leaves_a_passing_project(
    default_project: Path, tmp_path: Path, mypy_caches: MypyCaches
) -> None:
    project = tmp_path / "project"
    shutil.copytree(default_project, project, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    backend = project / "backend"
    named = files_the_readme_names((project / "README.md").read_text())
    examples = git(project, "ls-files", "--", "*example_job*").split()
    assert sorted(named) == sorted(examples), "the README names other files than the example's"

    for name in named:
        (project / name).unlink()
    edit(project / ROUTER, "auth, example_job, tasks, users\n", "auth, tasks, users\n")
    edit(project / ROUTER, "api_router.include_router(example_job.router)\n", "")

    run(["uv", "sync", "--quiet"], backend)
    mypy_caches.run(["just", "lint"], project)  # mypy reads every module, tests included
    passed = passing_tests(project, *REMAINING_TESTS, **local_service_urls("redis"))
    assert "test_a_started_task_reports_progress_then_its_result" in passed
