"""Rendering: the files a default project gets, their hygiene, secrets, and static checks."""

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import TEMPLATE_ROOT, render, run

JINJA_DEBRIS = re.compile(r"\{\{|\{%|\{#|%\}|#\}")

EXPECTED_FILES = [
    ".copier-answers.yml",
    ".env",
    ".env.example",
    ".gitignore",
    "README.md",
    "compose.yaml",
    "justfile",
    "backend/pyproject.toml",
    "backend/Dockerfile",
    "backend/alembic.ini",
    "backend/alembic/env.py",
    "backend/app/main.py",
    "backend/app/api/v1/endpoints/auth.py",
    "backend/app/core/config.py",
    "backend/app/core/logging.py",
    "backend/app/core/security.py",
    "backend/app/db/session.py",
    "backend/app/models/user.py",
    "backend/app/schemas/user.py",
    "backend/app/schemas/token.py",
    "backend/app/services/user_service.py",
    "backend/app/worker/celery_app.py",
    "backend/app/tasks/example_task.py",
    "backend/tests/e2e/test_welcome_email_flow.py",
]

REQUIRED_RECIPES = [
    "start",
    "stop",
    "logs",
    "worker",
    "api",
    "dev",
    "test",
    "lint",
    "fmt",
    "migrate",
    "shell",
]


def rendered_files(project: Path) -> list[Path]:
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and not skip.intersection(path.relative_to(project).parts)
    ]


def env_values(project: Path) -> dict[str, str]:
    lines = (project / ".env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return dict(pairs)


def tracked_files(project: Path) -> list[Path]:
    listing = run(["git", "ls-files"], project).stdout.splitlines()
    return [project / name for name in listing]


def test_default_project_has_the_documented_layout(default_project: Path) -> None:
    missing = [name for name in EXPECTED_FILES if not (default_project / name).is_file()]
    assert missing == []
    migrations = list((default_project / "backend/alembic/versions").glob("*.py"))
    assert len(migrations) == 1


def test_no_template_debris_and_no_empty_files(default_project: Path) -> None:
    files = rendered_files(default_project)
    assert [f for f in files if f.suffix == ".jinja"] == []
    assert [f for f in files if f.stat().st_size == 0] == []
    debris = [f for f in files if JINJA_DEBRIS.search(f.read_text(errors="replace"))]
    assert debris == []


def test_answers_file_records_answers_and_no_secrets(default_project: Path) -> None:
    answers = yaml.safe_load((default_project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "my_service"
    assert answers["python_version"] == "3.13"
    assert "_commit" in answers
    assert not any("secret" in key or "password" in key for key in answers)


def test_secrets_live_only_in_the_ignored_env_file(default_project: Path) -> None:
    secrets = {
        key: value
        for key, value in env_values(default_project).items()
        if key in {"SECRET_KEY", "POSTGRES_PASSWORD"}
    }
    assert set(secrets) == {"SECRET_KEY", "POSTGRES_PASSWORD"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in secrets.values())

    run(["git", "check-ignore", "--quiet", ".env"], default_project)
    tracked = tracked_files(default_project)
    assert default_project / ".env" not in tracked
    leaks = [
        (path.name, key)
        for path in tracked
        for key, value in secrets.items()
        if value in path.read_text(errors="replace")
    ]
    assert leaks == []


def test_each_project_gets_its_own_secrets(tmp_path: Path) -> None:
    first = env_values(render(tmp_path / "first"))
    second = env_values(render(tmp_path / "second"))

    for key in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert first[key] != second[key]
    # The local database URL carries the same generated password as compose's PostgreSQL.
    assert first["POSTGRES_PASSWORD"] in first["DATABASE_URL"]


def test_project_passes_lint_format_and_type_checks(default_project: Path) -> None:
    run(["just", "lint"], default_project)


@pytest.mark.parametrize("python_version", ["3.11", "3.12"])
def test_other_python_versions_pass_lint_and_type_checks(
    tmp_path: Path, python_version: str
) -> None:
    project = render(tmp_path / "project", python_version=python_version)

    assert (project / "backend/.python-version").read_text().strip() == python_version
    assert f"FROM python:{python_version}-slim" in (project / "backend/Dockerfile").read_text()
    run(["just", "lint"], project)
    interpreter = run(["uv", "run", "python", "--version"], project / "backend").stdout
    assert interpreter.startswith(f"Python {python_version}.")


def test_justfile_explains_every_recipe(default_project: Path) -> None:
    listing = run(["just", "--list", "--unsorted"], default_project).stdout
    lines = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip()}
    aliases = set(re.findall(r"\[alias: (\w+)\]", listing))

    assert set(REQUIRED_RECIPES) <= set(lines) | aliases
    undocumented = [name for name, line in lines.items() if "#" not in line]
    assert undocumented == []


def test_compose_file_is_valid_and_wires_the_stack(default_project: Path) -> None:
    compose_file = default_project / "compose.yaml"
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(compose_file)],
        default_project,
    )
    services = yaml.safe_load(compose_file.read_text())["services"]

    assert {"api", "worker", "db", "redis", "mailpit"} <= set(services)
    assert [name for name, service in services.items() if "healthcheck" not in service] == [
        "migrate"
    ]
    for name in ("api", "worker"):
        conditions = {dep["condition"] for dep in services[name]["depends_on"].values()}
        assert conditions <= {"service_healthy", "service_completed_successfully"}
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published
    assert all(port.startswith("127.0.0.1:") for port in published)


def test_worker_command_is_the_same_in_compose_and_justfile(default_project: Path) -> None:
    compose_command = yaml.safe_load((default_project / "compose.yaml").read_text())["services"][
        "worker"
    ]["command"]
    just_command = run(["just", "--dry-run", "worker"], default_project).stderr.strip()

    assert just_command == f'uv run {compose_command} "$@"'


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "   "}, "The project name cannot be empty"),
        ({"project_slug": "My Service"}, "lowercase Python identifier"),
        ({"project_slug": "1service"}, "lowercase Python identifier"),
        ({"author_email": "not-an-email"}, "valid email address"),
        ({"python_version": "3.10"}, "python_version"),
    ],
)
def test_bad_answers_are_rejected_with_a_message(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render(tmp_path / "project", **answers)
    assert not (tmp_path / "project").exists()


def test_ci_runs_the_test_command_from_the_readme() -> None:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```sh\n(.+?)\n```", readme, re.DOTALL)
    assert match, "README.md must mark its test command with <!-- test-command -->"
    ci_script = (TEMPLATE_ROOT / ".ci/run").read_text()
    assert match.group(1).strip() in ci_script
