"""Render the template at a ref into a project and install its backend, as a user would.

Refs are resolved to commits first: copier renders `HEAD` of a local repo with its uncommitted
changes, and the working tree of this repo may be mid-edit while the bench runs.
"""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier

from bench.errors import BenchError
from bench.paths import TEMPLATE_ROOT
from tests.helpers import command_env

INSTALL_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Project:
    ref: str  # as given on the command line
    commit: str
    label: str  # the table's column
    root: Path

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @property
    def python(self) -> Path:
        return self.backend / ".venv" / "bin" / "python"


def resolve(ref: str) -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"{ref!r} names no commit of {TEMPLATE_ROOT}")
    return completed.stdout.strip()


def render(
    ref: str, commit: str, label: str, destination: Path, answers: dict[str, Any] | None = None
) -> Project:
    """`copier copy --defaults --vcs-ref COMMIT` (other answers given as `--data`), then `uv sync`
    in its backend."""
    settings = destination.parent / f"{destination.name}-copier-settings.yml"
    settings.write_text("{}\n")  # a user's own copier settings must not change the render
    previous = os.environ.get("COPIER_SETTINGS_PATH")
    os.environ["COPIER_SETTINGS_PATH"] = str(settings)
    try:
        copier.run_copy(
            str(TEMPLATE_ROOT),
            destination,
            data=answers or {},
            defaults=True,
            vcs_ref=commit,
            quiet=True,
            unsafe=False,
        )
    finally:
        if previous is None:
            os.environ.pop("COPIER_SETTINGS_PATH", None)
        else:
            os.environ["COPIER_SETTINGS_PATH"] = previous
    project = Project(ref=ref, commit=commit, label=label, root=destination)
    completed = subprocess.run(
        ["uv", "sync"],
        cwd=project.backend,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"`uv sync` failed for {ref}:\n{completed.stdout}\n{completed.stderr}")
    return project
