"""The generated `.github/workflows/update.yml`: its update step, run here as GitHub would run it.

Only the step with `id: update` runs: it updates and commits on a branch of its own. The step after
it pushes the branch and opens the pull request with `gh`, which needs GitHub; it is not run here.

The step refuses a `_src_path` that is a path on some machine. The projects here record the
template's clone as a URL, `TEMPLATE_URL`, which git is told to fetch from the clone instead.
"""

import subprocess
from pathlib import Path

import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.helpers import clone_working_tree, edit, git, new_project, run

pytestmark = pytest.mark.xdist_group("update_workflow")

WORKFLOW = ".github/workflows/update.yml"
TEMPLATE_URL = "gh:example/fastapi-celery-template"
# What copier fetches for TEMPLATE_URL; git reads it from the template's clone (run_update_step).
TEMPLATE_GIT_URL = "https://github.com/example/fastapi-celery-template.git"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree tagged v1.0.0, then a release that changes the README, tagged v2.0.0."""
    repo = clone_working_tree(tmp_path_factory.mktemp("template-releases") / "template")
    git(repo, "tag", "v1.0.0")
    edit(repo / "template/README.md.jinja", "## Requirements", "## Requirements (v2)")
    git(repo, "commit", "--quiet", "--all", "--message", "v2: the README's requirements")
    git(repo, "tag", "v2.0.0")
    return repo


def update_step(project: Path) -> str:
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    [step] = [step for step in workflow["jobs"]["update"]["steps"] if step.get("id") == "update"]
    script: str = step["run"]
    assert "${{" not in script, "the step must run outside GitHub Actions as it is"
    return script


def set_src_path(project: Path, template: Path, src_path: str) -> None:
    """Replace the template's path recorded in `.copier-answers.yml`, and commit."""
    edit(project / ".copier-answers.yml", f"_src_path: {template}", f"_src_path: {src_path}")
    git(project, "commit", "--quiet", "--all", "--message", f"_src_path: {src_path}")


def project_from_url(copie: Copie, template: Path, ref: str) -> Path:
    """A project whose `.copier-answers.yml` names the template by `TEMPLATE_URL`, as one copied
    from the URL does (or one whose `_src_path` was set to it, as the step asks)."""
    project = new_project(copie, template, ref)
    set_src_path(project, template, TEMPLATE_URL)
    return project


def run_update_step(
    project: Path, template: Path, tmp_path: Path, check: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The step's script with bash -e, GitHub's default shell, and a file for its outputs.
    git fetches `TEMPLATE_GIT_URL` from `template`; copier caches it under `tmp_path`."""
    script = tmp_path / "update-step.sh"
    script.write_text(update_step(project))
    outputs = tmp_path / "github-output"
    outputs.write_text("")
    env = {
        "GITHUB_OUTPUT": str(outputs),
        "COPIER_CACHE_DIR": str(tmp_path / "copier-cache"),
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{template}.insteadOf",
        "GIT_CONFIG_VALUE_0": TEMPLATE_GIT_URL,
        "GIT_TERMINAL_PROMPT": "0",
    }
    return run(["bash", "-e", str(script)], project, check=check, **env), outputs


def step_outputs(path: Path) -> dict[str, str]:
    """Parse `$GITHUB_OUTPUT`: `name=value` lines and `name<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        name, block, delimiter = line.partition("<<")
        if block and "=" not in name:
            value: list[str] = []
            for text in lines:
                if text == delimiter:
                    break
                value.append(text)
            values[name] = "\n".join(value)
        else:
            name, _, text = line.partition("=")
            values[name] = text
    return values


def answers(project: Path) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return loaded


def branches(project: Path) -> list[str]:
    return git(project, "branch", "--format=%(refname:short)").split()


def test_no_newer_release_no_branch_and_nothing_changed(
    template_repo: Path, copie: Copie, tmp_path: Path
) -> None:
    project = project_from_url(copie, template_repo, "v2.0.0")
    head = git(project, "rev-parse", "HEAD")

    result, outputs = run_update_step(project, template_repo, tmp_path)

    assert "No update: the project is on the template's newest release." in result.stdout
    assert step_outputs(outputs) == {}
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head
    assert branches(project) == ["main"]


def test_a_newer_release_is_committed_on_a_branch_for_the_pull_request(
    template_repo: Path, copie: Copie, tmp_path: Path
) -> None:
    project = project_from_url(copie, template_repo, "v1.0.0")
    main = git(project, "rev-parse", "main")

    result, outputs = run_update_step(project, template_repo, tmp_path)

    assert "Updated from the template: v1.0.0 -> v2.0.0" in result.stdout
    values = step_outputs(outputs)
    assert values["version"] == "v2.0.0"
    assert values["branch"] == "template-update/v2.0.0"
    assert "`copier update` from the template's v1.0.0 to v2.0.0." in values["body"]
    assert "No conflicts." in values["body"]
    assert git(project, "branch", "--show-current").strip() == "template-update/v2.0.0"
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD^") == main
    assert git(project, "rev-parse", "main") == main
    assert answers(project)["_commit"] == "v2.0.0"
    assert answers(project)["_src_path"] == TEMPLATE_URL
    assert "## Requirements (v2)" in (project / "README.md").read_text()


def test_a_conflicting_edit_is_committed_with_markers_and_named_for_the_pull_request(
    template_repo: Path, copie: Copie, tmp_path: Path
) -> None:
    project = project_from_url(copie, template_repo, "v1.0.0")
    edit(project / "README.md", "## Requirements", "## What you need")
    git(project, "commit", "--quiet", "--all", "--message", "User edits")

    result, outputs = run_update_step(project, template_repo, tmp_path)

    values = step_outputs(outputs)
    assert values["version"] == "v2.0.0"
    conflicted = [line for line in values["body"].splitlines() if line.startswith("- ")]
    assert conflicted == ["- `README.md`"]
    assert "No conflicts." not in values["body"]
    assert git(project, "status", "--porcelain") == ""
    assert run(["git", "ls-files", "--unmerged"], project).stdout == ""
    committed = git(project, "show", "HEAD:README.md")
    assert "<<<<<<< before updating" in committed
    assert "## What you need" in committed
    assert "## Requirements (v2)" in committed
    assert answers(project)["_commit"] == "v2.0.0"
    assert "-> v2.0.0" in result.stdout


@pytest.mark.parametrize(
    "src_path",
    ["recorded", "file://{template}", "git+file://{template}"],
    ids=["path", "file-url", "git-file-url"],
)
def test_a_template_path_is_refused_with_how_to_fix_it(
    template_repo: Path, copie: Copie, tmp_path: Path, src_path: str
) -> None:
    """A path (as `copier copy PATH` records it) or a file URL is on the machine the project was
    rendered on, not on the runner: the step stops before copier, though the path works here."""
    project = new_project(copie, template_repo, "v1.0.0")
    if src_path != "recorded":
        set_src_path(project, template_repo, src_path.format(template=template_repo))
    head = git(project, "rev-parse", "HEAD")

    result, outputs = run_update_step(project, template_repo, tmp_path, check=False)

    assert result.returncode != 0
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert "_src_path" in error
    assert "to the template's git URL (for example gh:owner/repo" in error
    assert step_outputs(outputs) == {}
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "HEAD") == head
    assert branches(project) == ["main"]
    assert answers(project)["_commit"] == "v1.0.0"
