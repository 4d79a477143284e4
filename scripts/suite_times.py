"""`just test` of generated projects, timed side by side for two template refs.

Run from the template repo: `uv run python -m scripts.suite_times [--runs N] [--variants ...]
[--refs OLD NEW]`. Each variant of tests/variants.py is rendered at each ref and installed once;
then its suite runs N times per ref, the refs' order alternating from run to run. Prints each
median and the ratio new / old. Needs the services the generated tests use (README).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.render import render, resolve
from tests.compose_services import local_service_urls
from tests.helpers import command_env
from tests.variants import VARIANTS, answers_of


def just_test_seconds(project: Path, broker: str) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        ["just", "test", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=command_env(**local_service_urls(broker)),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"`just test` failed in {project}:\n{completed.stdout[-5000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refs", nargs=2, default=["HEAD~1", "HEAD"], metavar=("OLD", "NEW"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in options.variants:
            answers = answers_of(variant)
            (Path(tmp) / variant).mkdir()
            projects = [
                render(ref, resolve(ref), ref, Path(tmp) / variant / str(i), VARIANTS[variant])
                for i, ref in enumerate(options.refs)
            ]
            times: list[list[float]] = [[], []]
            for run in range(options.runs):
                order = [0, 1] if run % 2 == 0 else [1, 0]
                for i in order:
                    times[i].append(just_test_seconds(projects[i].root, answers["broker"]))
            old, new = (statistics.median(seconds) for seconds in times)
            rows.append((variant, old, new, times))
            print(f"{variant}: {old:.0f} s -> {new:.0f} s", flush=True)

    print(f"\n`just test`, wall seconds, median of {options.runs} runs (order alternated)")
    print(f"| variant | {options.refs[0]} | {options.refs[1]} | ratio | runs |")
    print("|---|---|---|---|---|")
    for variant, old, new, times in rows:
        runs = " / ".join(" ".join(f"{s:.0f}" for s in seconds) for seconds in times)
        print(f"| {variant} | {old:.0f} | {new:.0f} | {new / old:.2f}x | {runs} |")


if __name__ == "__main__":
    main()
