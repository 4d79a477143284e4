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
def test_grouped(case, request):
    print("ran", request.node.nodeid, "on", os.environ["PYTEST_XDIST_WORKER"])
"""


def test_xdist_runs_a_variants_tests_on_one_worker(tmp_path: Path) -> None:
    """variant_params() groups each variant's tests, so one worker renders and installs it once:
    with a pytest that pytest-xdist cannot group for, every worker would do it again, silently.

    The scheduler groups by the suffix xdist adds to node ids, so the ids are checked too: tests
    spread over workers, or all on one by chance, could not tell grouping from luck."""
    (tmp_path / "test_where.py").write_text(WHERE_EACH_TEST_RUNS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")

    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA"]
    output = run([*pytest, "-n", "2", "--dist", "loadgroup", "test_where.py"], tmp_path).stdout
    runs = [line.split()[1:] for line in output.splitlines() if line.startswith("ran ")]

    assert len(runs) == 6, output
    assert all(node_id.endswith("@one-variant") for node_id, _, _ in runs), output
    assert len({worker for _, _, worker in runs}) == 1, output
