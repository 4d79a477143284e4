"""Template-level figures: render time, copy to green generated tests, and the template suite.

Run from the template repo: `uv run python -m scripts.template_figures [--suite]`. Prints a table
and writes `template-figures.json`. Needs the services the generated tests use (README).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.compose_services import local_service_urls
from tests.helpers import TEMPLATE_ROOT, command_env, render

RENDER_RUNS = 5


def timed(command: list[str], cwd: Path, **env: str) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, env=command_env(**env), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def render_seconds(workdir: Path) -> list[float]:
    """`copier copy` of the working tree with default answers, RENDER_RUNS times."""
    durations = []
    for run in range(RENDER_RUNS):
        started = time.perf_counter()
        render(workdir / f"render-{run}")
        durations.append(time.perf_counter() - started)
    return durations


def copy_to_green_seconds(workdir: Path) -> dict[str, float]:
    """Render, install (uv's cache warmed by a first install), and run the generated suite."""
    warm_up = render(workdir / "warm-up")
    timed(["uv", "sync"], warm_up / "backend")
    started = time.perf_counter()
    project = render(workdir / "green")
    rendered = time.perf_counter()
    timed(["uv", "sync"], project / "backend")
    installed = time.perf_counter()
    timed(["just", "test", "-q", "-p", "no:cacheprovider"], project, **local_service_urls("redis"))
    finished = time.perf_counter()
    return {
        "render": rendered - started,
        "install": installed - rendered,
        "tests": finished - installed,
        "total": finished - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", action="store_true", help="also time the whole template suite")
    parser.add_argument("--output", type=Path, default=Path("template-figures.json"))
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        renders = render_seconds(workdir)
        green = copy_to_green_seconds(workdir)
    figures: dict[str, object] = {
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "render_seconds": {"runs": len(renders), "median": statistics.median(renders)},
        "copy_to_green_seconds": green,
    }
    rows = [
        (f"copier copy, defaults (median of {len(renders)})", statistics.median(renders)),
        ("copy to green tests: render", green["render"]),
        ("copy to green tests: uv sync (warm cache)", green["install"]),
        ("copy to green tests: generated suite", green["tests"]),
        ("copy to green tests: total", green["total"]),
    ]
    if options.suite:
        suite = timed(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], TEMPLATE_ROOT)
        figures["template_suite_seconds"] = suite
        rows.append(("template suite (README test command)", suite))
    options.output.write_text(json.dumps(figures, indent=2) + "\n")
    width = max(len(label) for label, _ in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds:8.2f} s")
    print(f"Written to {options.output}")


if __name__ == "__main__":
    main()
