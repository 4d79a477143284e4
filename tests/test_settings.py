"""Settings, `.env.example` and compose agree, in every variant.

Every setting is documented in `.env.example`, every variable documented there is read by
something, and compose (the development and the production file) gives each service of the app
what it reads. Static: nothing is started
but the project's Python, to list the settings.
"""

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Projects
from tests.helpers import read_env_file, run
from tests.variants import variant_params

# Read by a service's process but not through the settings: the services that read each one.
NAMED_READERS = {
    "FLOWER_BASIC_AUTH": {"flower"},  # Flower takes any of its options from FLOWER_* variables
    "FORWARDED_ALLOW_IPS": {"api"},  # uvicorn's --forwarded-allow-ips
    # prometheus-client's multiprocess folder, and OpenTelemetry's standard variables.
    "PROMETHEUS_MULTIPROC_DIR": {"api", "relay", "worker"},
    "OTEL_SERVICE_NAME": {"api", "relay", "worker"},
    "OTEL_EXPORTER_OTLP_ENDPOINT": {"api", "relay", "worker"},
}

COMPOSE_FILES = ("compose.yaml", "compose.prod.yaml")
# What the production file requires and a new project's `.env` lacks on purpose: a deploy sets
# them (the README's Deploy section), and compose stops until it does.
SET_FOR_PRODUCTION = {"DOMAIN", "SMTP_HOST", "FRONTEND_URL"}

# The settings as environment variables, with whether each one is required (has no default).
SETTINGS_SCRIPT = """
import json
from app.core.config import Settings

prefix = Settings.model_config.get("env_prefix", "")
print(json.dumps({
    (f.validation_alias if isinstance(f.validation_alias, str) else prefix + name).upper():
        f.is_required()
    for name, f in Settings.model_fields.items()
}))
"""


@dataclass(frozen=True)
class Sources:
    """What a project says about its variables."""

    settings: dict[str, bool]
    example: dict[str, str]
    dotenv: dict[str, str]
    composes: dict[str, dict[str, Any]]
    compose_text: str
    justfile: str
    dockerfile: str

    def app_services(self) -> dict[str, dict[str, Any]]:
        """The services built from the backend (the others run images of their own), by file."""
        return {
            f"{file}: {name}": service
            for file, compose in self.composes.items()
            for name, service in compose["services"].items()
            if "build" in service
        }

    def interpolated(self) -> dict[str, str]:
        """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` (not `$${...}`, a literal),
        each with its operator."""
        return {
            match[1]: match[2] or ""
            for match in re.finditer(r"(?<!\$)\$\{(\w+)(:[-?])?", self.compose_text)
        }


def documented(path: Path) -> dict[str, str]:
    """`.env.example`'s variables, the commented-out ones (`# NAME=value`) too."""
    return {
        match[1]: match[2]
        for match in re.finditer(r"(?m)^#? ?([A-Z][A-Z0-9_]*)=(.*)$", path.read_text())
    }


@functools.cache
def sources_of(project: Path) -> Sources:
    listed = run([".venv/bin/python", "-c", SETTINGS_SCRIPT], project / "backend")
    return Sources(
        settings=json.loads(listed.stdout),
        example=documented(project / ".env.example"),
        dotenv=read_env_file(project / ".env"),
        composes={file: yaml.safe_load((project / file).read_text()) for file in COMPOSE_FILES},
        compose_text="\n".join((project / file).read_text() for file in COMPOSE_FILES),
        justfile=(project / "justfile").read_text(),
        dockerfile=(project / "backend" / "Dockerfile").read_text(),
    )


def shell_variables(text: str) -> set[str]:
    """`$NAME` and `${NAME}` in shell commands (a justfile's recipes, a Dockerfile)."""
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))


@pytest.mark.parametrize("variant", variant_params())
def test_every_setting_is_documented_in_env_example(projects: Projects, variant: str) -> None:
    sources = sources_of(projects(variant))

    assert sorted(set(sources.settings) - set(sources.example)) == []


@pytest.mark.parametrize("variant", variant_params())
def test_every_variable_in_env_example_is_read(projects: Projects, variant: str) -> None:
    sources = sources_of(projects(variant))
    readers = {
        **dict.fromkeys(sources.settings, "the settings"),
        **dict.fromkeys(sources.interpolated(), "compose"),
        **dict.fromkeys(shell_variables(sources.justfile), "the justfile"),
        **dict.fromkeys(shell_variables(sources.dockerfile), "the Dockerfile"),
        **dict.fromkeys(NAMED_READERS, "a service named in NAMED_READERS"),
    }

    assert sorted(set(sources.example) - set(readers)) == []


@pytest.mark.parametrize("variant", variant_params())
def test_the_generated_env_holds_only_documented_variables(
    projects: Projects, variant: str
) -> None:
    sources = sources_of(projects(variant))

    assert sorted(set(sources.dotenv) - set(sources.example)) == []


@pytest.mark.parametrize("variant", variant_params())
def test_compose_interpolates_only_documented_variables_and_has_the_required_ones(
    projects: Projects, variant: str
) -> None:
    """A `${NAME}` without a default must be in the generated `.env`: compose would stop
    (`:?`) or pass an empty value. The production settings a deploy must choose are the
    exception: compose stops with a message until they are set."""
    project = projects(variant)
    sources = sources_of(project)
    interpolated = sources.interpolated()
    required = {name for name, operator in interpolated.items() if operator != ":-"}

    assert sorted(set(interpolated) - set(sources.example)) == []
    assert sorted(required - set(sources.dotenv)) == sorted(SET_FOR_PRODUCTION)
    assert all(interpolated[name] == ":?" for name in SET_FOR_PRODUCTION)
    deploy = (project / "README.md").read_text().partition("## Deploy")[2]
    assert [name for name in sorted(SET_FOR_PRODUCTION) if name not in deploy] == []


@pytest.mark.parametrize("variant", variant_params())
def test_compose_gives_each_app_service_what_it_reads(projects: Projects, variant: str) -> None:
    """Each service of the app loads the settings: `.env` reaches it whole, the required settings
    are there, the addresses `.env` gives for local runs are replaced by compose's hostnames,
    and no variable is set that nothing reads (a misspelt setting would fall back silently)."""
    sources = sources_of(projects(variant))
    required = {name for name, is_required in sources.settings.items() if is_required}
    # Values naming this machine, right for `just api`, wrong inside a container.
    local_addresses = {
        name
        for name, value in sources.example.items()
        if name in sources.settings and re.search(r"127\.0\.0\.1|localhost", value)
    }
    problems = []
    for name, service in sources.app_services().items():
        service_name = name.rpartition(" ")[2]
        env_files = service.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        environment = service.get("environment") or {}
        if ".env" not in env_files:
            problems.append(f"{name}: no env_file .env")
        problems += [
            f"{name}: required {var} neither in .env nor in its environment"
            for var in sorted(required - set(sources.dotenv) - set(environment))
        ]
        problems += [
            f"{name}: {var} keeps the local address of .env"
            for var in sorted(local_addresses - set(environment))
        ]
        problems += [
            f"{name}: {var} is set, but nothing reads it"
            for var in sorted(set(environment) - set(sources.settings))
            if service_name not in NAMED_READERS.get(var, set())
        ]

    assert problems == []
