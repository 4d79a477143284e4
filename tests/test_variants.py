"""The variant matrix covers every pair of answers, so it can stay small."""

import itertools
import sys
from pathlib import Path

import yaml

from tests.helpers import TEMPLATE_ROOT, run
from tests.variants import DEFAULTS, VARIANTS, answers_of

# ci only adds files beside the project; it is checked with both values, not in pairs.
PAIRED = ["python_version", "database", "broker", "use_beat", "use_flower", "kubernetes"]
# Answers copier.yml refuses together.
REFUSED = [{"database": "sqlite", "kubernetes": True}]


def choices() -> dict[str, list[object]]:
    questions = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    values = {}
    for name in [*PAIRED, "ci"]:
        listed = questions[name].get("choices", [False, True])
        # copier takes a list of values or a mapping of labels to values
        values[name] = list(listed.values() if isinstance(listed, dict) else listed)
    return values


def test_every_pair_of_answers_is_rendered_together() -> None:
    rendered = [answers_of(variant) for variant in VARIANTS]
    values = choices()

    missing = [
        (first, a, second, b)
        for first, second in itertools.combinations(PAIRED, 2)
        for a in values[first]
        for b in values[second]
        if not any(answers[first] == a and answers[second] == b for answers in rendered)
        and {first: a, second: b} not in REFUSED
    ]

    assert missing == []
    assert {answers["ci"] for answers in rendered} == set(values["ci"])


def test_the_defaults_are_the_templates_defaults() -> None:
    questions = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    assert {name: questions[name]["default"] for name in DEFAULTS} == DEFAULTS
    assert VARIANTS["default"] == {}


WHERE_EACH_TEST_RUNS = """
import os
import pytest


@pytest.mark.parametrize("case", range(6))
@pytest.mark.xdist_group("one-variant")
def test_grouped(case):
    print("grouped", case, "on", os.environ["PYTEST_XDIST_WORKER"])


@pytest.mark.parametrize("case", range(6))
def test_free(case):
    print("free", case, "on", os.environ["PYTEST_XDIST_WORKER"])
"""


def test_xdist_runs_a_variants_tests_on_one_worker(tmp_path: Path) -> None:
    """variant_params() groups each variant's tests, so one worker renders and installs it once:
    with a pytest that pytest-xdist cannot group for, every worker would do it again, silently."""
    (tmp_path / "test_where.py").write_text(WHERE_EACH_TEST_RUNS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")

    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA"]
    output = run([*pytest, "-n", "2", "--dist", "loadgroup", "test_where.py"], tmp_path).stdout
    workers: dict[str, set[str]] = {"grouped": set(), "free": set()}
    for line in output.splitlines():
        if line.startswith(("grouped ", "free ")):
            kind, *_, worker = line.split()
            workers[kind].add(worker)

    assert len(workers["grouped"]) == 1, output
    assert len(workers["free"]) == 2, output  # the check can tell the two apart
