"""Rendering: the files a default project gets, their hygiene, secrets, and static checks."""

import ast
import ipaddress
import itertools
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.conftest import Projects
from tests.helpers import TEMPLATE_ROOT, MypyCaches, copy, read_env_file, run
from tests.variants import TRACES, VARIANTS, answers_of, variant_params

JINJA_DEBRIS = re.compile(r"\{\{|\{%|\{#|%\}|#\}")
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
GRAFANA_LEGEND = re.compile(r'"legendFormat": "[^"]*"')

EXPECTED_FILES = [
    ".copier-answers.yml",
    ".env",
    ".env.example",
    ".gitignore",
    "README.md",
    "compose.yaml",
    "compose.prod.yaml",
    "deploy/caddy/Caddyfile",
    "justfile",
    "backend/pyproject.toml",
    "backend/Dockerfile",
    "backend/alembic.ini",
    "backend/alembic/env.py",
    "backend/app/main.py",
    "backend/app/api/health.py",
    "backend/app/api/v1/endpoints/auth.py",
    "backend/app/api/v1/endpoints/tasks.py",
    "backend/app/core/config.py",
    "backend/app/core/logging.py",
    "backend/app/core/security.py",
    "backend/app/db/session.py",
    "backend/app/models/user.py",
    "backend/app/schemas/user.py",
    "backend/app/schemas/token.py",
    "backend/app/services/user_service.py",
    "backend/app/worker/celery_app.py",
    "backend/app/worker/request_id.py",
    "backend/app/tasks/emails.py",
    "backend/app/relay/relay.py",
    "backend/app/cli.py",
    "backend/tests/e2e/test_welcome_email_flow.py",
]

REQUIRED_RECIPES = [
    "start",
    "observability",
    "stop",
    "logs",
    "worker",
    "relay",
    "api",
    "dev",
    "test",
    "lint",
    "fmt",
    "migrate",
    "shell",
    "prod-start",
    "prod-stop",
    "prod-logs",
    "mail",
]


# What tools and runs leave in a project, not what the template renders.
SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
SKIP_DIRS |= {".hypothesis", "node_modules"}


def rendered_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(project).parts)
    ]


def env_values(project: Path) -> dict[str, str]:
    return read_env_file(project / ".env")


def tracked_files(project: Path) -> list[Path]:
    listing = run(["git", "ls-files"], project).stdout.splitlines()
    return [project / name for name in listing]


@pytest.mark.xdist_group("default")
def test_default_project_has_the_documented_layout(default_project: Path) -> None:
    missing = [name for name in EXPECTED_FILES if not (default_project / name).is_file()]
    assert missing == []
    migrations = list((default_project / "backend/alembic/versions").glob("*.py"))
    assert len(migrations) == 7  # the fourth, PostgreSQL's outbox notification, is default only


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("variant", variant_params())
def test_tasks_never_import_services_and_services_hold_no_process_wiring(
    projects: Projects, variant: str
) -> None:
    """Requests (services) queue tasks; tasks run on core, db and models: no cycle between them.

    A process's wiring (the API app, the relay, the worker's signal handlers, the CLI) stays out
    of the business logic, which the processes share.
    """
    app = projects(variant) / "backend" / "app"
    wiring = (
        "app.main",
        "app.relay",
        "app.cli",
        "app.worker.dead_letters",
        "app.worker.request_id",
    )
    crossings = [
        f"{path.relative_to(app)} imports {module}"
        for folder, forbidden in (("tasks", ("app.services",)), ("services", wiring))
        for path in (app / folder).rglob("*.py")
        for module in imported_modules(path)
        if module.startswith(forbidden)
    ]
    assert crossings == []


@pytest.mark.parametrize("variant", variant_params())
def test_no_template_debris_and_no_empty_files(projects: Projects, variant: str) -> None:
    files = rendered_files(projects(variant))
    assert [f for f in files if f.suffix == ".jinja"] == []
    assert [f for f in files if f.stat().st_size == 0] == []
    debris = []
    for path in files:
        if JINJA_DEBRIS.search(str(path.relative_to(projects(variant)))):
            debris.append(path)  # a file or folder name that was never rendered
            continue
        text = path.read_text(errors="replace")
        if ".github" in path.parts:  # GitHub's own ${{ ... }} expressions belong there
            text = GITHUB_EXPRESSION.sub("", text)
        if path.suffix == ".json" and "grafana" in path.parts:  # Grafana's {{label}} legends
            text = GRAFANA_LEGEND.sub("", text)
        if JINJA_DEBRIS.search(text):
            debris.append(path)
    assert debris == []


@pytest.mark.parametrize("variant", variant_params())
def test_disabled_options_leave_no_trace(projects: Projects, variant: str) -> None:
    project = projects(variant)
    answers = answers_of(variant)
    absent = {
        choice: pattern for choice, pattern in TRACES.items() if answers[choice[0]] != choice[1]
    }
    present = {
        choice: pattern for choice, pattern in TRACES.items() if answers[choice[0]] == choice[1]
    }
    files = [
        path
        for path in rendered_files(project)
        if path.name not in {".copier-answers.yml", "uv.lock"}
    ]
    texts = {
        path: f"{path.relative_to(project)}\n{path.read_text(errors='replace')}" for path in files
    }

    traces = [
        (str(path.relative_to(project)), choice)
        for choice, pattern in absent.items()
        for path, text in texts.items()
        if re.search(pattern, text)
    ]
    assert traces == []
    missing = [
        choice
        for choice, pattern in present.items()
        if not any(re.search(pattern, text) for text in texts.values())
    ]
    assert missing == []


@pytest.mark.xdist_group("default")
def test_answers_file_records_answers_and_no_secrets(default_project: Path) -> None:
    answers = yaml.safe_load((default_project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "my_service"
    assert answers["python_version"] == "3.13"
    assert "_commit" in answers
    assert not any("secret" in key or "password" in key for key in answers)


@pytest.mark.parametrize("variant", variant_params())
def test_secrets_live_only_in_the_ignored_env_file(projects: Projects, variant: str) -> None:
    project = projects(variant)
    answers = answers_of(variant)
    secrets = {
        key: value
        for key, value in env_values(project).items()
        if key == "SECRET_KEY" or key.endswith("_PASSWORD")
    }
    expected = {"SECRET_KEY", "REDIS_PASSWORD"}
    expected |= {"POSTGRES_PASSWORD"} if answers["database"] == "postgresql" else set()
    expected |= {"RABBITMQ_PASSWORD"} if answers["broker"] == "rabbitmq" else set()
    expected |= {"FLOWER_PASSWORD"} if answers["use_flower"] else set()
    assert set(secrets) == expected
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in secrets.values())
    assert len(set(secrets.values())) == len(secrets)

    run(["git", "check-ignore", "--quiet", ".env"], project)
    tracked = tracked_files(project)
    assert project / ".env" not in tracked
    leaks = [
        (path.name, key)
        for path in tracked
        for key, value in secrets.items()
        if value in path.read_text(errors="replace")
    ]
    assert leaks == []


@pytest.mark.parametrize("variant", ["default", "all_on"])
def test_each_project_gets_its_own_secrets(render: Callable[..., Path], variant: str) -> None:
    first = env_values(render(**VARIANTS[variant]))
    second = env_values(render(**VARIANTS[variant]))

    secret_keys = [key for key in first if key == "SECRET_KEY" or key.endswith("_PASSWORD")]
    assert secret_keys
    for key in secret_keys:
        assert first[key] != second[key]
    if "POSTGRES_PASSWORD" in first:
        # The local URLs carry the same generated passwords as compose's servers.
        assert first["POSTGRES_PASSWORD"] in first["DATABASE_URL"]
    if "RABBITMQ_PASSWORD" in first:
        assert first["RABBITMQ_PASSWORD"] in first["CELERY_BROKER_URL"]
    for url_key in ("CELERY_RESULT_BACKEND", "RATE_LIMIT_STORAGE_URL"):
        assert f":{first['REDIS_PASSWORD']}@" in first[url_key]


@pytest.mark.parametrize("variant", variant_params())
def test_project_passes_lint_format_and_type_checks(
    projects: Projects, variant: str, mypy_caches: MypyCaches
) -> None:
    mypy_caches.run(["just", "lint"], projects(variant))


@pytest.mark.parametrize("variant", variant_params())
def test_the_chosen_python_version_is_used_everywhere(projects: Projects, variant: str) -> None:
    project = projects(variant)
    version = answers_of(variant)["python_version"]

    assert (project / "backend/.python-version").read_text().strip() == version
    assert f"FROM python:{version}-slim" in (project / "backend/Dockerfile").read_text()
    pyproject = (project / "backend/pyproject.toml").read_text()
    assert f'requires-python = ">={version}"' in pyproject
    assert f'target-version = "py{version.replace(".", "")}"' in pyproject
    interpreter = run(["uv", "run", "python", "--version"], project / "backend").stdout
    assert interpreter.startswith(f"Python {version}.")


@pytest.mark.parametrize("variant", variant_params())
def test_dockerfile_passes_hadolint(projects: Projects, variant: str) -> None:
    run(["hadolint", "backend/Dockerfile"], projects(variant))


@pytest.mark.parametrize("variant", variant_params())
def test_ci_files_pass_actionlint_and_their_schemas(
    projects: Projects, variant: str, actionlint: list[str]
) -> None:
    project = projects(variant)
    workflows = sorted(project.glob(".github/workflows/*.yml"))
    if answers_of(variant)["ci"] == "none":
        assert not (project / ".github").exists()
        return
    assert [path.name for path in workflows] == ["ci.yml", "update.yml"]
    run([*actionlint, *map(str, workflows)], project)
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
        project,
    )
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        project,
    )
    workflow = yaml.safe_load(workflows[0].read_text())
    services = set(workflow["jobs"]["test"]["services"])
    expected = {"redis"}
    expected |= {"postgres"} if answers_of(variant)["database"] == "postgresql" else set()
    expected |= {"rabbitmq"} if answers_of(variant)["broker"] == "rabbitmq" else set()
    assert services == expected


def test_the_template_repos_own_workflows_pass_actionlint(actionlint: list[str]) -> None:
    workflows = sorted(map(str, (TEMPLATE_ROOT / ".github/workflows").glob("*.yml")))
    assert [Path(path).name for path in workflows] == ["ci.yml", "release.yml"]
    run([*actionlint, *workflows], TEMPLATE_ROOT)
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows],
        TEMPLATE_ROOT,
    )


@pytest.mark.parametrize("variant", variant_params())
def test_justfile_explains_every_recipe(projects: Projects, variant: str) -> None:
    listing = run(["just", "--list", "--unsorted"], projects(variant)).stdout
    lines = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip()}
    aliases = set(re.findall(r"\[alias: (\w+)\]", listing))

    answers = answers_of(variant)
    optional = {"beat": answers["use_beat"], "flower": answers["use_flower"]}
    assert set(REQUIRED_RECIPES) <= set(lines) | aliases
    assert {name for name, wanted in optional.items() if wanted} <= set(lines)
    assert not {name for name, wanted in optional.items() if not wanted} & set(lines)
    undocumented = [name for name, line in lines.items() if "#" not in line]
    assert undocumented == []


@pytest.mark.parametrize("variant", variant_params())
def test_justfile_recipes_call_only_commands_the_project_has(
    projects: Projects, variant: str
) -> None:
    project = projects(variant)
    recipes = json.loads(run(["just", "--dump", "--dump-format", "json"], project).stdout)
    executables = {path.name for path in (project / "backend/.venv/bin").iterdir()}
    services = set(yaml.safe_load((project / "compose.yaml").read_text())["services"])
    compose_commands = {"up", "down", "logs", "exec"}

    problems = []
    for name, recipe in recipes["recipes"].items():
        if recipe["shebang"] or name == "default":
            continue
        arguments = ["a message"] if name == "migration" else []
        dry_run = run(["just", "--dry-run", name, *arguments], project).stderr
        for line in dry_run.splitlines():
            words = shlex.split(line)
            while words and re.fullmatch(r"\w+=.*", words[0]):  # VAR=value before the command
                words.pop(0)
            if words[:2] == ["uv", "run"]:
                commands = [words[2]]
                if words[2] == "watchfiles":  # it runs the command given in quotes
                    commands.append(shlex.split(words[words.index("--filter") + 2])[0])
                problems += [(name, command) for command in commands if command not in executables]
            elif words[:2] == ["docker", "compose"]:
                words = words[2:]
                if words[0] == "-f":  # the production stack's file
                    if not (project / words[1]).is_file():
                        problems.append((name, words[1]))
                    words = words[2:]
                if words[0] not in compose_commands:
                    problems.append((name, words[0]))
                defaults = [p["default"] for p in recipe["parameters"] if p["default"]]
                if words[0] == "exec" and not set(defaults) <= services:
                    problems.append((name, str(defaults)))
            elif words[0] != "uv":
                problems.append((name, words[0]))
    assert problems == []


def valid_compose_file(project: Path, name: str) -> dict[str, Any]:
    """A compose file of the project, once it has passed the Compose Specification's schema."""
    run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", name], project)
    compose: dict[str, Any] = yaml.safe_load((project / name).read_text())
    return compose


@pytest.mark.parametrize("variant", variant_params())
def test_compose_file_is_valid_and_wires_the_stack(projects: Projects, variant: str) -> None:
    project = projects(variant)
    answers = answers_of(variant)
    services = valid_compose_file(project, "compose.yaml")["services"]

    expected = {"api", "relay", "worker", "migrate", "redis", "mailpit"}
    expected |= {"jaeger", "prometheus", "grafana"}  # the observability profile's
    expected |= {"db"} if answers["database"] == "postgresql" else set()
    expected |= {"rabbitmq"} if answers["broker"] == "rabbitmq" else set()
    expected |= {"beat"} if answers["use_beat"] else set()
    expected |= {"flower"} if answers["use_flower"] else set()
    assert set(services) == expected
    assert [name for name, service in services.items() if "healthcheck" not in service] == [
        "migrate"
    ]
    for name in expected & {"api", "relay", "worker", "beat", "flower"}:
        conditions = {dep["condition"] for dep in services[name]["depends_on"].values()}
        assert conditions <= {"service_healthy", "service_completed_successfully"}
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "/health/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published
    assert all(port.startswith("127.0.0.1:") for port in published)
    images = [service["image"] for service in services.values() if "image" in service]
    assert [image for image in images if re.fullmatch(r"[^:]+:[\w.-]+", image) is None] == []
    assert [image for image in images if image.endswith(":latest")] == []
    if answers["use_flower"]:
        basic_auth = services["flower"]["environment"]["FLOWER_BASIC_AUTH"]
        assert basic_auth.startswith("${FLOWER_USER:?")
        assert ":${FLOWER_PASSWORD:?" in basic_auth


@pytest.mark.parametrize("variant", variant_params())
def test_production_compose_file_is_valid_hardened_and_wired(
    projects: Projects, variant: str
) -> None:
    """compose.prod.yaml: only the proxy publishes ports (Flower its loopback one), every service
    is hardened, migrations run first, one beat, no Mailpit, and the API trusts forwarded
    client addresses from the proxy's fixed address alone."""
    project = projects(variant)
    answers = answers_of(variant)
    compose = valid_compose_file(project, "compose.prod.yaml")
    services = compose["services"]

    app = {"api", "relay", "worker"}
    app |= {"beat"} if answers["use_beat"] else set()
    app |= {"flower"} if answers["use_flower"] else set()
    expected = app | {"proxy", "migrate", "redis"}
    expected |= {"db"} if answers["database"] == "postgresql" else set()
    expected |= {"rabbitmq"} if answers["broker"] == "rabbitmq" else set()
    assert set(services) == expected
    assert "mailpit" not in json.dumps(services).lower()  # real SMTP settings, from .env

    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert published.pop("proxy") == ["80:80", "443:443", "443:443/udp"]
    assert set(published) == ({"flower"} if answers["use_flower"] else set())
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)

    image_user = re.findall(r"(?m)^USER (\S+)", (project / "backend/Dockerfile").read_text())[-1]
    problems = []
    for name, service in services.items():
        user = service.get("user") or (image_user if "build" in service else "root")
        checks = {
            "read_only": service.get("read_only") is True,
            "cap_drop ALL": service.get("cap_drop") == ["ALL"],
            "cap_add": set(service.get("cap_add", []))
            <= ({"NET_BIND_SERVICE"} if name == "proxy" else set()),
            "no-new-privileges": "no-new-privileges:true" in service.get("security_opt", []),
            "non-root": user.split(":")[0] not in {"0", "root"},
            "limits": {"cpus", "memory"}
            <= set(service.get("deploy", {}).get("resources", {}).get("limits", {})),
            "log rotation": "max-size" in service.get("logging", {}).get("options", {}),
            "restart": service.get("restart") == ("no" if name == "migrate" else "unless-stopped"),
            "healthcheck": ("healthcheck" in service) != (name == "migrate"),
        }
        problems += [f"{name}: {check}" for check, passed in checks.items() if not passed]
    assert problems == []

    for name in app:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"
    if answers["use_beat"]:
        assert services["beat"]["deploy"]["replicas"] == 1
    for name in expected - app - {"proxy", "migrate"}:  # the servers keep their data in volumes
        assert all(
            volume.split(":")[0] in compose["volumes"] for volume in services[name]["volumes"]
        )

    api = services["api"]
    assert re.search(r"--workers \S+", api["command"])
    assert "--proxy-headers" in api["command"]
    proxy_address = services["proxy"]["networks"]["proxy"]["ipv4_address"]
    subnet = compose["networks"]["proxy"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == proxy_address
    on_proxy_network = {name for name, s in services.items() if "proxy" in s.get("networks", [])}
    assert on_proxy_network == {"proxy", "api"}
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]


@pytest.mark.parametrize("variant", variant_params())
def test_worker_command_is_the_same_in_compose_and_justfile(
    projects: Projects, variant: str
) -> None:
    project = projects(variant)
    compose_command = yaml.safe_load((project / "compose.yaml").read_text())["services"]["worker"][
        "command"
    ]
    just_command = run(["just", "--dry-run", "worker"], project).stderr.strip()

    # `just worker` wraps the same command in a reloader that restarts it on code changes.
    assert f'"{compose_command} $*"' in just_command


def test_free_text_answers_arrive_intact_wherever_they_land(render: Callable[..., Path]) -> None:
    """Quotes, backslashes and non-ASCII letters in the free-text answers break no file."""
    answers = {
        "project_name": "Ünïcode's <API> & Co",
        "description": 'Says "hi" from C:\\temp\\new, <b>bold</b> & more',
        "author_name": 'Jo "JJ" O\'Neil',
        "author_email": "jo+api@example.co.uk",
    }
    project = render(**answers)

    metadata = tomllib.loads((project / "backend/pyproject.toml").read_text())["project"]
    assert metadata["description"] == answers["description"]
    author = {"name": answers["author_name"], "email": answers["author_email"]}
    assert metadata["authors"] == [author]
    config = ast.parse((project / "backend/app/core/config.py").read_text())
    names = {node.value for node in ast.walk(config) if isinstance(node, ast.Constant)}
    assert answers["project_name"] in names
    assert read_env_file(project / ".env.example")["EMAILS_FROM_NAME"] == answers["project_name"]
    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {answers['project_name']}\n")
    assert answers["description"] in readme


@pytest.mark.parametrize("variant", variant_params())
def test_local_recipes_start_what_compose_starts(projects: Projects, variant: str) -> None:
    """`just api`, `just migrate` (and `just beat`, `just flower`) run compose's program and app.

    Options such as host and port differ; the program, its app and subcommand must not.
    """
    project = projects(variant)
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    checked = []
    for name in ("api", "relay", "worker", "migrate", "beat", "flower"):
        if name not in services:
            continue
        command = services[name]["command"]
        words = shlex.split(command) if isinstance(command, str) else command
        program = " ".join(itertools.takewhile(lambda word: not word.startswith("--"), words))
        recipe = run(["just", "--dry-run", name], project).stderr
        assert program in recipe, f"`just {name}` does not run `{program}`: {recipe}"
        checked.append(name)
    assert {"api", "relay", "worker", "migrate"} <= set(checked)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "   "}, "The project name cannot be empty"),
        ({"project_name": "x" * 81}, "under 80 characters"),
        ({"project_name": 'My "Service"'}, "double quotes or backslashes"),
        ({"project_slug": "a" * 64}, "lowercase Python identifier"),
        ({"project_slug": "my-service"}, "lowercase Python identifier"),
        ({"project_slug": "My Service"}, "lowercase Python identifier"),
        ({"project_slug": "1service"}, "lowercase Python identifier"),
        ({"author_email": "not-an-email"}, "valid email address"),
        ({"python_version": "3.10"}, "python_version"),
        ({"database": "mysql"}, "database"),
        ({"broker": "kafka"}, "broker"),
        ({"ci": "gitlab"}, "ci"),
    ],
)
def test_bad_answers_are_rejected_with_a_message(
    copie: Copie, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        copy(copie, **answers)
    assert [path for path in copie.test_dir.rglob("*") if path.is_file()] == []


def test_ci_runs_the_test_command_from_the_readme() -> None:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```sh\n(.+?)\n```", readme, re.DOTALL)
    assert match, "README.md must mark its test command with <!-- test-command -->"
    ci_script = (TEMPLATE_ROOT / ".ci/run").read_text()
    assert match.group(1).strip() in ci_script


@pytest.mark.parametrize("variant", ["default", "all_on"])
def test_just_env_recreates_a_missing_env_file_with_fresh_secrets(
    render: Callable[..., Path], variant: str
) -> None:
    project = render(**VARIANTS[variant])
    rendered = env_values(project)
    (project / ".env").unlink()

    run(["just", "env"], project)
    recreated = env_values(project)
    again = run(["just", "env"], project)

    assert "left unchanged" in again.stdout
    assert env_values(project) == recreated
    secret_keys = {key for key in rendered if key == "SECRET_KEY" or key.endswith("_PASSWORD")}
    assert secret_keys <= set(recreated)
    for key in secret_keys:
        assert re.fullmatch(r"[0-9a-f]{64}", recreated[key])
        assert recreated[key] != rendered[key]
    if "POSTGRES_PASSWORD" in recreated:
        assert f":{recreated['POSTGRES_PASSWORD']}@" in recreated["DATABASE_URL"]
    if "RABBITMQ_PASSWORD" in recreated:
        assert f":{recreated['RABBITMQ_PASSWORD']}@" in recreated["CELERY_BROKER_URL"]
    else:
        assert f":{recreated['REDIS_PASSWORD']}@" in recreated["CELERY_BROKER_URL"]
    for url_key in ("CELERY_RESULT_BACKEND", "RATE_LIMIT_STORAGE_URL"):
        assert f":{recreated['REDIS_PASSWORD']}@" in recreated[url_key]
    settings = run(
        [
            "uv",
            "run",
            "python",
            "-c",
            "from app.core.config import get_settings; print(get_settings().email_max_retries)",
        ],
        project / "backend",
    )
    assert settings.stdout.strip() == recreated["EMAIL_MAX_RETRIES"]


# In .env, names with these words hold secrets, except the ones listed (key prefixes, say).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|KEY")
NOT_SECRET = re.compile(r"_KEY_PREFIX$")


@pytest.mark.parametrize("variant", variant_params())
def test_secrets_stay_in_env_and_ports_on_loopback(projects: Projects, variant: str) -> None:
    """Every file counts, ignored or not: the answers file, the lock file, anything rendered."""
    project = projects(variant)
    secrets = {
        key: value
        for key, value in env_values(project).items()
        if SECRET_NAME.search(key) and not NOT_SECRET.search(key) and value
    }
    assert "SECRET_KEY" in secrets
    leaks = [
        (str(path.relative_to(project)), key)
        for path in rendered_files(project)
        if path != project / ".env"
        for key, value in secrets.items()
        if value in path.read_text(errors="replace")
    ]
    assert leaks == []

    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    ports = [(name, port) for name, spec in services.items() for port in spec.get("ports", [])]
    assert ports
    exposed = [
        (name, port)
        for name, port in ports
        if not (
            port.get("host_ip") == "127.0.0.1"
            if isinstance(port, dict)
            else str(port).startswith("127.0.0.1:")
        )
    ]
    assert exposed == []


def test_copying_needs_no_trust(tmp_path: Path) -> None:
    """The README promises `copier copy` without `--trust`. pytest-copie always copies with
    trust, so this test calls copier itself, refusing unsafe features as a user's copier does."""
    copier.run_copy(
        str(TEMPLATE_ROOT),
        tmp_path / "project",
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    assert (tmp_path / "project/backend/app/main.py").is_file()
