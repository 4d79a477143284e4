"""A generated project is clean for the newest ruff at its root, Markdown code blocks included.

`just lint` runs the project's own ruff in backend/; an editor or pre-commit hook runs ruff over the
whole checkout, and recent ruff releases format the Python code blocks of Markdown files too.
"""

from pathlib import Path

import pytest

from tests.conftest import Projects
from tests.helpers import run
from tests.variants import variant_params

# `@latest` makes uv look the newest release up on every run. The project's own ruff (`uv run ruff`
# after `uv sync`) is the newest only as long as the project neither locks nor caps it.
NEWEST_RUFF = ["uvx", "ruff@latest"]


@pytest.mark.parametrize("variant", variant_params())
def test_project_root_passes_the_newest_ruff(projects: Projects, variant: str) -> None:
    project: Path = projects(variant)
    assert "```python\n" in (project / "README.md").read_text()  # a code block ruff formats

    formatting = run([*NEWEST_RUFF, "format", "--check", "."], project, check=False)
    assert formatting.returncode == 0, formatting.stdout + formatting.stderr
    lint = run([*NEWEST_RUFF, "check", "."], project, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
